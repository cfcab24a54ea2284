//! The web app in a browser: materials pages.
