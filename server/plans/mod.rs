//! What a member's plan allows: how many sites, bars per site and variants per bar, how
//! many views a month, whether the "powered by" line may go, how long leads may be
//! kept, and what happens past the monthly views. The plans are configuration: the
//! defaults below (Free, Pro, Business), or a TOML file (`BARKEEP_PLANS_FILE`, see
//! docs/billing.md). Billing decides which plan a member is on; the catalogue is handed
//! the limits when it creates something and checks them inside the creating transaction.

use std::collections::BTreeMap;

use sea_orm::{DeriveActiveEnum, EnumIter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A plan's limits; `None` means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub sites: Option<u64>,
    pub bars_per_site: Option<u64>,
    pub variants_per_bar: Option<u64>,
    pub monthly_views: Option<u64>,
    #[serde(default)]
    pub branding_removable: bool,
    /// Longest a member may choose to keep leads, in days (0: only until delivered).
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

/// What happens once an account's views pass the plan's monthly limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overage {
    /// The scripts serve no bars until the next month or an upgrade.
    Block,
    /// Bars keep showing; the account is flagged for the operator (never billed silently).
    Serve,
}

/// How often a subscription renews; stored as `month` or `year`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[schema(as = BillingInterval)]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub const ALL: [Interval; 2] = [Interval::Month, Interval::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// A plan a member can be on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Lower-case letters, digits, `-` and `_`: `free`, `pro`, `business`.
    pub id: String,
    pub name: String,
    /// Stripe price ids by interval; a plan without prices cannot be bought (Free).
    #[serde(default)]
    pub prices: BTreeMap<Interval, String>,
    pub limits: Limits,
    #[serde(default = "serve")]
    pub overage: Overage,
}

fn serve() -> Overage {
    Overage::Serve
}

/// The id of the plan every account has without a subscription.
pub const FREE: &str = "free";
/// The id of the plan every account has when billing is off.
pub const SELF_HOSTED: &str = "self_hosted";

impl Plan {
    /// Every account's plan when billing is off.
    pub fn self_hosted() -> Plan {
        Plan {
            id: SELF_HOSTED.into(),
            name: "Self-hosted".into(),
            prices: BTreeMap::new(),
            limits: Limits::UNLIMITED,
            overage: Overage::Serve,
        }
    }
}

/// One limit checked against what exists: `Some` when creating one more would pass it.
pub fn over(limit: Option<u64>, current: u64) -> Option<(u64, u64)> {
    limit.filter(|l| current >= *l).map(|l| (l, current))
}

/// One limit checked against what exists already (after a downgrade, say): the limit,
/// when `count` is more than it allows.
pub(crate) fn past(limit: Option<u64>, count: u64) -> Option<u64> {
    limit.filter(|l| count > *l)
}

/// The plans on offer, in the order a member sees them; the first is Free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    plans: Vec<Plan>,
}

/// A plans file that cannot be used, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlansFile {
    plan: Vec<Plan>,
}

impl Plans {
    /// Free (5,000 views a month, branding on, bars stop at the limit), Pro and Business.
    pub fn defaults() -> Plans {
        let plan = |id: &str, name: &str, limits: Limits, overage| Plan {
            id: id.into(),
            name: name.into(),
            prices: BTreeMap::new(),
            limits,
            overage,
        };
        Plans {
            plans: vec![
                plan(
                    FREE,
                    "Free",
                    Limits {
                        sites: Some(1),
                        bars_per_site: Some(3),
                        variants_per_bar: Some(2),
                        monthly_views: Some(5_000),
                        branding_removable: false,
                        lead_retention_days: Some(0),
                    },
                    Overage::Block,
                ),
                plan(
                    "pro",
                    "Pro",
                    Limits {
                        sites: Some(5),
                        bars_per_site: Some(20),
                        variants_per_bar: Some(5),
                        monthly_views: Some(100_000),
                        branding_removable: true,
                        lead_retention_days: Some(30),
                    },
                    Overage::Serve,
                ),
                plan(
                    "business",
                    "Business",
                    Limits {
                        sites: Some(50),
                        bars_per_site: Some(100),
                        variants_per_bar: Some(10),
                        monthly_views: Some(1_000_000),
                        branding_removable: true,
                        lead_retention_days: Some(365),
                    },
                    Overage::Serve,
                ),
            ],
        }
    }

    /// Reads a TOML plans file (`[[plan]]` tables); every problem names its field, such
    /// as `plan[1].limits.sites`.
    pub fn parse_toml(text: &str) -> Result<Plans, PlanError> {
        let de = toml::Deserializer::parse(text).map_err(|e| err("file", e.to_string()))?;
        let file: PlansFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string().replace(".plan[", "plan[");
            let field = match path.as_str() {
                "" | "." => "file".to_string(),
                p => p.trim_start_matches('.').to_string(),
            };
            err(field, e.inner().message().to_string())
        })?;
        let plans = Plans { plans: file.plan };
        plans.validate()?;
        Ok(plans)
    }

    /// Fills a price the plans do not name from `BARKEEP_STRIPE_PRICE_<PLAN>_<INTERVAL>`
    /// (for example `BARKEEP_STRIPE_PRICE_PRO_MONTH`).
    pub fn with_env_prices(mut self, lookup: impl Fn(&str) -> Option<String>) -> Plans {
        for plan in &mut self.plans {
            if plan.id == FREE {
                continue;
            }
            for interval in Interval::ALL {
                let var = price_var(&plan.id, interval);
                if let Some(price) = lookup(&var).map(|v| v.trim().to_string())
                    && !price.is_empty()
                {
                    plan.prices.entry(interval).or_insert(price);
                }
            }
        }
        self
    }

    fn validate(&self) -> Result<(), PlanError> {
        let Some(free) = self.plans.first() else {
            return Err(err("plan", "name at least the free plan"));
        };
        let mut prices: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, p) in self.plans.iter().enumerate() {
            check_id(i, p, &self.plans[..i])?;
            check_name_and_limits(i, p)?;
            for (interval, price) in &p.prices {
                let field = format!("plan[{i}].prices.{}", interval.as_str());
                if !price.starts_with("price_") || price.len() > 255 {
                    return Err(err(field, "a Stripe price id starts with price_"));
                }
                if let Some(other) = prices.insert(price, i) {
                    return Err(err(
                        field,
                        format!("{price} is already the price of plan[{other}]"),
                    ));
                }
            }
        }
        if free.id != FREE {
            return Err(err(
                "plan[0].id",
                "the first plan must be `free`: the plan of every account without a subscription",
            ));
        }
        if !free.prices.is_empty() {
            return Err(err("plan[0].prices", "the free plan has no Stripe prices"));
        }
        Ok(())
    }

    pub fn all(&self) -> &[Plan] {
        &self.plans
    }

    /// The plan of every account without a paid subscription.
    pub fn free(&self) -> &Plan {
        &self.plans[0]
    }

    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan and interval a Stripe price belongs to.
    pub fn by_price(&self, price: &str) -> Option<(&Plan, Interval)> {
        self.plans.iter().find_map(|p| {
            p.prices
                .iter()
                .find(|(_, id)| id.as_str() == price)
                .map(|(interval, _)| (p, *interval))
        })
    }

    /// Where a plan stands among the others: later plans are bigger.
    pub fn rank(&self, id: &str) -> usize {
        self.plans.iter().position(|p| p.id == id).unwrap_or(0)
    }
}

/// The id of `plan`, the `i`th of the file, after the plans `before` it.
fn check_id(i: usize, plan: &Plan, before: &[Plan]) -> Result<(), PlanError> {
    let field = format!("plan[{i}].id");
    let id = plan.id.as_str();
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b);
    if id.is_empty() || id.len() > 40 || !id.bytes().all(allowed) {
        return Err(err(field, "use 1 to 40 lower-case letters, digits, - or _"));
    }
    if id == SELF_HOSTED {
        return Err(err(
            field,
            "self_hosted is the plan of billing switched off",
        ));
    }
    if before.iter().any(|q| q.id == id) {
        return Err(err(field, format!("`{id}` is named twice")));
    }
    Ok(())
}

/// The name and limits of `plan`, the `i`th of the file.
fn check_name_and_limits(i: usize, plan: &Plan) -> Result<(), PlanError> {
    if crate::domain::text::line(&plan.name, 60).is_err() {
        return Err(err(
            format!("plan[{i}].name"),
            "give the plan a name of 1 to 60 characters",
        ));
    }
    for (field, value) in [
        ("sites", plan.limits.sites),
        ("bars_per_site", plan.limits.bars_per_site),
        ("variants_per_bar", plan.limits.variants_per_bar),
        ("monthly_views", plan.limits.monthly_views),
    ] {
        if value == Some(0) {
            return Err(err(
                format!("plan[{i}].limits.{field}"),
                "must be at least 1 (leave it out for no limit)",
            ));
        }
    }
    Ok(())
}

/// The variable that names a default plan's price, e.g. `BARKEEP_STRIPE_PRICE_PRO_MONTH`.
pub fn price_var(plan: &str, interval: Interval) -> String {
    format!(
        "BARKEEP_STRIPE_PRICE_{}_{}",
        plan.to_ascii_uppercase().replace('-', "_"),
        interval.as_str().to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_free_comes_first() {
        let plans = Plans::defaults();
        plans.validate().unwrap();
        assert_eq!(plans.free().id, "free");
        assert_eq!(plans.free().limits.monthly_views, Some(5_000));
        assert!(!plans.free().limits.branding_removable);
        assert_eq!(plans.free().overage, Overage::Block);
    }

    #[test]
    fn one_more_passes_a_limit_that_what_exists_is_past() {
        assert_eq!(over(Some(2), 2), Some((2, 2)));
        assert_eq!(over(Some(2), 1), None);
        assert_eq!(past(Some(2), 2), None);
        assert_eq!(past(Some(2), 3), Some(2));
        assert_eq!((over(None, 9), past(None, 9)), (None, None));
    }

    #[test]
    fn intervals_are_stored_as_they_are_written() {
        for interval in Interval::ALL {
            assert_eq!(sea_orm::ActiveEnum::to_value(&interval), interval.as_str());
        }
    }

    #[test]
    fn env_prices_fill_the_default_plans() {
        let plans = Plans::defaults().with_env_prices(|k| {
            (k == "BARKEEP_STRIPE_PRICE_PRO_MONTH").then(|| "price_pro_m".to_string())
        });
        let (plan, interval) = plans.by_price("price_pro_m").unwrap();
        assert_eq!((plan.id.as_str(), interval), ("pro", Interval::Month));
        assert!(plans.get("business").unwrap().prices.is_empty());
    }

    #[test]
    fn a_plans_file_is_read_and_every_mistake_names_its_field() {
        let good = r#"
            [[plan]]
            id = "free"
            name = "Free"
            overage = "block"
            limits = { sites = 1, monthly_views = 1000 }

            [[plan]]
            id = "team"
            name = "Team"
            prices = { month = "price_team_m", year = "price_team_y" }
            limits = { sites = 10, branding_removable = true, lead_retention_days = 90 }
        "#;
        let plans = Plans::parse_toml(good).unwrap();
        assert_eq!(plans.all().len(), 2);
        assert_eq!(
            plans
                .by_price("price_team_y")
                .map(|(p, i)| (p.id.clone(), i)),
            Some(("team".into(), Interval::Year))
        );
        assert_eq!(plans.get("team").unwrap().limits.bars_per_site, None);

        for (text, field) in [
            (
                "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = { sites = \"many\" }",
                "plan[0].limits.sites",
            ),
            (
                "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = { sites = 0 }",
                "plan[0].limits.sites",
            ),
            (
                "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = { seats = 3 }",
                "plan[0].limits",
            ),
            (
                "[[plan]]\nid = \"pro\"\nname = \"Pro\"\nlimits = {}",
                "plan[0].id",
            ),
            (
                "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = {}\n[[plan]]\nid = \"pro\"\nname = \"Pro\"\nprices = { month = \"prod_1\" }\nlimits = {}",
                "plan[1].prices.month",
            ),
            (
                "[[plan]]\nid = \"free\"\nname = \"Free\"\nlimits = {}\n[[plan]]\nid = \"Free!\"\nname = \"x\"\nlimits = {}",
                "plan[1].id",
            ),
            ("plan = 3", "plan"),
        ] {
            let e = Plans::parse_toml(text).unwrap_err();
            assert!(
                e.field.starts_with(field),
                "{text}: named {} ({})",
                e.field,
                e.message
            );
        }
    }
}
