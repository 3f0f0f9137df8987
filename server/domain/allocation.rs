//! How a bar with several variants shares its new visitors among them.

use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Allocation {
    /// By the variants' weights, fixed: an A/B test, whose comparison stays valid under
    /// daily reading.
    #[default]
    Weights,
    /// Mostly to the variant doing best, by Thompson sampling on click-through, updated
    /// hourly: it optimises rather than tests, and claims no winner.
    Thompson,
}
