//! The web app in a browser: admin pages.
