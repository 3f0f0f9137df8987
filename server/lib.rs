//! barkeep: website engagement bars with a small script, exact private counts and
//! member stats. `startup` builds and runs the application; `http` holds every route,
//! grouped by audience; each subsystem has its own module.

pub mod accounts;
pub mod bars;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod script;
pub mod sites;
pub mod startup;
pub mod state;
pub mod stats;
pub mod sync;
pub mod telemetry;
