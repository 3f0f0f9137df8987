//! Forms as the pages read them: the fields of a urlencoded body, and the refusals the
//! subsystems give, turned into messages next to the field at fault (or above the form
//! when no one field is).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::{Error, Result};

/// The field under which a refusal that names no field is shown: above the form.
pub const FORM: &str = "_form";

/// The fields of a form, by name (a repeated name keeps its last value).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(transparent)]
pub struct Fields(pub HashMap<String, String>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Fields> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
            Error::bad_request("invalid_form", format!("the form could not be read: {e}"))
        })?;
        Ok(Fields(pairs.into_iter().collect()))
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// A text field, trimmed; `None` when empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// A checkbox: present when ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_string(), value.into());
    }
}

/// Messages by field name.
#[derive(Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Errors(pub BTreeMap<String, String>);

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A form page's status: 422 when it comes back with refusals.
    pub fn status(&self) -> warp::http::StatusCode {
        if self.is_empty() {
            warp::http::StatusCode::OK
        } else {
            warp::http::StatusCode::UNPROCESSABLE_ENTITY
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// One refusal: a form can show it (a wrong field, a clash, a limit, a wrong
    /// password), or it is an error of the request (passed on).
    pub fn of(err: Error) -> Result<Errors> {
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

/// Subsystem messages are written lower-case for JSON; a page shows them as sentences.
pub fn sentence(message: &str) -> String {
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
}
