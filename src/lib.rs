//! Studium: the backend of an AI study companion. `app::build` gives the router that the
//! binary serves and the tests drive.

pub mod accounts;
pub mod admin;
pub mod ai;
pub mod app;
pub mod billing;
pub mod changes;
pub mod clock;
pub mod config;
pub mod content;
pub mod cpu;
pub mod db;
pub mod demo;
pub mod entity;
pub mod gamification;
pub mod html;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod maintenance;
pub mod mastery;
pub mod materials;
pub mod me;
pub mod notified_cache;
pub mod quizzes;
pub mod ratelimit;
pub mod recommendations;
pub mod server;
pub mod social;
pub mod state;
pub mod study;
pub mod telemetry;
pub mod tutor;
pub mod web;
