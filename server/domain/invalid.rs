use std::borrow::Cow;

/// A value that breaks a rule, with the field it came from and a message a person can
/// act on. The web layer shows it as a 422 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: Cow<'static, str>,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The field JSON of the wrong shape went wrong at, as a dotted path (`targeting.starts_at`,
/// `highlights[2]`); `None` for the value as a whole. The path is the one
/// serde_path_to_error followed; a missing field's own name serde gives only in its
/// message, so it is read from there.
pub fn misfit_field(err: &serde_path_to_error::Error<serde_json::Error>) -> Option<String> {
    let path = err.path().to_string();
    let missing = err
        .inner()
        .to_string()
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    match (path.as_str(), missing) {
        (".", missing) => missing,
        (p, Some(missing)) => Some(format!("{p}.{missing}")),
        (p, None) => Some(p.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::misfit_field;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
        list: Option<Vec<String>>,
    }

    fn field(value: serde_json::Value) -> Option<String> {
        let err = serde_path_to_error::deserialize::<_, Outer>(&value).unwrap_err();
        misfit_field(&err)
    }

    #[test]
    fn names_the_field_that_does_not_fit() {
        assert_eq!(field(json!({})).as_deref(), Some("name"));
        assert_eq!(field(json!({"name": 5})).as_deref(), Some("name"));
        assert_eq!(
            field(json!({"name": "x", "colour": 1})).as_deref(),
            Some("colour")
        );
        assert_eq!(
            field(json!({"name": "x", "inner": {}})).as_deref(),
            Some("inner.a")
        );
        assert_eq!(
            field(json!({"name": "x", "inner": {"b": 1}})).as_deref(),
            Some("inner.b")
        );
        assert_eq!(
            field(json!({"name": "x", "list": ["a", 1]})).as_deref(),
            Some("list[1]")
        );
        assert_eq!(field(json!("text")), None);
    }
}
