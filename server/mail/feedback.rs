//! What the email API reports after delivery: hard bounces and spam complaints, from its
//! webhook (Postmark's JSON: `RecordType` `Bounce` or `SpamComplaint`, the `Email`, and
//! the `Metadata` barkeep sent with the email). One hard bounce or complaint suppresses
//! the address from subscription mail (by its hash) and marks the email; soft bounces
//! change nothing.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::suppressions::{AddressKey, redact, suppress};
use crate::db::entities::email_event::EmailEventKind;
use crate::db::{Db, outbox as q};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Feedback {
    pub record_type: String,
    /// The bounce's type (`HardBounce`, `SoftBounce`, `Transient`, …).
    #[serde(default, rename = "Type")]
    pub kind: Option<String>,
    pub email: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub outbox_id: Option<String>,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Suppressed,
    Ignored,
}

/// Records a report. The address is kept only as its hash (`key`), and the report's
/// description without the address, so a report arriving after the account was erased
/// brings the address back nowhere.
pub async fn record(
    db: &Db,
    key: &AddressKey,
    now: DateTime<Utc>,
    f: &Feedback,
) -> anyhow::Result<Recorded> {
    let (kind, reason) = match (f.record_type.as_str(), f.kind.as_deref()) {
        ("Bounce", Some("HardBounce" | "BadEmailAddress" | "ManuallyDeactivated")) => {
            (EmailEventKind::Bounce, "hard_bounce")
        }
        ("SpamComplaint", _) => (EmailEventKind::Complaint, "complaint"),
        _ => return Ok(Recorded::Ignored),
    };
    let detail = f
        .description
        .clone()
        .unwrap_or_else(|| format!("{} {}", f.record_type, f.kind.as_deref().unwrap_or("")));
    let detail = redact(&detail, &f.email);
    let txn = crate::db::begin(db).await?;
    suppress(&txn, key, &f.email, reason, &detail, now).await?;
    if let Some(id) = f
        .metadata
        .as_ref()
        .and_then(|m| m.outbox_id.as_deref())
        .and_then(|id| id.parse::<i64>().ok())
    {
        let known = match kind {
            EmailEventKind::Bounce => q::mark_bounced(&txn, id, now).await?,
            _ => q::row_exists(&txn, id).await?,
        };
        if known {
            q::insert_event(&txn, id, kind, None, false, Some(&detail), now).await?;
        }
    }
    txn.commit().await?;
    tracing::warn!(reason, "an address was suppressed from subscription mail");
    Ok(Recorded::Suppressed)
}
