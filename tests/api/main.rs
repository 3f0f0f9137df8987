//! Black-box tests of barkeep over HTTP. Every test starts its own server with a fresh
//! database; the whole suite runs on SQLite, and on PostgreSQL when
//! BARKEEP_TEST_POSTGRES_URL is set (see the Makefile).

mod account;
mod alerts;
mod auth;
mod bars;
mod benchmarks;
mod billing;
mod browser;
mod cluster;
mod columns;
mod durability;
mod egress;
mod elements;
mod events;
mod experiments;
mod garbage;
mod goals;
mod health;
mod helpers;
mod hooks;
mod hostile;
mod jobs;
mod leads;
mod lists;
mod mail;
mod pages;
mod process;
#[path = "../processes/mod.rs"]
mod processes;
mod queries;
mod races;
mod routes;
mod script;
mod sites;
mod stats;
mod stripe_mock;
mod teams;
mod trust;
mod user_agents;
