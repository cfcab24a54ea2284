//! Outgoing email: SMTP (through lettre) when `STUDIUM_SMTP_URL` is set, otherwise the message
//! is written to the log so a local install still shows its verification and reset links.
//!
//! Messages go through the job queue: [`queue`] writes an `email.send` job in the caller's
//! transaction (with the token the message carries), and a worker sends it ([`send_job`]),
//! retrying while the mail server is unreachable. An email the API accepted survives a crash,
//! and response times do not depend on the mail server (or reveal whether an address is
//! registered).

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::jobs::{self, NewJob, handlers};
use crate::state::AppState;

/// One message: the payload of an `email.send` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Queues `email` for sending, on `conn` (the caller's transaction).
pub async fn queue(
    conn: &impl ConnectionTrait,
    config: &Config,
    now: DateTime<Utc>,
    email: Email,
) -> Result<(), DbErr> {
    let payload = serde_json::to_value(&email).map_err(|e| DbErr::Custom(e.to_string()))?;
    jobs::enqueue(
        conn,
        NewJob::new(handlers::EMAIL_SEND, payload),
        now,
        config.job_max_attempts,
    )
    .await?;
    Ok(())
}

/// The `email.send` handler.
pub async fn send_job(state: &AppState, payload: serde_json::Value) -> anyhow::Result<()> {
    let email: Email = serde_json::from_value(payload)?;
    state
        .mailer
        .send(&email.to, &email.subject, email.body)
        .await
}

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Log {
        from: Mailbox,
    },
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let from: Mailbox = from.parse()?;
        Ok(match smtp_url {
            Some(url) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build(),
                from,
            },
            None => Mailer::Log { from },
        })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(to.parse()?)
                    .subject(subject)
                    .body(body)?;
                transport.send(message).await?;
            }
            Mailer::Log { from } => {
                tracing::info!(%from, %to, %subject, %body, "email (no SMTP configured, logged instead)");
            }
        }
        Ok(())
    }
}
