//! Bars, their variants, and publishing: a publish freezes every variant of a bar into a
//! deployment and ends the bar's previous deployments; pausing ends them. Counts belong
//! to deployments, so every published version keeps its own numbers.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::db::entities::{bar, deployment, variant};
use crate::db::sites as q;
use crate::domain::bar::{
    BarSettings, DEFAULT_BACKGROUND, DEFAULT_BUTTON, DEFAULT_BUTTON_TEXT, DEFAULT_TEXT, Display,
    Frequency, Goal, Placement, Snapshot, Targeting, Trigger, VariantContent, check_variant,
};
use crate::error::AppError;
use crate::state::AppState;

pub const MAX_BARS_PER_SITE: usize = 100;
pub const MAX_VARIANTS: usize = 10;
pub const DEFAULT_WEIGHT: u16 = 50;
pub const MAX_WEIGHT: u16 = 1000;

/// Tells "absent" (leave as is) from `null` (clear) in a request body.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The fields of a bar that a request may set; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarInput {
    pub name: Option<String>,
    pub goal: Option<Goal>,
    pub placement: Option<Placement>,
    pub display: Option<Display>,
    pub sticky: Option<bool>,
    pub closable: Option<bool>,
    pub powered_by: Option<bool>,
    pub targeting: Option<Targeting>,
    pub trigger: Option<Trigger>,
    pub frequency: Option<Frequency>,
    // The first variant's content: a bar with one variant is edited through the bar.
    pub message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub button_label: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub link_url: Option<Option<String>>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub button_color: Option<String>,
    pub button_text_color: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub thanks_message: Option<Option<String>>,
}

/// The fields of a variant that a request may set; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub name: Option<String>,
    pub weight: Option<u16>,
    pub message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub button_label: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub link_url: Option<Option<String>>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub button_color: Option<String>,
    pub button_text_color: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub thanks_message: Option<Option<String>>,
}

struct ContentPatch<'a> {
    message: &'a Option<String>,
    button_label: &'a Option<Option<String>>,
    link_url: &'a Option<Option<String>>,
    background_color: &'a Option<String>,
    text_color: &'a Option<String>,
    button_color: &'a Option<String>,
    button_text_color: &'a Option<String>,
    thanks_message: &'a Option<Option<String>>,
}

impl ContentPatch<'_> {
    fn is_empty(&self) -> bool {
        self.message.is_none()
            && self.button_label.is_none()
            && self.link_url.is_none()
            && self.background_color.is_none()
            && self.text_color.is_none()
            && self.button_color.is_none()
            && self.button_text_color.is_none()
            && self.thanks_message.is_none()
    }

    fn apply(&self, mut c: VariantContent) -> VariantContent {
        if let Some(v) = self.message {
            c.message = v.clone();
        }
        if let Some(v) = self.button_label {
            c.button_label = v.clone();
        }
        if let Some(v) = self.link_url {
            c.link_url = v.clone();
        }
        if let Some(v) = self.background_color {
            c.background_color = v.clone();
        }
        if let Some(v) = self.text_color {
            c.text_color = v.clone();
        }
        if let Some(v) = self.button_color {
            c.button_color = v.clone();
        }
        if let Some(v) = self.button_text_color {
            c.button_text_color = v.clone();
        }
        if let Some(v) = self.thanks_message {
            c.thanks_message = v.clone();
        }
        c
    }
}

impl BarInput {
    fn content(&self) -> ContentPatch<'_> {
        ContentPatch {
            message: &self.message,
            button_label: &self.button_label,
            link_url: &self.link_url,
            background_color: &self.background_color,
            text_color: &self.text_color,
            button_color: &self.button_color,
            button_text_color: &self.button_text_color,
            thanks_message: &self.thanks_message,
        }
    }

    fn apply(&self, mut s: BarSettings) -> Result<BarSettings, AppError> {
        if let Some(v) = self.goal {
            s.goal = v;
        }
        if let Some(v) = self.placement {
            s.placement = v;
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
            s.powered_by = v;
        }
        if let Some(v) = &self.targeting {
            s.targeting = v.clone().normalise()?;
        }
        if let Some(v) = self.trigger {
            s.trigger = v.validate()?;
        }
        if let Some(v) = self.frequency {
            s.frequency = v.validate()?;
        }
        Ok(s)
    }
}

impl VariantInput {
    fn content(&self) -> ContentPatch<'_> {
        ContentPatch {
            message: &self.message,
            button_label: &self.button_label,
            link_url: &self.link_url,
            background_color: &self.background_color,
            text_color: &self.text_color,
            button_color: &self.button_color,
            button_text_color: &self.button_text_color,
            thanks_message: &self.thanks_message,
        }
    }
}

fn default_settings() -> BarSettings {
    BarSettings {
        goal: Goal::Link,
        placement: Placement::Top,
        display: Display::Overlay,
        sticky: true,
        closable: true,
        powered_by: true,
        targeting: Targeting::default(),
        trigger: Trigger::Immediate,
        frequency: Frequency::default(),
    }
}

fn default_content() -> VariantContent {
    VariantContent {
        message: String::new(),
        button_label: None,
        link_url: None,
        background_color: DEFAULT_BACKGROUND.into(),
        text_color: DEFAULT_TEXT.into(),
        button_color: DEFAULT_BUTTON.into(),
        button_text_color: DEFAULT_BUTTON_TEXT.into(),
        thanks_message: None,
    }
}

fn check_name(raw: &str, field: &'static str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(field, "a name is 1 to 100 characters"));
    }
    Ok(name.to_string())
}

fn check_weight(w: u16) -> Result<u16, AppError> {
    if w > MAX_WEIGHT {
        return Err(AppError::invalid(
            "weight",
            format!("a weight is 0 to {MAX_WEIGHT}; 0 keeps the variant off the page"),
        ));
    }
    Ok(w)
}

/// A name from the message when none was given.
fn name_from(message: &str) -> String {
    let mut name: String = message.chars().take(60).collect();
    if message.chars().count() > 60 {
        name.push('…');
    }
    name
}

fn to_text<T: Serialize>(v: &T) -> Result<String, AppError> {
    Ok(serde_json::to_string(v).map_err(anyhow::Error::from)?)
}

fn from_text<T: DeserializeOwned>(v: &str, what: &str) -> Result<T, AppError> {
    serde_json::from_str(v)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored {what} does not parse: {e}")))
}

fn enum_text<T: Serialize>(v: T) -> Result<String, AppError> {
    match serde_json::to_value(v).map_err(anyhow::Error::from)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(AppError::Internal(anyhow::anyhow!(
            "not a unit variant: {other}"
        ))),
    }
}

pub fn settings_of(b: &bar::Model) -> Result<BarSettings, AppError> {
    Ok(BarSettings {
        goal: from_text(&format!("\"{}\"", b.goal), "goal")?,
        placement: from_text(&format!("\"{}\"", b.placement), "placement")?,
        display: from_text(&format!("\"{}\"", b.display), "display")?,
        sticky: b.sticky,
        closable: b.closable,
        powered_by: b.powered_by,
        targeting: from_text(&b.targeting, "targeting")?,
        trigger: from_text(&b.trigger, "trigger")?,
        frequency: from_text(&b.frequency, "frequency")?,
    })
}

pub fn content_of(v: &variant::Model) -> VariantContent {
    VariantContent {
        message: v.message.clone(),
        button_label: v.button_label.clone(),
        link_url: v.link_url.clone(),
        background_color: v.background_color.clone(),
        text_color: v.text_color.clone(),
        button_color: v.button_color.clone(),
        button_text_color: v.button_text_color.clone(),
        thanks_message: v.thanks_message.clone(),
    }
}

pub fn snapshot_of(d: &deployment::Model) -> Result<Snapshot, AppError> {
    from_text(&d.snapshot, "snapshot")
}

fn write_settings(active: &mut bar::ActiveModel, s: &BarSettings) -> Result<(), AppError> {
    active.goal = Set(enum_text(s.goal)?);
    active.placement = Set(enum_text(s.placement)?);
    active.display = Set(enum_text(s.display)?);
    active.sticky = Set(s.sticky);
    active.closable = Set(s.closable);
    active.powered_by = Set(s.powered_by);
    active.targeting = Set(to_text(&s.targeting)?);
    active.trigger = Set(to_text(&s.trigger)?);
    active.frequency = Set(to_text(&s.frequency)?);
    Ok(())
}

fn write_content(active: &mut variant::ActiveModel, c: VariantContent) {
    active.message = Set(c.message);
    active.button_label = Set(c.button_label);
    active.link_url = Set(c.link_url);
    active.background_color = Set(c.background_color);
    active.text_color = Set(c.text_color);
    active.button_color = Set(c.button_color);
    active.button_text_color = Set(c.button_text_color);
    active.thanks_message = Set(c.thanks_message);
}

/// Where a bar stands with respect to its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
            weight: u16::try_from(v.weight).unwrap_or(1),
            settings: settings.clone(),
            content: content_of(v),
        })
        .collect()
}

async fn load(state: &AppState, b: bar::Model) -> Result<Bar, AppError> {
    let settings = settings_of(&b)?;
    let variants = q::variants_of(&state.db, &[b.id]).await?;
    let live = q::live_deployments_of_bar(&state.db, b.id).await?;
    let status = if !live.is_empty() {
        Status::Live
    } else if q::bar_was_deployed(&state.db, b.id).await? {
        Status::Paused
    } else {
        Status::Draft
    };
    let has_unpublished_changes = if status == Status::Live {
        let live: Vec<Snapshot> = live.iter().map(snapshot_of).collect::<Result<_, _>>()?;
        live != snapshots(&b, &settings, &variants)
    } else {
        false
    };
    Ok(Bar {
        bar: b,
        settings,
        variants,
        status,
        has_unpublished_changes,
    })
}

async fn owned(state: &AppState, member_id: i64, bar_id: i64) -> Result<bar::Model, AppError> {
    q::bar_of(&state.db, member_id, bar_id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn create(
    state: &AppState,
    member_id: i64,
    site_id: i64,
    input: BarInput,
) -> Result<Bar, AppError> {
    let site = q::site_of(&state.db, member_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if q::bars_of_site(&state.db, site.id).await?.len() >= MAX_BARS_PER_SITE {
        return Err(AppError::Conflict(format!(
            "a site has at most {MAX_BARS_PER_SITE} bars; delete one first"
        )));
    }
    let settings = input.apply(default_settings())?;
    let content = check_variant(settings.goal, input.content().apply(default_content()))?;
    let name = match &input.name {
        Some(n) => check_name(n, "name")?,
        None => name_from(&content.message),
    };
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let mut active = bar::ActiveModel {
        site_id: Set(site.id),
        name: Set(name),
        created_at: Set(now),
        updated_at: Set(now),
        published_at: Set(None),
        deleted_at: Set(None),
        ..Default::default()
    };
    write_settings(&mut active, &settings)?;
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
    tracing::info!(bar_id = b.id, site_id = site.id, "bar created");
    load(state, b).await
}

pub async fn list(state: &AppState, member_id: i64, site_id: i64) -> Result<Vec<Bar>, AppError> {
    let site = q::site_of(&state.db, member_id, site_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut out = Vec::new();
    for b in q::bars_of_site(&state.db, site.id).await? {
        out.push(load(state, b).await?);
    }
    Ok(out)
}

pub async fn get(state: &AppState, member_id: i64, bar_id: i64) -> Result<Bar, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    load(state, b).await
}

pub async fn update(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    input: BarInput,
) -> Result<Bar, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let settings = input.apply(settings_of(&b)?)?;
    let variants = q::variants_of(&state.db, &[b.id]).await?;
    let patch = input.content();
    if !patch.is_empty() && variants.len() > 1 {
        return Err(AppError::invalid(
            "message",
            format!(
                "this bar has {} variants: change their content under /api/v1/bars/{}/variants",
                variants.len(),
                b.id
            ),
        ));
    }
    // Every variant must still fit the (possibly new) goal.
    let mut contents = Vec::with_capacity(variants.len());
    for v in &variants {
        let content = if patch.is_empty() {
            content_of(v)
        } else {
            patch.apply(content_of(v))
        };
        contents.push(check_variant(settings.goal, content)?);
    }
    let name = input
        .name
        .as_deref()
        .map(|n| check_name(n, "name"))
        .transpose()?;
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let mut active: bar::ActiveModel = b.into();
    write_settings(&mut active, &settings)?;
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
    load(state, b).await
}

/// Deletes a bar: it leaves the site's script at once; its deployments and their counts
/// stay, so the site's totals do not change.
pub async fn delete(state: &AppState, member_id: i64, bar_id: i64) -> Result<(), AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let ended = q::end_deployments_of_bar(&txn, b.id, now).await?;
    q::touch_bar(&txn, b.id, bar::Column::DeletedAt, now).await?;
    if ended > 0 {
        q::bump_script(&txn, b.site_id, now).await?;
    }
    txn.commit().await?;
    if ended > 0 {
        crate::sync::site_changed(state, b.site_id).await;
    }
    Ok(())
}

/// Publishes the bar as it is now. Publishing an unchanged live bar changes nothing.
pub async fn publish(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
) -> Result<Vec<deployment::Model>, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let settings = settings_of(&b)?;
    let variants = q::variants_of(&state.db, &[b.id]).await?;
    let wanted = snapshots(&b, &settings, &variants);
    if wanted.is_empty() {
        return Err(AppError::invalid(
            "weight",
            "no variant has a weight above 0, so there is nothing to show",
        ));
    }
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let live = q::live_deployments_of_bar(&txn, b.id).await?;
    let live_snapshots: Vec<Snapshot> = live.iter().map(snapshot_of).collect::<Result<_, _>>()?;
    if live_snapshots == wanted {
        return Ok(live);
    }
    q::end_deployments_of_bar(&txn, b.id, now).await?;
    let mut created = Vec::with_capacity(wanted.len());
    for snap in &wanted {
        created.push(
            q::insert_deployment(&txn, b.site_id, b.id, snap.variant_id, to_text(snap)?, now)
                .await?,
        );
    }
    q::touch_bar(&txn, b.id, bar::Column::PublishedAt, now).await?;
    q::bump_script(&txn, b.site_id, now).await?;
    txn.commit().await?;
    crate::sync::site_changed(state, b.site_id).await;
    tracing::info!(bar_id = b.id, deployments = created.len(), "bar published");
    Ok(created)
}

/// Takes the bar off the site; publishing again brings it back as new deployments.
pub async fn pause(state: &AppState, member_id: i64, bar_id: i64) -> Result<Bar, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let now = Utc::now();
    let txn = crate::db::begin(&state.db).await?;
    let ended = q::end_deployments_of_bar(&txn, b.id, now).await?;
    if ended > 0 {
        q::bump_script(&txn, b.site_id, now).await?;
    }
    txn.commit().await?;
    if ended > 0 {
        crate::sync::site_changed(state, b.site_id).await;
        tracing::info!(bar_id = b.id, "bar paused");
    }
    load(state, b).await
}

pub async fn deployments(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
) -> Result<Vec<deployment::Model>, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    Ok(q::deployments_of_bar(&state.db, b.id).await?)
}

// ---- variants ----

async fn owned_variant(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    variant_id: i64,
) -> Result<(bar::Model, variant::Model), AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let v = q::variants_of(&state.db, &[b.id])
        .await?
        .into_iter()
        .find(|v| v.id == variant_id)
        .ok_or(AppError::NotFound)?;
    Ok((b, v))
}

pub async fn variants(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
) -> Result<Vec<variant::Model>, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    Ok(q::variants_of(&state.db, &[b.id]).await?)
}

pub async fn variant(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    variant_id: i64,
) -> Result<variant::Model, AppError> {
    Ok(owned_variant(state, member_id, bar_id, variant_id).await?.1)
}

/// Adds a variant; what the request leaves out is copied from the bar's first variant.
pub async fn create_variant(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    input: VariantInput,
) -> Result<variant::Model, AppError> {
    let b = owned(state, member_id, bar_id).await?;
    let settings = settings_of(&b)?;
    let existing = q::variants_of(&state.db, &[b.id]).await?;
    if existing.len() >= MAX_VARIANTS {
        return Err(AppError::Conflict(format!(
            "a bar has at most {MAX_VARIANTS} variants"
        )));
    }
    let base = existing
        .first()
        .map(content_of)
        .unwrap_or_else(default_content);
    let content = check_variant(settings.goal, input.content().apply(base))?;
    let name = match &input.name {
        Some(n) => check_name(n, "name")?,
        None => next_variant_name(&existing),
    };
    if existing.iter().any(|v| v.name.eq_ignore_ascii_case(&name)) {
        return Err(AppError::Conflict(format!(
            "this bar already has a variant named {name}"
        )));
    }
    let weight = check_weight(input.weight.unwrap_or(DEFAULT_WEIGHT))?;
    let now = Utc::now();
    let mut v = variant::ActiveModel {
        bar_id: Set(b.id),
        name: Set(name),
        weight: Set(i32::from(weight)),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    write_content(&mut v, content);
    Ok(v.insert(&state.db).await?)
}

/// "A", "B", … then "Variant 27".
fn next_variant_name(existing: &[variant::Model]) -> String {
    ('A'..='Z')
        .map(String::from)
        .find(|n| !existing.iter().any(|v| &v.name == n))
        .unwrap_or_else(|| format!("Variant {}", existing.len() + 1))
}

pub async fn update_variant(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    variant_id: i64,
    input: VariantInput,
) -> Result<variant::Model, AppError> {
    let (b, v) = owned_variant(state, member_id, bar_id, variant_id).await?;
    let settings = settings_of(&b)?;
    let content = check_variant(settings.goal, input.content().apply(content_of(&v)))?;
    let name = input
        .name
        .as_deref()
        .map(|n| check_name(n, "name"))
        .transpose()?;
    if let Some(name) = &name {
        let others = q::variants_of(&state.db, &[b.id]).await?;
        if others
            .iter()
            .any(|o| o.id != v.id && o.name.eq_ignore_ascii_case(name))
        {
            return Err(AppError::Conflict(format!(
                "this bar already has a variant named {name}"
            )));
        }
    }
    let weight = input.weight.map(check_weight).transpose()?;
    let mut active: variant::ActiveModel = v.into();
    write_content(&mut active, content);
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(w) = weight {
        active.weight = Set(i32::from(w));
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(&state.db).await?)
}

/// Removes a variant from the bar (its deployments and counts stay). A bar keeps at
/// least one variant. Like every edit, it reaches visitors on the next publish.
pub async fn delete_variant(
    state: &AppState,
    member_id: i64,
    bar_id: i64,
    variant_id: i64,
) -> Result<(), AppError> {
    let (b, v) = owned_variant(state, member_id, bar_id, variant_id).await?;
    if q::variants_of(&state.db, &[b.id]).await?.len() <= 1 {
        return Err(AppError::Conflict(
            "a bar needs at least one variant; delete the bar instead".into(),
        ));
    }
    q::soft_delete_variant(&state.db, v.id, Utc::now()).await?;
    Ok(())
}
