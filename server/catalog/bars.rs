//! Bars and publishing: a publish freezes every variant of a bar into a deployment and
//! ends the bar's previous deployments; pausing ends them. Counts belong to deployments,
//! so every published version keeps its own numbers.

use std::collections::{HashMap, HashSet};

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::content::{content_of, default_content, with_content_fields, write_content};
use super::{Catalog, Change, check_room};
use crate::db::catalog as q;
use crate::db::entities::{bar, deployment, site, variant};
use crate::domain::bar::{
    BarSettings, Display, Frequency, Goal, Placement, Snapshot, Targeting, Trigger, VariantContent,
    check_variant,
};
use crate::domain::element::{Countdown, ElementType, Side};
use crate::domain::{AccountId, Allocation, BarId, Invalid, text};
use crate::error::{Error, Result};
use crate::plans::Limits;

/// barkeep's own caps, whatever the plan.
pub const MAX_BARS_PER_SITE: u64 = 100;
pub const DEFAULT_WEIGHT: u16 = 50;
pub const MAX_WEIGHT: u16 = 1000;
/// The largest share of visitors a bar may hold out, in percent.
pub const MAX_HOLDOUT: u8 = 50;

with_content_fields! {
    /// The fields of a bar a request may set, all optional. The content fields edit the
    /// bar's only variant (a bar with several variants edits them one by one).
    #[derive(Debug, Default, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct BarInput {
        /// Up to 100 characters; by default the start of the message.
        pub name: Option<String>,
        pub goal: Option<Goal>,
        /// `bar` (the default), `modal`, `slider` or `takeover`.
        pub element_type: Option<ElementType>,
        pub placement: Option<Placement>,
        /// A slider's corner: `left` or `right` (the default), with `placement`.
        pub side: Option<Side>,
        pub display: Option<Display>,
        pub sticky: Option<bool>,
        pub closable: Option<bool>,
        /// The "powered by barkeep" line; plans that include branding keep it on.
        pub powered_by: Option<bool>,
        pub targeting: Option<Targeting>,
        pub trigger: Option<Trigger>,
        pub frequency: Option<Frequency>,
        /// A countdown next to the message; `null` removes it.
        #[serde(default, deserialize_with = "crate::domain::present")]
        pub countdown: Option<Option<Countdown>>,
        /// `weights` (the default: split by the variants' weights, an A/B test) or
        /// `thompson` (send more new visitors to the variant doing best; optimises, does
        /// not test).
        pub allocation: Option<Allocation>,
        /// Percent of new visitors held out, 0 (the default) to 50: they are assigned to no
        /// variant, shown nothing and counted, so the site's goals can be compared between
        /// visitors who saw the bar and visitors who did not.
        pub holdout: Option<u8>,
    }
}

/// What the rules for a bar's settings depend on besides the settings.
pub struct Rules<'a> {
    pub limits: &'a Limits,
    /// Whether visitors' countries can be looked up (a GeoIP database is configured).
    pub countries: bool,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Why country rules are refused without a GeoIP database.
pub const NO_COUNTRIES: &str = "country rules need a GeoIP database on the server (BARKEEP_GEOIP_DB); ask the operator, or target by language instead";

impl BarInput {
    fn apply(&self, mut s: BarSettings, rules: &Rules<'_>) -> Result<BarSettings, Invalid> {
        if let Some(v) = self.goal {
            s.goal = v;
        }
        if let Some(v) = self.element_type {
            s.element_type = v;
        }
        if let Some(v) = self.placement {
            s.placement = v;
        }
        if let Some(v) = self.side {
            s.side = v;
        }
        if let Some(v) = self.display {
            s.display = v;
        }
        if let Some(v) = self.sticky {
            s.sticky = v;
        }
        if let Some(v) = self.closable {
            s.closable = v;
        }
        if let Some(v) = self.powered_by {
            if !v && !rules.limits.branding_removable {
                return Err(Invalid::new(
                    "powered_by",
                    "your plan shows the powered-by line; upgrade the plan to remove it",
                ));
            }
            s.powered_by = v;
        }
        if let Some(v) = &self.targeting {
            s.targeting = v.clone().normalise()?;
            if s.targeting.by_country() && !rules.countries {
                return Err(Invalid::new("targeting.countries_include", NO_COUNTRIES));
            }
        }
        if let Some(v) = self.trigger {
            s.trigger = v.validate()?;
        }
        if let Some(v) = self.frequency {
            s.frequency = v.validate()?;
        }
        if let Some(v) = &self.countdown {
            s.countdown = v.clone().map(|c| c.check(rules.now)).transpose()?;
        }
        if let Some(v) = self.allocation {
            s.allocation = v;
        }
        if let Some(v) = self.holdout {
            if v > MAX_HOLDOUT {
                return Err(Invalid::new(
                    "holdout",
                    format!("hold out 0 to {MAX_HOLDOUT} percent of visitors"),
                ));
            }
            s.holdout = v;
        }
        s.check()
    }
}

/// What a bar would show with these edits, checked exactly as saving them checks them,
/// without saving anything: the editor's preview.
pub fn draft(
    settings: BarSettings,
    content: VariantContent,
    rules: &Rules<'_>,
    input: &BarInput,
) -> Result<(BarSettings, VariantContent), Invalid> {
    let settings = input.apply(settings, rules)?;
    let content = check_variant(settings.goal, input.content().apply(content))?;
    Ok((settings, content))
}

pub fn default_settings() -> BarSettings {
    BarSettings {
        goal: Goal::Link,
        element_type: ElementType::Bar,
        placement: Placement::Top,
        side: Side::Right,
        display: Display::Overlay,
        sticky: true,
        closable: true,
        powered_by: true,
        targeting: Targeting::default(),
        trigger: Trigger::Immediate,
        frequency: Frequency::default(),
        countdown: None,
        allocation: Allocation::Weights,
        holdout: 0,
    }
}

/// A bar's or a variant's name.
pub(super) fn check_name(raw: &str, field: &'static str) -> Result<String, Invalid> {
    text::name(field, raw, 100, "a name is 1 to 100 characters")
}

/// A name from the message when none was given.
fn name_from(message: &str) -> String {
    let mut name: String = message.chars().take(60).collect();
    if message.chars().count() > 60 {
        name.push('…');
    }
    name
}

pub fn settings_of(b: &bar::Model) -> BarSettings {
    BarSettings {
        goal: b.goal,
        element_type: b.element_type,
        placement: b.placement,
        side: b.side,
        display: b.display,
        sticky: b.sticky,
        closable: b.closable,
        powered_by: b.powered_by,
        targeting: b.targeting.clone(),
        trigger: b.trigger,
        frequency: b.frequency,
        countdown: b.countdown.clone(),
        allocation: b.allocation,
        holdout: u8::try_from(b.holdout.clamp(0, MAX_HOLDOUT.into())).unwrap_or(0),
    }
}

fn write_settings(active: &mut bar::ActiveModel, s: BarSettings) {
    active.goal = Set(s.goal);
    active.element_type = Set(s.element_type);
    active.placement = Set(s.placement);
    active.side = Set(s.side);
    active.display = Set(s.display);
    active.sticky = Set(s.sticky);
    active.closable = Set(s.closable);
    active.powered_by = Set(s.powered_by);
    active.targeting = Set(s.targeting);
    active.trigger = Set(s.trigger);
    active.frequency = Set(s.frequency);
    active.countdown = Set(s.countdown);
    active.allocation = Set(s.allocation);
    active.holdout = Set(s.holdout.into());
}

/// Where a bar stands with respect to its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Never published.
    Draft,
    /// Has live deployments.
    Live,
    /// Was published; nothing of it is live now.
    Paused,
}

/// A bar with everything the API shows about it.
pub struct Bar {
    pub bar: bar::Model,
    pub settings: BarSettings,
    pub variants: Vec<variant::Model>,
    pub status: Status,
    /// Live, and edited since: publishing again would change what visitors see.
    pub has_unpublished_changes: bool,
}

/// The snapshots publishing now would freeze, one per variant that has a weight.
fn snapshots(b: &bar::Model, settings: &BarSettings, variants: &[variant::Model]) -> Vec<Snapshot> {
    variants
        .iter()
        .filter(|v| v.weight > 0)
        .map(|v| Snapshot {
            bar_id: b.id,
            variant_id: v.id,
            variant_name: v.name.clone(),
            weight: u16::try_from(v.weight).unwrap_or(MAX_WEIGHT),
            settings: settings.clone(),
            content: content_of(v),
        })
        .collect()
}

impl Catalog {
    /// Everything the API shows about some bars, in three queries whatever their number.
    async fn load(&self, bars: Vec<bar::Model>) -> Result<Vec<Bar>> {
        let ids: Vec<BarId> = bars.iter().map(|b| b.id).collect();
        let mut variants: HashMap<BarId, Vec<variant::Model>> = HashMap::new();
        for v in q::variants_of(&self.db, &ids).await? {
            variants.entry(v.bar_id).or_default().push(v);
        }
        let mut live: HashMap<BarId, Vec<Snapshot>> = HashMap::new();
        for d in q::live_deployments_of_bars(&self.db, &ids).await? {
            live.entry(d.bar_id).or_default().push(d.snapshot);
        }
        let deployed: HashSet<BarId> = q::deployed_bars(&self.db, &ids).await?;
        Ok(bars
            .into_iter()
            .map(|b| {
                let settings = settings_of(&b);
                let variants = variants.remove(&b.id).unwrap_or_default();
                let (status, has_unpublished_changes) = match live.remove(&b.id) {
                    Some(live) => (Status::Live, live != snapshots(&b, &settings, &variants)),
                    None if deployed.contains(&b.id) => (Status::Paused, false),
                    None => (Status::Draft, false),
                };
                Bar {
                    bar: b,
                    settings,
                    variants,
                    status,
                    has_unpublished_changes,
                }
            })
            .collect())
    }

    async fn load_one(&self, b: bar::Model) -> Result<Bar> {
        self.load(vec![b])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a loaded bar vanished")))
    }

    pub async fn bar(&self, b: bar::Model) -> Result<Bar> {
        self.load_one(b).await
    }

    pub async fn bars(&self, site: &site::Model) -> Result<Vec<Bar>> {
        let bars = q::bars_of_site(&self.db, site.id).await?;
        self.load(bars).await
    }

    pub async fn create_bar(
        &self,
        site: &site::Model,
        limits: &Limits,
        input: BarInput,
    ) -> Result<Bar> {
        let settings = input.apply(default_settings(), &self.rules(limits))?;
        let content = check_variant(settings.goal, input.content().apply(default_content()))?;
        let name = match &input.name {
            Some(n) => check_name(n, "name")?,
            None => name_from(&content.message),
        };
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_site(&txn, site.id).await?;
        check_room(
            "bars",
            limits.bars_per_site,
            MAX_BARS_PER_SITE,
            q::count_bars(&txn, site.id).await?,
        )?;
        let mut active = bar::ActiveModel {
            site_id: Set(site.id),
            name: Set(name),
            created_at: Set(now),
            updated_at: Set(now),
            published_at: Set(None),
            deleted_at: Set(None),
            ..Default::default()
        };
        write_settings(&mut active, settings);
        let b = active.insert(&txn).await?;
        let mut v = variant::ActiveModel {
            bar_id: Set(b.id),
            name: Set("A".into()),
            weight: Set(i32::from(DEFAULT_WEIGHT)),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        };
        write_content(&mut v, content);
        v.insert(&txn).await?;
        txn.commit().await?;
        tracing::info!(bar_id = %b.id, site_id = %site.id, "bar created");
        self.load_one(b).await
    }

    pub async fn update_bar(&self, b: bar::Model, limits: &Limits, input: BarInput) -> Result<Bar> {
        let settings = input.apply(settings_of(&b), &self.rules(limits))?;
        let name = input
            .name
            .as_deref()
            .map(|n| check_name(n, "name"))
            .transpose()?;
        let patch = input.content();
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_bar(&txn, b.id).await?;
        let variants = q::variants_of(&txn, &[b.id]).await?;
        if !patch.is_empty() && variants.len() > 1 {
            return Err(Invalid::new(
                "message",
                format!(
                    "this bar has {} variants: change their content under /api/v1/bars/{}/variants",
                    variants.len(),
                    b.id
                ),
            )
            .into());
        }
        // Every variant must still fit the (possibly new) goal.
        let mut contents = Vec::with_capacity(variants.len());
        for v in &variants {
            contents.push(check_variant(settings.goal, patch.apply(content_of(v)))?);
        }
        let mut active: bar::ActiveModel = b.into();
        write_settings(&mut active, settings);
        if let Some(name) = name {
            active.name = Set(name);
        }
        active.updated_at = Set(now);
        let b = active.update(&txn).await?;
        for (v, content) in variants.into_iter().zip(contents) {
            if content != content_of(&v) {
                let mut av: variant::ActiveModel = v.into();
                write_content(&mut av, content);
                av.updated_at = Set(now);
                av.update(&txn).await?;
            }
        }
        txn.commit().await?;
        self.load_one(b).await
    }

    /// Deletes a bar: it leaves the site's script at once; its deployments and their
    /// counts stay, so the site's totals do not change.
    pub async fn delete_bar(&self, b: bar::Model) -> Result<()> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let ended = q::end_deployments_of_bar(&txn, b.id, now).await?;
        q::touch_bar(&txn, b.id, bar::Column::DeletedAt, now).await?;
        if ended > 0 {
            q::bump_script(&txn, b.site_id, now).await?;
        }
        txn.commit().await?;
        if ended > 0 {
            self.emit(Change::SiteChanged(b.site_id)).await;
        }
        Ok(())
    }

    /// Publishes the bar as it is now. Publishing an unchanged live bar changes nothing;
    /// a bar the plan has no room for is refused with the limit it passes.
    pub async fn publish(
        &self,
        b: bar::Model,
        account: AccountId,
        limits: &Limits,
    ) -> Result<Vec<deployment::Model>> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_bar(&txn, b.id).await?;
        if let Some(e) = super::limits::excess_of_bar(&txn, account, &b, limits).await? {
            return Err(e.error());
        }
        let variants = q::variants_of(&txn, &[b.id]).await?;
        let wanted = snapshots(&b, &settings_of(&b), &variants);
        if wanted.is_empty() {
            return Err(Error::invalid(
                "weight",
                "no variant has a weight above 0, so there is nothing to show",
            ));
        }
        let live = q::live_deployments_of_bars(&txn, &[b.id]).await?;
        if live.iter().map(|d| &d.snapshot).eq(wanted.iter()) {
            return Ok(live);
        }
        q::end_deployments_of_bar(&txn, b.id, now).await?;
        let mut created = Vec::with_capacity(wanted.len());
        for snap in wanted {
            created.push(q::insert_deployment(&txn, b.site_id, snap, now).await?);
        }
        q::touch_bar(&txn, b.id, bar::Column::PublishedAt, now).await?;
        q::set_paused_reason(&txn, b.id, None).await?;
        q::bump_script(&txn, b.site_id, now).await?;
        // For the account's REST hooks, queued with the change itself.
        let ids: Vec<i64> = created.iter().map(|d| d.id.0).collect();
        let event = crate::hooks::published_body(b.id.0, b.site_id, &b.name, &ids, now);
        crate::db::hooks::queue_event(&txn, account, "bar.published", &event, now).await?;
        txn.commit().await?;
        self.emit(Change::BarPublished {
            site: b.site_id,
            ended: live.iter().map(|d| d.id).collect(),
            created: created.clone(),
            at: now,
        })
        .await;
        tracing::info!(bar_id = %b.id, deployments = created.len(), "bar published");
        Ok(created)
    }

    /// Takes the bar off the site; publishing again brings it back as new deployments.
    pub async fn pause(&self, b: bar::Model) -> Result<Bar> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let ended = q::end_deployments_of_bar(&txn, b.id, now).await?;
        if ended > 0 {
            q::bump_script(&txn, b.site_id, now).await?;
        }
        txn.commit().await?;
        if ended > 0 {
            self.emit(Change::SiteChanged(b.site_id)).await;
            tracing::info!(bar_id = %b.id, "bar paused");
        }
        self.load_one(b).await
    }

    /// Every deployment the bar had, newest first.
    pub async fn deployments(&self, b: &bar::Model) -> Result<Vec<deployment::Model>> {
        Ok(q::deployments_of_bar(&self.db, b.id).await?)
    }
}
