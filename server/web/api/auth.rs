//! Signing up and in: signup, email confirmation, login, logout, forgotten and reset
//! passwords.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use super::Message;
use super::account::MemberView;
use crate::domain::{Email, Password};
use crate::error::Result;
use crate::web::router::Req;
use crate::web::{cookies, json, no_content};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupRequest {
    pub email: String,
    /// At least 10 characters, not a commonly used password, not the email address.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SignedUp {
    pub member: MemberView,
    pub message: String,
}

/// The member, as a login or confirmation answers.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemberEnvelope {
    pub member: MemberView,
}

/// Create an account; a link to confirm the address is emailed.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, description = "Account created", body = SignedUp)))]
pub(crate) async fn signup(req: Req) -> Result<Response> {
    let body: SignupRequest = req.json()?;
    let email = Email::parse(&body.email)?;
    let password = Password::parse(&body.password, "password", Some(email.as_str()))?;
    let member = req.state.accounts.signup(email, password).await?;
    Ok(json(
        StatusCode::CREATED,
        &SignedUp {
            member: MemberView::in_first_account(&req.state, &member).await?,
            message: "account created; we sent a link to confirm your email address".into(),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    /// The token from the emailed link.
    pub token: String,
}

/// Confirm an email address (after signup or an email change) by the emailed token.
#[utoipa::path(post, path = "/api/v1/email/confirm", tag = "auth", request_body = TokenRequest,
    responses((status = 200, description = "Confirmed", body = MemberEnvelope)))]
pub(crate) async fn confirm(req: Req) -> Result<Response> {
    let body: TokenRequest = req.json()?;
    let member = req.state.accounts.confirm_email(&body.token).await?;
    Ok(json(
        StatusCode::OK,
        &MemberEnvelope {
            member: MemberView::in_first_account(&req.state, &member).await?,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Log in: sets the session cookie. Five failures for an account in 15 minutes, or 20
/// from one address, answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the session cookie is set", body = MemberEnvelope)))]
pub(crate) async fn login(req: Req) -> Result<Response> {
    let body: LoginRequest = req.json()?;
    let done = req.log_in(&body.email, &body.password).await?;
    let mut res = json(
        StatusCode::OK,
        &MemberEnvelope {
            member: MemberView::in_first_account(&req.state, &done.member).await?,
        },
    );
    cookies::logged_in(&req.state.web, res.headers_mut(), &done);
    Ok(res)
}

/// Log out: ends this session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "Logged out")))]
pub(crate) async fn logout(req: Req) -> Result<Response> {
    req.state.accounts.logout(req.auth()?).await?;
    let mut res = no_content();
    res.headers_mut()
        .append("set-cookie", cookies::session(&req.state.web, "", 0));
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotRequest {
    pub email: String,
}

/// Ask for a password reset link. The answer is the same whether or not the address has
/// an account; a known one gets a single-use link valid for an hour.
#[utoipa::path(post, path = "/api/v1/password/forgot", tag = "auth", request_body = ForgotRequest,
    responses((status = 202, description = "A link was sent if the address is known", body = Message)))]
pub(crate) async fn forgot(req: Req) -> Result<Response> {
    let body: ForgotRequest = req.json()?;
    let email = Email::parse(&body.email)?;
    // Detached: the answer must not depend on whether the address has an account.
    req.state
        .accounts
        .clone()
        .send_password_reset_detached(email);
    Ok(json(
        StatusCode::ACCEPTED,
        &Message::new("if an account uses that address, we sent it a link to reset the password"),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    pub token: String,
    pub password: String,
}

/// Set a new password by the emailed token; every session is logged out.
#[utoipa::path(post, path = "/api/v1/password/reset", tag = "auth", request_body = ResetRequest,
    responses((status = 200, description = "Password changed", body = Message)))]
pub(crate) async fn reset(req: Req) -> Result<Response> {
    let body: ResetRequest = req.json()?;
    req.state
        .accounts
        .reset_password(&body.token, &body.password)
        .await?;
    Ok(json(
        StatusCode::OK,
        &Message::new("password changed; every session was logged out, log in again"),
    ))
}
