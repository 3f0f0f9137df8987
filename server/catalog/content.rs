//! A variant's content (message, button, link, colours, thank-you text) as requests send
//! it, as the database keeps it, and as defaults: written out once, here.

use sea_orm::ActiveValue::Set;

use crate::db::entities::variant;
use crate::domain::bar::{
    DEFAULT_BACKGROUND, DEFAULT_BUTTON, DEFAULT_BUTTON_TEXT, DEFAULT_TEXT, VariantContent,
};
use crate::domain::translation::Translations;

/// Declares a request body: the fields given, then the nine content fields of a
/// variant, all optional. (`flatten` would do it too, but serde does not allow it
/// together with `deny_unknown_fields`, which every request body has.)
macro_rules! with_content_fields {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// The bar's text, up to 300 characters.
            pub message: Option<String>,
            /// The button's text (up to 40 characters); `null` removes it.
            #[serde(default, deserialize_with = "crate::domain::present")]
            pub button_label: Option<Option<String>>,
            /// `https://…` for link bars, `tel:…` for call bars.
            #[serde(default, deserialize_with = "crate::domain::present")]
            pub link_url: Option<Option<String>>,
            pub background_color: Option<String>,
            pub text_color: Option<String>,
            pub button_color: Option<String>,
            pub button_text_color: Option<String>,
            /// Shown after an email bar's address was sent.
            #[serde(default, deserialize_with = "crate::domain::present")]
            pub thanks_message: Option<Option<String>>,
            /// The texts in other languages by language tag (`de`, `pt-BR`), each with
            /// any of `message`, `button_label`, `thanks_message`,
            /// `countdown_end_text`; replaces the variant's translations as a whole.
            pub translations: Option<$crate::domain::translation::Translations>,
        }

        impl $name {
            pub fn content(&self) -> $crate::catalog::ContentPatch<'_> {
                $crate::catalog::ContentPatch {
                    message: &self.message,
                    button_label: &self.button_label,
                    link_url: &self.link_url,
                    background_color: &self.background_color,
                    text_color: &self.text_color,
                    button_color: &self.button_color,
                    button_text_color: &self.button_text_color,
                    thanks_message: &self.thanks_message,
                    translations: &self.translations,
                }
            }
        }
    };
}
pub(crate) use with_content_fields;

/// The content fields a request set, borrowed from it.
pub struct ContentPatch<'a> {
    pub message: &'a Option<String>,
    pub button_label: &'a Option<Option<String>>,
    pub link_url: &'a Option<Option<String>>,
    pub background_color: &'a Option<String>,
    pub text_color: &'a Option<String>,
    pub button_color: &'a Option<String>,
    pub button_text_color: &'a Option<String>,
    pub thanks_message: &'a Option<Option<String>>,
    pub translations: &'a Option<Translations>,
}

impl ContentPatch<'_> {
    pub fn is_empty(&self) -> bool {
        self.message.is_none()
            && self.button_label.is_none()
            && self.link_url.is_none()
            && self.background_color.is_none()
            && self.text_color.is_none()
            && self.button_color.is_none()
            && self.button_text_color.is_none()
            && self.thanks_message.is_none()
            && self.translations.is_none()
    }

    pub fn apply(&self, mut c: VariantContent) -> VariantContent {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        set(&mut c.message, self.message);
        set(&mut c.button_label, self.button_label);
        set(&mut c.link_url, self.link_url);
        set(&mut c.background_color, self.background_color);
        set(&mut c.text_color, self.text_color);
        set(&mut c.button_color, self.button_color);
        set(&mut c.button_text_color, self.button_text_color);
        set(&mut c.thanks_message, self.thanks_message);
        set(&mut c.translations, self.translations);
        c
    }
}

/// What a new bar shows before anything is set.
pub fn default_content() -> VariantContent {
    VariantContent {
        message: String::new(),
        button_label: None,
        link_url: None,
        background_color: DEFAULT_BACKGROUND.into(),
        text_color: DEFAULT_TEXT.into(),
        button_color: DEFAULT_BUTTON.into(),
        button_text_color: DEFAULT_BUTTON_TEXT.into(),
        thanks_message: None,
        translations: Translations::default(),
    }
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
        translations: v.translations.clone(),
    }
}

pub(super) fn write_content(active: &mut variant::ActiveModel, c: VariantContent) {
    active.message = Set(c.message);
    active.button_label = Set(c.button_label);
    active.link_url = Set(c.link_url);
    active.background_color = Set(c.background_color);
    active.text_color = Set(c.text_color);
    active.button_color = Set(c.button_color);
    active.button_text_color = Set(c.button_text_color);
    active.thanks_message = Set(c.thanks_message);
    active.translations = Set(c.translations);
}
