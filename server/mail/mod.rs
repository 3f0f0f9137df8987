//! Outgoing email: typed templates rendered by tera, a durable outbox written in the
//! same transaction as the change that causes an email, and a worker that sends each
//! queued email once, retrying with exponential backoff.

mod metrics;
mod outbox;
mod templates;
mod transport;
mod worker;

use std::path::PathBuf;

use crate::domain::Secret;

pub use metrics::MailMetrics;
pub use outbox::{Mailer, Recipient};
#[cfg(test)]
pub(crate) use templates::TemplateFiles;
pub use templates::{
    BillingCanceled, BillingCardExpiring, BillingDelinquent, BillingPaymentFailed,
    BillingPlanChanged, BillingReceipt, BillingTrialEnding, ChangeEmail, ConfirmEmail,
    EmailChanged, EmailTemplate, PasswordChanged, Rendered, ResetPassword, Templates, UsageWarning,
};
pub use transport::Transport;
pub use worker::{MailWorker, WorkerSettings};

/// Where email goes, as configured.
#[derive(Debug, Clone)]
pub enum MailTransportConfig {
    /// Each email is written as an `.eml` file into this folder.
    Folder(PathBuf),
    /// `smtp://` or `smtps://` URL, handed to lettre.
    Smtp(Secret<String>),
}
