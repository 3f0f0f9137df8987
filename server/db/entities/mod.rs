//! sea-orm entities, one per table (2.0 dense format).

pub mod alert;
pub mod api_token;
pub mod bar;
pub mod benchmark_cell;
pub mod benchmark_result;
pub mod benchmark_snapshot;
pub mod billing_account;
pub mod billing_customer;
pub mod deployment;
pub mod digest_week;
pub mod email_event;
pub mod email_suppression;
pub mod email_token;
pub mod job_lease;
pub mod login_attempt;
pub mod member;
pub mod outbox;
pub mod policy_objection;
pub mod policy_version;
pub mod session;
pub mod site;
pub mod site_hostname;
pub mod stripe_event;
pub mod subscription;
pub mod variant;
