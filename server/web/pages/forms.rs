//! Forms as the pages read them: the fields of a urlencoded body, and the refusals the
//! subsystems give, turned into messages next to the field at fault (or above the form
//! when no one field is).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::{Error as ValueError, StrDeserializer};

use crate::domain::Invalid;
use crate::error::{Error, Result};

/// The field under which a refusal that names no field is shown: above the form.
pub(super) const FORM: &str = "_form";

/// The fields of a form, by name (a repeated name keeps its last value).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(transparent)]
pub(super) struct Fields(pub HashMap<String, String>);

impl Fields {
    pub(super) fn parse(body: &[u8]) -> Result<Fields> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            Error::bad_request("invalid_form", format!("the form could not be read: {e}"))
        })?;
        Ok(Fields(pairs.into_iter().collect()))
    }

    pub(super) fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// A text field, trimmed; `None` when empty.
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// A checkbox: present when ticked.
    pub(super) fn ticked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub(super) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_string(), value.into());
    }
}

/// Messages by field name.
#[derive(Debug, Default, Serialize)]
#[serde(transparent)]
pub(super) struct Errors(pub BTreeMap<String, String>);

impl Errors {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A form page's status: 422 when it comes back with refusals.
    pub(super) fn status(&self) -> warp::http::StatusCode {
        if self.is_empty() {
            warp::http::StatusCode::OK
        } else {
            warp::http::StatusCode::UNPROCESSABLE_ENTITY
        }
    }

    pub(super) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// One refusal: a form can show it (a wrong field, a clash, a limit, a wrong
    /// password), or it is an error of the request (passed on).
    pub(super) fn of(err: Error) -> Result<Errors> {
        let mut errors = Errors::default();
        match err {
            Error::Invalid(invalid) => errors.add(&invalid.field, sentence(&invalid.message)),
            e @ (Error::Conflict { .. }
            | Error::Limit { .. }
            | Error::BadCredentials
            | Error::TooManyRequests { .. }
            | Error::Disabled { .. }
            | Error::Forbidden { .. }) => errors.add(FORM, sentence(&e.to_string())),
            other => return Err(other),
        }
        Ok(errors)
    }
}

/// How a date and time (UTC) is written in a form's `datetime-local` field.
pub(super) const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M";

/// An option's word as the API spells it (`push_down`, `returning`).
pub(super) fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One of a field's options (`goal=email`, `targeting.device=mobile`), read by the
/// option type's own serde names and refused as the API refuses an unknown one.
pub(super) fn choice<T: DeserializeOwned>(name: &'static str, raw: &str) -> Result<T, Invalid> {
    T::deserialize(StrDeserializer::<ValueError>::new(raw))
        .map_err(|e| Invalid::new(name, e.to_string()))
}

/// A date and time as a form field shows it; empty for none.
pub(super) fn date_text(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.format(DATE_FORMAT).to_string())
        .unwrap_or_default()
}

/// A `datetime-local` field, read as UTC; `None` when empty.
pub(super) fn date_field(f: &Fields, name: &'static str) -> Result<Option<DateTime<Utc>>, Invalid> {
    let Some(raw) = f.text(name) else {
        return Ok(None);
    };
    NaiveDateTime::parse_from_str(raw, DATE_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .map(|d| Some(d.and_utc()))
        .map_err(|_| Invalid::new(name, "a date and time such as 2026-12-24T09:00 (UTC)"))
}

/// Subsystem messages are written lower-case for JSON; a page shows them as sentences.
pub(super) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let mut s: String = first.to_uppercase().collect();
            s.push_str(chars.as_str());
            if !s.ends_with(['.', '!', '?']) {
                s.push('.');
            }
            s
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_refusals() {
        let f = Fields::parse(b"a=+x+&b=&c=on&a=y").unwrap();
        assert_eq!(f.get("a"), "y");
        assert_eq!(f.text("b"), None);
        assert!(f.ticked("c") && !f.ticked("d"));
        let e = Errors::of(Error::invalid("message", "must not be empty")).unwrap();
        assert_eq!(e.0["message"], "Must not be empty.");
        let e = Errors::of(Error::conflict("x", "that already exists")).unwrap();
        assert_eq!(e.0[FORM], "That already exists.");
        assert!(Errors::of(Error::NotFound).is_err());
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

    use super::super::bars::{Part, bar_input};

    /// The editor's own field names, and names no form has (dots, brackets, empty parts).
    const NAMES: &[&str] = &[
        "name",
        "goal",
        "placement",
        "display",
        "sticky",
        "closable",
        "powered_by",
        "targeting.paths_include",
        "targeting.paths_exclude",
        "targeting.device",
        "targeting.starts_at",
        "targeting.ends_at",
        "targeting.referrer_domain",
        "targeting.utm_source",
        "targeting.utm_campaign",
        "trigger.type",
        "trigger.seconds",
        "trigger.percent",
        "frequency.after_dismiss_days",
        "frequency.after_conversion_days",
        "message",
        "button_label",
        "link_url",
        "thanks_message",
        "background_color",
        "text_color",
        "button_color",
        "button_text_color",
        "weight",
        "csrf",
        "",
        ".",
        "..",
        "targeting.",
        ".goal",
        "targeting..device",
        "targeting[device]",
        "a[]",
        "trigger.type.x",
        "__proto__",
    ];

    /// Values the editor sends, and values it never does.
    const VALUES: &[&str] = &[
        "link",
        "email",
        "announcement",
        "call",
        "top",
        "bottom",
        "overlay",
        "push_down",
        "on",
        "immediate",
        "delay",
        "scroll",
        "exit_intent",
        "forever",
        "FOREVER",
        "7",
        "0",
        "600",
        "601",
        "3650",
        "3651",
        "65536",
        "-1",
        "1e3",
        " 5 ",
        "2026-12-24T09:00",
        "2026-12-24T09:00:00",
        "+262143-12-31T23:59",
        "-262144-01-01T00:00",
        "9999-12-31T23:59",
        "/blog/*\n/shop",
        "/a\r\n\r\n/b",
        "#1f2937",
        "#fff",
        "#000",
        "#facc15",
        "#111827",
        "https://shop.example/sale",
        "tel:+15551234567",
        "Free shipping",
        "any",
        "mobile",
        "news.example",
        "%2a.example",
        "",
    ];

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(NAMES.to_vec()).prop_map(String::from),
            1 => hostile(),
            1 => "[a-z.\\[\\]_]{0,20}",
        ]
    }

    fn field_value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(VALUES.to_vec()).prop_map(String::from),
            2 => hostile(),
        ]
    }

    fn form_body(pairs: &[(String, String)]) -> String {
        let mut form = ::url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            form.append_pair(name, value);
        }
        form.finish()
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_the_form_reader(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..1024),
                hostile().prop_map(String::into_bytes),
                "([a-z%+=&.\\[\\]]{0,10}(=[a-z%+0-9A-F]{0,10})?&?){0,10}".prop_map(String::into_bytes),
            ],
            name in field_name(),
        ) {
            if let Ok(f) = Fields::parse(&body) {
                let _ = (f.get(&name), f.ticked(&name));
                if let Some(t) = f.text(&name) {
                    prop_assert!(!t.is_empty() && t == t.trim(), "{:?}", t);
                }
                for part in [Part::New, Part::Whole, Part::Settings, Part::Variant] {
                    let _ = bar_input(&f, part);
                }
            }
        }

        #[test]
        fn forms_read_back_with_the_last_value_of_each_name(
            pairs in proptest::collection::vec((field_name(), field_value()), 0..16),
        ) {
            let body = form_body(&pairs);
            let f = Fields::parse(body.as_bytes());
            prop_assert!(f.is_ok(), "{:?} could not be read", body);
            let f = f.ok().unwrap_or_default();
            for (name, _) in &pairs {
                let last = pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                prop_assert_eq!(Some(f.get(name)), last);
                prop_assert!(f.ticked(name));
            }
            prop_assert!(f.0.len() <= pairs.len());
        }

        #[test]
        fn arbitrary_editor_forms_never_panic_and_each_part_carries_only_its_fields(
            pairs in proptest::collection::vec((field_name(), field_value()), 0..40),
        ) {
            let body = form_body(&pairs);
            let Ok(f) = Fields::parse(body.as_bytes()) else {
                return Ok(());
            };
            for part in [Part::New, Part::Whole, Part::Settings, Part::Variant] {
                let Ok(input) = bar_input(&f, part) else {
                    continue;
                };
                let settings = matches!(part, Part::New | Part::Whole | Part::Settings);
                let content = matches!(part, Part::New | Part::Whole | Part::Variant);
                prop_assert_eq!(input.targeting.is_some(), settings, "{:?}", part);
                prop_assert_eq!(input.trigger.is_some(), settings, "{:?}", part);
                prop_assert_eq!(input.frequency.is_some(), settings, "{:?}", part);
                prop_assert_eq!(input.message.is_some(), content, "{:?}", part);
                if let Some(t) = &input.targeting {
                    prop_assert!(
                        t.paths_include
                            .iter()
                            .chain(&t.paths_exclude)
                            .all(|p| !p.is_empty() && p.as_str() == p.trim() && !p.contains('\n')),
                        "{:?}",
                        t
                    );
                }
            }
        }

        #[test]
        fn sentences_start_upper_case_end_with_a_stop_and_stay_as_they_are(message in hostile()) {
            let s = sentence(&message);
            if message.is_empty() {
                prop_assert_eq!(s, "");
            } else {
                prop_assert!(s.ends_with(['.', '!', '?']), "{:?}", s);
                let rest = &message[message.chars().next().map_or(0, char::len_utf8)..];
                prop_assert!(s.contains(rest), "{:?} lost text of {:?}", s, message);
                prop_assert_eq!(sentence(&s), s.clone(), "not idempotent");
            }
        }

        #[test]
        fn refusals_with_arbitrary_fields_and_messages_never_panic(
            field in hostile(),
            message in hostile(),
        ) {
            let errors = Errors::of(Error::invalid(field.clone(), message.clone()));
            prop_assert!(errors.is_ok());
            let errors = errors.ok().unwrap_or_default();
            let shown = sentence(&message);
            prop_assert_eq!(errors.0.get(&field), Some(&shown));
            prop_assert_eq!(errors.status(), warp::http::StatusCode::UNPROCESSABLE_ENTITY);
            let errors = Errors::of(Error::conflict("x", message.clone()));
            prop_assert!(errors.is_ok_and(|e| e.0.contains_key(FORM)));
        }
    }
}
