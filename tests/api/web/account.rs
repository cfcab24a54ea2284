//! The web app in a browser: account pages.
