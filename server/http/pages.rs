//! Server-rendered pages that emailed links open: confirming an address, and the
//! forgotten-password and reset-password forms.

use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::extract;
use crate::accounts;
use crate::domain::{Email, PASSWORD_MIN_CHARS as MIN_CHARS};
use crate::error::AppError;
use crate::state::AppState;

/// Pages carry their own inline styles and post forms to barkeep only.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// Forms are small.
const FORM_LIMIT: usize = 8 * 1024;

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let confirm = warp::path!("confirm-email")
        .and(warp::get())
        .and(extract::state(state))
        .and(warp::query::<TokenQuery>())
        .then(confirm_page);
    let reset_form = warp::path!("reset-password")
        .and(warp::get())
        .and(extract::state(state))
        .and(warp::query::<TokenQuery>())
        .map(|state: AppState, q: TokenQuery| reset_form(&state, &q.token, None, StatusCode::OK));
    let reset_submit = warp::path!("reset-password")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::body(FORM_LIMIT))
        .then(reset_submit);
    let forgot_form = warp::path!("forgot-password")
        .and(warp::get())
        .and(extract::state(state))
        .map(|state: AppState| forgot_form(&state, "", None, StatusCode::OK));
    let forgot_submit = warp::path!("forgot-password")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::body(FORM_LIMIT))
        .then(forgot_submit);
    confirm
        .or(reset_form)
        .unify()
        .or(reset_submit)
        .unify()
        .or(forgot_form)
        .unify()
        .or(forgot_submit)
        .unify()
        .boxed()
}

fn page<T: Serialize>(state: &AppState, template: &str, ctx: &T, status: StatusCode) -> Response {
    match state.mailer.templates().render_page(template, ctx) {
        Ok(html) => {
            let mut res = warp::reply::with_status(warp::reply::html(html), status).into_response();
            res.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static(PAGE_CSP),
            );
            res
        }
        Err(err) => AppError::Internal(err).into_response(),
    }
}

#[derive(Serialize)]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
    error: bool,
}

fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    page(
        state,
        "pages/message.html",
        &Message {
            title,
            text,
            error: !status.is_success(),
        },
        status,
    )
}

async fn confirm_page(state: AppState, q: TokenQuery) -> Response {
    match accounts::confirm_email(&state, &q.token).await {
        Ok(member) => message(
            &state,
            StatusCode::OK,
            "Email address confirmed",
            &format!(
                "Thank you. {} is confirmed for your barkeep account.",
                member.email
            ),
        ),
        Err(err @ (AppError::BadRequest { .. } | AppError::Conflict(_))) => message(
            &state,
            err.status(),
            "This link does not work",
            &err.to_string(),
        ),
        Err(err) => err.into_response(),
    }
}

#[derive(Serialize)]
struct ResetForm<'a> {
    token: &'a str,
    error: Option<String>,
    min_chars: usize,
}

fn reset_form(
    state: &AppState,
    token: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    page(
        state,
        "pages/reset_password.html",
        &ResetForm {
            token,
            error,
            min_chars: MIN_CHARS,
        },
        status,
    )
}

#[derive(Deserialize)]
struct ResetFields {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset_submit(state: AppState, body: Result<bytes::Bytes, AppError>) -> Response {
    let fields: ResetFields = match body.and_then(|b| parse_form(&b)) {
        Ok(f) => f,
        Err(err) => return err.into_response(),
    };
    match accounts::reset_password(&state, &fields.token, &fields.password).await {
        Ok(()) => message(
            &state,
            StatusCode::OK,
            "Password changed",
            "Your new password is set and every session was logged out. Log in again with the new password.",
        ),
        Err(err @ AppError::Invalid { .. }) => reset_form(
            &state,
            &fields.token,
            Some(err.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(err @ AppError::BadRequest { .. }) => message(
            &state,
            err.status(),
            "This link does not work",
            &err.to_string(),
        ),
        Err(err) => err.into_response(),
    }
}

#[derive(Serialize)]
struct ForgotForm<'a> {
    email: &'a str,
    error: Option<String>,
}

fn forgot_form(
    state: &AppState,
    email: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    page(
        state,
        "pages/forgot_password.html",
        &ForgotForm { email, error },
        status,
    )
}

#[derive(Deserialize)]
struct ForgotFields {
    #[serde(default)]
    email: String,
}

async fn forgot_submit(state: AppState, body: Result<bytes::Bytes, AppError>) -> Response {
    let fields: ForgotFields = match body.and_then(|b| parse_form(&b)) {
        Ok(f) => f,
        Err(err) => return err.into_response(),
    };
    match Email::parse(&fields.email) {
        Ok(email) => {
            tokio::spawn(accounts::send_password_reset(state.clone(), email));
            message(
                &state,
                StatusCode::OK,
                "Check your email",
                "If an account uses that address, we sent it a link to choose a new password. The link works for one hour.",
            )
        }
        Err(err) => forgot_form(
            &state,
            &fields.email,
            Some(err.to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

fn parse_form<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        AppError::bad_request("invalid_form", format!("the form could not be read: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use crate::mail::Templates;
    use std::collections::BTreeSet;

    #[test]
    fn every_page_template_renders() {
        let t = Templates::load("https://b.example").unwrap();
        let rendered = [
            (
                "pages/message.html",
                t.render_page(
                    "pages/message.html",
                    &serde_json::json!({"title": "T", "text": "x", "error": false}),
                ),
            ),
            (
                "pages/reset_password.html",
                t.render_page(
                    "pages/reset_password.html",
                    &super::ResetForm {
                        token: "tok",
                        error: None,
                        min_chars: 10,
                    },
                ),
            ),
            (
                "pages/forgot_password.html",
                t.render_page(
                    "pages/forgot_password.html",
                    &super::ForgotForm {
                        email: "",
                        error: Some("bad".into()),
                    },
                ),
            ),
        ];
        let mut names = BTreeSet::new();
        for (name, html) in rendered {
            let html = html.unwrap();
            assert!(html.contains("<main>"), "{name} lacks the layout");
            names.insert(name.to_string());
        }
        let on_disk: BTreeSet<String> = crate::mail::TemplateFiles::iter()
            .filter(|f| f.starts_with("pages/") && !f.ends_with("layout.html"))
            .map(|f| f.to_string())
            .collect();
        assert_eq!(
            on_disk, names,
            "a page template exists that no test renders"
        );
    }
}
