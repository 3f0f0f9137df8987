//! The bar editor: every option of a bar as one form (its settings, and the content of
//! its only variant or of the variant being edited), checked by the same code as the
//! API, each refusal shown next to its field; a live preview drawn by the real runtime;
//! variants with their weights; publish, pause, delete; the deployment history.
//!
//! The form's field names are the API's JSON paths (`targeting.paths_include`,
//! `trigger.seconds`, …), so a refusal names the field to show it by.

use chrono::{DateTime, Utc};
use serde::de;
use serde::de::value::MapDeserializer;
use serde::{Deserialize, Serialize};
use warp::reply::Response;

use super::bar_options;
use super::forms::{Errors, FORM, Fields, choice, date_field, date_text, word};
use super::view::{Notice, done, render};
use crate::catalog::{self, Bar, BarInput, Status, VariantInput};
use crate::db::entities::{bar, deployment, site, variant};
use crate::domain::bar::{
    BarSettings, ForeverWord, Frequency, HideFor, Targeting, Trigger, VariantContent,
};
use crate::domain::{Colour, MIN_CONTRAST};
use crate::domain::{Invalid, SiteId};
use crate::error::{Error, Result};
use crate::web::guards::{OwnedBar, OwnedSite, OwnedVariant};
use crate::web::router::Req;

/// Which parts of a bar a form edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Part {
    /// A new bar: settings and the first variant's content.
    New,
    /// A bar with one variant: its settings and that variant's content together.
    Whole,
    /// A bar with several variants: its settings only.
    Settings,
    /// One variant of a bar with several: its name, weight and content.
    Variant,
}

impl Part {
    fn settings(self) -> bool {
        matches!(self, Part::New | Part::Whole | Part::Settings)
    }

    fn content(self) -> bool {
        matches!(self, Part::New | Part::Whole | Part::Variant)
    }
}

fn hide_for(h: HideFor) -> String {
    match h {
        HideFor::Days(d) => d.to_string(),
        HideFor::Forever(_) => "forever".into(),
    }
}

/// The form's values for a bar's settings.
fn settings_fields(f: &mut Fields, s: &BarSettings) {
    f.set("goal", word(&s.goal));
    f.set("placement", word(&s.placement));
    f.set("display", word(&s.display));
    for (name, on) in [
        ("sticky", s.sticky),
        ("closable", s.closable),
        ("powered_by", s.powered_by),
    ] {
        if on {
            f.set(name, "on");
        }
    }
    let t = &s.targeting;
    f.set("targeting.paths_include", t.paths_include.join("\n"));
    f.set("targeting.paths_exclude", t.paths_exclude.join("\n"));
    f.set("targeting.device", word(&t.device));
    f.set("targeting.starts_at", date_text(t.starts_at));
    f.set("targeting.ends_at", date_text(t.ends_at));
    f.set(
        "targeting.referrer_domain",
        t.referrer_domain.clone().unwrap_or_default(),
    );
    f.set(
        "targeting.utm_source",
        t.utm_source.clone().unwrap_or_default(),
    );
    f.set(
        "targeting.utm_campaign",
        t.utm_campaign.clone().unwrap_or_default(),
    );
    let (kind, seconds, percent) = match s.trigger {
        Trigger::Immediate => ("immediate", 5, 50),
        Trigger::Delay { seconds } => ("delay", seconds, 50),
        Trigger::Scroll { percent } => ("scroll", 5, u32::from(percent)),
        Trigger::ExitIntent => ("exit_intent", 5, 50),
    };
    f.set("trigger.type", kind);
    f.set("trigger.seconds", seconds.to_string());
    f.set("trigger.percent", percent.to_string());
    f.set(
        "frequency.after_dismiss_days",
        hide_for(s.frequency.after_dismiss_days),
    );
    f.set(
        "frequency.after_conversion_days",
        hide_for(s.frequency.after_conversion_days),
    );
    bar_options::settings_fields(f, s);
}

fn content_fields(f: &mut Fields, c: &VariantContent) {
    f.set("message", c.message.clone());
    f.set("button_label", c.button_label.clone().unwrap_or_default());
    f.set("link_url", c.link_url.clone().unwrap_or_default());
    f.set(
        "thanks_message",
        c.thanks_message.clone().unwrap_or_default(),
    );
    f.set("background_color", c.background_color.clone());
    f.set("text_color", c.text_color.clone());
    f.set("button_color", c.button_color.clone());
    f.set("button_text_color", c.button_text_color.clone());
    bar_options::content_fields(f, c);
}

fn number<T: std::str::FromStr>(f: &Fields, name: &'static str, what: &str) -> Result<T, Invalid> {
    f.get(name)
        .trim()
        .parse()
        .map_err(|_| Invalid::new(name, what.to_string()))
}

fn hide_for_field(f: &Fields, name: &'static str) -> Result<HideFor, Invalid> {
    let raw = f.get(name).trim();
    if raw.eq_ignore_ascii_case("forever") {
        return Ok(HideFor::Forever(ForeverWord::Forever));
    }
    raw.parse::<u16>()
        .map(HideFor::Days)
        .map_err(|_| Invalid::new(name, "a number of days (0 to 3650), or forever"))
}

fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn optional_text(f: &Fields, name: &str) -> Option<String> {
    f.text(name).map(str::to_string)
}

fn targeting_fields(f: &Fields) -> Result<Targeting, Invalid> {
    let mut t = Targeting {
        paths_include: lines(f.get("targeting.paths_include")),
        paths_exclude: lines(f.get("targeting.paths_exclude")),
        device: choice(
            "targeting.device",
            f.text("targeting.device").unwrap_or("any"),
        )?,
        starts_at: date_field(f, "targeting.starts_at")?,
        ends_at: date_field(f, "targeting.ends_at")?,
        referrer_domain: optional_text(f, "targeting.referrer_domain"),
        utm_source: optional_text(f, "targeting.utm_source"),
        utm_campaign: optional_text(f, "targeting.utm_campaign"),
        ..Targeting::default()
    };
    bar_options::targeting_fields(f, &mut t)?;
    Ok(t)
}

/// The trigger's type with the number that type needs; a type without one is read as
/// the API reads `{"type": …}`.
fn trigger_fields(f: &Fields) -> Result<Trigger, Invalid> {
    Ok(match f.get("trigger.type") {
        "delay" => Trigger::Delay {
            seconds: number(f, "trigger.seconds", "a whole number of seconds, 1 to 600")?,
        },
        "scroll" => Trigger::Scroll {
            percent: number(f, "trigger.percent", "a whole percentage, 1 to 100")?,
        },
        other => {
            let tag = MapDeserializer::<_, de::value::Error>::new(std::iter::once(("type", other)));
            Trigger::deserialize(tag).map_err(|e| Invalid::new("trigger.type", e.to_string()))?
        }
    })
}

/// The bar's settings from the form; the plan's limits and the rules of each setting are
/// checked when the input is applied, as for an API request.
fn settings_input(f: &Fields, input: &mut BarInput) -> Result<(), Invalid> {
    input.goal = Some(choice("goal", f.get("goal"))?);
    input.element_type = Some(choice(
        "element_type",
        f.text("element_type").unwrap_or("bar"),
    )?);
    input.placement = Some(choice("placement", f.get("placement"))?);
    input.side = Some(choice("side", f.text("side").unwrap_or("right"))?);
    input.allocation = Some(choice(
        "allocation",
        f.text("allocation").unwrap_or("weights"),
    )?);
    input.holdout = Some(match f.get("holdout").trim() {
        "" => 0,
        _ => number(f, "holdout", "a whole percentage from 0 to 50")?,
    });
    input.display = Some(choice("display", f.get("display"))?);
    input.sticky = Some(f.ticked("sticky"));
    input.closable = Some(f.ticked("closable"));
    input.powered_by = Some(f.ticked("powered_by"));
    input.targeting = Some(targeting_fields(f)?);
    input.trigger = Some(trigger_fields(f)?);
    let mut frequency = Frequency {
        after_dismiss_days: hide_for_field(f, "frequency.after_dismiss_days")?,
        after_conversion_days: hide_for_field(f, "frequency.after_conversion_days")?,
        ..Default::default()
    };
    bar_options::frequency_fields(f, &mut frequency)?;
    input.frequency = Some(frequency);
    input.countdown = Some(bar_options::countdown_field(f)?);
    Ok(())
}

/// Sets the content fields of a `BarInput` or a `VariantInput` (both declare the same
/// eight) from the form: an empty optional text removes it, colours are trimmed.
macro_rules! set_content {
    ($input:expr, $f:expr) => {{
        let (input, f) = (&mut $input, $f);
        input.message = Some(f.get("message").to_string());
        input.button_label = Some(optional_text(f, "button_label"));
        input.link_url = Some(optional_text(f, "link_url"));
        input.thanks_message = Some(optional_text(f, "thanks_message"));
        input.background_color = Some(f.get("background_color").trim().to_string());
        input.text_color = Some(f.get("text_color").trim().to_string());
        input.button_color = Some(f.get("button_color").trim().to_string());
        input.button_text_color = Some(f.get("button_text_color").trim().to_string());
        input.translations = Some(bar_options::translations_field(f)?);
    }};
}

/// The form as a bar request: the API's own input type, so the editor's changes are
/// checked by exactly the code that checks an API request; a field the form cannot
/// read (a date, a number, an unknown option) is refused under its own name.
pub(super) fn bar_input(f: &Fields, part: Part) -> Result<BarInput> {
    let mut input = BarInput {
        name: optional_text(f, "name"),
        ..BarInput::default()
    };
    if part.settings() {
        settings_input(f, &mut input)?;
    }
    if part.content() {
        set_content!(input, f);
    }
    Ok(input)
}

/// The form as a variant request: its name, content and weight.
fn variant_input(f: &Fields) -> Result<VariantInput> {
    let mut input = VariantInput {
        name: optional_text(f, "name"),
        ..VariantInput::default()
    };
    set_content!(input, f);
    if f.text("weight").is_some() {
        input.weight = Some(number(
            f,
            "weight",
            "a whole number, 0 to 1000 (0 keeps the variant off the page)",
        )?);
    }
    Ok(input)
}

/// What the contrast readout next to a pair of colours says before any script runs.
fn contrast(fg: &str, bg: &str) -> Contrast {
    match (Colour::parse(fg, "fg"), Colour::parse(bg, "bg")) {
        (Ok(fg), Ok(bg)) => {
            let ratio = fg.contrast(bg);
            let ok = ratio >= MIN_CONTRAST;
            Contrast {
                ok,
                text: if ok {
                    format!("Contrast {ratio:.1}:1 — readable")
                } else {
                    format!("Contrast {ratio:.1}:1 — too low, needs {MIN_CONTRAST}:1")
                },
            }
        }
        _ => Contrast {
            ok: false,
            text: "Enter a colour such as #1f2937".into(),
        },
    }
}

#[derive(Serialize)]
struct Contrast {
    ok: bool,
    text: String,
}

#[derive(Serialize)]
struct SiteRef {
    id: SiteId,
    name: String,
}

#[derive(Serialize)]
struct BarRef {
    id: crate::domain::BarId,
    name: String,
    status: Status,
    has_unpublished_changes: bool,
    paused_reason: Option<String>,
    published_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct VariantRow {
    id: crate::domain::VariantId,
    name: String,
    weight: i32,
    /// Its share of visitors, in percent (of the variants with a weight).
    share: Option<f64>,
    current: bool,
}

#[derive(Serialize)]
struct DeploymentRow {
    id: crate::domain::DeploymentId,
    variant_name: String,
    weight: u16,
    message: String,
    live: bool,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct Editor {
    part: Part,
    site: SiteRef,
    bar: Option<BarRef>,
    variants: Vec<VariantRow>,
    variant: Option<VariantRow>,
    show_settings: bool,
    show_content: bool,
    v: Fields,
    errors: Errors,
    action: String,
    preview_url: String,
    /// The frame's first address (the preview follows the form from there).
    frame_url: String,
    deployments: Vec<DeploymentRow>,
    branding_removable: bool,
    /// The weekday boxes: their field suffix and label.
    weekdays: Vec<(&'static str, &'static str)>,
    countries_hint: &'static str,
    text_contrast: Contrast,
    button_contrast: Contrast,
}

struct Loaded {
    site_id: SiteId,
    bar: Option<Bar>,
    variant: Option<variant::Model>,
}

impl Loaded {
    /// A bar not made yet, on `site`.
    fn new_on(site: &site::Model) -> Loaded {
        Loaded {
            site_id: site.id,
            bar: None,
            variant: None,
        }
    }

    fn bar(b: Bar, variant: Option<variant::Model>) -> Loaded {
        Loaded {
            site_id: b.bar.site_id,
            bar: Some(b),
            variant,
        }
    }
}

impl Loaded {
    /// The form's values before anything was sent: the saved bar (and the variant being
    /// edited, or the first), or a new bar's defaults with sample content.
    fn fields(&self, part: Part) -> Fields {
        let mut f = Fields::default();
        let Some(b) = &self.bar else {
            settings_fields(&mut f, &catalog::default_settings());
            content_fields(&mut f, &sample_content());
            return f;
        };
        settings_fields(&mut f, &b.settings);
        let shown = self.variant.as_ref().or(b.variants.first());
        if let Some(v) = shown {
            content_fields(&mut f, &catalog::content_of(v));
        }
        match (&self.variant, part) {
            (Some(v), Part::Variant) => {
                f.set("name", v.name.clone());
                f.set("weight", v.weight.to_string());
            }
            _ => f.set("name", b.bar.name.clone()),
        }
        f
    }

    /// The bar's variants with their shares, and the one being edited.
    fn variant_rows(&self) -> (Vec<VariantRow>, Option<VariantRow>) {
        let variants = self.bar.as_ref().map_or(&[][..], |b| &b.variants[..]);
        let total: i32 = variants.iter().map(|v| v.weight.max(0)).sum();
        let row = |v: &variant::Model| VariantRow {
            id: v.id,
            name: v.name.clone(),
            weight: v.weight,
            share: (total > 0).then(|| f64::from(v.weight.max(0)) * 100.0 / f64::from(total)),
            current: self.variant.as_ref().is_some_and(|c| c.id == v.id),
        };
        (
            variants.iter().map(row).collect(),
            self.variant.as_ref().map(row),
        )
    }

    /// Where the form is sent, and the preview frame's address of what is saved.
    fn addresses(&self, site: SiteId, part: Part) -> (String, String) {
        match (&self.bar, &self.variant, part) {
            (None, _, _) => (format!("/sites/{site}/bars"), "/preview".to_string()),
            (Some(b), Some(v), Part::Variant) => (
                format!("/bars/{}/variants/{}", b.bar.id, v.id),
                format!("/preview?bar={}&variant={}", b.bar.id, v.id),
            ),
            (Some(b), _, _) => (
                format!("/bars/{}", b.bar.id),
                format!("/preview?bar={}", b.bar.id),
            ),
        }
    }
}

impl BarRef {
    fn of(b: &Bar) -> BarRef {
        BarRef {
            id: b.bar.id,
            name: b.bar.name.clone(),
            status: b.status,
            has_unpublished_changes: b.has_unpublished_changes,
            paused_reason: b.bar.paused_reason.clone(),
            published_at: b.bar.published_at,
        }
    }
}

/// Every version of the bar that was published.
async fn deployment_rows(req: &Req, bar: Option<&Bar>) -> Result<Vec<DeploymentRow>> {
    let Some(b) = bar else {
        return Ok(Vec::new());
    };
    let rows = req.state.catalog.deployments(&b.bar).await?;
    Ok(rows
        .into_iter()
        .map(|d: deployment::Model| DeploymentRow {
            id: d.id,
            variant_name: d.snapshot.variant_name.clone(),
            weight: d.snapshot.weight,
            message: d.snapshot.content.message.clone(),
            live: d.ended_at.is_none(),
            started_at: d.started_at,
            ended_at: d.ended_at,
        })
        .collect())
}

/// Renders the editor for `part` of what is loaded: with the form as sent and its
/// refusals, or (with no form) with what is saved.
async fn editor(
    req: &Req,
    part: Part,
    loaded: Loaded,
    form: Option<Fields>,
    errors: Errors,
) -> Result<Response> {
    let account = req.account()?;
    let site = req
        .state
        .catalog
        .site_of(account, loaded.site_id)
        .await?
        .ok_or(Error::NotFound)?;
    let limits = req.state.billing.limits_of(account).await?;
    let sent = form.is_some();
    let v = form.unwrap_or_else(|| loaded.fields(part));
    let (variants, variant) = loaded.variant_rows();
    let deployments = deployment_rows(req, loaded.bar.as_ref()).await?;
    let (action, preview_url) = loaded.addresses(site.id, part);
    let errors = placed(errors);
    let status = errors.status();
    let ctx = Editor {
        frame_url: frame_url(&preview_url, sent.then_some(&v)),
        part,
        site: SiteRef {
            id: site.id,
            name: site.name,
        },
        variant,
        bar: loaded.bar.as_ref().map(BarRef::of),
        variants,
        show_settings: part.settings(),
        show_content: part.content(),
        text_contrast: contrast(v.get("text_color"), v.get("background_color")),
        button_contrast: contrast(v.get("button_text_color"), v.get("button_color")),
        v,
        errors,
        action,
        preview_url,
        deployments,
        branding_removable: limits.branding_removable,
        weekdays: bar_options::WEEKDAYS
            .iter()
            .map(|&(_, field, label)| (field, label))
            .collect(),
        countries_hint: if req.state.catalog.countries() {
            "ISO codes separated by spaces, e.g. DE AT CH; looked up from the visitor's address, which is not kept."
        } else {
            "Needs a GeoIP database on the server (BARKEEP_GEOIP_DB); without one, country rules are refused."
        },
    };
    render(req, "pages/bar_editor.html", &ctx, status)
}

/// Each refusal next to the field of the form it is about: a rule of a range under its
/// first box (`targeting.visit_number` under `….min`), a part of a field's text under
/// the field (`translations.de.message` under `translations`), and anything else above
/// the form.
fn placed(errors: Errors) -> Errors {
    let mut known = Fields::default();
    settings_fields(&mut known, &catalog::default_settings());
    content_fields(&mut known, &catalog::default_content());
    for name in ["name", "weight", "sticky", "closable", "powered_by"] {
        known.set(name, "");
    }
    let mut out = Errors::default();
    for (field, message) in errors.0 {
        let mut at = field.as_str();
        let place = loop {
            if known.0.contains_key(at) || at == FORM {
                break at.to_string();
            }
            let first = format!("{at}.min");
            if known.0.contains_key(&first) {
                break first;
            }
            match at.rsplit_once('.') {
                Some((parent, _)) => at = parent,
                None => break FORM.to_string(),
            }
        };
        out.add(&place, message);
    }
    out
}

/// What a new bar's form starts with, so its preview shows a whole bar at once.
fn sample_content() -> VariantContent {
    VariantContent {
        message: "Free shipping on every order this week".into(),
        button_label: Some("Shop now".into()),
        ..catalog::default_content()
    }
}

/// The preview frame's address: the saved bar, or, for a form sent back with its
/// refusals, the form as it was sent.
fn frame_url(preview_url: &str, sent: Option<&Fields>) -> String {
    let Some(f) = sent else {
        return preview_url.to_string();
    };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let mut names: Vec<&String> = f.0.keys().filter(|k| k.as_str() != "csrf").collect();
    names.sort();
    for name in names {
        q.append_pair(name, &f.0[name]);
    }
    q.append_pair("edited", "1");
    let sep = if preview_url.contains('?') { '&' } else { '?' };
    format!("{preview_url}{sep}{}", q.finish())
}

/// Which form edits a bar: all of it while it has one variant, its settings otherwise.
fn part_of(b: &Bar) -> Part {
    if b.variants.len() > 1 {
        Part::Settings
    } else {
        Part::Whole
    }
}

async fn load(req: &Req, bar: &bar::Model) -> Result<Bar> {
    req.state.catalog.bar(bar.clone()).await
}

pub(super) async fn new_page(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let none = Loaded::new_on(&site);
    editor(&req, Part::New, none, None, Errors::default()).await
}

pub(super) async fn create(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let account = req.account()?;
    let created = async {
        let input = bar_input(&f, Part::New)?;
        let limits = req.state.billing.limits_of(account).await?;
        req.state.catalog.create_bar(&site, &limits, input).await
    }
    .await;
    match created {
        Ok(b) => Ok(done(&format!("/bars/{}", b.bar.id), Notice::BarCreated)),
        Err(err) => {
            let errors = Errors::of(err)?;
            editor(&req, Part::New, Loaded::new_on(&site), Some(f), errors).await
        }
    }
}

pub(super) async fn edit_page(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let b = load(&req, &bar).await?;
    let part = part_of(&b);
    editor(&req, part, Loaded::bar(b, None), None, Errors::default()).await
}

pub(super) async fn save(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let b = load(&req, &bar).await?;
    let part = part_of(&b);
    let account = req.account()?;
    let saved = async {
        let input = bar_input(&f, part)?;
        let limits = req.state.billing.limits_of(account).await?;
        req.state
            .catalog
            .update_bar(b.bar.clone(), &limits, input)
            .await
    }
    .await;
    match saved {
        Ok(_) => Ok(done(&format!("/bars/{}", b.bar.id), Notice::BarSaved)),
        Err(err) => {
            let errors = Errors::of(err)?;
            editor(&req, part, Loaded::bar(b, None), Some(f), errors).await
        }
    }
}

/// A refusal of a button (publish, pause, a variant) shown above the editor.
async fn refused(req: &Req, bar: &bar::Model, err: Error) -> Result<Response> {
    let mut errors = Errors::of(err)?;
    // A field-level refusal here (no variant with a weight) belongs above the form.
    if let Some((_, message)) = errors.0.pop_first() {
        errors.add(FORM, message);
    }
    let b = load(req, bar).await?;
    let part = part_of(&b);
    editor(req, part, Loaded::bar(b, None), None, errors).await
}

pub(super) async fn publish(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let account = req.account()?;
    let b = bar.clone();
    let id = b.id;
    let before = req.state.catalog.bar(b.clone()).await?;
    let limits = req.state.billing.limits_of(account).await?;
    match req.state.catalog.publish(b, account, &limits).await {
        Ok(_) => {
            let unchanged = before.status == Status::Live && !before.has_unpublished_changes;
            Ok(done(
                &format!("/bars/{id}"),
                if unchanged {
                    Notice::Unchanged
                } else {
                    Notice::Published
                },
            ))
        }
        Err(err) => refused(&req, &bar, err).await,
    }
}

pub(super) async fn pause(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let b: bar::Model = bar.clone();
    let id = b.id;
    req.state.catalog.pause(b).await?;
    Ok(done(&format!("/bars/{id}"), Notice::Paused))
}

pub(super) async fn delete(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let b = bar.clone();
    let site = b.site_id;
    req.state.catalog.delete_bar(b).await?;
    Ok(done(&format!("/sites/{site}"), Notice::BarDeleted))
}

/// Adds a variant copied from the first one; its page opens to change it.
pub(super) async fn add_variant(req: Req, OwnedBar(bar): OwnedBar) -> Result<Response> {
    let account = req.account()?;
    let limits = req.state.billing.limits_of(account).await?;
    let b = &bar;
    match req
        .state
        .catalog
        .create_variant(b, &limits, VariantInput::default())
        .await
    {
        Ok(v) => Ok(done(
            &format!("/bars/{}/variants/{}", b.id, v.id),
            Notice::VariantCreated,
        )),
        Err(err) => refused(&req, &bar, err).await,
    }
}

pub(super) async fn variant_page(req: Req, ov: OwnedVariant) -> Result<Response> {
    let b = load(&req, &ov.bar).await?;
    let loaded = Loaded::bar(b, Some(ov.variant));
    editor(&req, Part::Variant, loaded, None, Errors::default()).await
}

pub(super) async fn save_variant(req: Req, ov: OwnedVariant) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let b = &ov.bar;
    let v = ov.variant.clone();
    let saved = async {
        let input = variant_input(&f)?;
        req.state.catalog.update_variant(b, v.clone(), input).await
    }
    .await;
    match saved {
        Ok(v) => Ok(done(
            &format!("/bars/{}/variants/{}", b.id, v.id),
            Notice::VariantSaved,
        )),
        Err(err) => {
            let errors = Errors::of(err)?;
            let loaded = Loaded::bar(load(&req, b).await?, Some(v));
            editor(&req, Part::Variant, loaded, Some(f), errors).await
        }
    }
}

pub(super) async fn delete_variant(req: Req, ov: OwnedVariant) -> Result<Response> {
    let b = &ov.bar;
    match req
        .state
        .catalog
        .delete_variant(b, ov.variant.clone())
        .await
    {
        Ok(()) => Ok(done(&format!("/bars/{}", b.id), Notice::VariantDeleted)),
        Err(err) => refused(&req, b, err).await,
    }
}

/// What the preview frame draws for a request: the saved bar (and variant) with the
/// form's edits on top, checked as saving would check them.
pub(super) async fn previewed(
    req: &Req,
    f: &Fields,
) -> Result<std::result::Result<(BarSettings, VariantContent), Invalid>> {
    let account = req.account()?;
    let catalog = &req.state.catalog;
    let id = |name: &str| f.text(name).and_then(|v| v.parse::<i64>().ok());
    let bar = match id("bar") {
        Some(b) => Some(
            catalog
                .bar_of(account, crate::domain::BarId(b))
                .await?
                .ok_or(Error::NotFound)?,
        ),
        None => None,
    };
    let variant = match (&bar, id("variant")) {
        (Some(b), Some(v)) => Some(
            catalog
                .variant_of(b.id, crate::domain::VariantId(v))
                .await?
                .ok_or(Error::NotFound)?,
        ),
        _ => None,
    };
    let (settings, content) = match &bar {
        Some(b) => {
            let first = match &variant {
                Some(v) => Some(v.clone()),
                None => catalog.variants(b).await?.into_iter().next(),
            };
            (
                catalog::settings_of(b),
                first
                    .as_ref()
                    .map(catalog::content_of)
                    .unwrap_or_else(catalog::default_content),
            )
        }
        None => {
            // Drawn before the member typed anything: a link for the button to show.
            let mut sample = sample_content();
            sample.link_url = Some("https://example.com/".into());
            (catalog::default_settings(), sample)
        }
    };
    if !f.ticked("edited") {
        return Ok(Ok((settings, content)));
    }
    // The form sends the parts it has: settings when it has the goal, content when it
    // has the message.
    let part = match (f.0.contains_key("goal"), f.0.contains_key("message")) {
        (true, true) => Part::Whole,
        (true, false) => Part::Settings,
        (false, _) => Part::Variant,
    };
    let mut f = f.clone();
    f.0.remove("name");
    f.0.remove("weight");
    let input = match bar_input(&f, part) {
        Ok(input) => input,
        Err(Error::Invalid(invalid)) => return Ok(Err(invalid)),
        Err(other) => return Err(other),
    };
    let limits = req.state.billing.limits_of(account).await?;
    Ok(catalog::draft(
        settings,
        content,
        &req.state.catalog.rules(&limits),
        &input,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::default();
        for (k, v) in pairs {
            f.set(k, *v);
        }
        f
    }

    #[test]
    fn a_saved_bar_round_trips_through_the_form() {
        let mut s = catalog::default_settings();
        s.trigger = Trigger::Scroll { percent: 40 };
        s.frequency = crate::domain::bar::Frequency {
            after_dismiss_days: HideFor::Days(3),
            after_conversion_days: HideFor::Forever(crate::domain::bar::ForeverWord::Forever),
            ..Default::default()
        };
        s.targeting.paths_include = vec!["/blog/*".into(), "/".into()];
        s.targeting.starts_at = Some("2026-12-24T09:00:00Z".parse().unwrap());
        s.sticky = false;
        let mut f = Fields::default();
        settings_fields(&mut f, &s);
        let mut c = catalog::default_content();
        c.message = "Hello".into();
        c.button_label = Some("Go".into());
        c.link_url = Some("https://shop.example/".into());
        content_fields(&mut f, &c);
        let input = bar_input(&f, Part::Whole).unwrap();
        let limits = crate::plans::Limits::UNLIMITED;
        let rules = catalog::Rules {
            limits: &limits,
            countries: true,
            now: chrono::Utc::now(),
        };
        let (s2, c2) = catalog::draft(
            catalog::default_settings(),
            catalog::default_content(),
            &rules,
            &input,
        )
        .unwrap();
        assert_eq!(s2, s);
        assert_eq!(c2, c);
    }

    #[test]
    fn a_bad_field_is_refused_under_its_own_name() {
        let base = [
            ("goal", "link"),
            ("placement", "top"),
            ("display", "overlay"),
            ("trigger.type", "delay"),
            ("trigger.seconds", "soon"),
            ("frequency.after_dismiss_days", "7"),
            ("frequency.after_conversion_days", "30"),
        ];
        let err = bar_input(&form(&base), Part::Settings).unwrap_err();
        assert!(matches!(err, Error::Invalid(i) if i.field == "trigger.seconds"));
        let mut f = form(&base);
        f.set("trigger.seconds", "5");
        f.set("targeting.starts_at", "tomorrow");
        let err = bar_input(&f, Part::Settings).unwrap_err();
        assert!(matches!(err, Error::Invalid(i) if i.field == "targeting.starts_at"));
        f.set("targeting.starts_at", "");
        f.set("goal", "fax");
        let err = bar_input(&f, Part::Settings).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(i) if i.field == "goal"),
            "{err:?}"
        );
    }

    #[test]
    fn an_unknown_option_is_refused_as_the_api_refuses_it() {
        let mut f = form(&[
            ("goal", "email"),
            ("placement", "bottom"),
            ("display", "push_down"),
            ("trigger.type", "exit_intent"),
            ("frequency.after_dismiss_days", " Forever "),
            ("frequency.after_conversion_days", "0"),
            ("targeting.device", "mobile"),
        ]);
        let input = bar_input(&f, Part::Settings).unwrap();
        assert_eq!(input.trigger, Some(Trigger::ExitIntent));
        assert_eq!(
            input
                .frequency
                .map(|q| (q.after_dismiss_days, q.after_conversion_days)),
            Some((HideFor::Forever(ForeverWord::Forever), HideFor::Days(0)))
        );
        f.set("targeting.device", "tablet");
        let err = bar_input(&f, Part::Settings).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(i) if i.field == "targeting.device"
                && i.message == "unknown variant `tablet`, expected one of `any`, `mobile`, `desktop`"),
            "{err:?}"
        );
        f.set("targeting.device", "");
        f.set("trigger.type", "");
        let err = bar_input(&f, Part::Settings).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(i) if i.field == "trigger.type"
                && i.message.starts_with("unknown variant ``, expected one of `immediate`")),
            "{err:?}"
        );
    }

    #[test]
    fn a_variant_form_carries_its_weight_and_content() {
        let f = form(&[("name", " B "), ("weight", "7"), ("button_label", " ")]);
        let input = variant_input(&f).unwrap();
        assert_eq!(input.name.as_deref(), Some("B"));
        assert_eq!(input.weight, Some(7));
        assert_eq!(input.button_label, Some(None), "an empty label removes it");
        let f = form(&[("weight", "heavy")]);
        let err = variant_input(&f).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(i) if i.field == "weight"),
            "{err:?}"
        );
    }

    #[test]
    fn contrast_reads_in_words() {
        assert!(contrast("#ffffff", "#1f2937").ok);
        let low = contrast("#777777", "#888888");
        assert!(!low.ok && low.text.contains("too low"));
        assert!(!contrast("blue", "#fff").ok);
    }
}
