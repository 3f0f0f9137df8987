//! A variant's texts in other languages. The visitor's first language that has a
//! translation wins, text by text; what a translation leaves out falls back to the
//! variant's own text.

use std::collections::BTreeMap;

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Invalid;
use super::audience::language_tag;
use super::text::{self, Fault};

/// The texts of one language; each is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Translation {
    pub message: Option<String>,
    pub button_label: Option<String>,
    pub thanks_message: Option<String>,
    /// Replaces the countdown's end text.
    pub countdown_end_text: Option<String>,
}

/// Translations by language tag (`de`, `pt-BR`: stored lowercased).
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, FromJsonQueryResult,
)]
#[serde(transparent)]
pub struct Translations(pub BTreeMap<String, Translation>);

pub const MAX_LANGUAGES: usize = 30;

fn line(value: Option<String>, field: String, max: usize) -> Result<Option<String>, Invalid> {
    match value.as_deref().map(|v| text::line(v, max)) {
        None | Some(Err(Fault::Empty)) => Ok(None),
        Some(Ok(v)) => Ok(Some(v.to_string())),
        Some(Err(f)) => Err(Invalid::new(field, f.message(max))),
    }
}

impl Translations {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks every language tag and text (the same lengths as the variant's own), and
    /// drops languages left without any text.
    pub fn check(self) -> Result<Translations, Invalid> {
        if self.0.len() > MAX_LANGUAGES {
            return Err(Invalid::new(
                "translations",
                format!("at most {MAX_LANGUAGES} languages"),
            ));
        }
        let mut out = BTreeMap::new();
        for (raw, t) in self.0 {
            let tag = language_tag(&raw).ok_or_else(|| {
                Invalid::new(
                    "translations",
                    format!("`{raw}` is not a language tag such as de or pt-BR"),
                )
            })?;
            let f = |name: &str| format!("translations.{tag}.{name}");
            let t = Translation {
                message: line(t.message, f("message"), 300)?,
                button_label: line(t.button_label, f("button_label"), 40)?,
                thanks_message: line(t.thanks_message, f("thanks_message"), 200)?,
                countdown_end_text: line(t.countdown_end_text, f("countdown_end_text"), 200)?,
            };
            if t != Translation::default() && out.insert(tag.clone(), t).is_some() {
                return Err(Invalid::new(
                    "translations",
                    format!("`{tag}` is given twice"),
                ));
            }
        }
        Ok(Translations(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_lowercased_and_empty_languages_dropped() {
        let t: Translations = serde_json::from_str(
            r#"{"pt-BR": {"message": " Olá "}, "de": {}, "fr": {"button_label": "Go"}}"#,
        )
        .unwrap();
        let t = t.check().unwrap();
        assert_eq!(t.0.keys().collect::<Vec<_>>(), ["fr", "pt-br"]);
        assert_eq!(t.0["pt-br"].message.as_deref(), Some("Olá"));
        let twice: Translations =
            serde_json::from_str(r#"{"DE": {"message": "a"}, "de": {"message": "b"}}"#).unwrap();
        assert!(twice.check().is_err());
        let long: Translations =
            serde_json::from_value(serde_json::json!({"de": {"button_label": "x".repeat(41)}}))
                .unwrap();
        assert_eq!(
            long.check().unwrap_err().field,
            "translations.de.button_label"
        );
    }

    proptest! {
        #[test]
        fn any_text_is_checked_without_panicking(tag in any::<String>(), s in any::<String>()) {
            let mut m = BTreeMap::new();
            m.insert(tag, Translation { message: Some(s.clone()), button_label: Some(s.clone()), thanks_message: Some(s.clone()), countdown_end_text: Some(s) });
            let _ = Translations(m).check();
        }
    }
}
