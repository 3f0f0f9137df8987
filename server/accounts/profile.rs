//! A person's profile and preferences (name, time zone, which emails arrive) and, for an
//! admin, their account's industry and lead retention. Checked field by field, written
//! in one transaction.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{Accounts, Acting};
use crate::db::accounts as q;
use crate::db::entities::member;
use crate::db::teams;
use crate::domain::text::{self, Fault};
use crate::domain::{Industry, MemberId, Role};
use crate::error::{Error, Result};

/// A change of profile: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatchMe)]
pub struct ProfileChange {
    /// Up to 100 characters; `null` or empty clears it.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub name: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub industry: Option<Option<String>>,
    #[serde(default)]
    pub promo_opt_in: Option<bool>,
    #[serde(default)]
    pub news_opt_in: Option<bool>,
    #[serde(default)]
    pub digest_opt_in: Option<bool>,
    /// An IANA time zone (`Europe/Berlin`); `null` for UTC.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub time_zone: Option<Option<String>>,
    #[serde(default)]
    pub lead_email: Option<bool>,
    /// Up to your plan's limit.
    #[serde(default)]
    pub lead_retention_days: Option<u32>,
}

/// The change, checked: what the database is given.
struct Checked {
    name: Option<Option<String>>,
    industry: Option<Option<String>>,
    time_zone: Option<Option<String>>,
    retention: Option<i32>,
}

fn name(raw: Option<Option<String>>) -> Result<Option<Option<String>>> {
    match raw {
        Some(Some(n)) => match text::line(&n, 100) {
            Ok(n) => Ok(Some(Some(n.to_string()))),
            Err(Fault::Empty) => Ok(Some(None)),
            Err(Fault::TooLong | Fault::NotOneLine) => Err(Error::invalid(
                "name",
                "the name must be at most 100 characters of text",
            )),
        },
        other => Ok(other),
    }
}

fn industry(raw: Option<Option<String>>) -> Result<Option<Option<String>>> {
    match raw {
        Some(Some(i)) => Ok(Some(Some(Industry::parse(&i)?.code().to_string()))),
        other => Ok(other),
    }
}

fn time_zone(raw: Option<Option<String>>) -> Result<Option<Option<String>>> {
    match raw {
        Some(Some(z)) => {
            let zone: chrono_tz::Tz = z.trim().parse().map_err(|_| {
                Error::invalid("time_zone", "an IANA time zone such as Europe/Berlin")
            })?;
            Ok(Some(Some(zone.name().to_string())))
        }
        other => Ok(other),
    }
}

/// Days to keep leads after delivery, within the plan's limit (`None`: no limit).
fn retention(days: Option<u32>, limit: Option<u64>) -> Result<Option<i32>> {
    let Some(days) = days else {
        return Ok(None);
    };
    if let Some(limit) = limit.filter(|l| u64::from(days) > *l) {
        return Err(Error::Limit {
            code: "lead_retention_limit",
            message: format!(
                "your plan keeps leads at most {limit} days after delivery; upgrade the plan to keep them longer"
            ),
            limit,
            current: u64::from(days),
        });
    }
    Ok(Some(i32::try_from(days.min(3650)).unwrap_or(3650)))
}

impl Accounts {
    /// Members whose address contains `search`, newest first (the operators' list).
    pub(crate) async fn search(
        &self,
        search: Option<&str>,
        limit: u64,
    ) -> Result<Vec<member::Model>> {
        Ok(q::search_members(&self.db, search, limit).await?)
    }

    /// The member as stored now (a form may just have changed them); 401 when the
    /// account is gone.
    pub async fn current(&self, member: MemberId) -> Result<member::Model> {
        q::member_by_id(&self.db, member)
            .await?
            .ok_or(Error::Unauthorized)
    }

    /// Applies a profile change, checked field by field. The industry and the lead
    /// retention are the account's (`acting`): changing them takes an admin, and the
    /// retention is bounded by `lead_retention_limit`, the account's plan's. All of it
    /// or nothing is written.
    pub async fn update_profile(
        &self,
        member: &member::Model,
        acting: Option<Acting>,
        change: ProfileChange,
        lead_retention_limit: Option<u64>,
    ) -> Result<member::Model> {
        let checked = Checked {
            name: name(change.name)?,
            industry: industry(change.industry)?,
            time_zone: time_zone(change.time_zone)?,
            retention: retention(change.lead_retention_days, lead_retention_limit)?,
        };
        let account_change = checked.industry.is_some() || checked.retention.is_some();
        let acting = match acting {
            Some(a) if account_change => {
                a.allow(Role::Admin)?;
                Some(a)
            }
            None if account_change => {
                return Err(Error::forbidden(
                    "no_account",
                    "the industry and lead retention are an account's; you are in none",
                ));
            }
            _ => None,
        };
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let member = q::update_profile(&txn, member.clone(), checked.name, now).await?;
        let preferences = q::Preferences {
            news: change.news_opt_in,
            digest: change.digest_opt_in,
            promo: change.promo_opt_in,
            time_zone: checked.time_zone,
        };
        let mut member = q::set_preferences(&txn, member, preferences, now).await?;
        if let Some(on) = change.lead_email {
            member = q::set_lead_email(&txn, member, on, now).await?;
        }
        if let Some(acting) = acting
            && let Some(account) = teams::account_by_id(&txn, acting.account).await?
        {
            teams::set_settings(&txn, account, checked.industry, checked.retention, now).await?;
        }
        txn.commit().await?;
        Ok(member)
    }
}
