//! The member's own account over the JSON API: profile, password, email address,
//! sessions and API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::extract;
use super::{handle, json, no_content};
use crate::accounts::{self, Credentials};
use crate::db::accounts as q;
use crate::db::entities::{api_token, member, session};
use crate::domain::{Email, INDUSTRIES, Industry};
use crate::error::AppError;
use crate::state::AppState;

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let me = warp::path!("api" / "v1" / "me");
    let get_me = me
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|s, c| handle(get_me(s, c)));
    let patch_me = me
        .and(warp::patch())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|s, c, b| handle(patch_me(s, c, b)));
    let password = warp::path!("api" / "v1" / "me" / "password")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|s, c, b| handle(change_password(s, c, b)));
    let email = warp::path!("api" / "v1" / "me" / "email")
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|s, c, b| handle(change_email(s, c, b)));
    let sessions = warp::path!("api" / "v1" / "sessions")
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|s, c| handle(list_sessions(s, c)));
    let end_session = warp::path!("api" / "v1" / "sessions" / i64)
        .and(warp::delete())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(end_session(id, s, c)));
    let tokens = warp::path!("api" / "v1" / "tokens");
    let list_tokens = tokens
        .and(warp::get())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|s, c| handle(list_tokens(s, c)));
    let create_token = tokens
        .and(warp::post())
        .and(extract::state(state))
        .and(extract::credentials())
        .and(extract::json())
        .then(|s, c, b| handle(create_token(s, c, b)));
    let delete_token = warp::path!("api" / "v1" / "tokens" / i64)
        .and(warp::delete())
        .and(extract::state(state))
        .and(extract::credentials())
        .then(|id, s, c| handle(delete_token(id, s, c)));
    let industries = warp::path!("api" / "v1" / "industries")
        .and(warp::get())
        .map(|| {
            let list: Vec<_> = INDUSTRIES
                .iter()
                .map(|(code, label)| serde_json::json!({"code": code, "label": label}))
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "industries": list }))
        });

    get_me
        .or(patch_me)
        .unify()
        .or(password)
        .unify()
        .or(email)
        .unify()
        .or(sessions)
        .unify()
        .or(end_session)
        .unify()
        .or(list_tokens)
        .unify()
        .or(create_token)
        .unify()
        .or(delete_token)
        .unify()
        .or(industries)
        .unify()
        .boxed()
}

/// A member as the API shows them: never the password hash.
#[derive(Serialize)]
pub struct MemberView {
    pub id: i64,
    pub email: String,
    pub email_confirmed: bool,
    pub name: Option<String>,
    pub industry: Option<String>,
    pub promo_opt_in: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&member::Model> for MemberView {
    fn from(m: &member::Model) -> Self {
        MemberView {
            id: m.id,
            email: m.email.clone(),
            email_confirmed: m.email_confirmed_at.is_some(),
            name: m.name.clone(),
            industry: m.industry.clone(),
            promo_opt_in: m.promo_opt_in,
            created_at: m.created_at,
        }
    }
}

async fn get_me(state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    Ok(json(StatusCode::OK, &MemberView::from(&auth.member)))
}

/// Tells "absent" (leave as is) from `null` (clear) in a PATCH body.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchMe {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    industry: Option<Option<String>>,
    #[serde(default)]
    promo_opt_in: Option<bool>,
}

async fn patch_me(
    state: AppState,
    creds: Credentials,
    body: Result<PatchMe, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let body = body?;
    let name = match body.name {
        Some(Some(n)) => {
            let n = n.trim().to_string();
            if n.chars().count() > 100 {
                return Err(AppError::invalid(
                    "name",
                    "the name must be at most 100 characters",
                ));
            }
            Some((!n.is_empty()).then_some(n))
        }
        other => other,
    };
    let industry = match body.industry {
        Some(Some(i)) => Some(Some(Industry::parse(&i)?.code().to_string())),
        other => other,
    };
    let mut member =
        q::update_profile(&state.db, auth.member, name, industry, chrono::Utc::now()).await?;
    if let Some(opt_in) = body.promo_opt_in {
        member = q::set_promo_opt_in(&state.db, member, opt_in).await?;
    }
    Ok(json(StatusCode::OK, &MemberView::from(&member)))
}

#[derive(Deserialize)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

async fn change_password(
    state: AppState,
    creds: Credentials,
    body: Result<ChangePassword, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let body = body?;
    accounts::change_password(&state, &auth, &body.current_password, &body.new_password).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct ChangeEmail {
    email: String,
    password: String,
}

async fn change_email(
    state: AppState,
    creds: Credentials,
    body: Result<ChangeEmail, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let body = body?;
    let email = Email::parse(&body.email)?;
    accounts::request_email_change(&state, &auth, email, &body.password).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "message": "we sent a link to the new address; the change happens when it is opened" }),
    ))
}

#[derive(Serialize)]
struct SessionView {
    id: i64,
    current: bool,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
}

async fn list_sessions(state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let sessions: Vec<SessionView> = accounts::sessions(&state, &auth)
        .await?
        .into_iter()
        .map(|s: session::Model| SessionView {
            id: s.id,
            current: Some(s.id) == auth.session_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "sessions": sessions }),
    ))
}

async fn end_session(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    accounts::end_session(&state, &auth, id).await?;
    Ok(no_content())
}

#[derive(Serialize)]
struct TokenView {
    id: i64,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<&api_token::Model> for TokenView {
    fn from(t: &api_token::Model) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

async fn list_tokens(state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let tokens: Vec<TokenView> = accounts::api_tokens(&state, &auth)
        .await?
        .iter()
        .map(TokenView::from)
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "tokens": tokens }),
    ))
}

#[derive(Deserialize)]
struct CreateToken {
    name: String,
}

async fn create_token(
    state: AppState,
    creds: Credentials,
    body: Result<CreateToken, AppError>,
) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    let created = accounts::create_api_token(&state, &auth, &body?.name).await?;
    #[derive(Serialize)]
    struct Created {
        #[serde(flatten)]
        view: TokenView,
        /// Shown once; only its hash is kept.
        token: String,
    }
    Ok(json(
        StatusCode::CREATED,
        &Created {
            view: TokenView::from(&created.row),
            token: created.token,
        },
    ))
}

async fn delete_token(id: i64, state: AppState, creds: Credentials) -> Result<Response, AppError> {
    let auth = accounts::authenticate(&state, &creds).await?;
    accounts::delete_api_token(&state, &auth, id).await?;
    Ok(no_content())
}
