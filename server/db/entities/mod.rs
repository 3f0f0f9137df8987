//! sea-orm entities, one per table (2.0 dense format).

pub mod api_token;
pub mod email_token;
pub mod login_attempt;
pub mod member;
pub mod outbox;
pub mod session;
