//! What every handler can reach: configuration, the database, the mailer, metrics, the
//! site scripts and the event pipeline.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::ingest::Ingest;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::script::Scripts;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub mailer: Mailer,
    pub metrics: Arc<Metrics>,
    pub scripts: Arc<Scripts>,
    pub ingest: Arc<Ingest>,
}
