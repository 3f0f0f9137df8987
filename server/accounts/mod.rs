//! People and their logins (a member is a person): signup and email confirmation, login
//! with throttling, sessions, API tokens, password reset and change, email change, and
//! which account a request acts in with which role (the accounts themselves and the
//! people in them are `teams`). The member API's handlers are thin wrappers around these
//! methods.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::accounts as q;
use crate::db::entities::email_token::Purpose;
use crate::db::entities::login_attempt::Outcome;
use crate::db::entities::{api_token, member, session};
use crate::db::teams;
use crate::domain::{
    AccountId, AddressBlock, Email, MemberId, Password, Role, SessionId, TokenId, text,
};
use crate::error::{Error, Result};
use crate::mail::{
    ChangeEmail, ConfirmEmail, EmailChanged, List, Mailer, PasswordChanged, Recipient,
    ResetPassword,
};

mod profile;
pub mod secrets;

pub use profile::ProfileChange;

pub use secrets::Passwords;

pub const SESSION_DAYS: i64 = 30;
pub const CONFIRM_HOURS: i64 = 48;
pub const CHANGE_EMAIL_HOURS: i64 = 24;
pub const RESET_MINUTES: i64 = 60;
/// Login throttling: failures counted over this window...
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;
/// ...at most this many for one account (since its last successful login)...
pub const MAX_ACCOUNT_FAILURES: usize = 5;
/// ...and this many from one IP address.
pub const MAX_IP_FAILURES: usize = 20;
/// Reset emails one account can be sent per hour; more would make barkeep a mail bomb.
const MAX_RESETS_PER_HOUR: u64 = 3;
/// A session's last-seen time is written at most this often.
const TOUCH_EVERY_SECS: i64 = 60;

/// What accounts need: the database, the clock, the mailer for links, and the public
/// URL those links start with.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    base_url: String,
    passwords: Passwords,
    /// Work detached from a request (so its answer cannot tell anything).
    detached: TaskTracker,
}

/// Who is making a request, through which session (none for an API token), and in
/// which account.
#[derive(Debug, Clone)]
pub struct Auth {
    pub member: member::Model,
    pub session_id: Option<SessionId>,
    /// `None` for a person in no account (they left their last one).
    pub acting: Option<Acting>,
    /// Every account the person is in, for the dashboard's switcher (signed in with a
    /// session; empty for an API token).
    pub accounts: Vec<AccountChoice>,
}

/// An account a person can switch to.
#[derive(Debug, Clone)]
pub struct AccountChoice {
    pub id: AccountId,
    pub name: String,
    pub role: Role,
}

/// The account a request acts in and the role it acts with there: the person's role,
/// or the narrower one of the API token it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acting {
    pub account: AccountId,
    pub role: Role,
}

impl Acting {
    /// 403 `role_forbidden` unless the role includes `needed`.
    pub fn allow(self, needed: Role) -> Result<()> {
        if self.role.allows(needed) {
            return Ok(());
        }
        Err(Error::forbidden(
            "role_forbidden",
            format!(
                "your role in this account ({}) cannot do this; it needs {} or above",
                self.role.as_str(),
                needed.as_str()
            ),
        ))
    }
}

/// What a request presented to prove who it is, and the account it asks to act in.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub cookie: Option<String>,
    pub bearer: Option<String>,
    /// The `Barkeep-Account` header: for a person in several accounts.
    pub account: Option<AccountId>,
}

/// A browser that has logged in to an account before, as its device cookie proves (the
/// web layer checks the signature). Its failures count against it alone, not against
/// the account (see `login`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub member: MemberId,
    /// Random, chosen when the cookie was made.
    pub id: String,
}

pub struct LoggedIn {
    pub token: String,
    pub member: member::Model,
}

pub struct NewApiToken {
    pub token: String,
    pub row: api_token::Model,
}

fn invalid_link() -> Error {
    Error::bad_request(
        "invalid_token",
        "this link is invalid, was already used or has expired",
    )
}

/// What an account whose address is not confirmed yet may not do: anyone can sign up
/// with anyone's address, so nothing that outlasts a password reset (an API token) or
/// moves the account elsewhere (an email change) is open to it.
fn unconfirmed(member: &member::Model) -> Result<()> {
    if member.email_confirmed_at.is_none() {
        return Err(Error::forbidden(
            "email_unconfirmed",
            "confirm your email address first: the link is in the email we sent when you signed up",
        ));
    }
    Ok(())
}

/// Email-change requests a member may make in an hour, and that may name one address
/// in a day (each sends an email to the address named).
const MAX_EMAIL_CHANGES_PER_HOUR: u64 = 3;
const MAX_EMAIL_CHANGES_TO_ADDRESS_PER_DAY: u64 = 3;

/// What the mailbox's owner proving themselves ends: every API token and every pending
/// email link the account had, whoever made them.
async fn revoke_standing_access(
    txn: &impl sea_orm::ConnectionTrait,
    member: MemberId,
    now: DateTime<Utc>,
) -> Result<()> {
    q::revoke_api_tokens(txn, member).await?;
    for purpose in [
        Purpose::ConfirmEmail,
        Purpose::ChangeEmail,
        Purpose::ResetPassword,
    ] {
        q::void_tokens(txn, member, purpose, now).await?;
    }
    Ok(())
}

fn email_taken() -> Error {
    Error::conflict(
        "email_taken",
        "an account with this email address already exists",
    )
}

/// The failures that hold back an attempt from `device` (or from a stranger, `None`):
/// wrong passwords of that same device, or of strangers, since the last success that
/// resets them (of that device; for strangers, any). `attempts` are newest first; the
/// answer keeps that order.
fn counted_failures(
    attempts: &[(DateTime<Utc>, Outcome, Option<String>)],
    device: Option<&str>,
) -> Vec<DateTime<Utc>> {
    attempts
        .iter()
        .take_while(|(_, outcome, from)| {
            *outcome != Outcome::Success || (device.is_some() && from.as_deref() != device)
        })
        .filter(|(_, outcome, from)| *outcome == Outcome::BadPassword && from.as_deref() == device)
        .map(|(at, _, _)| *at)
        .collect()
}

impl Accounts {
    pub fn new(db: Db, clock: Clock, mailer: Mailer, base_url: &str, passwords: Passwords) -> Self {
        Accounts {
            db,
            clock,
            mailer,
            base_url: base_url.to_string(),
            passwords,
            detached: TaskTracker::new(),
        }
    }

    /// Runs `send_password_reset` detached from the request.
    pub fn send_password_reset_detached(self, email: Email) {
        let detached = self.detached.clone();
        detached.spawn(async move { self.send_password_reset(email).await });
    }

    /// Waits until no detached work is running (tests call this instead of sleeping);
    /// work may still be detached after.
    pub async fn settled(&self) {
        self.detached.close();
        self.detached.wait().await;
        self.detached.reopen();
    }

    /// Waits, at shutdown (after the last request), for the detached work to finish;
    /// `false` if it did not within `limit`.
    pub async fn finish_detached(&self, limit: std::time::Duration) -> bool {
        self.detached.close();
        tokio::time::timeout(limit, self.detached.wait())
            .await
            .is_ok()
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.base_url)
    }

    pub async fn signup(&self, email: Email, password: Password) -> Result<member::Model> {
        if q::member_by_email(&self.db, email.as_str())
            .await?
            .is_some()
        {
            return Err(email_taken());
        }
        let hash = self.passwords.hash(password.expose().to_string()).await?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let member = q::insert_member(&txn, email.as_str(), hash, now)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict { .. } => email_taken(),
                other => other,
            })?;
        // A person who signs up owns an account of their own.
        teams::insert_account(&txn, email.as_str(), member.id, now).await?;
        self.send_confirmation(&txn, &member, now).await?;
        txn.commit().await?;
        self.mailer.wake();
        tracing::info!(member_id = %member.id, "member signed up");
        Ok(member)
    }

    /// Queues the email with a link that confirms the member's address.
    async fn send_confirmation(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        member: &member::Model,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let token = secrets::new_token();
        let row = q::insert_email_token(
            txn,
            member.id,
            Purpose::ConfirmEmail,
            secrets::hash_token(&token),
            None,
            now,
            now + Duration::hours(CONFIRM_HOURS),
        )
        .await?;
        self.mailer
            .enqueue(
                txn,
                Recipient {
                    address: &member.email,
                    member_id: Some(member.id),
                },
                &format!("email-token-{}", row.id),
                &ConfirmEmail {
                    confirm_url: self.link("/confirm-email", &token),
                    valid_hours: CONFIRM_HOURS as u32,
                },
            )
            .await?;
        Ok(())
    }

    /// Sends a new confirmation link (the old ones keep working until they expire); at
    /// most one every two minutes.
    pub async fn resend_confirmation(&self, member: &member::Model) -> Result<()> {
        if member.email_confirmed_at.is_some() {
            return Err(Error::conflict(
                "already_confirmed",
                "this address is already confirmed",
            ));
        }
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_member(&txn, member.id).await?;
        if let Some(last) = q::latest_token_at(&txn, member.id, Purpose::ConfirmEmail).await?
            && now - last < Duration::minutes(2)
        {
            return Err(Error::TooManyRequests {
                retry_after_secs: (Duration::minutes(2) - (now - last)).num_seconds().max(1) as u64,
            });
        }
        self.send_confirmation(&txn, member, now).await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// Confirms a signup address or completes an email change, by the emailed token.
    pub async fn confirm_email(&self, token: &str) -> Result<member::Model> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let row = q::take_email_token(
            &txn,
            &secrets::hash_token(token.trim()),
            &[Purpose::ConfirmEmail, Purpose::ChangeEmail],
            now,
        )
        .await?
        .ok_or_else(invalid_link)?;
        let member = q::member_by_id(&txn, row.member_id)
            .await?
            .ok_or_else(invalid_link)?;
        match (row.purpose, row.new_email) {
            (Purpose::ChangeEmail, Some(new_email)) => {
                if q::member_by_email(&txn, &new_email).await?.is_some() {
                    return Err(Error::conflict(
                        "email_taken",
                        "another account now uses that email address",
                    ));
                }
                q::set_email(&txn, member.id, &new_email, now).await?;
                self.mailer
                    .enqueue(
                        &txn,
                        Recipient {
                            address: &member.email,
                            member_id: Some(member.id),
                        },
                        &format!("email-changed-{}", row.id),
                        &EmailChanged {
                            new_email: new_email.clone(),
                        },
                    )
                    .await?;
                tracing::info!(member_id = %member.id, "member changed email address");
            }
            _ => {
                if member.email_confirmed_at.is_none() {
                    // The first time the mailbox's owner shows up: whatever was set up
                    // before them (tokens, email-change links) goes.
                    revoke_standing_access(&txn, member.id, now).await?;
                }
                q::confirm_email(&txn, member.id, now).await?;
                tracing::info!(member_id = %member.id, "member confirmed email address");
            }
        }
        let member = q::member_by_id(&txn, member.id)
            .await?
            .ok_or(Error::NotFound)?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(member)
    }

    /// Checks the throttle, the password, records the attempt, and opens a session.
    ///
    /// The throttle, over the last 15 minutes:
    /// - 20 failures from one address block (an IPv4 address, an IPv6 /64) stop every
    ///   attempt from it;
    /// - a browser that shows a device cookie of this account (it logged in to it
    ///   before) is held back only by its own failures: 5 since its last success;
    /// - every other attempt is held back by the failures of all such strangers: 5
    ///   since the account's last success.
    ///
    /// So a stranger who guesses wrongly five times locks out other strangers, not the
    /// owner at a browser they have used; and a stolen device cookie buys no more guesses
    /// than anyone gets.
    pub async fn login(
        &self,
        raw_email: &str,
        password: &str,
        ip: IpAddr,
        user_agent: Option<&str>,
        device: Option<&Device>,
    ) -> Result<LoggedIn> {
        let now = self.clock.now();
        let since = now - Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let window = Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let ip_text = ip.to_string();
        let email = raw_email.trim().to_lowercase();
        let db = &self.db;

        let ip_failures = q::ip_failures_since(db, AddressBlock::of(ip), since).await?;
        let member = q::member_by_email(db, &email).await?;
        let member_id = member.as_ref().map(|m| m.id);
        // The device counts only for the account it was made for.
        let device = device
            .filter(|d| Some(d.member) == member_id)
            .map(|d| d.id.as_str());

        let mut retry_at: Option<DateTime<Utc>> = None;
        if ip_failures.len() >= MAX_IP_FAILURES {
            retry_at = Some(ip_failures[ip_failures.len() - MAX_IP_FAILURES] + window);
        }
        if let Some(id) = member_id {
            let attempts = q::member_attempts_since(db, id, since).await?;
            let failures = counted_failures(&attempts, device);
            if failures.len() >= MAX_ACCOUNT_FAILURES {
                let at = failures[MAX_ACCOUNT_FAILURES - 1] + window;
                retry_at = Some(retry_at.map_or(at, |r| r.max(at)));
            }
        }
        let attempt = q::Attempt {
            member_id,
            email: &email,
            ip,
            user_agent,
            device,
        };
        if let Some(at) = retry_at {
            q::record_login_attempt(db, &attempt, Outcome::Throttled, now).await?;
            tracing::warn!(member_id = ?member_id, known_device = device.is_some(), "login throttled");
            let secs = (at - now).num_seconds().max(1) as u64;
            return Err(Error::TooManyRequests {
                retry_after_secs: secs,
            });
        }

        let ok = self
            .passwords
            .verify(
                password.to_string(),
                member.as_ref().map(|m| m.password_hash.clone()),
            )
            .await?;
        let outcome = match (&member, ok) {
            (Some(_), true) => Outcome::Success,
            (Some(_), false) => Outcome::BadPassword,
            (None, _) => Outcome::UnknownEmail,
        };
        q::record_login_attempt(db, &attempt, outcome, now).await?;
        let Some(member) = member.filter(|_| ok) else {
            tracing::info!(member_id = ?member_id, ?outcome, "login failed");
            return Err(Error::BadCredentials);
        };

        let token = secrets::new_token();
        q::insert_session(
            db,
            member.id,
            secrets::hash_token(&token),
            ip_text,
            user_agent.map(|u| u.chars().take(512).collect()),
            now,
            now + Duration::days(SESSION_DAYS),
        )
        .await?;
        tracing::info!(member_id = %member.id, "member logged in");
        Ok(LoggedIn { token, member })
    }

    /// Resolves a session cookie or bearer token (an API token or a session token).
    pub async fn authenticate(&self, creds: &Credentials) -> Result<Auth> {
        let now = self.clock.now();
        let db = &self.db;
        if let Some(bearer) = creds.bearer.as_deref() {
            let hash = secrets::hash_token(bearer);
            if let Some(token) = q::api_token_by_hash(db, &hash).await? {
                if token
                    .last_used_at
                    .is_none_or(|t| (now - t).num_seconds() >= TOUCH_EVERY_SECS)
                {
                    let txn = crate::db::begin(db).await?;
                    q::touch_api_token(&txn, token.id, now).await?;
                    txn.commit().await?;
                }
                let member = q::member_by_id(db, token.member_id)
                    .await?
                    .ok_or(Error::Unauthorized)?;
                let acting = self.token_acting(&token, creds.account).await?;
                return Ok(Auth {
                    member,
                    session_id: None,
                    acting,
                    accounts: Vec::new(),
                });
            }
            return self.session_auth(&hash, creds.account, now).await;
        }
        if let Some(cookie) = creds.cookie.as_deref() {
            return self
                .session_auth(&secrets::hash_token(cookie), creds.account, now)
                .await;
        }
        Err(Error::Unauthorized)
    }

    /// A token acts in the account it was made in, with the lesser of its own role and
    /// its person's role there now; a person no longer in that account holds a token
    /// that opens nothing of it.
    async fn token_acting(
        &self,
        token: &api_token::Model,
        asked: Option<AccountId>,
    ) -> Result<Option<Acting>> {
        let Some(account) = token.account_id else {
            return Ok(None);
        };
        if asked.is_some_and(|a| a != account) {
            return Err(not_in_account());
        }
        let Some(row) = teams::membership(&self.db, account, token.member_id).await? else {
            return Err(Error::Unauthorized);
        };
        let role = token.role.map_or(row.role, |r| r.min(row.role));
        Ok(Some(Acting { account, role }))
    }

    /// The account a session acts in: the one asked for, else the one its switcher
    /// chose, else the person's first.
    fn choose(
        accounts: &[AccountChoice],
        asked: Option<AccountId>,
        chosen: Option<AccountId>,
    ) -> Result<Option<Acting>> {
        let acting = |c: &AccountChoice| Acting {
            account: c.id,
            role: c.role,
        };
        if let Some(account) = asked {
            return accounts
                .iter()
                .find(|c| c.id == account)
                .map(|c| Some(acting(c)))
                .ok_or_else(not_in_account);
        }
        Ok(chosen
            .and_then(|id| accounts.iter().find(|c| c.id == id))
            .or(accounts.first())
            .map(acting))
    }

    /// The accounts a person is in, oldest membership first.
    pub async fn accounts_of(&self, member: MemberId) -> Result<Vec<AccountChoice>> {
        Ok(teams::memberships_of(&self.db, member)
            .await?
            .into_iter()
            .map(|(row, account)| AccountChoice {
                id: account.id,
                name: account.name,
                role: row.role,
            })
            .collect())
    }

    async fn session_auth(
        &self,
        hash: &str,
        asked: Option<AccountId>,
        now: DateTime<Utc>,
    ) -> Result<Auth> {
        let session = q::live_session(&self.db, hash, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        if (now - session.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS {
            let txn = crate::db::begin(&self.db).await?;
            q::touch_session(&txn, session.id, now).await?;
            txn.commit().await?;
        }
        let member = q::member_by_id(&self.db, session.member_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let accounts = self.accounts_of(member.id).await?;
        let acting = Self::choose(&accounts, asked, session.account_id)?;
        Ok(Auth {
            member,
            session_id: Some(session.id),
            acting,
            accounts,
        })
    }

    /// The switcher: the session acts in `account` from now on (the person must be in it).
    /// An account as stored now.
    pub async fn account(
        &self,
        id: AccountId,
    ) -> Result<Option<crate::db::entities::account::Model>> {
        Ok(teams::account_by_id(&self.db, id).await?)
    }

    pub async fn switch_account(&self, auth: &Auth, account: AccountId) -> Result<()> {
        teams::membership(&self.db, account, auth.member.id)
            .await?
            .ok_or_else(not_in_account)?;
        if let Some(id) = auth.session_id {
            q::set_session_account(&self.db, id, account).await?;
        }
        Ok(())
    }

    pub async fn logout(&self, auth: &Auth) -> Result<()> {
        if let Some(id) = auth.session_id {
            q::delete_session(&self.db, auth.member.id, id).await?;
        }
        Ok(())
    }

    pub async fn sessions(&self, auth: &Auth) -> Result<Vec<session::Model>> {
        Ok(q::sessions_of(&self.db, auth.member.id, self.clock.now()).await?)
    }

    /// Ends one of the member's own sessions; another member's id is simply not found.
    pub async fn end_session(&self, auth: &Auth, id: SessionId) -> Result<()> {
        if q::delete_session(&self.db, auth.member.id, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// A token acting in the request's account, with at most `role` there (a token asked
    /// for with a wider role than its person's is refused: it could never use it).
    pub async fn create_api_token(
        &self,
        auth: &Auth,
        name: &str,
        role: Option<Role>,
    ) -> Result<NewApiToken> {
        unconfirmed(&auth.member)?;
        if let (Some(asked), Some(acting)) = (role, auth.acting) {
            acting.allow(asked)?;
        }
        let name = text::name(
            "name",
            name,
            100,
            "give the token a name of 1 to 100 characters",
        )?;
        // The prefix lets secret scanners and people recognise a leaked barkeep token.
        let token = format!("bk_{}", secrets::new_token());
        let row = q::insert_api_token(
            &self.db,
            auth.member.id,
            auth.acting.map(|a| a.account),
            role,
            name,
            secrets::hash_token(&token),
            self.clock.now(),
        )
        .await?;
        Ok(NewApiToken { token, row })
    }

    pub async fn api_tokens(&self, auth: &Auth) -> Result<Vec<api_token::Model>> {
        Ok(q::api_tokens_of(&self.db, auth.member.id).await?)
    }

    pub async fn delete_api_token(&self, auth: &Auth, id: TokenId) -> Result<()> {
        if q::delete_api_token(&self.db, auth.member.id, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Emails a reset link if the address belongs to a member. Run detached from the
    /// request, so the answer is the same, and as fast, whether or not it does.
    pub async fn send_password_reset(self, email: Email) {
        if let Err(err) = self.try_send_password_reset(&email).await {
            tracing::error!(
                error = format!("{err:#}"),
                "could not queue a password reset email"
            );
        }
    }

    async fn try_send_password_reset(&self, email: &Email) -> anyhow::Result<()> {
        let Some(member) = q::member_by_email(&self.db, email.as_str()).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        let slot = q::count_tokens_since(
            &self.db,
            member.id,
            Purpose::ResetPassword,
            now - Duration::hours(1),
        )
        .await?;
        if slot >= MAX_RESETS_PER_HOUR {
            tracing::warn!(
                member_id = %member.id,
                "password reset requested too often; not sending another"
            );
            return Ok(());
        }
        let token = secrets::new_token();
        let txn = crate::db::begin(&self.db).await?;
        q::insert_email_token(
            &txn,
            member.id,
            Purpose::ResetPassword,
            secrets::hash_token(&token),
            None,
            now,
            now + Duration::minutes(RESET_MINUTES),
        )
        .await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: &member.email,
                    member_id: Some(member.id),
                },
                // Requests racing for the same slot share one key, so only one of them
                // gets an email out: the cap holds under concurrency too.
                &format!("reset-{}-{}-{slot}", member.id, now.format("%Y%m%d%H")),
                &ResetPassword {
                    reset_url: self.link("/reset-password", &token),
                    valid_minutes: RESET_MINUTES as u32,
                },
            )
            .await?;
        txn.commit().await?;
        self.mailer.wake();
        tracing::info!(member_id = %member.id, "password reset link queued");
        Ok(())
    }

    /// Sets a new password by an emailed reset token and ends every session.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<()> {
        let now = self.clock.now();
        // Look the token up first so a bad link is reported before a weak password is.
        let txn = crate::db::begin(&self.db).await?;
        let row = q::take_email_token(
            &txn,
            &secrets::hash_token(token.trim()),
            &[Purpose::ResetPassword],
            now,
        )
        .await?
        .ok_or_else(invalid_link)?;
        let member = q::member_by_id(&txn, row.member_id)
            .await?
            .ok_or_else(invalid_link)?;
        let password = Password::parse(new_password, "password", Some(&member.email))?;
        let hash = self.passwords.hash(password.expose().to_string()).await?;
        q::set_password_hash(&txn, member.id, hash, now).await?;
        // Whoever had the account before the reset keeps nothing: no token, no link.
        revoke_standing_access(&txn, member.id, now).await?;
        // Whoever reads the mailbox owns the address: that confirms it too.
        q::confirm_email(&txn, member.id, now).await?;
        let ended = q::delete_sessions_except(&txn, member.id, None).await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: &member.email,
                    member_id: Some(member.id),
                },
                &format!("password-changed-reset-{}", row.id),
                &PasswordChanged {
                    sessions_ended: true,
                },
            )
            .await?;
        txn.commit().await?;
        self.mailer.wake();
        tracing::info!(
            member_id = %member.id,
            sessions_ended = ended,
            "password reset"
        );
        Ok(())
    }

    /// Changes the password from the account page; other sessions end, this one stays.
    pub async fn change_password(
        &self,
        auth: &Auth,
        current: &str,
        new_password: &str,
    ) -> Result<()> {
        let ok = self
            .passwords
            .verify(current.to_string(), Some(auth.member.password_hash.clone()))
            .await?;
        if !ok {
            return Err(Error::invalid(
                "current_password",
                "the current password is not right",
            ));
        }
        let password = Password::parse(new_password, "new_password", Some(&auth.member.email))?;
        let hash = self.passwords.hash(password.expose().to_string()).await?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::set_password_hash(&txn, auth.member.id, hash, now).await?;
        q::void_tokens(&txn, auth.member.id, Purpose::ChangeEmail, now).await?;
        let ended = q::delete_sessions_except(&txn, auth.member.id, auth.session_id).await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: &auth.member.email,
                    member_id: Some(auth.member.id),
                },
                &format!(
                    "password-changed-{}-{}",
                    auth.member.id,
                    now.timestamp_micros()
                ),
                &PasswordChanged {
                    sessions_ended: ended > 0,
                },
            )
            .await?;
        txn.commit().await?;
        self.mailer.wake();
        tracing::info!(
            member_id = %auth.member.id,
            sessions_ended = ended,
            "password changed"
        );
        Ok(())
    }

    /// Sends a confirmation link to the new address; the change happens when it is used.
    pub async fn request_email_change(
        &self,
        auth: &Auth,
        new_email: Email,
        password: &str,
    ) -> Result<()> {
        unconfirmed(&auth.member)?;
        let ok = self
            .passwords
            .verify(
                password.to_string(),
                Some(auth.member.password_hash.clone()),
            )
            .await?;
        if !ok {
            return Err(Error::invalid("password", "the password is not right"));
        }
        if new_email.as_str() == auth.member.email {
            return Err(Error::invalid(
                "email",
                "that is already your email address",
            ));
        }
        if q::member_by_email(&self.db, new_email.as_str())
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "email_taken",
                "another account uses that email address",
            ));
        }
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        // Each request mails the address named: a member may not flood anyone's inbox,
        // nor may many members flood one.
        let hour = now - Duration::hours(1);
        let day = now - Duration::days(1);
        if q::count_tokens_since(&txn, auth.member.id, Purpose::ChangeEmail, hour).await?
            >= MAX_EMAIL_CHANGES_PER_HOUR
            || q::count_changes_to_since(&txn, new_email.as_str(), day).await?
                >= MAX_EMAIL_CHANGES_TO_ADDRESS_PER_DAY
        {
            tracing::warn!(member_id = %auth.member.id, "email changes asked for too often");
            return Err(Error::TooManyRequests {
                retry_after_secs: 3600,
            });
        }
        let token = secrets::new_token();
        q::void_tokens(&txn, auth.member.id, Purpose::ChangeEmail, now).await?;
        let row = q::insert_email_token(
            &txn,
            auth.member.id,
            Purpose::ChangeEmail,
            secrets::hash_token(&token),
            Some(new_email.as_str().to_string()),
            now,
            now + Duration::hours(CHANGE_EMAIL_HOURS),
        )
        .await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: new_email.as_str(),
                    member_id: Some(auth.member.id),
                },
                &format!("email-token-{}", row.id),
                &ChangeEmail {
                    confirm_url: self.link("/confirm-email", &token),
                    new_email: new_email.as_str().to_string(),
                    valid_hours: CHANGE_EMAIL_HOURS as u32,
                },
            )
            .await?;
        txn.commit().await?;
        self.mailer.wake();
        Ok(())
    }

    /// One-click unsubscribe: the member leaves one list at once. Unknown members (an
    /// erased account's old link) change nothing.
    pub async fn unsubscribe(&self, member: MemberId, list: List) -> Result<()> {
        let Some(m) = q::member_by_id(&self.db, member).await? else {
            return Ok(());
        };
        let off = Some(false);
        let prefs = match list {
            List::News => q::Preferences {
                news: off,
                ..Default::default()
            },
            List::Digest => q::Preferences {
                digest: off,
                ..Default::default()
            },
            List::Promo => q::Preferences {
                promo: off,
                ..Default::default()
            },
        };
        q::set_preferences(&self.db, m, prefs, self.clock.now()).await?;
        tracing::info!(member_id = %member, list = list.as_str(), "unsubscribed");
        Ok(())
    }

    /// Checks the member's password for an action that needs it again (erasure).
    pub async fn check_password(&self, member: &member::Model, password: &str) -> Result<()> {
        let ok = self
            .passwords
            .verify(password.to_string(), Some(member.password_hash.clone()))
            .await?;
        if ok {
            Ok(())
        } else {
            Err(Error::invalid("password", "the password is not right"))
        }
    }
}

fn not_in_account() -> Error {
    Error::forbidden(
        "not_in_account",
        "you are not in that account (see GET /api/v1/accounts for yours)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    #[test]
    fn strangers_failures_do_not_count_against_a_known_device() {
        let bad = |m, d: Option<&str>| (at(m), Outcome::BadPassword, d.map(str::to_string));
        let ok = |m, d: Option<&str>| (at(m), Outcome::Success, d.map(str::to_string));
        // Newest first: five strangers' failures after the owner's last login at home.
        let attempts = vec![
            bad(9, None),
            bad(8, None),
            bad(7, None),
            bad(6, None),
            bad(5, None),
            bad(4, Some("home")),
            ok(3, Some("home")),
            bad(2, Some("home")),
        ];
        assert_eq!(counted_failures(&attempts, None).len(), 5);
        assert_eq!(counted_failures(&attempts, Some("home")), vec![at(4)]);
        assert!(counted_failures(&attempts, Some("office")).is_empty());
        // Any success ends the strangers' count; only its own ends a device's.
        let attempts = vec![
            bad(9, None),
            ok(8, Some("office")),
            bad(7, None),
            bad(6, Some("home")),
        ];
        assert_eq!(counted_failures(&attempts, None), vec![at(9)]);
        assert_eq!(counted_failures(&attempts, Some("home")), vec![at(6)]);
    }
}
