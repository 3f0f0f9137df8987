//! What a member's plan allows: how many sites, bars per site and variants per bar, how
//! many views a month, whether the "powered by" line may go, how long leads may be
//! kept. Billing decides which plan a member is on; the catalogue is handed the limits
//! when it creates something and checks them inside the creating transaction.

use serde::Serialize;
use utoipa::ToSchema;

/// A plan's limits; `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Limits {
    pub sites: Option<u64>,
    pub bars_per_site: Option<u64>,
    pub variants_per_bar: Option<u64>,
    pub monthly_views: Option<u64>,
    pub branding_removable: bool,
    /// Longest a member may choose to keep leads, in days.
    pub lead_retention_days: Option<u64>,
}

impl Limits {
    /// No limits at all: the plan of every account when billing is off.
    pub const UNLIMITED: Limits = Limits {
        sites: None,
        bars_per_site: None,
        variants_per_bar: None,
        monthly_views: None,
        branding_removable: true,
        lead_retention_days: None,
    };
}

/// A plan a member can be on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub limits: Limits,
}

impl Plan {
    /// Every account's plan when billing is off.
    pub fn self_hosted() -> Plan {
        Plan {
            id: "self_hosted".into(),
            name: "Self-hosted".into(),
            limits: Limits::UNLIMITED,
        }
    }
}

/// One limit checked against what exists: `Some` when creating one more would pass it.
pub fn over(limit: Option<u64>, current: u64) -> Option<(u64, u64)> {
    limit.filter(|l| current >= *l).map(|l| (l, current))
}
