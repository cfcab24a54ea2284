//! Plans and payments (SPEC §3 "Payments"): the plans and their prices, each user's
//! `subscriptions` and `payments`, checkout at a Stripe-compatible provider, its signed
//! webhooks (`processed_webhook_events` makes each event count once), and the admin's grant.

pub mod model;
pub mod routes;
pub mod service;
pub mod stripe;
pub mod webhook;
