//! Outgoing email: SMTP (through lettre) when `STUDIUM_SMTP_URL` is set, otherwise the message
//! is written to the log so a local install still shows its verification and reset links.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

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

    /// Sends without making the request wait, so response times do not depend on whether a
    /// message was sent (which would reveal whether an address is registered).
    pub fn send_in_background(&self, to: String, subject: String, body: String) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&to, &subject, body).await {
                tracing::error!(error = %err, "sending email failed");
            }
        });
    }
}
