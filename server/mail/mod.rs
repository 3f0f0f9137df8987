//! Outgoing email: typed templates rendered by tera, a durable outbox written in the
//! same transaction as the change that causes an email, and a worker that sends each
//! queued email once, retrying with exponential backoff. Transactional mail always goes;
//! subscription mail (news, the digest, promotions) only to members on its list, with
//! one-click unsubscribe. Email to members records opens and clicks (`tracking`), and
//! hard bounces and complaints suppress an address from subscription mail (kept only as a
//! keyed hash of the address, `suppressions`).

pub mod feedback;
mod links;
mod metrics;
mod outbox;
pub mod suppressions;
mod templates;
pub mod tracking;
mod transport;
mod worker;

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::dkim::{DkimConfig, DkimSigningAlgorithm, DkimSigningKey};

use crate::domain::Secret;

pub use links::{Links, List, Tracked};
pub use metrics::MailMetrics;
pub(crate) use outbox::OutboxEmail;
pub use outbox::{Mailer, Recipient, Sending};
pub use suppressions::{AddressKey, hash_plain_suppressions};
pub use templates::escape_html;
pub use templates::{
    BillingCanceled, BillingCardExpiring, BillingDelinquent, BillingPaymentFailed,
    BillingPlanChanged, BillingReceipt, BillingTrialEnding, ChangeEmail, ConfirmEmail,
    EmailChanged, EmailKind, EmailTemplate, Invitation, PasswordChanged, Rendered, ResetPassword,
    Templates, UsageWarning,
};
pub use tracking::{Fetch, Tracker};
pub use transport::{Outgoing, SendError, Transport};
pub use worker::{MailWorker, Senders, WorkerSettings};

/// Where email goes, as configured.
#[derive(Debug, Clone)]
pub enum MailTransportConfig {
    /// Each email is written as an `.eml` file into this folder.
    Folder(PathBuf),
    /// `smtp://` or `smtps://` URL, handed to lettre.
    Smtp(Secret<String>),
    /// An HTTP email API with Postmark's JSON: its base URL and server token.
    Http { base: String, token: Secret<String> },
}

/// DKIM signing of outgoing mail: the selector and domain published in DNS, and the
/// private key (RSA in PKCS#1 PEM, or a base64 Ed25519 seed). Used by the transports that
/// build the message themselves (SMTP, the folder); an HTTP email API signs on its own.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    pub selector: String,
    pub domain: String,
    pub key: Secret<String>,
}

impl DkimSettings {
    /// The signing configuration; fails on a key that cannot be read.
    pub fn signer(&self) -> anyhow::Result<DkimConfig> {
        let key = self.key.expose().trim();
        let algorithm = if key.starts_with("-----BEGIN") {
            DkimSigningAlgorithm::Rsa
        } else {
            DkimSigningAlgorithm::Ed25519
        };
        let signing = DkimSigningKey::new(key, algorithm)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("the DKIM key is neither an RSA key in PKCS#1 PEM (BEGIN RSA PRIVATE KEY) nor a base64 Ed25519 seed")?;
        let headers = [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Id",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        ]
        .into_iter()
        .map(lettre::message::header::HeaderName::new_from_ascii_str)
        .collect();
        Ok(DkimConfig::new(
            self.selector.clone(),
            self.domain.clone(),
            signing,
            headers,
            lettre::message::dkim::DkimCanonicalization {
                header: lettre::message::dkim::DkimCanonicalizationType::Relaxed,
                body: lettre::message::dkim::DkimCanonicalizationType::Relaxed,
            },
        ))
    }
}
