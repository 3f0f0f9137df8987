//! Member authentication over the JSON API: signup, email confirmation, login, logout,
//! forgotten and reset passwords.

use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::account::MemberView;
use super::extract::{self, Client};
use super::{handle, json, no_content};
use crate::accounts::{self, Credentials, SESSION_COOKIE, SESSION_DAYS};
use crate::config::Config;
use crate::domain::{Email, Password};
use crate::error::AppError;
use crate::state::AppState;

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let signup = warp::path!("api" / "v1" / "signup")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::json())
        .then(|s, b| handle(signup(s, b)));
    let confirm = warp::path!("api" / "v1" / "email" / "confirm")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::json())
        .then(|s, b| handle(confirm(s, b)));
    let login = warp::path!("api" / "v1" / "login")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::client(state))
        .and(extract::json())
        .then(|s, c, b| handle(login(s, c, b)));
    let logout = warp::path!("api" / "v1" / "logout")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|s, c| handle(logout(s, c)));
    let forgot = warp::path!("api" / "v1" / "password" / "forgot")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::json())
        .then(|s, b| handle(forgot(s, b)));
    let reset = warp::path!("api" / "v1" / "password" / "reset")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::json())
        .then(|s, b| handle(reset(s, b)));

    signup
        .or(confirm)
        .unify()
        .or(login)
        .unify()
        .or(logout)
        .unify()
        .or(forgot)
        .unify()
        .or(reset)
        .unify()
        .boxed()
}

#[derive(Deserialize)]
struct SignupRequest {
    email: String,
    password: String,
}

async fn signup(
    state: AppState,
    body: Result<SignupRequest, AppError>,
) -> Result<Response, AppError> {
    let body = body?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password, "password", Some(email.as_str()))?;
    let member = accounts::signup(&state, email, password).await?;
    #[derive(Serialize)]
    struct Created {
        member: MemberView,
        message: &'static str,
    }
    Ok(json(
        StatusCode::CREATED,
        &Created {
            member: MemberView::from(&member),
            message: "account created; we sent a link to confirm your email address",
        },
    ))
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

async fn confirm(
    state: AppState,
    body: Result<TokenRequest, AppError>,
) -> Result<Response, AppError> {
    let member = accounts::confirm_email(&state, &body?.token).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "member": MemberView::from(&member) }),
    ))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

async fn login(
    state: AppState,
    client: Client,
    body: Result<LoginRequest, AppError>,
) -> Result<Response, AppError> {
    let body = body?;
    let done = accounts::login(
        &state,
        &body.email,
        &body.password,
        client.ip,
        client.user_agent.as_deref(),
    )
    .await?;
    let mut res = json(
        StatusCode::OK,
        &serde_json::json!({ "member": MemberView::from(&done.member) }),
    );
    let cookie = session_cookie(&state.config, &done.token, SESSION_DAYS * 86_400);
    res.headers_mut().append("set-cookie", cookie);
    Ok(res)
}

async fn logout(state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    accounts::logout(&state, &auth).await?;
    let mut res = no_content();
    res.headers_mut()
        .append("set-cookie", session_cookie(&state.config, "", 0));
    Ok(res)
}

#[derive(Deserialize)]
struct ForgotRequest {
    email: String,
}

async fn forgot(
    state: AppState,
    body: Result<ForgotRequest, AppError>,
) -> Result<Response, AppError> {
    let email = Email::parse(&body?.email)?;
    // Detached: the answer must not depend on whether the address has an account.
    tokio::spawn(accounts::send_password_reset(state, email));
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "message": "if an account uses that address, we sent it a link to reset the password" }),
    ))
}

#[derive(Deserialize)]
struct ResetRequest {
    token: String,
    password: String,
}

async fn reset(
    state: AppState,
    body: Result<ResetRequest, AppError>,
) -> Result<Response, AppError> {
    let body = body?;
    accounts::reset_password(&state, &body.token, &body.password).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "message": "password changed; every session was logged out, log in again" }),
    ))
}

/// The session cookie: HttpOnly, SameSite=Lax, and Secure when served over https.
pub fn session_cookie(config: &Config, token: &str, max_age: i64) -> HeaderValue {
    let secure = if config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("barkeep_session=; Max-Age=0"))
}
