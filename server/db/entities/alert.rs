use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::MemberId;

/// A system alert: drafted, then sent by the fan-out job, which queues one email per
/// member in the audience, in member-id order, remembering how far it got (`cursor`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: Kind,
    /// Stored as JSON: `"all"`, `{"plan": ID}` or `{"member": ID}`.
    #[sea_orm(column_type = "Text")]
    pub audience: AudienceSpec,
    /// JSON: the kind's fields.
    #[sea_orm(column_type = "Text")]
    pub fields: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub message: Option<String>,
    pub status: Status,
    pub created_by: Option<MemberId>,
    pub created_at: DateTimeUtc,
    pub send_requested_at: Option<DateTimeUtc>,
    /// When the last email of the fan-out was queued.
    pub queued_at: Option<DateTimeUtc>,
    /// The highest member id the fan-out has passed.
    pub cursor: i64,
    pub queued: i64,
}

impl ActiveModelBehavior for ActiveModel {}

/// Where an alert stands. A draft is sent once: it starts sending, and is sent when the
/// fan-out has queued the email of every member of its audience.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Status {
    Draft,
    Sending,
    /// Every email queued (the outbox sends them).
    Sent,
}

impl Status {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Sending => "sending",
            Status::Sent => "sent",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of system alert. What each takes and the email it becomes are in
/// `crate::alerts::kinds`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Kind {
    PlannedOutage,
    NewFeature,
    VersionUpdate,
    PointRelease,
    MajorRelease,
    AbuseWarning,
    PolicyChange,
    SecurityBreach,
    Promotion,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::PlannedOutage,
        Kind::NewFeature,
        Kind::VersionUpdate,
        Kind::PointRelease,
        Kind::MajorRelease,
        Kind::AbuseWarning,
        Kind::PolicyChange,
        Kind::SecurityBreach,
        Kind::Promotion,
    ];

    /// The stored text, also the name forms and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PlannedOutage => "planned_outage",
            Kind::NewFeature => "new_feature",
            Kind::VersionUpdate => "version_update",
            Kind::PointRelease => "point_release",
            Kind::MajorRelease => "major_release",
            Kind::AbuseWarning => "abuse_warning",
            Kind::PolicyChange => "policy_change",
            Kind::SecurityBreach => "security_breach",
            Kind::Promotion => "promotion",
        }
    }

    /// The kind an operator typed (a form, the command line).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom an alert is for, as the operator names it: `"all"`, `{"plan": ID}` or
/// `{"member": ID}`. Stored as that JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, DeriveValueType)]
#[serde(untagged)]
#[sea_orm(
    value_type = "String",
    from_str = "AudienceSpec::from_json",
    to_str = "AudienceSpec::to_json",
    column_type = "Text"
)]
pub enum AudienceSpec {
    Everyone(Everyone),
    Plan { plan: String },
    Member { member: MemberId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Everyone {
    All,
}

impl AudienceSpec {
    fn from_json(s: &str) -> Result<AudienceSpec, serde_json::Error> {
        serde_json::from_str(s)
    }

    fn to_json(&self) -> String {
        match self {
            AudienceSpec::Everyone(Everyone::All) => "\"all\"".into(),
            AudienceSpec::Plan { plan } => serde_json::json!({ "plan": plan }).to_string(),
            AudienceSpec::Member { member } => serde_json::json!({ "member": member }).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    #[test]
    fn states_and_kinds_are_stored_as_before() {
        for s in Status::iter() {
            assert_eq!(s.to_value(), s.as_str());
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Kind::iter().count(), Kind::ALL.len());
        for k in Kind::iter() {
            assert_eq!(k.to_value(), k.as_str());
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn an_audience_is_stored_as_the_json_it_was_given_as() {
        for (spec, json) in [
            (AudienceSpec::Everyone(Everyone::All), r#""all""#),
            (
                AudienceSpec::Plan { plan: "pro".into() },
                r#"{"plan":"pro"}"#,
            ),
            (
                AudienceSpec::Member {
                    member: MemberId(7),
                },
                r#"{"member":7}"#,
            ),
        ] {
            assert_eq!(spec.to_json(), json);
            assert_eq!(serde_json::to_string(&spec).unwrap(), json);
            assert_eq!(AudienceSpec::from_json(json).unwrap(), spec);
        }
    }
}
