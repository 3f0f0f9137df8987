//! Visitor events, from request to counter. The hot path validates an event against
//! in-memory state only (bots, rate limits, the deployment registry, hostnames), adds it
//! to a bounded in-memory buffer and returns; a writer adds the buffer to the database
//! at least once a second, in one idempotent transaction per batch.

mod bots;
mod buffer;
mod metrics;
mod salt;
mod writer;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use governor::clock::DefaultClock;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;

pub use bots::Bots;
pub use buffer::Counts;
pub use metrics::IngestMetrics;
pub use salt::{Salts, day_of, hour_of, purge};
pub use writer::{Batch, add_counts};

use crate::clock::Clock;
use crate::domain::bar::Goal;
use crate::domain::{AddressBlock, Email};
use crate::scripts::{DeploymentInfo, LATE_EVENTS, Registry};
use buffer::{Buffer, NewLead};

/// What a visitor's event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    View,
    Click,
    Dismiss,
    /// A visit in which the bar was shown (once per visit; sent on sites with goals or a
    /// holdout).
    Shown,
    /// A visit in which the visitor was held out of the bar.
    HeldOut,
    /// A visit of either arm reached a site goal, with a value in hundredths.
    Goal {
        goal: i64,
        held_out: bool,
        value: Option<i64>,
    },
}

/// Why an event was not counted; each is a label of `barkeep_events_not_counted_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Bot,
    RateLimited,
    UnknownDeployment,
    EndedDeployment,
    ForeignHostname,
    Honeypot,
    InvalidEmail,
    NotAnEmailBar,
    /// A goal the site does not have, a holdout on a bar that holds no one out, or a
    /// shown visit where there is nothing to compare (no goal, no holdout).
    UnknownGoal,
    BufferFull,
}

impl Rejected {
    pub fn label(self) -> &'static str {
        match self {
            Rejected::Bot => "bot",
            Rejected::RateLimited => "rate_limited",
            Rejected::UnknownDeployment => "unknown_deployment",
            Rejected::EndedDeployment => "ended_deployment",
            Rejected::ForeignHostname => "foreign_hostname",
            Rejected::Honeypot => "honeypot",
            Rejected::InvalidEmail => "invalid_email",
            Rejected::NotAnEmailBar => "not_an_email_bar",
            Rejected::UnknownGoal => "unknown_goal",
            Rejected::BufferFull => "buffer_full",
        }
    }
}

/// Who sent an event, as far as counting needs to know. Nothing of it is stored.
pub struct Visitor<'a> {
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
    /// The host of the `Origin` (or else `Referer`) header, when the browser sent one.
    pub origin_host: Option<&'a str>,
    /// `DNT: 1` or `Sec-GPC: 1` on the request.
    pub privacy_header: bool,
}

/// One event as the runtime reported it.
pub struct Event<'a> {
    pub deployment_id: i64,
    pub kind: Kind,
    pub page_host: &'a str,
    /// The runtime saw Do Not Track or Global Privacy Control.
    pub privacy: bool,
    /// The runtime saw signs of an automated browser.
    pub automation: bool,
}

/// One lead as the runtime submitted it.
pub struct Lead<'a> {
    pub deployment_id: i64,
    pub page_host: &'a str,
    pub email: &'a str,
    /// The hidden field people never fill in.
    pub honeypot: &'a str,
    pub automation: bool,
}

#[derive(Debug, Clone)]
enum Action {
    Count(Kind),
    Lead(String),
}

/// An event for a deployment this process does not know yet; resolved by the writer.
#[derive(Debug)]
struct Pending {
    deployment_id: i64,
    action: Action,
    page_host: String,
    origin_host: Option<String>,
    digest: Option<u64>,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Buffered counters, hashes and leads before new events are refused.
    pub max_entries: usize,
    /// A buffer this full is written at once rather than at the next tick.
    pub batch_entries: usize,
    /// Events for deployments not known yet, held until the writer looks them up.
    pub max_pending: usize,
    pub flush_every: Duration,
    pub events_per_ip_per_second: u32,
    pub leads_per_ip_per_minute: u32,
}

impl Limits {
    pub fn new(events_per_ip_per_second: u32, max_entries: usize) -> Self {
        Limits {
            max_entries,
            batch_entries: (max_entries / 20).clamp(1, 50_000),
            max_pending: 20_000,
            flush_every: Duration::from_secs(1),
            events_per_ip_per_second,
            leads_per_ip_per_minute: 10,
        }
    }
}

pub struct Ingest {
    clock: Clock,
    registry: Arc<Registry>,
    pub salts: Salts,
    buffer: Arc<Mutex<Buffer>>,
    pending: Mutex<Vec<Pending>>,
    bots: Bots,
    /// Per client address block (an IPv4 address, an IPv6 /64).
    events_per_ip: PerBlock,
    leads_per_ip: PerBlock,
    metrics: IngestMetrics,
    /// Wakes the writer when a buffer fills before the next tick.
    wake: Arc<Notify>,
    limits: Limits,
    /// The batch being written; kept, with its id, until a write succeeds.
    writing: tokio::sync::Mutex<Option<Batch>>,
    last_full_warning: Mutex<Option<Instant>>,
}

/// A limiter per address block. The keys are hashed with foldhash (seeded per process)
/// rather than SipHash: this runs for every event.
type PerBlock = RateLimiter<
    AddressBlock,
    DashMapStateStore<AddressBlock, foldhash::fast::RandomState>,
    DefaultClock,
>;

fn per_block(quota: Quota) -> PerBlock {
    RateLimiter::dashmap_with_clock_and_hasher(quota, DefaultClock::default(), Default::default())
}

fn per_second(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Ingest {
    pub fn new(
        clock: Clock,
        registry: Arc<Registry>,
        bots: Bots,
        metrics: IngestMetrics,
        limits: Limits,
    ) -> Ingest {
        let events = Quota::per_second(per_second(limits.events_per_ip_per_second)).allow_burst(
            per_second(limits.events_per_ip_per_second.saturating_mul(2)),
        );
        let leads = Quota::per_minute(per_second(limits.leads_per_ip_per_minute));
        let buffer = Arc::new(Mutex::new(Buffer::default()));
        metrics.watch_buffer(&buffer);
        Ingest {
            clock,
            registry,
            salts: Salts::default(),
            buffer,
            pending: Mutex::new(Vec::new()),
            bots,
            events_per_ip: per_block(events),
            leads_per_ip: per_block(leads),
            metrics,
            wake: Arc::new(Notify::new()),
            limits,
            writing: tokio::sync::Mutex::new(None),
            last_full_warning: Mutex::new(None),
        }
    }

    /// Fires when the buffer is full enough to write before the next tick.
    /// Whether a user agent is on barkeep's bot list (cached, as for events).
    pub fn is_bot(&self, user_agent: Option<&str>) -> bool {
        self.bots.is_bot(user_agent)
    }

    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Counts a view, click or dismissal — or says why not. Never touches the database.
    pub fn record(&self, event: Event<'_>, visitor: Visitor<'_>) -> Result<(), Rejected> {
        let outcome = self.try_record(event, visitor);
        self.note(outcome)
    }

    fn try_record(&self, event: Event<'_>, visitor: Visitor<'_>) -> Result<(), Rejected> {
        if event.automation || self.bots.is_bot(visitor.user_agent) {
            return Err(Rejected::Bot);
        }
        if self
            .events_per_ip
            .check_key(&AddressBlock::of(visitor.ip))
            .is_err()
        {
            return Err(Rejected::RateLimited);
        }
        let now = self.clock.now();
        let private = event.privacy || visitor.privacy_header;
        let digest = match (event.kind, private) {
            (Kind::View, false) => self
                .salts
                .get(day_of(now))
                .map(|s| salt::connection_digest(&s, visitor.ip, visitor.user_agent.unwrap_or(""))),
            _ => None,
        };
        self.route(
            event.deployment_id,
            Action::Count(event.kind),
            event.page_host,
            visitor.origin_host,
            digest,
            now,
        )
    }

    /// Counts a lead and keeps the address for the member — or says why not.
    pub fn record_lead(&self, lead: Lead<'_>, visitor: Visitor<'_>) -> Result<(), Rejected> {
        let outcome = self.try_record_lead(lead, visitor);
        self.note(outcome)
    }

    fn try_record_lead(&self, lead: Lead<'_>, visitor: Visitor<'_>) -> Result<(), Rejected> {
        if lead.automation || self.bots.is_bot(visitor.user_agent) {
            return Err(Rejected::Bot);
        }
        if !lead.honeypot.trim().is_empty() {
            return Err(Rejected::Honeypot);
        }
        if self
            .leads_per_ip
            .check_key(&AddressBlock::of(visitor.ip))
            .is_err()
        {
            return Err(Rejected::RateLimited);
        }
        let email = Email::parse(lead.email).map_err(|_| Rejected::InvalidEmail)?;
        let now = self.clock.now();
        self.route(
            lead.deployment_id,
            Action::Lead(email.to_string()),
            lead.page_host,
            visitor.origin_host,
            None,
            now,
        )
    }

    fn note(&self, outcome: Result<(), Rejected>) -> Result<(), Rejected> {
        if let Err(reason) = outcome {
            self.metrics.not_counted(reason.label());
            if reason == Rejected::BufferFull {
                let mut last = self
                    .last_full_warning
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    *last = Some(Instant::now());
                    tracing::error!(
                        max_entries = self.limits.max_entries,
                        "the event buffer is full (is the database reachable?); events are being dropped and counted in barkeep_events_not_counted_total{{reason=\"buffer_full\"}}"
                    );
                }
            }
        }
        outcome
    }

    /// Counts against a known deployment, or parks the event until the writer has looked
    /// the deployment up (it may have been published a moment ago by another process).
    fn route(
        &self,
        deployment_id: i64,
        action: Action,
        page_host: &str,
        origin_host: Option<&str>,
        digest: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), Rejected> {
        if let Some(info) = self.registry.get(deployment_id) {
            return self.accept(
                &info,
                deployment_id,
                action,
                page_host,
                origin_host,
                digest,
                now,
            );
        }
        if deployment_id <= 0 || self.registry.known_missing(deployment_id) {
            return Err(Rejected::UnknownDeployment);
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= self.limits.max_pending {
            return Err(Rejected::UnknownDeployment);
        }
        pending.push(Pending {
            deployment_id,
            action,
            page_host: page_host.to_string(),
            origin_host: origin_host.map(str::to_string),
            digest,
            at: now,
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        info: &DeploymentInfo,
        deployment_id: i64,
        action: Action,
        page_host: &str,
        origin_host: Option<&str>,
        digest: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<(), Rejected> {
        if info.ended_at.is_some_and(|ended| now - ended > LATE_EVENTS) {
            return Err(Rejected::EndedDeployment);
        }
        let entry = info
            .hostname_for(page_host)
            .ok_or(Rejected::ForeignHostname)?;
        if origin_host.is_some_and(|o| info.hostname_for(o).is_none()) {
            return Err(Rejected::ForeignHostname);
        }
        if matches!(action, Action::Lead(_)) && info.goal != Goal::Email {
            return Err(Rejected::NotAnEmailBar);
        }
        match action {
            // Visits are counted for comparing goals; a bar that holds no one out on a site
            // without goals has nothing to compare.
            Action::Count(Kind::Shown) if !info.holds_out && info.goals.is_empty() => {
                return Err(Rejected::UnknownGoal);
            }
            Action::Count(Kind::HeldOut) if !info.holds_out => return Err(Rejected::UnknownGoal),
            Action::Count(Kind::Goal { goal, held_out, .. })
                if !info.goals.contains(&goal) || (held_out && !info.holds_out) =>
            {
                return Err(Rejected::UnknownGoal);
            }
            _ => {}
        }
        let hour = hour_of(now);
        let mut buf = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buf.entries() >= self.limits.max_entries {
            return Err(Rejected::BufferFull);
        }
        let kind = match &action {
            Action::Count(Kind::View) => "view",
            Action::Count(Kind::Click) => "click",
            Action::Count(Kind::Dismiss) => "dismiss",
            Action::Count(Kind::Shown) => "shown",
            Action::Count(Kind::HeldOut) => "held_out",
            Action::Count(Kind::Goal { .. }) => "goal",
            Action::Lead(_) => "lead",
        };
        let day = hour.div_euclid(86_400) * 86_400;
        match &action {
            Action::Count(Kind::View) => buf.count(deployment_id, hour, |c| c.views += 1),
            Action::Count(Kind::Click) => buf.count(deployment_id, hour, |c| c.clicks += 1),
            Action::Count(Kind::Dismiss) => buf.count(deployment_id, hour, |c| c.dismissals += 1),
            Action::Count(Kind::Shown) => buf.exposure(deployment_id, day, false),
            Action::Count(Kind::HeldOut) => buf.exposure(deployment_id, day, true),
            Action::Count(Kind::Goal {
                goal,
                held_out,
                value,
            }) => buf.goal(deployment_id, *goal, day, *held_out, value.unwrap_or(0)),
            Action::Lead(_) => buf.count(deployment_id, hour, |c| c.leads += 1),
        }
        if let (Some(digest), Some(salt)) = (digest, self.salts.get(day_of(now))) {
            buf.visitor(
                deployment_id,
                day_of(now),
                salt::visitor_hash(&salt, info.site_id, digest),
                hour,
            );
        }
        if let Action::Lead(email) = action {
            buf.lead(NewLead {
                site_id: info.site_id,
                deployment_id,
                email,
                at: now,
            });
        }
        buf.seen(info.site_id, entry.as_str(), now);
        let entries = buf.entries();
        drop(buf);
        self.metrics.counted(kind);
        if entries >= self.limits.batch_entries {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// A request that was not an event at all.
    pub fn not_counted_malformed(&self) {
        self.metrics.not_counted("malformed");
    }

    /// Counted but not yet written, for tests and the shutdown log.
    pub fn unwritten(&self) -> Counts {
        self.buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .total()
    }

    /// Client addresses the rate limiters currently remember.
    pub fn limiter_keys(&self) -> usize {
        self.events_per_ip.len() + self.leads_per_ip.len()
    }

    /// Forgets rate-limit state of clients that have gone quiet.
    pub fn trim_limiters(&self) {
        self.events_per_ip.retain_recent();
        self.leads_per_ip.retain_recent();
        self.events_per_ip.shrink_to_fit();
        self.leads_per_ip.shrink_to_fit();
    }
}
