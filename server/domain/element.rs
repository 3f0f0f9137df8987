//! What a bar is drawn as (a bar, a modal, a slider, a takeover) and the countdown it
//! may carry.

use chrono::{DateTime, Utc};
use sea_orm::{DeriveActiveEnum, EnumIter, FromJsonQueryResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;
use super::text::{self, Fault};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum ElementType {
    /// A strip across the top or the bottom of the page.
    #[default]
    Bar,
    /// A centred dialog over the dimmed page; takes focus until closed.
    Modal,
    /// A panel sliding in from a corner; never blocks the page or takes focus.
    Slider,
    /// The whole viewport, for announcements; takes focus until closed.
    Takeover,
}

impl std::fmt::Display for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&sea_orm::ActiveEnum::to_value(self))
    }
}

impl ElementType {
    /// Whether the element holds the visitor's focus until closed (and so must be
    /// closable).
    pub fn is_modal(self) -> bool {
        matches!(self, ElementType::Modal | ElementType::Takeover)
    }
}

/// The corner a slider comes from, with the bar's placement (top or bottom).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Side {
    Left,
    #[default]
    Right,
}

/// A countdown shown next to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, FromJsonQueryResult)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Countdown {
    /// To a fixed moment, the same for every visitor.
    Until {
        ends_at: DateTime<Utc>,
        /// Shown in place of the message when the time is up; without it the element
        /// goes away.
        #[serde(default)]
        end_text: Option<String>,
    },
    /// For a fixed time from each visitor's first view of the bar (kept in the
    /// visitor's own browser).
    Evergreen {
        minutes: u32,
        #[serde(default)]
        end_text: Option<String>,
    },
}

/// At most 365 days.
const MAX_EVERGREEN_MINUTES: u32 = 365 * 24 * 60;

impl Countdown {
    pub fn check(self, now: DateTime<Utc>) -> Result<Countdown, Invalid> {
        let end = |t: Option<String>| -> Result<Option<String>, Invalid> {
            match t.as_deref().map(|t| text::line(t, 200)) {
                None | Some(Err(Fault::Empty)) => Ok(None),
                Some(Ok(t)) => Ok(Some(t.to_string())),
                Some(Err(f)) => Err(Invalid::new("countdown.end_text", f.message(200))),
            }
        };
        match self {
            Countdown::Until { ends_at, end_text } => {
                if ends_at <= now {
                    return Err(Invalid::new(
                        "countdown.ends_at",
                        "a countdown must end in the future",
                    ));
                }
                if ends_at.timestamp_millis() > 253_402_300_799_000 {
                    return Err(Invalid::new(
                        "countdown.ends_at",
                        "a countdown ends before the year 10000",
                    ));
                }
                Ok(Countdown::Until {
                    ends_at,
                    end_text: end(end_text)?,
                })
            }
            Countdown::Evergreen { minutes, end_text } => {
                if !(1..=MAX_EVERGREEN_MINUTES).contains(&minutes) {
                    return Err(Invalid::new(
                        "countdown.minutes",
                        format!("an evergreen countdown runs 1 to {MAX_EVERGREEN_MINUTES} minutes"),
                    ));
                }
                Ok(Countdown::Evergreen {
                    minutes,
                    end_text: end(end_text)?,
                })
            }
        }
    }

    pub fn end_text(&self) -> Option<&str> {
        match self {
            Countdown::Until { end_text, .. } | Countdown::Evergreen { end_text, .. } => {
                end_text.as_deref()
            }
        }
    }
}
