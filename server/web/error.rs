//! Errors as HTTP answers, decided in one place: the client gets a stable
//! `{error, message}` body (with `field` for a 422, `limit` and `current` for a 402), the
//! log gets the whole cause chain, and a 5xx never shows its cause to the client.

use std::convert::Infallible;

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::error::Error;

/// Every error answer of the API.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// A stable code to branch on, such as `invalid`, `not_found` or `email_taken`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The field at fault (422 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The plan's limit (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// How many there are now (402 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
}

pub(crate) fn status(err: &Error) -> StatusCode {
    match err {
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
        Error::Unauthorized | Error::BadCredentials => StatusCode::UNAUTHORIZED,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::NotFound | Error::Disabled { .. } => StatusCode::NOT_FOUND,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Limit { .. } => StatusCode::PAYMENT_REQUIRED,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the client may read about an error.
pub(crate) fn body(err: &Error) -> ErrorBody {
    let message = match err {
        Error::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "request failed");
            "something went wrong on our side; it has been logged".to_string()
        }
        Error::Unavailable => "the service is temporarily unavailable; try again shortly".into(),
        other => other.to_string(),
    };
    let (limit, current) = match err {
        Error::Limit { limit, current, .. } => (Some(*limit), Some(*current)),
        _ => (None, None),
    };
    ErrorBody {
        error: err.code().to_string(),
        message,
        field: match err {
            Error::Invalid(invalid) => Some(invalid.field.to_string()),
            _ => None,
        },
        limit,
        current,
    }
}

pub(crate) fn respond(err: Error) -> Response {
    let status = status(&err);
    let mut res = warp::reply::with_status(warp::reply::json(&body(&err)), status).into_response();
    if let Error::TooManyRequests { retry_after_secs } = err {
        res.headers_mut()
            .insert("retry-after", HeaderValue::from(retry_after_secs.max(1)));
    }
    res
}

pub(crate) fn method_not_allowed(allow: &str) -> Response {
    let body = ErrorBody {
        error: "method_not_allowed".into(),
        message: "this path does not accept that method".into(),
        field: None,
        limit: None,
        current: None,
    };
    let mut res =
        warp::reply::with_status(warp::reply::json(&body), StatusCode::METHOD_NOT_ALLOWED)
            .into_response();
    if let Ok(v) = HeaderValue::from_str(allow) {
        res.headers_mut().insert("allow", v);
    }
    res
}

/// The single `recover` at the outside: rejections only ever mean "no route matched"
/// (or one of warp's own request checks failed).
pub(crate) async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let err = if rejection.is_not_found() {
        Error::NotFound
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
        return Ok(method_not_allowed(""));
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        Error::PayloadTooLarge
    } else if let Some(e) = rejection.find::<reject::InvalidQuery>() {
        Error::bad_request("invalid_query", format!("invalid query string: {e}"))
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        Error::NotFound
    };
    Ok(respond(err))
}
