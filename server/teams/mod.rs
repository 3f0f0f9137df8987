//! Accounts that several people share: who is in one and with which role, invitations
//! by email, leaving, and handing ownership over. Which role a change needs is written
//! on its route's row and checked by the router before anything here runs; the rules
//! about the people themselves (an owner is never removed, a sole owner cannot leave,
//! nobody grants a role above their own) are here.

use chrono::{DateTime, Duration, Utc};

use crate::accounts::{Acting, Passwords, secrets};
use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{account, invitation, member};
use crate::db::teams as q;
use crate::domain::{AccountId, Email, InvitationId, MemberId, Password, Role, text};
use crate::error::{Error, Result};
use crate::mail::{Invitation as InvitationEmail, Mailer, Recipient};

/// An invitation link works this long.
pub const INVITATION_DAYS: i64 = 7;
/// Invitations an account may send in a day (invitations are email to strangers).
pub const INVITATIONS_PER_DAY: u64 = 20;

#[derive(Clone)]
pub struct Teams {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    passwords: Passwords,
    base_url: String,
}

/// A person of an account, as its people see them.
#[derive(Debug, Clone)]
pub struct Person {
    pub member: member::Model,
    pub role: Role,
    pub since: DateTime<Utc>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub account: account::Model,
    pub member: member::Model,
    pub role: Role,
    /// A person was made for the invited address.
    pub created: bool,
}

impl Teams {
    pub fn new(
        db: Db,
        clock: Clock,
        mailer: Mailer,
        passwords: Passwords,
        base_url: &str,
    ) -> Teams {
        Teams {
            db,
            clock,
            mailer,
            passwords,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// A new account the person owns.
    pub async fn create_account(
        &self,
        member: &member::Model,
        name: &str,
    ) -> Result<account::Model> {
        let name = text::name("name", name, 100, "name the account in 1 to 100 characters")?;
        let txn = crate::db::begin(&self.db).await?;
        let account = q::insert_account(&txn, &name, member.id, self.clock.now()).await?;
        txn.commit().await?;
        tracing::info!(account_id = %account.id, member_id = %member.id, "account created");
        Ok(account)
    }

    /// Gives the acting account another name (admins).
    pub async fn rename(&self, acting: Acting, name: &str) -> Result<String> {
        let name = text::name("name", name, 100, "name the account in 1 to 100 characters")?;
        q::rename_account(&self.db, acting.account, &name, self.clock.now()).await?;
        Ok(name)
    }

    pub async fn people(&self, account: AccountId) -> Result<Vec<Person>> {
        Ok(q::people_of(&self.db, account)
            .await?
            .into_iter()
            .map(|(row, member)| Person {
                member,
                role: row.role,
                since: row.created_at,
            })
            .collect())
    }

    /// Invites `email` into the acting account with `role`, and emails the link. Nobody
    /// invites with a role above their own, and ownership is only handed over.
    pub async fn invite(
        &self,
        acting: Acting,
        inviter: &member::Model,
        email: Email,
        role: Role,
    ) -> Result<invitation::Model> {
        grantable(acting, role)?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_account(&txn, acting.account).await?;
        if q::invitations_since(&txn, acting.account, now - Duration::days(1)).await?
            >= INVITATIONS_PER_DAY
        {
            return Err(Error::TooManyRequests {
                retry_after_secs: 3600,
            });
        }
        let already = q::people_of(&txn, acting.account)
            .await?
            .into_iter()
            .any(|(_, m)| m.email.eq_ignore_ascii_case(email.as_str()));
        if already {
            return Err(Error::conflict(
                "already_in_account",
                "that address belongs to a person of this account already",
            ));
        }
        let account = q::account_by_id(&txn, acting.account)
            .await?
            .ok_or(Error::NotFound)?;
        let token = secrets::new_token();
        let row = q::insert_invitation(
            &txn,
            invitation::ActiveModel {
                account_id: sea_orm::ActiveValue::Set(acting.account),
                email: sea_orm::ActiveValue::Set(email.as_str().to_string()),
                role: sea_orm::ActiveValue::Set(role),
                token_hash: sea_orm::ActiveValue::Set(secrets::hash_token(&token)),
                invited_by: sea_orm::ActiveValue::Set(Some(inviter.id)),
                created_at: sea_orm::ActiveValue::Set(now),
                expires_at: sea_orm::ActiveValue::Set(now + Duration::days(INVITATION_DAYS)),
                accepted_at: sea_orm::ActiveValue::Set(None),
                revoked_at: sea_orm::ActiveValue::Set(None),
                ..Default::default()
            },
        )
        .await?;
        self.mailer
            .enqueue(
                &txn,
                Recipient {
                    address: email.as_str(),
                    member_id: None,
                },
                &format!("invitation:{}", row.id),
                &InvitationEmail {
                    account: account.name.clone(),
                    inviter: inviter.email.clone(),
                    role: role.as_str().to_string(),
                    accept_url: format!("{}/invitations/accept?token={token}", self.base_url),
                    valid_days: INVITATION_DAYS as u32,
                },
            )
            .await?;
        txn.commit().await?;
        self.mailer.wake();
        tracing::info!(account_id = %acting.account, invitation_id = %row.id, role = role.as_str(), "invitation sent");
        Ok(row)
    }

    /// Invitations of the account that can still be accepted.
    pub async fn invitations(&self, account: AccountId) -> Result<Vec<invitation::Model>> {
        Ok(q::pending_invitations(&self.db, account, self.clock.now()).await?)
    }

    pub async fn revoke(&self, account: AccountId, id: InvitationId) -> Result<()> {
        if q::revoke_invitation(&self.db, account, id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Accepts an invitation by its token: a signed-in person (`who`) joins with its
    /// role; without one, a person is made for the invited address with `password`
    /// (confirmed by the act of accepting). An address that already has a person must
    /// sign in first. A link works once, until it expires or is revoked.
    pub async fn accept(
        &self,
        token: &str,
        who: Option<&member::Model>,
        password: Option<Password>,
    ) -> Result<Accepted> {
        let now = self.clock.now();
        // The password is hashed before the transaction: hashing is slow on purpose.
        let hash = match (&who, password) {
            (None, Some(p)) => Some(self.passwords.hash(p.expose().to_string()).await?),
            _ => None,
        };
        let txn = crate::db::begin(&self.db).await?;
        let invite = q::invitation_by_hash(&txn, &secrets::hash_token(token))
            .await?
            .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now)
            .ok_or_else(|| {
                Error::bad_request(
                    "invitation_invalid",
                    "this invitation link was used, revoked or has expired; ask for a new one",
                )
            })?;
        let (member, created) = match who {
            Some(m) => (m.clone(), false),
            None => (self.person_for(&txn, &invite.email, hash, now).await?, true),
        };
        if q::membership(&txn, invite.account_id, member.id)
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "already_in_account",
                "you are in this account already",
            ));
        }
        q::insert_membership(&txn, invite.account_id, member.id, invite.role, now).await?;
        if !q::mark_accepted(&txn, invite.id, now).await? {
            return Err(Error::conflict(
                "invitation_invalid",
                "this invitation link was used a moment ago",
            ));
        }
        let account = q::account_by_id(&txn, invite.account_id)
            .await?
            .ok_or(Error::NotFound)?;
        txn.commit().await?;
        tracing::info!(account_id = %account.id, member_id = %member.id, role = invite.role.as_str(), "invitation accepted");
        Ok(Accepted {
            account,
            member,
            role: invite.role,
            created,
        })
    }

    /// The person an invitation without a signed-in person is accepted as: a new one
    /// for an address barkeep does not know.
    async fn person_for(
        &self,
        txn: &crate::db::Write,
        email: &str,
        hash: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<member::Model> {
        if crate::db::accounts::member_by_email(txn, email)
            .await?
            .is_some()
        {
            return Err(Error::Unauthorized);
        }
        let Some(hash) = hash else {
            return Err(Error::invalid(
                "password",
                "choose a password for your new barkeep login",
            ));
        };
        let member = crate::db::accounts::insert_member(txn, email, hash, now).await?;
        crate::db::accounts::confirm_email(txn, member.id, now).await?;
        Ok(crate::db::accounts::member_by_id(txn, member.id)
            .await?
            .unwrap_or(member))
    }

    /// Gives `target` another role in the acting account. Owners are changed only by
    /// handing ownership over; nobody grants a role above their own.
    pub async fn change_role(
        &self,
        acting: Acting,
        target: MemberId,
        role: Role,
    ) -> Result<Person> {
        grantable(acting, role)?;
        let txn = crate::db::begin(&self.db).await?;
        q::lock_account(&txn, acting.account).await?;
        let row = q::membership(&txn, acting.account, target)
            .await?
            .ok_or(Error::NotFound)?;
        if row.role == Role::Owner {
            return Err(Error::conflict(
                "owner_role",
                "an owner's role changes only when they hand ownership over",
            ));
        }
        q::set_role(&txn, acting.account, target, role).await?;
        txn.commit().await?;
        tracing::info!(account_id = %acting.account, member_id = %target, role = role.as_str(), "role changed");
        self.person(acting.account, target).await
    }

    /// Removes `target` from the acting account (not an owner; leaving is `leave`).
    pub async fn remove(&self, acting: Acting, me: MemberId, target: MemberId) -> Result<()> {
        if target == me {
            return self.leave(acting, me).await;
        }
        let txn = crate::db::begin(&self.db).await?;
        q::lock_account(&txn, acting.account).await?;
        let row = q::membership(&txn, acting.account, target)
            .await?
            .ok_or(Error::NotFound)?;
        if row.role == Role::Owner {
            return Err(Error::conflict(
                "owner_role",
                "an owner cannot be removed; they can hand ownership over and leave",
            ));
        }
        self.drop_membership(&txn, acting.account, target).await?;
        txn.commit().await?;
        tracing::info!(account_id = %acting.account, member_id = %target, "person removed");
        Ok(())
    }

    /// The person leaves the acting account; a sole owner hands ownership over first.
    pub async fn leave(&self, acting: Acting, me: MemberId) -> Result<()> {
        let txn = crate::db::begin(&self.db).await?;
        q::lock_account(&txn, acting.account).await?;
        if acting.role == Role::Owner && q::count_owners(&txn, acting.account).await? <= 1 {
            return Err(Error::conflict(
                "sole_owner",
                "you are this account's only owner: hand ownership to an admin before you leave (or delete the account)",
            ));
        }
        self.drop_membership(&txn, acting.account, me).await?;
        txn.commit().await?;
        tracing::info!(account_id = %acting.account, member_id = %me, "person left");
        Ok(())
    }

    /// The membership goes, and with it the person's tokens for the account.
    async fn drop_membership(
        &self,
        txn: &crate::db::Write,
        account: AccountId,
        member: MemberId,
    ) -> Result<()> {
        q::delete_membership(txn, account, member).await?;
        crate::db::accounts::delete_api_tokens_in(txn, member, account).await?;
        Ok(())
    }

    /// The owner hands ownership to an admin of the account, and becomes an admin.
    pub async fn hand_over(&self, acting: Acting, me: MemberId, to: MemberId) -> Result<()> {
        let txn = crate::db::begin(&self.db).await?;
        q::lock_account(&txn, acting.account).await?;
        let heir = q::membership(&txn, acting.account, to)
            .await?
            .ok_or(Error::NotFound)?;
        if heir.role != Role::Admin {
            return Err(Error::conflict(
                "not_admin",
                "ownership goes only to an admin of the account: make them admin first",
            ));
        }
        q::set_role(&txn, acting.account, to, Role::Owner).await?;
        q::set_role(&txn, acting.account, me, Role::Admin).await?;
        txn.commit().await?;
        tracing::info!(account_id = %acting.account, from = %me, to = %to, "ownership handed over");
        Ok(())
    }

    async fn person(&self, account: AccountId, member: MemberId) -> Result<Person> {
        self.people(account)
            .await?
            .into_iter()
            .find(|p| p.member.id == member)
            .ok_or(Error::NotFound)
    }
}

/// One entry of an account's audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    /// The person's address, `None` for barkeep itself or a person since erased.
    pub by: Option<String>,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// Audit rows are kept this long.
pub const AUDIT_DAYS: i64 = 365;

/// What happened in an account, for its audit log: who (none for barkeep itself), the
/// action's stable name, what it happened to, and from which address.
pub struct Change<'a> {
    pub account: AccountId,
    pub by: Option<MemberId>,
    pub action: &'a str,
    pub subject: String,
    pub ip: Option<String>,
}

/// Writes an audit entry with the caller's connection (inside its transaction, when it
/// has one).
pub async fn record(
    conn: &impl sea_orm::ConnectionTrait,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::ActiveValue::Set;
    q::insert_audit(
        conn,
        crate::db::entities::audit_event::ActiveModel {
            account_id: Set(change.account),
            member_id: Set(change.by),
            action: Set(change.action.to_string()),
            subject: Set(change.subject),
            ip: Set(change.ip),
            created_at: Set(now),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

impl Teams {
    /// Records a change; a failure is logged, never the caller's. The entry is written in
    /// a transaction of its own, so on SQLite it takes its turn with the other writers of
    /// this process instead of polling for the lock.
    pub async fn audit(&self, change: Change<'_>) {
        let action = change.action.to_string();
        let written = async {
            let txn = crate::db::begin(&self.db).await?;
            record(&txn, change, self.clock.now()).await?;
            txn.commit().await?;
            Ok::<_, crate::error::Error>(())
        };
        if let Err(err) = written.await {
            tracing::error!(error = %err, action, "could not write the audit log");
        }
    }

    /// The account's audit log, newest first: `limit` entries older than `before`.
    pub async fn audit_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(q::audit_of(&self.db, account, before, limit)
            .await?
            .into_iter()
            .map(|(row, by)| AuditEntry {
                id: row.id,
                by,
                action: row.action,
                subject: row.subject,
                ip: row.ip,
                at: row.created_at,
            })
            .collect())
    }

    /// The `purge_audit` job: entries older than [`AUDIT_DAYS`] go.
    pub async fn purge_audit(&self) -> anyhow::Result<()> {
        let before = self.clock.now() - Duration::days(AUDIT_DAYS);
        let n = q::purge_audit(&self.db, before).await?;
        if n > 0 {
            tracing::info!(rows = n, "audit entries past their period deleted");
        }
        Ok(())
    }
}

/// Nobody grants a role above their own, and ownership is only handed over.
fn grantable(acting: Acting, role: Role) -> Result<()> {
    if role == Role::Owner {
        return Err(Error::invalid(
            "role",
            "ownership is handed over (POST /api/v1/account/owner), not granted",
        ));
    }
    acting.allow(role)
}
