//! A member's rights over their data: everything barkeep holds about them as one zip of
//! JSON files, at once; restricting processing (no bar served, no lead processed); and
//! erasure, after which no row anywhere holds their email, name or an id leading back
//! to them — their counts stay only as totals by day, goal and placement, and their
//! Stripe customer only as a keyed hash of its id, so that an event Stripe sends about it
//! later is recorded without its content. The retention jobs delete what is past its
//! period.

pub mod policies;

use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    Statement, Value,
};
use serde::Serialize;

use crate::accounts::Accounts;
use crate::billing::Billing;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::{member, outbox::AfterSend, stripe_event};
use crate::db::teams;
use crate::domain::{AccountId, MemberId, Role};
use crate::error::Result;
use crate::mail::{EmailKind, EmailTemplate, Mailer, Recipient, Sending};
use crate::scripts::{Policy, SitePolicy};

/// Login attempts are kept this long (they show a member who tried to get in).
pub const LOGIN_ATTEMPT_DAYS: i64 = 90;
/// Email bodies leave the outbox after this long; who, what and when stay.
pub const EMAIL_BODY_DAYS: i64 = 30;
/// Lead webhook delivery records are kept this long.
pub const DELIVERY_DAYS: i64 = 30;

/// The last email of an erased account; it names no one.
#[derive(Serialize)]
pub struct AccountDeleted {
    pub deleted_at: String,
}
impl EmailTemplate for AccountDeleted {
    fn kind(&self) -> EmailKind {
        EmailKind::AccountDeleted
    }
}

/// What the member's id and address are bound as in an export query.
#[derive(Clone, Copy)]
enum Bind {
    Member,
    Email,
    /// The address as suppressions keep it: its keyed hash (`crate::mail::suppressions`).
    EmailHash,
    /// The audience of an alert addressed to the member alone, as alerts store it.
    Audience,
}

/// An alert's audience when it is addressed to `member` alone.
fn audience_of(member: MemberId) -> String {
    format!("{{\"member\":{}}}", member.0)
}

/// One file of the export: its name, the tables it covers, what it holds, and the query.
struct Part {
    file: &'static str,
    tables: &'static [&'static str],
    about: &'static str,
    sql: &'static str,
    binds: &'static [Bind],
}

/// An account's sites (bound to the account's id, for erasure).
const OF_SITES: &str = "(SELECT id FROM sites WHERE account_id = ?)";

/// Every kind of data barkeep holds about a member. A test walks the schema and fails
/// when a table that refers to a member (through any chain of foreign keys) is missing
/// here; another reads every column of every table after a member has used everything
/// and fails when a table holding their id, address or Stripe customer is missing.
const PARTS: &[Part] = &[
    Part {
        file: "account.json",
        tables: &["members"],
        about: "your account: address, name, industry, time zone, email and lead preferences, restriction, role (the password is stored only as a hash and is not included)",
        sql: "SELECT id, email, email_confirmed_at, name, time_zone, promo_opt_in, news_opt_in, digest_opt_in, lead_email, is_operator, created_at, updated_at FROM members WHERE id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "accounts.json",
        tables: &["accounts"],
        about: "the accounts you are in: their names and settings",
        sql: "SELECT id, name, industry, lead_retention_days, restricted_at, created_at, updated_at FROM accounts WHERE id IN (SELECT account_id FROM account_members WHERE member_id = ?)",
        binds: &[Bind::Member],
    },
    Part {
        file: "memberships.json",
        tables: &["account_members"],
        about: "your role in each account you are in, and since when",
        sql: "SELECT id, account_id, role, created_at FROM account_members WHERE member_id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "invitations.json",
        tables: &["invitations"],
        about: "invitations sent to your address, and those you sent",
        sql: "SELECT id, account_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at FROM invitations WHERE lower(email) = ? OR invited_by = ?",
        binds: &[Bind::Email, Bind::Member],
    },
    Part {
        file: "audit_log.json",
        tables: &["audit_events"],
        about: "who changed what in the accounts you own or administer, and what you did in the others",
        sql: "SELECT id, account_id, member_id, action, subject, ip, created_at FROM audit_events WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin')) OR member_id = ?",
        binds: &[Bind::Member, Bind::Member],
    },
    Part {
        file: "sessions.json",
        tables: &["sessions"],
        about: "your sign-in sessions: when, from which address and browser",
        sql: "SELECT id, account_id, ip, user_agent, created_at, last_seen_at, expires_at FROM sessions WHERE member_id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "login_attempts.json",
        tables: &["login_attempts"],
        about: "sign-in attempts with your address, kept 90 days: from which address and browser, how each ended, and the id of the browser's device cookie when it showed one of yours",
        sql: "SELECT id, email, ip, user_agent, device, outcome, created_at FROM login_attempts WHERE member_id = ? OR lower(email) = ?",
        binds: &[Bind::Member, Bind::Email],
    },
    Part {
        file: "api_tokens.json",
        tables: &["api_tokens"],
        about: "your API tokens' names and use (the tokens themselves are stored only as hashes)",
        sql: "SELECT id, account_id, role, name, created_at, last_used_at FROM api_tokens WHERE member_id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "email_links.json",
        tables: &["email_tokens"],
        about: "confirmation and reset links sent to you (as hashes: what for, when, until when)",
        sql: "SELECT id, purpose, new_email, created_at, expires_at, used_at FROM email_tokens WHERE member_id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "sites.json",
        tables: &["sites"],
        about: "your sites",
        sql: "SELECT id, name, key, created_at, updated_at FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)",
        binds: &[Bind::Member],
    },
    Part {
        file: "hostnames.json",
        tables: &["site_hostnames"],
        about: "your sites' hostnames and when the bar last reported from each",
        sql: "SELECT * FROM site_hostnames WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?))",
        binds: &[Bind::Member],
    },
    Part {
        file: "bars.json",
        tables: &["bars"],
        about: "your bars and their settings",
        sql: "SELECT * FROM bars WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?))",
        binds: &[Bind::Member],
    },
    Part {
        file: "variants.json",
        tables: &["variants"],
        about: "your bars' variants and their content",
        sql: "SELECT * FROM variants WHERE bar_id IN (SELECT b.id FROM bars b JOIN sites s ON s.id = b.site_id WHERE s.account_id IN (SELECT account_id FROM account_members WHERE member_id = ?))",
        binds: &[Bind::Member],
    },
    Part {
        file: "deployments.json",
        tables: &["deployments"],
        about: "every published version of your bars: what it showed, when it started and ended",
        sql: "SELECT * FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?))",
        binds: &[Bind::Member],
    },
    Part {
        file: "counts_by_day.json",
        tables: &["deployment_stats_daily"],
        about: "views, unique visitors, clicks, dismissals and leads per deployment and day (UTC)",
        sql: "SELECT * FROM deployment_stats_daily WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "goals.json",
        tables: &["site_goals"],
        about: "your sites' goals: the page or the call that reaches each",
        sql: "SELECT * FROM site_goals WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?))",
        binds: &[Bind::Member],
    },
    Part {
        file: "visits_by_day.json",
        tables: &["exposure_stats_daily"],
        about: "visits that saw each deployment's bar, or were held out of it, per day (UTC)",
        sql: "SELECT * FROM exposure_stats_daily WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "goals_by_day.json",
        tables: &["goal_stats_daily"],
        about: "those visits that reached each goal, with the values sent, per day (UTC)",
        sql: "SELECT * FROM goal_stats_daily WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "allocations.json",
        tables: &["allocations"],
        about: "the shares of new visitors last computed for the live variants of your bars that optimise",
        sql: "SELECT * FROM allocations WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "counts_by_hour.json",
        tables: &["deployment_stats"],
        about: "the same counts per deployment and hour",
        sql: "SELECT * FROM deployment_stats WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "visitor_hashes.json",
        tables: &["visitor_hashes"],
        about: "today's and yesterday's salted visitor hashes that count unique visitors (deleted with their salt after two days; they identify no one)",
        sql: "SELECT * FROM visitor_hashes WHERE deployment_id IN (SELECT id FROM deployments WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)))",
        binds: &[Bind::Member],
    },
    Part {
        file: "leads.json",
        tables: &["leads"],
        about: "leads barkeep holds for you: not yet delivered, kept for the days you chose, or flagged because delivery failed",
        sql: "SELECT * FROM leads WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "lead_webhooks.json",
        tables: &["lead_webhooks"],
        about: "your sites' lead webhooks (the signing secret is not included)",
        sql: "SELECT site_id, url, created_at, updated_at, failing_notified_at FROM lead_webhooks WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "lead_deliveries.json",
        tables: &["lead_deliveries"],
        about: "every attempt to post a lead to your webhooks or add it to your list at an email service provider: when, how it went (never the lead)",
        sql: "SELECT * FROM lead_deliveries WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "list_forwards.json",
        tables: &["list_forwards"],
        about: "your sites' list forwards to an email service provider (the key is not included, only its last four characters)",
        sql: "SELECT site_id, provider, key_last4, api_url, list_id, list_name, double_opt_in, created_at, updated_at, paused_until, stopped_at, stopped_error, stopped_notified_at FROM list_forwards WHERE site_id IN (SELECT id FROM sites WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "hooks.json",
        tables: &["hooks"],
        about: "the REST hooks automation tools subscribed for your accounts (the signing secret is not included)",
        sql: "SELECT id, account_id, event, target_url, created_at, last_attempt_at, last_status, last_error FROM hooks WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer')",
        binds: &[Bind::Member],
    },
    Part {
        file: "hook_deliveries.json",
        tables: &["hook_deliveries"],
        about: "events waiting to be posted to those hooks (a lead's event names the lead, in leads.json)",
        sql: "SELECT * FROM hook_deliveries WHERE hook_id IN (SELECT id FROM hooks WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "lead_emails.json",
        tables: &["lead_email_batches"],
        about: "when each bar's last lead email went",
        sql: "SELECT * FROM lead_email_batches WHERE bar_id IN (SELECT b.id FROM bars b JOIN sites s ON s.id = b.site_id WHERE s.account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role <> 'viewer'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "emails.json",
        tables: &["outbox"],
        about: "emails sent to you: kind, subject, when, how delivery went (not their bodies)",
        sql: "SELECT id, kind, to_address, subject, status, stream, list, alert_id, attempts, last_error, created_at, sent_at, bounced_at FROM outbox WHERE member_id = ? OR lower(to_address) = ?",
        binds: &[Bind::Member, Bind::Email],
    },
    Part {
        file: "email_events.json",
        tables: &["email_events"],
        about: "opens, clicks, bounces and complaints of those emails",
        sql: "SELECT * FROM email_events WHERE outbox_id IN (SELECT id FROM outbox WHERE member_id = ?)",
        binds: &[Bind::Member],
    },
    Part {
        file: "email_suppression.json",
        tables: &["email_suppressions"],
        about: "whether your address stopped getting subscription mail after a bounce or complaint, and why (the address is kept there only as a keyed hash, which is what `address` shows)",
        sql: "SELECT * FROM email_suppressions WHERE address = ?",
        binds: &[Bind::EmailHash],
    },
    Part {
        file: "billing_customer.json",
        tables: &["billing_customers"],
        about: "your Stripe customer",
        sql: "SELECT * FROM billing_customers WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "subscriptions.json",
        tables: &["subscriptions"],
        about: "your Stripe subscriptions as barkeep last read them",
        sql: "SELECT * FROM subscriptions WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "billing.json",
        tables: &["billing_accounts"],
        about: "the plan barkeep applies to you, and the month your views last passed it",
        sql: "SELECT * FROM billing_accounts WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin'))",
        binds: &[Bind::Member],
    },
    Part {
        file: "policy_objections.json",
        tables: &["policy_objections"],
        about: "your objections to privacy-policy versions, with their time",
        sql: "SELECT p.version, o.objected_at FROM policy_objections o JOIN policy_versions p ON p.id = o.policy_id WHERE o.member_id = ?",
        binds: &[Bind::Member],
    },
    Part {
        file: "benchmarks.json",
        tables: &["benchmark_results"],
        about: "your rates beside comparable accounts in each benchmark snapshot",
        sql: "SELECT * FROM benchmark_results WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ?)",
        binds: &[Bind::Member],
    },
    Part {
        file: "stripe_events.json",
        tables: &["stripe_events"],
        about: "the webhook events Stripe sent barkeep about your customer and subscriptions (payload: the event as Stripe sent it)",
        sql: "SELECT id, kind, stripe_created_at, status, received_at, processed_at, stripe_customer_id, payload FROM stripe_events \
              WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin')) \
              OR stripe_customer_id IN (SELECT stripe_customer_id FROM billing_customers WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin'))) \
              OR stripe_customer_id IN (SELECT stripe_customer_id FROM subscriptions WHERE account_id IN (SELECT account_id FROM account_members WHERE member_id = ? AND role IN ('owner', 'admin')))",
        binds: &[Bind::Member, Bind::Member, Bind::Member],
    },
    Part {
        file: "alerts_to_you.json",
        tables: &["alerts"],
        about: "system alerts addressed to you alone, such as an abuse warning",
        sql: "SELECT id, kind, fields, message, status, created_at, send_requested_at, queued_at FROM alerts WHERE audience = ?",
        binds: &[Bind::Audience],
    },
    Part {
        file: "alerts_written.json",
        tables: &["alerts"],
        about: "system alerts you wrote as an operator",
        sql: "SELECT * FROM alerts WHERE created_by = ?",
        binds: &[Bind::Member],
    },
];

/// The tables the export covers, for the test that walks the schema.
pub fn exported_tables() -> Vec<&'static str> {
    PARTS
        .iter()
        .flat_map(|p| p.tables.iter().copied())
        .collect()
}

/// Each file of the export with the tables it covers, for the test that reads the
/// export back.
pub fn exported_files() -> Vec<(&'static str, &'static [&'static str])> {
    PARTS.iter().map(|p| (p.file, p.tables)).collect()
}

/// A statement written with `?` for each value, numbered as `db::placeholder` numbers
/// them.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let mut parts = sql.split('?');
    let mut numbered = parts.next().unwrap_or_default().to_string();
    for (i, part) in parts.enumerate() {
        numbered.push_str(&crate::db::placeholder(backend, i + 1));
        numbered.push_str(part);
    }
    Statement::from_sql_and_values(backend, numbered, values)
}

#[derive(Clone)]
pub struct Privacy {
    db: Db,
    clock: Clock,
    mailer: Mailer,
    accounts: Accounts,
    billing: Billing,
    catalog: Catalog,
}

impl Privacy {
    pub fn new(
        db: Db,
        clock: Clock,
        mailer: Mailer,
        accounts: Accounts,
        billing: Billing,
        catalog: Catalog,
    ) -> Privacy {
        Privacy {
            db,
            clock,
            mailer,
            accounts,
            billing,
            catalog,
        }
    }

    /// Everything held about the member, as one zip of JSON files with a README.
    pub async fn export(&self, m: &member::Model) -> Result<Vec<u8>> {
        let backend = self.db.get_database_backend();
        let email = m.email.to_lowercase();
        let email_hash = self.mailer.links().address_key().hash(&m.email);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let mut readme = format!(
            "Everything barkeep holds about {}, exported {}.\n\nEach file is a JSON list of records:\n\n",
            m.email,
            self.clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        for part in PARTS {
            let values = part
                .binds
                .iter()
                .map(|b| match b {
                    Bind::Member => Value::from(m.id.0),
                    Bind::Email => Value::from(email.clone()),
                    Bind::EmailHash => Value::from(email_hash.clone()),
                    Bind::Audience => Value::from(audience_of(m.id)),
                })
                .collect();
            let rows = serde_json::Value::find_by_statement(statement(backend, part.sql, values))
                .all(&self.db)
                .await?;
            readme.push_str(&format!(
                "- {}: {} ({} records)\n",
                part.file,
                part.about,
                rows.len()
            ));
            let json = serde_json::to_vec_pretty(&rows).map_err(anyhow::Error::from)?;
            zip.start_file(part.file, options)
                .map_err(anyhow::Error::from)?;
            zip.write_all(&json).map_err(anyhow::Error::from)?;
        }
        readme.push_str(
            "\nNot included because barkeep does not hold them in a form that is yours: your \
             password (only a hash), your tokens (only hashes), and counts of visitors (only \
             totals).\n",
        );
        zip.start_file("README.txt", options)
            .map_err(anyhow::Error::from)?;
        zip.write_all(readme.as_bytes())
            .map_err(anyhow::Error::from)?;
        let cursor = zip.finish().map_err(anyhow::Error::from)?;
        Ok(cursor.into_inner())
    }

    /// Pauses (or resumes) every bar and all lead processing of the account.
    pub async fn restrict(&self, account: AccountId, on: bool) -> Result<()> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        teams::set_restricted(&txn, account, on.then_some(now)).await?;
        // Every script is built again, now serving nothing (or its bars again).
        crate::db::catalog::bump_scripts_of_account(&txn, account, now).await?;
        txn.commit().await?;
        tracing::info!(account_id = %account, restricted = on, "processing restriction changed");
        Ok(())
    }

    /// Deletes the person after checking their password. Accounts they share stay with
    /// their other people (a sole owner's ownership passes to the longest-standing
    /// admin, else to the longest-standing person); accounts they are alone in are
    /// erased with them: Stripe subscriptions cancelled, counts kept only as unlinked
    /// totals, every row that holds an address, name or id removed. One last email goes
    /// to the address (its row goes once it is sent).
    pub async fn erase(&self, m: &member::Model, password: &str) -> Result<()> {
        self.accounts.check_password(m, password).await?;
        let now = self.clock.now();
        let alone = teams::accounts_only_of(&self.db, m.id).await?;
        for (row, _) in teams::memberships_of(&self.db, m.id).await? {
            if alone.contains(&row.account_id) {
                continue;
            }
            if row.role == Role::Owner {
                self.pass_ownership_on(row.account_id, m.id).await?;
            }
            let change = crate::teams::Change {
                account: row.account_id,
                by: None,
                action: "person.erased",
                subject: format!("a person who was {}", row.role.as_str()),
                ip: None,
            };
            crate::teams::record(&self.db, change, now).await?;
        }
        teams::forget_audit_addresses(&self.db, m.id).await?;
        for account in alone {
            self.erase_account(account, now).await?;
        }
        let txn = crate::db::begin(&self.db).await?;
        forget_unlinked_rows(&txn, m).await?;
        txn.commit().await?;
        crate::db::accounts::delete_member(&self.db, m.id).await?;
        crate::mail::suppressions::forget_address(&self.db, &m.email, m.id).await?;
        self.send_account_deleted(&m.email, now).await?;
        tracing::info!("a person was erased");
        Ok(())
    }

    /// When a sole owner goes, someone else must hold the account.
    async fn pass_ownership_on(&self, account: AccountId, leaving: MemberId) -> Result<()> {
        let txn = crate::db::begin(&self.db).await?;
        teams::lock_account(&txn, account).await?;
        let people = teams::people_of(&txn, account).await?;
        let others_own = people
            .iter()
            .any(|(row, _)| row.member_id != leaving && row.role == Role::Owner);
        if !others_own {
            let heir = people
                .iter()
                .filter(|(row, _)| row.member_id != leaving)
                .max_by_key(|(row, _)| (row.role, std::cmp::Reverse(row.id)));
            if let Some((row, _)) = heir {
                teams::set_role(&txn, account, row.member_id, Role::Owner).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// An account nobody else is in goes with its last person.
    async fn erase_account(&self, account: AccountId, now: DateTime<Utc>) -> Result<()> {
        self.billing.cancel_all(account).await?;
        let customers = crate::db::billing::customers_of_account(&self.db, account).await?;
        let txn = crate::db::begin(&self.db).await?;
        retire_counts(&txn, account).await?;
        self.forget_stripe_events(&txn, account, &customers, now)
            .await?;
        txn.commit().await?;
        // The sites through the catalogue, so every process stops serving them; then the
        // account, whose billing and benchmark rows go with it.
        for site in crate::db::catalog::sites_of(&self.db, account).await? {
            self.catalog.delete_site(site).await?;
        }
        teams::delete_account(&self.db, account).await?;
        Ok(())
    }

    /// Stripe's events about the member, found by the ids recorded on each (never by
    /// searching their text), whatever their state: one waiting for a retry too.
    /// Their customers are remembered as hashes, so what Stripe sends about them
    /// later is recorded without its content.
    async fn forget_stripe_events(
        &self,
        txn: &crate::db::Write,
        account: AccountId,
        customers: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut theirs = Condition::any().add(stripe_event::Column::AccountId.eq(account));
        if !customers.is_empty() {
            theirs =
                theirs.add(stripe_event::Column::StripeCustomerId.is_in(customers.iter().cloned()));
        }
        stripe_event::Entity::delete_many()
            .filter(theirs)
            .exec(txn)
            .await?;
        let hashes: Vec<String> = customers
            .iter()
            .map(|c| self.billing.erased_customer_hash(c))
            .collect();
        crate::db::billing::record_erased_customers(txn, &hashes, now).await?;
        Ok(())
    }

    /// The last email to the erased address: that the account is gone. The row is
    /// deleted once sent.
    async fn send_account_deleted(&self, address: &str, now: DateTime<Utc>) -> Result<()> {
        let mut row = self.mailer.row(
            Recipient {
                address,
                member_id: None,
            },
            &format!("account_deleted:{}", uuid::Uuid::new_v4().simple()),
            &AccountDeleted {
                deleted_at: crate::billing::day(now),
            },
            Sending::default(),
        )?;
        row.after_send = sea_orm::ActiveValue::Set(AfterSend::Delete);
        self.mailer.insert(&self.db, vec![row]).await?;
        self.mailer.wake();
        Ok(())
    }

    /// The `purge_sessions` job: sessions and email links past their expiry.
    pub async fn purge_sessions(&self) -> anyhow::Result<()> {
        let n = crate::db::accounts::purge_expired(&self.db, self.clock.now()).await?;
        log_purged("expired sessions and email links", n);
        Ok(())
    }

    /// The `purge_login_attempts` job.
    pub async fn purge_login_attempts(&self) -> anyhow::Result<()> {
        let before = self.clock.now() - Duration::days(LOGIN_ATTEMPT_DAYS);
        let n = crate::db::accounts::purge_login_attempts(&self.db, before).await?;
        log_purged("login attempts", n);
        Ok(())
    }

    /// The `purge_email_bodies` job: bodies go, who, what and when stay.
    pub async fn purge_email_bodies(&self) -> anyhow::Result<()> {
        let before = self.clock.now() - Duration::days(EMAIL_BODY_DAYS);
        let n = crate::db::outbox::purge_bodies(&self.db, before).await?;
        log_purged("email bodies", n);
        Ok(())
    }

    /// The `purge_lead_deliveries` job.
    pub async fn purge_lead_deliveries(&self) -> anyhow::Result<()> {
        let before = self.clock.now() - Duration::days(DELIVERY_DAYS);
        let n = crate::db::leads::purge_deliveries(&self.db, before).await?;
        log_purged("lead delivery records", n);
        Ok(())
    }
}

fn log_purged(what: &str, n: u64) {
    if n > 0 {
        tracing::info!(rows = n, "{what} past their period deleted");
    }
}

/// A restricted account's scripts serve no bar.
pub struct Restrictions {
    db: Db,
}

impl Restrictions {
    pub fn new(db: Db) -> Restrictions {
        Restrictions { db }
    }
}

impl Policy for Restrictions {
    fn for_account(&self, account: AccountId) -> BoxFuture<'_, anyhow::Result<SitePolicy>> {
        Box::pin(async move {
            let restricted: Option<DateTime<Utc>> = teams::account_by_id(&self.db, account)
                .await?
                .and_then(|a| a.restricted_at);
            Ok(SitePolicy {
                branding_required: false,
                paused: restricted.map(|_| "the account's owner has paused it".to_string()),
            })
        })
    }
}

/// Keeps the account's counts only as totals by day, goal and placement, linked to no
/// one.
async fn retire_counts(txn: &crate::db::Write, account: AccountId) -> Result<()> {
    let backend = txn.get_database_backend();
    let (goal, placement) = match backend {
        DbBackend::Postgres => ("d.snapshot->>'goal'", "d.snapshot->>'placement'"),
        _ => (
            "json_extract(d.snapshot, '$.goal')",
            "json_extract(d.snapshot, '$.placement')",
        ),
    };
    txn.execute_raw(statement(
        backend,
        &format!(
            "INSERT INTO retired_counts (day, goal, placement, views, clicks, dismissals, leads) \
             SELECT c.day, COALESCE({goal}, ''), COALESCE({placement}, ''), SUM(c.views), SUM(c.clicks), SUM(c.dismissals), SUM(c.leads) \
             FROM deployment_stats_daily c JOIN deployments d ON d.id = c.deployment_id \
             WHERE d.site_id IN {OF_SITES} \
             GROUP BY c.day, {goal}, {placement} \
             ON CONFLICT (day, goal, placement) DO UPDATE SET \
               views = retired_counts.views + excluded.views, clicks = retired_counts.clicks + excluded.clicks, \
               dismissals = retired_counts.dismissals + excluded.dismissals, leads = retired_counts.leads + excluded.leads"
        ),
        vec![account.0.into()],
    ))
    .await?;
    Ok(())
}

/// Deletes the rows that hold the member's address or id without a foreign key to the
/// member (so deleting the member would leave them).
async fn forget_unlinked_rows(txn: &crate::db::Write, m: &member::Model) -> Result<()> {
    let backend = txn.get_database_backend();
    let email = m.email.to_lowercase();
    for (sql, values) in [
        (
            "DELETE FROM login_attempts WHERE member_id = ? OR lower(email) = ?",
            vec![Value::from(m.id.0), Value::from(email.clone())],
        ),
        (
            "DELETE FROM outbox WHERE member_id = ? OR lower(to_address) = ?",
            vec![Value::from(m.id.0), Value::from(email.clone())],
        ),
        (
            "DELETE FROM email_suppressions WHERE address = ?",
            vec![Value::from(email.clone())],
        ),
        // Alerts written for this member alone say nothing of them any more.
        (
            "UPDATE alerts SET audience = '{\"member\":0}', fields = '{}', message = NULL WHERE audience = ?",
            vec![Value::from(audience_of(m.id))],
        ),
    ] {
        txn.execute_raw(statement(backend, sql, values)).await?;
    }
    Ok(())
}
