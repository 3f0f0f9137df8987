//! Reading the counts: totals and hourly or daily series for a deployment, variant, bar
//! or site over a date range, the A/B comparison of a bar's variants (always valid under
//! daily reading), and usage this month. Sums run in the database. Unique visitors are counted once per visitor per UTC
//! day (the salt that recognises them changes daily), so a range's total is the sum of
//! its days.

pub mod ab;
pub mod benchmarks;
pub mod goals;
pub mod range;
pub mod report;
pub mod sequential;
pub mod usage;
pub mod verdict;

pub use ab::{BarReport, Comparison, Experiment, Share, VariantNumbers, bar_report, experiment};
pub use range::{Interval, Range};
pub use report::{Numbers, Point, Previous, Report, Scope, report, report_compared, totals};
pub use usage::{Usage, usage};
