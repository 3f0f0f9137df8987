//! The editor's fields for what a bar is drawn as, the audience rules beyond pages and
//! sources, the extra frequency caps, the countdown and the translations: written into
//! the form from a bar, and read back as the API's own types (checked by the same code
//! as an API request).

use super::forms::{Fields, choice, date_field, date_text, word};
use crate::domain::Invalid;
use crate::domain::audience::{Between, Hours, PageValue, QueryRule, Weekday};
use crate::domain::bar::{BarSettings, Frequency, Targeting, VariantContent};
use crate::domain::element::Countdown;
use crate::domain::translation::{Translation, Translations};

/// The weekday boxes: the day, its field's suffix (`targeting.weekdays.mon`), its label.
pub(super) const WEEKDAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "mon", "Monday"),
    (Weekday::Tue, "tue", "Tuesday"),
    (Weekday::Wed, "wed", "Wednesday"),
    (Weekday::Thu, "thu", "Thursday"),
    (Weekday::Fri, "fri", "Friday"),
    (Weekday::Sat, "sat", "Saturday"),
    (Weekday::Sun, "sun", "Sunday"),
];

fn range_fields(f: &mut Fields, name: &str, b: Option<Between>) {
    let b = b.unwrap_or_default();
    let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    f.set(&format!("{name}.min"), n(b.min));
    f.set(&format!("{name}.max"), n(b.max));
}

/// The form's values for the options this module covers.
pub(super) fn settings_fields(f: &mut Fields, s: &BarSettings) {
    f.set("element_type", word(&s.element_type));
    f.set("side", word(&s.side));
    f.set("allocation", word(&s.allocation));
    f.set("holdout", s.holdout.to_string());
    let t = &s.targeting;
    f.set("targeting.visitor", word(&t.visitor));
    range_fields(f, "targeting.visit_number", t.visit_number);
    range_fields(
        f,
        "targeting.days_since_last_visit",
        t.days_since_last_visit,
    );
    range_fields(f, "targeting.pages_this_visit", t.pages_this_visit);
    f.set("targeting.languages_include", t.languages_include.join(" "));
    f.set("targeting.languages_exclude", t.languages_exclude.join(" "));
    for (day, name, _) in WEEKDAYS {
        if t.weekdays.contains(&day) {
            f.set(&format!("targeting.weekdays.{name}"), "on");
        }
    }
    let (from, to) = match &t.hours {
        Some(h) => (h.from.clone(), h.to.clone()),
        None => (String::new(), String::new()),
    };
    f.set("targeting.hours.from", from);
    f.set("targeting.hours.to", to);
    f.set(
        "targeting.time_zone",
        t.time_zone.clone().unwrap_or_default(),
    );
    f.set(
        "targeting.query",
        t.query
            .iter()
            .map(|q| match &q.value {
                Some(v) => format!("{}={v}", q.name),
                None => q.name.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    f.set(
        "targeting.page_values",
        t.page_values
            .iter()
            .map(|p| format!("{}={}", p.key, p.value))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    f.set("targeting.countries_include", t.countries_include.join(" "));
    f.set("targeting.countries_exclude", t.countries_exclude.join(" "));
    let q = &s.frequency;
    if q.once_per_visit {
        f.set("frequency.once_per_visit", "on");
    }
    f.set(
        "frequency.max_views",
        q.max_views.map(|n| n.to_string()).unwrap_or_default(),
    );
    f.set(
        "frequency.every_nth_page",
        q.every_nth_page.map(|n| n.to_string()).unwrap_or_default(),
    );
    let (kind, ends_at, minutes, end_text) = match &s.countdown {
        None => ("none", None, None, None),
        Some(Countdown::Until { ends_at, end_text }) => {
            ("until", Some(*ends_at), None, end_text.clone())
        }
        Some(Countdown::Evergreen { minutes, end_text }) => {
            ("evergreen", None, Some(*minutes), end_text.clone())
        }
    };
    f.set("countdown.type", kind);
    f.set("countdown.ends_at", date_text(ends_at));
    f.set(
        "countdown.minutes",
        minutes
            .map(|m| m.to_string())
            .unwrap_or_else(|| "60".into()),
    );
    f.set("countdown.end_text", end_text.unwrap_or_default());
}

/// A variant's translations as the form's text: one `tag.field = text` per line.
pub(super) fn content_fields(f: &mut Fields, c: &VariantContent) {
    let mut lines = Vec::new();
    for (tag, t) in &c.translations.0 {
        for (name, value) in [
            ("message", &t.message),
            ("button_label", &t.button_label),
            ("thanks_message", &t.thanks_message),
            ("countdown_end_text", &t.countdown_end_text),
        ] {
            if let Some(v) = value {
                lines.push(format!("{tag}.{name} = {v}"));
            }
        }
    }
    f.set("translations", lines.join("\n"));
}

fn whole<T: std::str::FromStr>(
    f: &Fields,
    name: &'static str,
    what: &str,
) -> Result<Option<T>, Invalid> {
    match f.text(name) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Invalid::new(name, what.to_string())),
    }
}

fn range(f: &Fields, min: &'static str, max: &'static str) -> Result<Option<Between>, Invalid> {
    let what = "a whole number, or empty";
    Ok(Some(Between {
        min: whole(f, min, what)?,
        max: whole(f, max, what)?,
    }))
}

fn words(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `name=value` lines; a line without `=` is a name alone.
fn pairs(raw: &str) -> Vec<(String, Option<String>)> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None => (l.to_string(), None),
        })
        .collect()
}

/// Fills the audience rules of `t` from the form.
pub(super) fn targeting_fields(f: &Fields, t: &mut Targeting) -> Result<(), Invalid> {
    t.visitor = choice(
        "targeting.visitor",
        f.text("targeting.visitor").unwrap_or("any"),
    )?;
    t.visit_number = range(
        f,
        "targeting.visit_number.min",
        "targeting.visit_number.max",
    )?;
    t.days_since_last_visit = range(
        f,
        "targeting.days_since_last_visit.min",
        "targeting.days_since_last_visit.max",
    )?;
    t.pages_this_visit = range(
        f,
        "targeting.pages_this_visit.min",
        "targeting.pages_this_visit.max",
    )?;
    t.languages_include = words(f.get("targeting.languages_include"));
    t.languages_exclude = words(f.get("targeting.languages_exclude"));
    t.weekdays = WEEKDAYS
        .iter()
        .filter(|(_, name, _)| f.ticked(&format!("targeting.weekdays.{name}")))
        .map(|(day, _, _)| *day)
        .collect();
    t.hours = match (f.text("targeting.hours.from"), f.text("targeting.hours.to")) {
        (None, None) => None,
        (from, to) => Some(Hours {
            from: from.unwrap_or("00:00").to_string(),
            to: to.unwrap_or("24:00").to_string(),
        }),
    };
    t.time_zone = f.text("targeting.time_zone").map(str::to_string);
    t.query = pairs(f.get("targeting.query"))
        .into_iter()
        .map(|(name, value)| QueryRule { name, value })
        .collect();
    t.page_values = pairs(f.get("targeting.page_values"))
        .into_iter()
        .map(|(key, value)| {
            value
                .map(|value| PageValue {
                    key: key.clone(),
                    value,
                })
                .ok_or_else(|| {
                    Invalid::new(
                        "targeting.page_values",
                        format!("`{key}` needs a value: one key=value per line"),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    t.countries_include = words(f.get("targeting.countries_include"));
    t.countries_exclude = words(f.get("targeting.countries_exclude"));
    Ok(())
}

/// Fills the extra frequency caps of `q` from the form.
pub(super) fn frequency_fields(f: &Fields, q: &mut Frequency) -> Result<(), Invalid> {
    q.once_per_visit = f.ticked("frequency.once_per_visit");
    q.max_views = whole(
        f,
        "frequency.max_views",
        "a whole number of times (1 to 1000), or empty for no limit",
    )?;
    q.every_nth_page = whole(
        f,
        "frequency.every_nth_page",
        "a whole number (2 to 100), or empty for every page view",
    )?;
    Ok(())
}

/// The countdown as the form describes it (`None`: no countdown).
pub(super) fn countdown_field(f: &Fields) -> Result<Option<Countdown>, Invalid> {
    let end_text = f.text("countdown.end_text").map(str::to_string);
    match f.get("countdown.type") {
        "" | "none" => Ok(None),
        "until" => {
            let ends_at = date_field(f, "countdown.ends_at")?.ok_or_else(|| {
                Invalid::new("countdown.ends_at", "when the countdown ends (UTC)")
            })?;
            Ok(Some(Countdown::Until { ends_at, end_text }))
        }
        "evergreen" => Ok(Some(Countdown::Evergreen {
            minutes: whole(
                f,
                "countdown.minutes",
                "a whole number of minutes from the visitor's first view",
            )?
            .ok_or_else(|| Invalid::new("countdown.minutes", "how many minutes it runs"))?,
            end_text,
        })),
        other => Err(Invalid::new(
            "countdown.type",
            format!("`{other}` is not none, until or evergreen"),
        )),
    }
}

/// The translations from the form's `tag.field = text` lines.
pub(super) fn translations_field(f: &Fields) -> Result<Translations, Invalid> {
    let mut out = Translations::default();
    for line in f.get("translations").lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let refuse = || {
            Invalid::new(
                "translations",
                format!("`{line}` is not a line such as de.message = Hallo"),
            )
        };
        let (key, text) = line.split_once('=').ok_or_else(refuse)?;
        let (tag, field) = key.trim().rsplit_once('.').ok_or_else(refuse)?;
        let t: &mut Translation = out.0.entry(tag.trim().to_string()).or_default();
        let slot = match field.trim() {
            "message" => &mut t.message,
            "button_label" => &mut t.button_label,
            "thanks_message" => &mut t.thanks_message,
            "countdown_end_text" => &mut t.countdown_end_text,
            _ => return Err(refuse()),
        };
        *slot = Some(text.trim().to_string());
    }
    Ok(out)
}
