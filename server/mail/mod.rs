//! Outgoing email: typed templates rendered by tera, a durable outbox written in the
//! same transaction as the change that causes an email, and a worker that sends each
//! queued email once, retrying with exponential backoff.

mod outbox;
mod templates;
mod transport;
mod worker;

pub use outbox::{Mailer, Recipient};
#[cfg(test)]
pub(crate) use templates::TemplateFiles;
pub use templates::{
    ChangeEmail, ConfirmEmail, EmailChanged, EmailTemplate, PasswordChanged, Rendered,
    ResetPassword, Templates,
};
pub use transport::Transport;
pub use worker::{MailWorker, WorkerSettings};
