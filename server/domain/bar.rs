//! What a bar is: its goal, look, targeting, trigger and frequency, and the content of
//! each variant, with the rules that make a combination valid. A deployment freezes one
//! variant together with its bar's settings as a [`Snapshot`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{DeriveActiveEnum, EnumIter, FromJsonQueryResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;
use super::allocation::Allocation;
use super::audience::{self, Between, Hours, PageValue, QueryRule, Visitor, Weekday};
use super::colour::{Colour, require_contrast};
use super::element::{Countdown, ElementType, Side};
use super::hostname::Hostname;
use super::ids::{BarId, DeploymentId, VariantId};
use super::text::{self, Fault};
use super::translation::Translations;
use super::url::SafeUrl;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Goal {
    /// The button opens a URL.
    Link,
    /// The bar collects an email address.
    Email,
    /// Text only, nothing to convert.
    Announcement,
    /// A `tel:` button, shown on mobile only.
    Call,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Placement {
    Top,
    Bottom,
}

/// The stored (and serialised) name: `email`, `top`.
impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&sea_orm::ActiveEnum::to_value(self))
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&sea_orm::ActiveEnum::to_value(self))
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum Display {
    /// Floats over the page: no layout shift.
    Overlay,
    /// Reserves its own space and moves the page down (or up, at the bottom).
    PushDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Any,
    Mobile,
    Desktop,
}

/// When the bar appears once a page qualifies.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    FromJsonQueryResult,
)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    #[default]
    Immediate,
    Delay {
        seconds: u32,
    },
    Scroll {
        percent: u8,
    },
    ExitIntent,
}

/// How long a bar stays hidden for a visitor after they dismissed it or converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum HideFor {
    /// 0 shows the bar again on the next page view.
    Days(u16),
    Forever(ForeverWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ForeverWord {
    #[serde(rename = "forever")]
    Forever,
}

impl HideFor {
    /// The runtime's encoding: days, or -1 for ever.
    fn runtime(self) -> i32 {
        match self {
            HideFor::Days(d) => i32::from(d),
            HideFor::Forever(_) => -1,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, FromJsonQueryResult,
)]
#[serde(deny_unknown_fields)]
pub struct Frequency {
    #[serde(default = "default_dismiss")]
    pub after_dismiss_days: HideFor,
    #[serde(default = "default_conversion")]
    pub after_conversion_days: HideFor,
    /// At most once in each visit.
    #[serde(default)]
    pub once_per_visit: bool,
    /// At most this many times to each visitor, in all.
    #[serde(default)]
    pub max_views: Option<u32>,
    /// Only on every Nth page view of the visitor's (2 to 100).
    #[serde(default)]
    pub every_nth_page: Option<u16>,
}

fn default_dismiss() -> HideFor {
    HideFor::Days(7)
}

fn default_conversion() -> HideFor {
    HideFor::Days(30)
}

impl Default for Frequency {
    fn default() -> Self {
        Frequency {
            after_dismiss_days: default_dismiss(),
            after_conversion_days: default_conversion(),
            once_per_visit: false,
            max_views: None,
            every_nth_page: None,
        }
    }
}

/// Which page views may show the bar. Every part is optional.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, FromJsonQueryResult,
)]
#[serde(default, deny_unknown_fields)]
pub struct Targeting {
    /// Glob patterns on the URL path (`*` matches anything); when given, one must match.
    pub paths_include: Vec<String>,
    /// Glob patterns on the URL path; a match hides the bar.
    pub paths_exclude: Vec<String>,
    pub device: Device,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Only visitors who arrived from this domain (or a subdomain of it).
    pub referrer_domain: Option<String>,
    pub utm_source: Option<String>,
    pub utm_campaign: Option<String>,
    /// New or returning visitors only (the visitor's own browser counts visits; a visit
    /// ends after 30 minutes without a page).
    pub visitor: Visitor,
    /// The visitor's visit number (1 for the first visit).
    pub visit_number: Option<Between>,
    /// Whole days since the visitor's previous visit; a first visit has none and does
    /// not match.
    pub days_since_last_visit: Option<Between>,
    /// Pages seen in this visit, this one included.
    pub pages_this_visit: Option<Between>,
    /// Language tags (`de`, `pt-BR`); one of the visitor's languages must match (a tag
    /// matches itself and its regional forms: `pt` matches `pt-BR`).
    pub languages_include: Vec<String>,
    /// Language tags; a visitor with any of these languages does not see the bar.
    pub languages_exclude: Vec<String>,
    /// Days of the week the bar shows on; empty for every day.
    pub weekdays: Vec<Weekday>,
    /// The part of the day the bar shows in.
    pub hours: Option<Hours>,
    /// The IANA time zone weekdays and hours are read in (`Europe/Berlin`); `null` for
    /// the visitor's own.
    pub time_zone: Option<String>,
    /// Query parameters the page's URL must carry (with the value, when given).
    pub query: Vec<QueryRule>,
    /// Values the page provides with `(window.barkeep = window.barkeep || []).push({…})`
    /// that must match.
    pub page_values: Vec<PageValue>,
    /// ISO 3166 country codes, looked up from the visitor's address when the script is
    /// requested (needs `BARKEEP_GEOIP_DB`); one must match.
    pub countries_include: Vec<String>,
    /// ISO 3166 country codes whose visitors do not see the bar.
    pub countries_exclude: Vec<String>,
}

const MAX_PATTERNS: usize = 20;

impl Targeting {
    /// Checks and tidies the targeting rules.
    pub fn normalise(mut self) -> Result<Self, Invalid> {
        for (patterns, field) in [
            (&mut self.paths_include, "targeting.paths_include"),
            (&mut self.paths_exclude, "targeting.paths_exclude"),
        ] {
            if patterns.len() > MAX_PATTERNS {
                return Err(Invalid::new(
                    field,
                    format!("at most {MAX_PATTERNS} patterns"),
                ));
            }
            for p in patterns.iter_mut() {
                *p = p.trim().to_string();
                if !p.starts_with('/') || p.len() > 200 || p.chars().any(char::is_whitespace) {
                    return Err(Invalid::new(
                        field,
                        format!(
                            "`{p}` is not a path pattern such as /blog/* (it must start with /)"
                        ),
                    ));
                }
            }
        }
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at)
            && e <= s
        {
            return Err(Invalid::new(
                "targeting.ends_at",
                "the schedule must end after it starts",
            ));
        }
        self.referrer_domain = match self.referrer_domain.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(d) => {
                let h = Hostname::parse(d, "targeting.referrer_domain")?;
                if h.as_str().starts_with("*.") {
                    return Err(Invalid::new(
                        "targeting.referrer_domain",
                        "give the domain without `*.`: subdomains always match",
                    ));
                }
                Some(h.to_string())
            }
        };
        for (value, field) in [
            (&mut self.utm_source, "targeting.utm_source"),
            (&mut self.utm_campaign, "targeting.utm_campaign"),
        ] {
            *value = match value.take().as_deref().map(|v| text::line(v, 100)) {
                None | Some(Err(Fault::Empty)) => None,
                Some(Ok(v)) => Some(v.to_string()),
                Some(Err(fault)) => return Err(Invalid::new(field, fault.message(100))),
            };
        }
        self.visit_number = Between::check(self.visit_number, "targeting.visit_number", 100_000)?;
        self.days_since_last_visit = Between::check(
            self.days_since_last_visit,
            "targeting.days_since_last_visit",
            3650,
        )?;
        self.pages_this_visit =
            Between::check(self.pages_this_visit, "targeting.pages_this_visit", 10_000)?;
        self.languages_include = audience::languages(
            std::mem::take(&mut self.languages_include),
            "targeting.languages_include",
        )?;
        self.languages_exclude = audience::languages(
            std::mem::take(&mut self.languages_exclude),
            "targeting.languages_exclude",
        )?;
        self.weekdays.sort();
        self.weekdays.dedup();
        if self.weekdays.len() == 7 {
            self.weekdays.clear();
        }
        self.hours = self.hours.take().map(Hours::check).transpose()?;
        self.time_zone = audience::time_zone(self.time_zone.take())?;
        self.query = audience::query_rules(std::mem::take(&mut self.query))?;
        self.page_values = audience::page_values(std::mem::take(&mut self.page_values))?;
        self.countries_include = audience::countries(
            std::mem::take(&mut self.countries_include),
            "targeting.countries_include",
        )?;
        self.countries_exclude = audience::countries(
            std::mem::take(&mut self.countries_exclude),
            "targeting.countries_exclude",
        )?;
        Ok(self)
    }

    /// Whether the bar is shown by country, which the server decides per request.
    pub fn by_country(&self) -> bool {
        !self.countries_include.is_empty() || !self.countries_exclude.is_empty()
    }
}

impl Trigger {
    pub fn validate(self) -> Result<Self, Invalid> {
        match self {
            Trigger::Delay { seconds } if !(1..=600).contains(&seconds) => Err(Invalid::new(
                "trigger.seconds",
                "a delay is 1 to 600 seconds",
            )),
            Trigger::Scroll { percent } if !(1..=100).contains(&percent) => Err(Invalid::new(
                "trigger.percent",
                "scroll depth is 1 to 100 percent",
            )),
            other => Ok(other),
        }
    }
}

impl Frequency {
    pub fn validate(self) -> Result<Self, Invalid> {
        for (v, field) in [
            (self.after_dismiss_days, "frequency.after_dismiss_days"),
            (
                self.after_conversion_days,
                "frequency.after_conversion_days",
            ),
        ] {
            if matches!(v, HideFor::Days(d) if d > 3650) {
                return Err(Invalid::new(field, "at most 3650 days, or \"forever\""));
            }
        }
        if matches!(self.max_views, Some(n) if !(1..=1000).contains(&n)) {
            return Err(Invalid::new(
                "frequency.max_views",
                "1 to 1000 times, or null for no limit",
            ));
        }
        if matches!(self.every_nth_page, Some(n) if !(2..=100).contains(&n)) {
            return Err(Invalid::new(
                "frequency.every_nth_page",
                "every 2nd to every 100th page view, or null for every page view",
            ));
        }
        Ok(self)
    }
}

/// The bar-wide settings every variant shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BarSettings {
    pub goal: Goal,
    /// What the bar is drawn as.
    #[serde(default)]
    pub element_type: ElementType,
    /// For a bar: the edge it sits on; for a slider: the edge of its corner.
    pub placement: Placement,
    /// For a slider: the side of its corner.
    #[serde(default)]
    pub side: Side,
    pub display: Display,
    pub sticky: bool,
    pub closable: bool,
    pub powered_by: bool,
    pub targeting: Targeting,
    pub trigger: Trigger,
    pub frequency: Frequency,
    #[serde(default)]
    pub countdown: Option<Countdown>,
    /// How new visitors are shared among the variants.
    #[serde(default)]
    pub allocation: Allocation,
    /// Percent of new visitors held out (0 to 50): assigned to no variant, shown nothing,
    /// and counted, so the bar can be compared with no bar at all.
    #[serde(default)]
    pub holdout: u8,
}

impl BarSettings {
    /// Rules between settings: a modal or a takeover can always be closed, and only a bar
    /// pushes the page's content.
    pub fn check(mut self) -> Result<Self, Invalid> {
        if self.element_type.is_modal() && !self.closable {
            return Err(Invalid::new(
                "closable",
                "a modal or a takeover always has a close button",
            ));
        }
        if self.element_type != ElementType::Bar {
            self.display = Display::Overlay;
        }
        Ok(self)
    }
}

/// What one variant shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VariantContent {
    pub message: String,
    pub button_label: Option<String>,
    pub link_url: Option<String>,
    pub background_color: String,
    pub text_color: String,
    pub button_color: String,
    pub button_text_color: String,
    pub thanks_message: Option<String>,
    /// The texts in other languages, by language tag.
    #[serde(default)]
    pub translations: Translations,
}

pub const DEFAULT_BACKGROUND: &str = "#1f2937";
pub const DEFAULT_TEXT: &str = "#ffffff";
pub const DEFAULT_BUTTON: &str = "#facc15";
pub const DEFAULT_BUTTON_TEXT: &str = "#111827";

fn text(
    value: &str,
    field: &'static str,
    max: usize,
    required: bool,
) -> Result<Option<String>, Invalid> {
    match text::line(value, max) {
        Ok(v) => Ok(Some(v.to_string())),
        Err(Fault::Empty) if !required => Ok(None),
        Err(fault) => Err(Invalid::new(field, fault.message(max))),
    }
}

/// Checks a variant against its bar's goal and tidies it: trimmed text, normalised
/// colours and link, readable contrast, the goal's required parts present.
pub fn check_variant(goal: Goal, content: VariantContent) -> Result<VariantContent, Invalid> {
    let message = text(&content.message, "message", 300, true)?.unwrap_or_default();
    let button_label = match content.button_label.as_deref() {
        Some(l) => text(l, "button_label", 40, false)?,
        None => None,
    };
    let button_label = match goal {
        Goal::Announcement => button_label,
        Goal::Email => Some(button_label.unwrap_or_else(|| "Subscribe".into())),
        Goal::Link | Goal::Call => Some(button_label.ok_or_else(|| {
            Invalid::new("button_label", "a link or call bar needs a button label")
        })?),
    };
    let link_url = match (
        goal,
        content
            .link_url
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty()),
    ) {
        (Goal::Link, Some(l)) => Some(SafeUrl::parse_web(l, "link_url")?.to_string()),
        (Goal::Link, None) => {
            return Err(Invalid::new(
                "link_url",
                "a link bar needs a link_url (https://…)",
            ));
        }
        (Goal::Call, Some(l)) => Some(SafeUrl::parse_tel(l, "link_url")?.to_string()),
        (Goal::Call, None) => {
            return Err(Invalid::new(
                "link_url",
                "a call bar needs a link_url such as tel:+15551234567",
            ));
        }
        (_, Some(_)) => {
            return Err(Invalid::new(
                "link_url",
                "only link and call bars have a link",
            ));
        }
        (_, None) => None,
    };
    let thanks_message = match (goal, content.thanks_message.as_deref()) {
        (Goal::Email, Some(t)) => text(t, "thanks_message", 200, false)?,
        (Goal::Email, None) => None,
        (_, Some(t)) if !t.trim().is_empty() => {
            return Err(Invalid::new(
                "thanks_message",
                "only email bars show a thank-you message",
            ));
        }
        _ => None,
    };
    let background = Colour::parse(&content.background_color, "background_color")?;
    let fg = Colour::parse(&content.text_color, "text_color")?;
    let button = Colour::parse(&content.button_color, "button_color")?;
    let button_text = Colour::parse(&content.button_text_color, "button_text_color")?;
    require_contrast(fg, background, "text_color", "background_color")?;
    if goal != Goal::Announcement {
        require_contrast(button_text, button, "button_text_color", "button_color")?;
    }
    Ok(VariantContent {
        message,
        button_label,
        link_url,
        background_color: background.to_string(),
        text_color: fg.to_string(),
        button_color: button.to_string(),
        button_text_color: button_text.to_string(),
        thanks_message,
        translations: content.translations.check()?,
    })
}

/// What a deployment froze: the bar's settings with one variant's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, FromJsonQueryResult)]
pub struct Snapshot {
    pub bar_id: BarId,
    pub variant_id: VariantId,
    pub variant_name: String,
    pub weight: u16,
    #[serde(flatten)]
    pub settings: BarSettings,
    #[serde(flatten)]
    pub content: VariantContent,
}

/// The runtime's encoding of a live bar (short keys keep the script small; see
/// `widget/README.md`).
#[derive(Debug, Serialize)]
pub struct RuntimeBar {
    i: BarId,
    g: Goal,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<ElementType>,
    p: Placement,
    #[serde(skip_serializing_if = "Option::is_none")]
    sd: Option<&'static str>,
    o: u8,
    s: u8,
    x: u8,
    t: RuntimeTargeting,
    tr: serde_json::Value,
    f: [i32; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    fq: Option<[u32; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cd: Option<RuntimeCountdown>,
    /// Percent of new visitors held out.
    #[serde(skip_serializing_if = "Option::is_none")]
    ho: Option<u8>,
    v: Vec<RuntimeVariant>,
    /// Decided by the server, never sent: who may see the bar by country.
    #[serde(skip)]
    countries: (Vec<String>, Vec<String>),
}

#[derive(Debug, Default, Serialize)]
struct RuntimeTargeting {
    #[serde(rename = "in", skip_serializing_if = "Vec::is_empty")]
    include: Vec<String>,
    #[serde(rename = "ex", skip_serializing_if = "Vec::is_empty")]
    exclude: Vec<String>,
    #[serde(rename = "dv", skip_serializing_if = "Option::is_none")]
    device: Option<&'static str>,
    #[serde(rename = "sa", skip_serializing_if = "Option::is_none")]
    starts_at: Option<i64>,
    #[serde(rename = "ea", skip_serializing_if = "Option::is_none")]
    ends_at: Option<i64>,
    #[serde(rename = "rf", skip_serializing_if = "Option::is_none")]
    referrer: Option<String>,
    #[serde(rename = "us", skip_serializing_if = "Option::is_none")]
    utm_source: Option<String>,
    #[serde(rename = "uc", skip_serializing_if = "Option::is_none")]
    utm_campaign: Option<String>,
    #[serde(rename = "vn", skip_serializing_if = "Option::is_none")]
    visitor: Option<Visitor>,
    #[serde(rename = "vc", skip_serializing_if = "Option::is_none")]
    visit_number: Option<[Option<u32>; 2]>,
    #[serde(rename = "ds", skip_serializing_if = "Option::is_none")]
    days_since: Option<[Option<u32>; 2]>,
    #[serde(rename = "pv", skip_serializing_if = "Option::is_none")]
    pages: Option<[Option<u32>; 2]>,
    #[serde(rename = "la", skip_serializing_if = "Option::is_none")]
    languages: Option<RuntimeLists>,
    #[serde(rename = "wd", skip_serializing_if = "Vec::is_empty")]
    weekdays: Vec<u8>,
    #[serde(rename = "hr", skip_serializing_if = "Option::is_none")]
    hours: Option<[u16; 2]>,
    #[serde(rename = "tz", skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    #[serde(rename = "q", skip_serializing_if = "Vec::is_empty")]
    query: Vec<(String, Option<String>)>,
    #[serde(rename = "pg", skip_serializing_if = "Vec::is_empty")]
    page: Vec<(String, String)>,
}

#[derive(Debug, Default, Serialize)]
struct RuntimeLists {
    #[serde(rename = "in", skip_serializing_if = "Vec::is_empty")]
    include: Vec<String>,
    #[serde(rename = "ex", skip_serializing_if = "Vec::is_empty")]
    exclude: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RuntimeCountdown {
    /// The end, in epoch milliseconds (a fixed countdown).
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<i64>,
    /// Seconds from the visitor's first view (an evergreen countdown).
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<u32>,
    /// Shown when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
}

#[derive(Debug, Serialize)]
struct RuntimeVariant {
    d: DeploymentId,
    i: VariantId,
    w: u16,
    m: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    c: [String; 4],
    #[serde(skip_serializing_if = "is_zero")]
    pb: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    ty: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tx: BTreeMap<String, RuntimeTranslation>,
}

#[derive(Debug, Serialize)]
struct RuntimeTranslation {
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// The parts of the runtime (`widget/build.mjs` names them) a script needs beyond its
/// core, by what its bars use.
pub type Modules = std::collections::BTreeSet<&'static str>;

impl RuntimeBar {
    /// Shows the "powered by" line on every variant, whatever was published (the plan
    /// does not allow removing it).
    pub fn require_powered_by(&mut self) {
        for v in &mut self.v {
            v.pb = 1;
        }
    }

    /// The bar as the editor's preview draws it: at once, on any page and device, however
    /// it is targeted, triggered or hidden after a dismiss (a call bar, which visitors see
    /// on phones only, shows as its button).
    pub fn for_preview(mut self) -> RuntimeBar {
        self.t = RuntimeTargeting::default();
        self.tr = serde_json::json!(["i"]);
        self.f = [0, 0];
        self.fq = None;
        self.ho = None;
        self.countries = Default::default();
        if self.g == Goal::Call {
            self.g = Goal::Link;
        }
        self
    }

    /// Whether the server must decide by country who sees this bar.
    pub fn by_country(&self) -> bool {
        !self.countries.0.is_empty() || !self.countries.1.is_empty()
    }

    /// Whether a visitor from `country` (`None`: unknown) may see the bar.
    pub fn admits_country(&self, country: Option<&str>) -> bool {
        let listed = |list: &[String]| country.is_some_and(|c| list.iter().any(|x| x == c));
        (self.countries.0.is_empty() || listed(&self.countries.0)) && !listed(&self.countries.1)
    }

    /// Adds the runtime modules this bar needs.
    pub fn modules(&self, m: &mut Modules) {
        let t = &self.t;
        let mut add = |on: bool, name: &'static str| {
            if on {
                m.insert(name);
            }
        };
        add(self.g == Goal::Email, "form");
        add(self.g == Goal::Call || t.device.is_some(), "device");
        match self.y {
            None => add(self.o == 0, "push"),
            Some(ElementType::Slider) => add(true, "slider"),
            Some(_) => add(true, "dialog"),
        }
        match self.tr.get(0).and_then(|k| k.as_str()) {
            Some("s") => add(true, "scroll"),
            Some("e") => add(true, "exit"),
            _ => {}
        }
        add(!t.include.is_empty() || !t.exclude.is_empty(), "paths");
        add(t.starts_at.is_some() || t.ends_at.is_some(), "schedule");
        add(
            t.referrer.is_some() || t.utm_source.is_some() || t.utm_campaign.is_some(),
            "source",
        );
        add(
            t.visitor.is_some()
                || t.visit_number.is_some()
                || t.days_since.is_some()
                || t.pages.is_some(),
            "visits",
        );
        add(t.languages.is_some(), "lang");
        add(!t.weekdays.is_empty() || t.hours.is_some(), "clock");
        add(!t.query.is_empty(), "query");
        add(!t.page.is_empty(), "page");
        add(self.fq.is_some(), "freq");
        add(self.cd.is_some(), "countdown");
        add(self.ho.is_some(), "goals");
        add(self.v.iter().any(|v| !v.tx.is_empty()), "i18n");
    }

    /// One live bar from its live deployments (all published together, so they share
    /// the bar's settings). `deployments` pairs each deployment id with its snapshot.
    pub fn from_deployments(deployments: &[(DeploymentId, Snapshot)]) -> Option<RuntimeBar> {
        let (_, first) = deployments.first()?;
        let s = &first.settings;
        let t = &s.targeting;
        Some(RuntimeBar {
            i: first.bar_id,
            g: s.goal,
            y: (s.element_type != ElementType::Bar).then_some(s.element_type),
            p: s.placement,
            sd: (s.element_type == ElementType::Slider && s.side == Side::Left).then_some("l"),
            o: u8::from(s.display == Display::Overlay || s.element_type != ElementType::Bar),
            s: u8::from(s.sticky),
            x: u8::from(s.closable || s.element_type.is_modal()),
            t: RuntimeTargeting::from(t),
            tr: match s.trigger {
                Trigger::Immediate => serde_json::json!(["i"]),
                Trigger::Delay { seconds } => serde_json::json!(["d", seconds]),
                Trigger::Scroll { percent } => serde_json::json!(["s", percent]),
                Trigger::ExitIntent => serde_json::json!(["e"]),
            },
            f: [
                s.frequency.after_dismiss_days.runtime(),
                s.frequency.after_conversion_days.runtime(),
            ],
            fq: s.frequency.caps(),
            cd: s.countdown.as_ref().map(RuntimeCountdown::from),
            ho: (s.holdout > 0).then_some(s.holdout),
            countries: (t.countries_include.clone(), t.countries_exclude.clone()),
            v: deployments
                .iter()
                .map(|(id, snap)| RuntimeVariant::of(*id, snap))
                .collect(),
        })
    }
}

impl Frequency {
    /// The runtime's `fq`: once per visit, at most N views, every Nth page (0: no cap);
    /// `None` without any of them.
    fn caps(&self) -> Option<[u32; 3]> {
        (self.once_per_visit || self.max_views.is_some() || self.every_nth_page.is_some()).then(
            || {
                [
                    u32::from(self.once_per_visit),
                    self.max_views.unwrap_or(0),
                    u32::from(self.every_nth_page.unwrap_or(0)),
                ]
            },
        )
    }
}

impl From<&Targeting> for RuntimeTargeting {
    fn from(t: &Targeting) -> Self {
        let range = |b: &Option<Between>| b.map(|b| b.runtime());
        let clock = !t.weekdays.is_empty() || t.hours.is_some();
        RuntimeTargeting {
            include: t.paths_include.clone(),
            exclude: t.paths_exclude.clone(),
            device: match t.device {
                Device::Any => None,
                Device::Mobile => Some("mobile"),
                Device::Desktop => Some("desktop"),
            },
            starts_at: t.starts_at.map(|d| d.timestamp_millis()),
            ends_at: t.ends_at.map(|d| d.timestamp_millis()),
            referrer: t.referrer_domain.clone(),
            utm_source: t.utm_source.clone(),
            utm_campaign: t.utm_campaign.clone(),
            visitor: (t.visitor != Visitor::Any).then_some(t.visitor),
            visit_number: range(&t.visit_number),
            days_since: range(&t.days_since_last_visit),
            pages: range(&t.pages_this_visit),
            languages: (!t.languages_include.is_empty() || !t.languages_exclude.is_empty()).then(
                || RuntimeLists {
                    include: t.languages_include.clone(),
                    exclude: t.languages_exclude.clone(),
                },
            ),
            weekdays: t.weekdays.iter().map(|d| d.iso()).collect(),
            hours: t.hours.as_ref().map(Hours::runtime),
            // A zone only matters to weekday and hour rules.
            time_zone: t.time_zone.clone().filter(|_| clock),
            query: t
                .query
                .iter()
                .map(|q| (q.name.clone(), q.value.clone()))
                .collect(),
            page: t
                .page_values
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
        }
    }
}

impl From<&Countdown> for RuntimeCountdown {
    fn from(c: &Countdown) -> Self {
        match c {
            Countdown::Until { ends_at, end_text } => RuntimeCountdown {
                u: Some(ends_at.timestamp_millis()),
                e: None,
                x: end_text.clone(),
            },
            Countdown::Evergreen { minutes, end_text } => RuntimeCountdown {
                u: None,
                e: Some(minutes.saturating_mul(60)),
                x: end_text.clone(),
            },
        }
    }
}

impl RuntimeVariant {
    /// One deployment's variant; an announcement has no button, in any language.
    fn of(id: DeploymentId, snap: &Snapshot) -> RuntimeVariant {
        let c = &snap.content;
        let button = |label: &Option<String>| {
            label
                .clone()
                .filter(|_| snap.settings.goal != Goal::Announcement)
        };
        RuntimeVariant {
            d: id,
            i: snap.variant_id,
            w: snap.weight.max(1),
            m: c.message.clone(),
            l: button(&c.button_label),
            u: c.link_url.clone(),
            c: [
                c.background_color.clone(),
                c.text_color.clone(),
                c.button_color.clone(),
                c.button_text_color.clone(),
            ],
            pb: u8::from(snap.settings.powered_by),
            ty: c.thanks_message.clone(),
            tx: c
                .translations
                .0
                .iter()
                .map(|(tag, t)| {
                    let texts = RuntimeTranslation {
                        m: t.message.clone(),
                        l: button(&t.button_label),
                        ty: t.thanks_message.clone(),
                        x: t.countdown_end_text.clone(),
                    };
                    (tag.clone(), texts)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> VariantContent {
        VariantContent {
            message: "Free shipping this week".into(),
            button_label: Some("Shop now".into()),
            link_url: Some("https://shop.example/sale".into()),
            background_color: DEFAULT_BACKGROUND.into(),
            text_color: DEFAULT_TEXT.into(),
            button_color: DEFAULT_BUTTON.into(),
            button_text_color: DEFAULT_BUTTON_TEXT.into(),
            thanks_message: None,
            translations: Translations::default(),
        }
    }

    fn field(err: Invalid) -> String {
        err.field.into_owned()
    }

    #[test]
    fn the_default_colours_are_readable() {
        assert!(check_variant(Goal::Link, content()).is_ok());
    }

    #[test]
    fn unreadable_colours_name_their_field() {
        let mut c = content();
        c.text_color = "#333333".into();
        assert_eq!(
            field(check_variant(Goal::Link, c).unwrap_err()),
            "text_color"
        );
        let mut c = content();
        c.button_text_color = "#eeeeee".into();
        assert_eq!(
            field(check_variant(Goal::Link, c).unwrap_err()),
            "button_text_color"
        );
        let mut c = content();
        c.background_color = "tomato".into();
        assert_eq!(
            field(check_variant(Goal::Link, c).unwrap_err()),
            "background_color"
        );
    }

    #[test]
    fn links_follow_the_goal() {
        let mut c = content();
        c.link_url = Some("javascript:alert(1)".into());
        assert_eq!(field(check_variant(Goal::Link, c).unwrap_err()), "link_url");
        assert_eq!(
            field(check_variant(Goal::Call, content()).unwrap_err()),
            "link_url"
        );
        let mut c = content();
        c.link_url = Some("tel:+15551234567".into());
        assert!(check_variant(Goal::Call, c).is_ok());
        let mut c = content();
        c.link_url = None;
        c.button_label = None;
        let email = check_variant(Goal::Email, c.clone()).unwrap();
        assert_eq!(email.button_label.as_deref(), Some("Subscribe"));
        assert!(check_variant(Goal::Announcement, c).is_ok());
        assert_eq!(
            field(check_variant(Goal::Announcement, content()).unwrap_err()),
            "link_url"
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        let mut c = content();
        c.message = "  hi  ".into();
        assert_eq!(check_variant(Goal::Link, c).unwrap().message, "hi");
        let mut c = content();
        c.message = "x".repeat(301);
        assert_eq!(field(check_variant(Goal::Link, c).unwrap_err()), "message");
        let mut c = content();
        c.message = "   ".into();
        assert_eq!(field(check_variant(Goal::Link, c).unwrap_err()), "message");
    }

    #[test]
    fn targeting_rules_are_checked() {
        let t = Targeting {
            paths_include: vec!["blog/*".into()],
            ..Default::default()
        };
        assert_eq!(field(t.normalise().unwrap_err()), "targeting.paths_include");
        let now = Utc::now();
        let t = Targeting {
            starts_at: Some(now),
            ends_at: Some(now),
            ..Default::default()
        };
        assert_eq!(field(t.normalise().unwrap_err()), "targeting.ends_at");
        let t = Targeting {
            referrer_domain: Some("HTTPS://News.Example/x".into()),
            ..Default::default()
        };
        assert_eq!(
            t.normalise().unwrap().referrer_domain.as_deref(),
            Some("news.example")
        );
        assert!(Trigger::Delay { seconds: 0 }.validate().is_err());
        assert!(Trigger::Scroll { percent: 101 }.validate().is_err());
    }

    #[test]
    fn frequency_reads_days_or_forever() {
        let f: Frequency = serde_json::from_str(
            r#"{"after_dismiss_days": "forever", "after_conversion_days": 0}"#,
        )
        .unwrap();
        assert_eq!(f.after_dismiss_days.runtime(), -1);
        assert_eq!(f.after_conversion_days.runtime(), 0);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"after_dismiss_days":"forever","after_conversion_days":0,"once_per_visit":false,"max_views":null,"every_nth_page":null}"#
        );
        let capped: Frequency = serde_json::from_str(
            r#"{"once_per_visit": true, "max_views": 3, "every_nth_page": 2}"#,
        )
        .unwrap();
        assert!(capped.validate().is_ok());
        for bad in [
            r#"{"max_views": 0}"#,
            r#"{"every_nth_page": 1}"#,
            r#"{"every_nth_page": 101}"#,
        ] {
            let f: Frequency = serde_json::from_str(bad).unwrap();
            assert!(f.validate().is_err(), "{bad}");
        }
        assert!(
            serde_json::from_str::<Frequency>(r#"{"after_dismiss_days": "sometimes"}"#).is_err()
        );
    }

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    use serde_json::Value;

    use crate::domain::MIN_CONTRAST;

    /// Words and values the bar's JSON knows, to land on real variants and fields.
    const WORDS: &[&str] = &[
        "link",
        "email",
        "announcement",
        "call",
        "top",
        "bottom",
        "overlay",
        "push_down",
        "any",
        "mobile",
        "desktop",
        "immediate",
        "delay",
        "scroll",
        "exit_intent",
        "forever",
        "/blog/*",
        "#1f2937",
        "#ffffff",
        "#facc15",
        "#111827",
        "https://shop.example/sale",
        "tel:+15551234567",
        "news.example",
        "2026-12-24T09:00:00Z",
        "",
    ];

    const KEYS: &[&str] = &[
        "goal",
        "placement",
        "display",
        "sticky",
        "closable",
        "powered_by",
        "targeting",
        "trigger",
        "frequency",
        "paths_include",
        "paths_exclude",
        "device",
        "starts_at",
        "ends_at",
        "referrer_domain",
        "utm_source",
        "utm_campaign",
        "type",
        "seconds",
        "percent",
        "after_dismiss_days",
        "after_conversion_days",
        "message",
        "button_label",
        "link_url",
        "background_color",
        "text_color",
        "button_color",
        "button_text_color",
        "thanks_message",
    ];

    const COLOURS: &[&str] = &[
        "#1f2937",
        "#ffffff",
        "#facc15",
        "#111827",
        "#000",
        "#fff",
        "#FFF",
        " #000000 ",
        "#777777",
        "#767676",
        "#12345",
        "red",
        "",
    ];

    /// Any JSON value, leaning on the bar's own keys and words.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..5000).prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            hostile().prop_map(Value::from),
            proptest::sample::select(WORDS.to_vec()).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 48, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            4 => proptest::sample::select(KEYS.to_vec()).prop_map(String::from),
                            1 => hostile(),
                        ],
                        inner,
                    ),
                    0..8,
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A JSON object with these keys, each absent, of the right kind (`good`) or anything,
    /// now and then with a key of its own.
    fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
        let parts: Vec<_> = fields
            .into_iter()
            .map(|(key, good)| {
                proptest::option::weighted(0.8, prop_oneof![4 => good, 1 => json().boxed()])
                    .prop_map(move |v| (key, v))
            })
            .collect();
        (parts, proptest::option::weighted(0.1, (hostile(), json()))).prop_map(|(kvs, extra)| {
            let mut object = serde_json::Map::new();
            for (key, value) in kvs {
                if let Some(value) = value {
                    object.insert(key.to_string(), value);
                }
            }
            if let Some((key, value)) = extra {
                object.insert(key, value);
            }
            Value::Object(object)
        })
    }

    fn words(list: &[&'static str]) -> BoxedStrategy<Value> {
        proptest::sample::select(list.to_vec())
            .prop_map(Value::from)
            .boxed()
    }

    fn path_pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => hostile(),
            2 => "/[a-z0-9*/._-]{0,30}",
            1 => hostile().prop_map(|s| format!("/{s}")),
            1 => "[ \t]{0,2}/[a-z*]{0,10}[ \t]{0,2}",
            1 => "/[a-z]{190,210}",
        ]
    }

    fn referrer() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => hostile(),
            2 => "(https?://)?[A-Za-z]{1,10}\\.[a-z]{2,5}(/[a-z]{0,5})?",
            1 => "[a-z]{0,3}%2[aA]\\.[a-z]{1,8}\\.example",
            1 => Just("*.news.example".to_string()),
            1 => Just("  ".to_string()),
        ]
    }

    /// Any time chrono can hold, or one near now.
    fn moment() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (-8_000_000_000_000i64..8_000_000_000_000)
                .prop_filter_map("outside chrono's range", |s| {
                    DateTime::<Utc>::from_timestamp(s, 0)
                }),
            (1_700_000_000i64..1_900_000_000).prop_filter_map("outside chrono's range", |s| {
                DateTime::<Utc>::from_timestamp(s, 0)
            }),
        ]
    }

    fn any_targeting() -> impl Strategy<Value = Targeting> {
        (
            proptest::collection::vec(path_pattern(), 0..23),
            proptest::collection::vec(path_pattern(), 0..23),
            proptest::sample::select(vec![Device::Any, Device::Mobile, Device::Desktop]),
            proptest::option::of(moment()),
            proptest::option::of(moment()),
            proptest::option::of(referrer()),
            proptest::option::of(hostile()),
            proptest::option::of(prop_oneof![hostile(), ".{95,105}"]),
        )
            .prop_map(
                |(
                    paths_include,
                    paths_exclude,
                    device,
                    starts_at,
                    ends_at,
                    referrer_domain,
                    utm_source,
                    utm_campaign,
                )| Targeting {
                    paths_include,
                    paths_exclude,
                    device,
                    starts_at,
                    ends_at,
                    referrer_domain,
                    utm_source,
                    utm_campaign,
                    ..Default::default()
                },
            )
    }

    fn time_json() -> BoxedStrategy<Value> {
        prop_oneof![
            moment().prop_map(|t| Value::from(t.to_rfc3339())),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z".prop_map(Value::from),
            hostile().prop_map(Value::from),
        ]
        .boxed()
    }

    fn targeting_json() -> impl Strategy<Value = Value> {
        let paths = || {
            proptest::collection::vec(path_pattern(), 0..23)
                .prop_map(Value::from)
                .boxed()
        };
        object(vec![
            ("paths_include", paths()),
            ("paths_exclude", paths()),
            (
                "device",
                words(&["any", "mobile", "desktop", "tablet", "Any"]),
            ),
            ("starts_at", time_json()),
            ("ends_at", time_json()),
            ("referrer_domain", referrer().prop_map(Value::from).boxed()),
            ("utm_source", hostile().prop_map(Value::from).boxed()),
            ("utm_campaign", hostile().prop_map(Value::from).boxed()),
        ])
    }

    fn trigger_json() -> impl Strategy<Value = Value> {
        object(vec![
            (
                "type",
                words(&[
                    "immediate",
                    "delay",
                    "scroll",
                    "exit_intent",
                    "later",
                    "Delay",
                ]),
            ),
            (
                "seconds",
                prop_oneof![
                    (0i64..700).prop_map(Value::from),
                    any::<i64>().prop_map(Value::from)
                ]
                .boxed(),
            ),
            (
                "percent",
                prop_oneof![
                    (0i64..300).prop_map(Value::from),
                    any::<i64>().prop_map(Value::from)
                ]
                .boxed(),
            ),
        ])
    }

    fn frequency_json() -> impl Strategy<Value = Value> {
        let days = || {
            prop_oneof![
                (0u64..70_000).prop_map(Value::from),
                words(&["forever", "Forever", "never"]),
                Just(Value::from(-1)),
            ]
            .boxed()
        };
        object(vec![
            ("after_dismiss_days", days()),
            ("after_conversion_days", days()),
        ])
    }

    fn settings_json() -> impl Strategy<Value = Value> {
        let flag = || any::<bool>().prop_map(Value::from).boxed();
        object(vec![
            (
                "goal",
                words(&["link", "email", "announcement", "call", "sms"]),
            ),
            ("placement", words(&["top", "bottom", "middle"])),
            ("display", words(&["overlay", "push_down", "pushdown"])),
            ("sticky", flag()),
            ("closable", flag()),
            ("powered_by", flag()),
            ("targeting", targeting_json().boxed()),
            ("trigger", trigger_json().boxed()),
            ("frequency", frequency_json().boxed()),
        ])
    }

    /// A line of text a member might type, or anything at all.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => hostile(),
            2 => "[A-Za-z][A-Za-z !]{0,30}",
            1 => ".{295,305}",
            1 => Just("  Free shipping  ".to_string()),
        ]
    }

    fn link() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => hostile(),
            2 => proptest::sample::select(vec![
                "https://shop.example/sale",
                " HTTPS://Shop.Example/a b ",
                "tel:+15551234567",
                "tel:+1 (555) 123-4567",
                "javascript:alert(1)",
                "",
            ])
            .prop_map(String::from),
            1 => "https://[a-z]{1,10}\\.example/[a-z0-9/?=&%]{0,40}",
            1 => "tel:\\+?[0-9 ]{3,25}",
        ]
    }

    fn colour() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(COLOURS.to_vec()).prop_map(String::from),
            1 => "#[0-9a-fA-F]{3,6}",
            1 => hostile(),
        ]
    }

    fn any_content() -> impl Strategy<Value = VariantContent> {
        let colours = prop_oneof![
            2 => Just(
                [DEFAULT_BACKGROUND, DEFAULT_TEXT, DEFAULT_BUTTON, DEFAULT_BUTTON_TEXT]
                    .map(String::from)
            ),
            1 => [colour(), colour(), colour(), colour()],
        ];
        (
            line(),
            proptest::option::of(line()),
            proptest::option::of(link()),
            colours,
            proptest::option::of(line()),
        )
            .prop_map(
                |(message, button_label, link_url, colours, thanks_message)| {
                    let [
                        background_color,
                        text_color,
                        button_color,
                        button_text_color,
                    ] = colours;
                    VariantContent {
                        message,
                        button_label,
                        link_url,
                        background_color,
                        text_color,
                        button_color,
                        button_text_color,
                        thanks_message,
                        translations: Translations::default(),
                    }
                },
            )
    }

    fn content_json() -> impl Strategy<Value = Value> {
        let text = || line().prop_map(Value::from).boxed();
        let colour_json = || colour().prop_map(Value::from).boxed();
        object(vec![
            ("message", text()),
            ("button_label", text()),
            ("link_url", link().prop_map(Value::from).boxed()),
            ("background_color", colour_json()),
            ("text_color", colour_json()),
            ("button_color", colour_json()),
            ("button_text_color", colour_json()),
            ("thanks_message", text()),
        ])
    }

    fn any_goal() -> impl Strategy<Value = Goal> {
        proptest::sample::select(vec![
            Goal::Link,
            Goal::Email,
            Goal::Announcement,
            Goal::Call,
        ])
    }

    /// What `normalise` promises of the targeting it lets through.
    fn keeps_the_targeting_rules(t: &Targeting) -> Result<(), TestCaseError> {
        prop_assert!(
            t.paths_include.len() <= MAX_PATTERNS && t.paths_exclude.len() <= MAX_PATTERNS
        );
        for p in t.paths_include.iter().chain(&t.paths_exclude) {
            prop_assert!(
                p.starts_with('/') && p.len() <= 200 && !p.chars().any(char::is_whitespace),
                "path pattern {:?}",
                p
            );
        }
        if let (Some(s), Some(e)) = (t.starts_at, t.ends_at) {
            prop_assert!(e > s, "ends {} before it starts {}", e, s);
        }
        if let Some(d) = &t.referrer_domain {
            prop_assert!(!d.starts_with("*."), "referrer {:?}", d);
            prop_assert_eq!(
                Hostname::parse(d, "targeting.referrer_domain").map(|h| h.to_string()),
                Ok::<String, Invalid>(d.clone()),
                "the kept referrer is not a hostname that parses to itself"
            );
        }
        for v in [&t.utm_source, &t.utm_campaign].into_iter().flatten() {
            prop_assert!(
                !v.is_empty()
                    && v.as_str() == v.trim()
                    && v.chars().count() <= 100
                    && !v.chars().any(char::is_control),
                "utm value {:?}",
                v
            );
        }
        Ok(())
    }

    fn check_targeting(t: Targeting) -> Result<(), TestCaseError> {
        if let Ok(t) = t.normalise() {
            keeps_the_targeting_rules(&t)?;
            prop_assert_eq!(
                t.clone().normalise(),
                Ok::<Targeting, Invalid>(t.clone()),
                "normalised targeting does not normalise to itself"
            );
        }
        Ok(())
    }

    /// What `check_variant` promises of the content it lets through.
    fn keeps_the_content_rules(goal: Goal, c: &VariantContent) -> Result<(), TestCaseError> {
        let line_ok = |s: &str, max: usize| {
            !s.is_empty()
                && s == s.trim()
                && s.chars().count() <= max
                && !s.chars().any(char::is_control)
        };
        prop_assert!(line_ok(c.message.as_str(), 300), "message {:?}", c.message);
        if let Some(l) = &c.button_label {
            prop_assert!(line_ok(l.as_str(), 40), "button label {:?}", l);
        }
        if goal != Goal::Announcement {
            prop_assert!(
                c.button_label.is_some(),
                "a {:?} bar without a button label",
                goal
            );
        }
        match goal {
            Goal::Link => prop_assert!(
                c.link_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://")),
                "link bar with link {:?}",
                c.link_url
            ),
            Goal::Call => prop_assert!(
                c.link_url.as_deref().is_some_and(|u| u.starts_with("tel:")),
                "call bar with link {:?}",
                c.link_url
            ),
            Goal::Email | Goal::Announcement => prop_assert!(
                c.link_url.is_none(),
                "{:?} bar with link {:?}",
                goal,
                c.link_url
            ),
        }
        if goal != Goal::Email {
            prop_assert!(c.thanks_message.is_none());
        }
        if let Some(t) = &c.thanks_message {
            prop_assert!(line_ok(t.as_str(), 200), "thanks message {:?}", t);
        }
        let kept = |s: &str| Colour::parse(s, "c").ok().filter(|c| c.to_string() == s);
        let (bg, fg, button, button_text) = (
            kept(c.background_color.as_str()),
            kept(c.text_color.as_str()),
            kept(c.button_color.as_str()),
            kept(c.button_text_color.as_str()),
        );
        match (bg, fg, button, button_text) {
            (Some(bg), Some(fg), Some(button), Some(button_text)) => {
                prop_assert!(fg.contrast(bg) >= MIN_CONTRAST);
                if goal != Goal::Announcement {
                    prop_assert!(button_text.contrast(button) >= MIN_CONTRAST);
                }
            }
            _ => prop_assert!(false, "colours not kept as #rrggbb: {:?}", c),
        }
        Ok(())
    }

    fn check_content(goal: Goal, content: VariantContent) -> Result<(), TestCaseError> {
        if let Ok(c) = check_variant(goal, content) {
            keeps_the_content_rules(goal, &c)?;
            prop_assert_eq!(
                check_variant(goal, c.clone()),
                Ok::<VariantContent, Invalid>(c.clone()),
                "checked content does not check to itself"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_targeting_never_panics_and_normalised_targeting_keeps_the_rules(
            t in any_targeting(),
        ) {
            check_targeting(t)?;
        }

        #[test]
        fn arbitrary_content_never_panics_and_checked_content_keeps_the_rules(
            goal in any_goal(),
            c in any_content(),
        ) {
            check_content(goal, c)?;
        }

        #[test]
        fn arbitrary_settings_json_never_panics_and_what_passes_keeps_the_rules(
            v in settings_json(),
        ) {
            if let Ok(s) = serde_json::from_value::<BarSettings>(v.clone()) {
                check_targeting(s.targeting)?;
                if let Ok(t) = s.trigger.validate() {
                    prop_assert_eq!(t, s.trigger);
                }
                let _ = s.frequency.validate();
            }
            if let Some(t) = v.get("targeting").cloned()
                && let Ok(t) = serde_json::from_value::<Targeting>(t) {
                    check_targeting(t)?;
                }
            if let Some(t) = v.get("trigger").cloned()
                && let Ok(t) = serde_json::from_value::<Trigger>(t)
                    && let Ok(t) = t.validate() {
                        match t {
                            Trigger::Delay { seconds } => prop_assert!((1..=600).contains(&seconds)),
                            Trigger::Scroll { percent } => prop_assert!((1..=100).contains(&percent)),
                            Trigger::Immediate | Trigger::ExitIntent => {}
                        }
                    }
            if let Some(f) = v.get("frequency").cloned()
                && let Ok(f) = serde_json::from_value::<Frequency>(f)
                    && let Ok(f) = f.validate() {
                        for h in [f.after_dismiss_days, f.after_conversion_days] {
                            prop_assert!((-1..=3650).contains(&h.runtime()), "{:?}", h);
                        }
                    }
        }

        #[test]
        fn arbitrary_content_json_never_panics_and_what_passes_keeps_the_rules(
            v in prop_oneof![content_json(), json()],
            goal in any_goal(),
        ) {
            if let Ok(c) = serde_json::from_value::<VariantContent>(v) {
                check_content(goal, c)?;
            }
        }

        #[test]
        fn arbitrary_text_never_panics_the_json_readers(raw in hostile()) {
            let _ = serde_json::from_str::<BarSettings>(&raw);
            let _ = serde_json::from_str::<Targeting>(&raw).map(Targeting::normalise);
            let _ = serde_json::from_str::<Trigger>(&raw).map(Trigger::validate);
            let _ = serde_json::from_str::<Frequency>(&raw).map(Frequency::validate);
            let _ = serde_json::from_str::<VariantContent>(&raw);
        }

        #[test]
        fn triggers_are_valid_exactly_within_their_bounds_and_survive_json(seconds: u32, percent: u8) {
            prop_assert_eq!(
                Trigger::Delay { seconds }.validate().is_ok(),
                (1..=600).contains(&seconds)
            );
            prop_assert_eq!(
                Trigger::Scroll { percent }.validate().is_ok(),
                (1..=100).contains(&percent)
            );
            for t in [
                Trigger::Immediate,
                Trigger::Delay { seconds },
                Trigger::Scroll { percent },
                Trigger::ExitIntent,
            ] {
                let json = serde_json::to_value(t).expect("a trigger serialises");
                prop_assert_eq!(serde_json::from_value::<Trigger>(json).ok(), Some(t));
            }
        }

        #[test]
        fn frequencies_are_valid_up_to_ten_years_or_forever_and_survive_json(
            dismiss: u16,
            conversion: u16,
            forever: bool,
        ) {
            let f = Frequency {
                after_dismiss_days: HideFor::Days(dismiss),
                after_conversion_days: if forever {
                    HideFor::Forever(ForeverWord::Forever)
                } else {
                    HideFor::Days(conversion)
                },
                ..Frequency::default()
            };
            prop_assert_eq!(
                f.validate().is_ok(),
                dismiss <= 3650 && (forever || conversion <= 3650)
            );
            let json = serde_json::to_value(f).expect("a frequency serialises");
            prop_assert_eq!(serde_json::from_value::<Frequency>(json).ok(), Some(f));
        }

        #[test]
        fn live_bars_from_checked_variants_serialise_and_snapshots_survive_json(
            goal in any_goal(),
            c in any_content(),
            t in any_targeting(),
            weight in any::<u16>(),
        ) {
            let (Ok(content), Ok(targeting)) = (check_variant(goal, c), t.normalise()) else {
                return Ok(());
            };
            let snapshot = Snapshot {
                bar_id: BarId(1),
                variant_id: VariantId(2),
                variant_name: "A".into(),
                weight,
                settings: BarSettings {
                    goal,
                    element_type: ElementType::Bar,
                    placement: Placement::Top,
                    side: Side::Right,
                    display: Display::Overlay,
                    sticky: false,
                    closable: true,
                    powered_by: true,
                    targeting,
                    trigger: Trigger::Immediate,
                    frequency: Frequency::default(),
                    countdown: None,
                    allocation: Allocation::Weights,
                    holdout: 0,
                },
                content,
            };
            let stored = serde_json::to_string(&snapshot).expect("a snapshot serialises");
            prop_assert_eq!(
                serde_json::from_str::<Snapshot>(&stored).ok(),
                Some(snapshot.clone()),
                "a stored snapshot does not read back: {}",
                stored
            );
            let bar = RuntimeBar::from_deployments(&[(DeploymentId(3), snapshot.clone())])
                .expect("one deployment makes a live bar");
            let json = serde_json::to_value(&bar).expect("a live bar serialises");
            prop_assert_eq!(json["v"][0]["m"].as_str(), Some(snapshot.content.message.as_str()));
            prop_assert!(serde_json::to_string(&bar.for_preview()).is_ok());
        }
    }
}
