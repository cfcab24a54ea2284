//! The web app in a browser: social pages.
