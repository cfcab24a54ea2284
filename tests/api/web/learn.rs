//! The web app in a browser: learn pages.
