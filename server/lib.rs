//! barkeep: website engagement bars with a small script, exact private counts and
//! member stats.
//!
//! Dependencies point one way: `app` (the shell) builds everything; `web` (every route,
//! by audience) calls the subsystems; the subsystems (`accounts`, `teams`, `catalog`, `scripts`,
//! `ingest`, `reporting`, `allocation`, `mail`, `plans`, `billing`, `alerts`, `digest`,
//! `leads`, `hooks`, `privacy`) use `db`, `domain` and the shared `clock`, `error` and `jobs`, and never
//! `web` or `app`. `egress` (outgoing HTTP to URLs members give) depends on none of them.
//!
//! What nothing outside the crate reads is `pub(crate)`, so rustc sees dead code; the
//! `unreachable_pub` lint keeps it that way.

#![warn(unreachable_pub)]

pub mod accounts;
pub mod alerts;
pub mod allocation;
pub mod app;
pub mod billing;
pub mod catalog;
pub mod clock;
pub mod db;
pub mod digest;
pub mod domain;
pub mod egress;
pub mod error;
pub mod geo;
pub mod hooks;
pub mod ingest;
pub mod jobs;
pub mod leads;
pub mod mail;
pub mod plans;
pub mod privacy;
pub mod reporting;
pub mod scripts;
pub mod sealed;
pub mod signature;
pub mod striped;
pub mod teams;
pub mod web;
