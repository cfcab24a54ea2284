//! The web app in a browser: quizzes pages.
