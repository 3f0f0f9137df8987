//! Where email goes: a folder of `.eml` files (the default, for running locally) or an
//! SMTP server through lettre.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::MailTransportConfig;
use crate::db::entities::outbox;

#[derive(Clone)]
pub enum Transport {
    Folder(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    pub fn from_config(config: &MailTransportConfig) -> anyhow::Result<Self> {
        match config {
            MailTransportConfig::Folder(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating mail folder {}", dir.display()))?;
                Ok(Transport::Folder(dir.clone()))
            }
            MailTransportConfig::Smtp(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("BARKEEP_MAIL_URL")?
                    .timeout(Some(Duration::from_secs(30)))
                    .build();
                Ok(Transport::Smtp(transport))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Folder(dir) => format!("folder {}", dir.display()),
            Transport::Smtp(_) => "SMTP".into(),
        }
    }

    pub async fn send(&self, from: &str, row: &outbox::Model) -> anyhow::Result<()> {
        let message = build_message(from, row)?;
        match self {
            Transport::Folder(dir) => {
                // The name is fixed by the outbox row, so a retry overwrites rather than
                // adding a second copy; the rename makes the file appear whole.
                let name = format!(
                    "{}-{:06}-{}.eml",
                    row.created_at.format("%Y%m%dT%H%M%S"),
                    row.id,
                    row.kind
                );
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(&name)).await?;
                Ok(())
            }
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("SMTP delivery")?;
                Ok(())
            }
        }
    }
}

fn build_message(from: &str, row: &outbox::Model) -> anyhow::Result<Message> {
    let from: Mailbox = from.parse().context("sender address")?;
    let to: Mailbox = row.to_address.parse().context("recipient address")?;
    let domain = from.email.domain().to_string();
    Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone())
        // Stable per outbox row: if a retry after a lost reply does deliver twice, the
        // receiving side sees the same Message-ID.
        .message_id(Some(format!(
            "<outbox-{}-{}@{}>",
            row.id,
            row.created_at.timestamp(),
            domain
        )))
        .multipart(MultiPart::alternative_plain_html(
            row.body_text.clone(),
            row.body_html.clone(),
        ))
        .map_err(Into::into)
}
