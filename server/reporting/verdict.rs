//! How a comparison read day by day is summed up: the difference of two rates with its
//! always-valid interval, lift, p-value and projection, and the words for rates and points.
//! Shared by the comparison of variants (`ab`) and of a bar against its holdout (`goals`).

use serde::Serialize;
use utoipa::ToSchema;

use super::sequential::{Arm, Sequence, days_to_call};

/// The longest projection offered, in days.
const HORIZON: u32 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Bounds {
    pub low: f64,
    pub high: f64,
}

/// What a comparison read day by day says of the variant's rate against the control's: the
/// difference, its always-valid interval at `level`, the lift, the p-value and, while
/// nothing is called, about how many more days until it would be at `projection_alpha`.
pub struct Reading {
    pub difference: Option<f64>,
    pub interval: Option<Bounds>,
    pub lift: Option<f64>,
    pub p_value: Option<f64>,
    pub days_needed: Option<i64>,
}

impl Reading {
    pub fn of(
        control: Arm,
        variant: Arm,
        sequence: &Sequence,
        days: u32,
        significant: bool,
        (level, projection_alpha): (f64, f64),
    ) -> Reading {
        let difference = match (control.rate(), variant.rate()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Reading {
            difference,
            interval: sequence
                .interval(level)
                .map(|(low, high)| Bounds { low, high }),
            lift: match (control.rate(), difference) {
                (Some(a), Some(d)) if a > 0.0 => Some(d / a),
                _ => None,
            },
            p_value: sequence.p_value(),
            days_needed: match (significant, sequence.last()) {
                (false, Some(look)) => {
                    days_to_call(look, days, projection_alpha, HORIZON).map(i64::from)
                }
                _ => None,
            },
        }
    }
}

/// A difference in rate as signed percentage points: "+0.80", "−1.25".
pub fn signed_points(d: f64) -> String {
    let p = d * 100.0;
    if p < -0.005 {
        format!("−{:.2}", -p)
    } else {
        format!("+{:.2}", p.abs())
    }
}

/// Clicks per view as a percentage ("3.00 %"), "–" without views.
pub fn percent(clicks: i64, views: i64) -> String {
    if views == 0 {
        return "–".into();
    }
    format!("{:.2} %", clicks as f64 * 100.0 / views as f64)
}
