//! The error every subsystem returns. It says what went wrong in words and a stable
//! code; it knows nothing of HTTP. `web::error` alone turns it into a status code.

use sea_orm::{DbErr, SqlErr};

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value breaks a rule (422, naming the field).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The request cannot be understood as sent (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong email address or password")]
    BadCredentials,
    /// Authenticated, but not allowed (an operator action by a member, say).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    /// A part of barkeep this server runs without (billing with no Stripe key): 404.
    #[error("{message}")]
    Disabled { code: &'static str, message: String },
    /// The request clashes with what exists; each kind of clash has its own code.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The member's plan does not allow more of something.
    #[error("{message}")]
    Limit {
        code: &'static str,
        message: String,
        limit: u64,
        current: u64,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(
        field: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid(Invalid::new(field, message))
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::BadRequest { code, .. }
            | Error::Forbidden { code, .. }
            | Error::Conflict { code, .. }
            | Error::Disabled { code, .. }
            | Error::Limit { code, .. } => code,
            Error::Unauthorized => "unauthorized",
            Error::BadCredentials => "bad_credentials",
            Error::NotFound => "not_found",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Unavailable => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

/// A unique-constraint violation is a clash with something that exists (the callers that
/// can name the clash map it to a code of their own); everything else is internal.
impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::conflict("already_exists", "that already exists");
        }
        Error::Internal(anyhow::Error::new(err))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
