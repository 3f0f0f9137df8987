//! The one error type of the HTTP layer. It decides the status code in one place: the
//! client gets a stable `{error, message}` body, the log gets the whole cause chain,
//! and a 5xx never shows its cause to the client.

use std::borrow::Cow;
use std::convert::Infallible;

use sea_orm::{DbErr, SqlErr};
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Invalid {
        field: Cow<'static, str>,
        message: String,
    },
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong email address or password")]
    BadCredentials,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
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

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Invalid { .. } => "invalid",
            AppError::Unauthorized => "unauthorized",
            AppError::BadCredentials => "bad_credentials",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Unavailable => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

/// Unique-constraint violations become 409 on both backends; everything else is a 500.
impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return AppError::Conflict("that already exists".into());
        }
        AppError::Internal(anyhow::Error::new(err))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl Reply for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "request failed");
                "something went wrong on our side; it has been logged".to_string()
            }
            AppError::Unavailable => {
                "the service is temporarily unavailable; try again shortly".into()
            }
            other => other.to_string(),
        };
        let field = match &self {
            AppError::Invalid { field, .. } => Some(field.as_ref()),
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            message,
            field,
        };
        let mut res = warp::reply::with_status(warp::reply::json(&body), status).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            res.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs.max(1)));
        }
        res
    }
}

/// Turns a handler's result into a response; the only bridge between handlers and warp.
pub fn respond<T: Reply>(result: Result<T, AppError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(err) => err.into_response(),
    }
}

/// The single `recover` at the outside: rejections only ever mean "no route matched"
/// (or one of warp's own request checks failed), so they map to 404/405/413/415/400.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let err = if rejection.is_not_found() {
        AppError::NotFound
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        return Ok(method_not_allowed());
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        AppError::PayloadTooLarge
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        AppError::UnsupportedMediaType("unsupported content type".into())
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        AppError::bad_request("length_required", "a Content-Length header is required")
    } else if let Some(e) = rejection.find::<reject::InvalidQuery>() {
        AppError::bad_request("invalid_query", format!("invalid query string: {e}"))
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        AppError::bad_request("invalid_header", e.to_string())
    } else if let Some(e) = rejection.find::<reject::MissingHeader>() {
        AppError::bad_request("missing_header", e.to_string())
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        AppError::NotFound
    };
    Ok(err.into_response())
}

fn method_not_allowed() -> Response {
    let body = ErrorBody {
        error: "method_not_allowed",
        message: "this path does not accept that method".into(),
        field: None,
    };
    warp::reply::with_status(warp::reply::json(&body), StatusCode::METHOD_NOT_ALLOWED)
        .into_response()
}
