//! The web app in a browser: tutor pages.
