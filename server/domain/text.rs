//! Short text a person types: names and labels (a site's, a bar's, a token's, a member's
//! own), one line each. Every such field is checked here, by one rule: trimmed, not
//! empty, at most so many characters, no control character (so no line break).

use std::borrow::Cow;

use super::Invalid;

/// Why a line of text breaks the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing is left once trimmed.
    Empty,
    /// More characters than allowed.
    TooLong,
    /// A control character: a line break, a tab, a NUL, ….
    NotOneLine,
}

impl Fault {
    /// What to tell the person, for a field of at most `max` characters.
    pub fn message(self, max: usize) -> String {
        match self {
            Fault::Empty => "must not be empty".into(),
            Fault::TooLong => format!("at most {max} characters"),
            Fault::NotOneLine => "must be a single line of text".into(),
        }
    }
}

/// `raw` trimmed, if it is 1 to `max` characters with no control character.
pub fn line(raw: &str, max: usize) -> Result<&str, Fault> {
    let v = raw.trim();
    if v.is_empty() {
        Err(Fault::Empty)
    } else if v.chars().count() > max {
        Err(Fault::TooLong)
    } else if v.chars().any(char::is_control) {
        Err(Fault::NotOneLine)
    } else {
        Ok(v)
    }
}

/// A name or label for `field`, trimmed, as [`line`] checks it; `message` says what is
/// wanted, whatever the fault ("give the site a name of 1 to 100 characters").
pub fn name(
    field: impl Into<Cow<'static, str>>,
    raw: &str,
    max: usize,
    message: &str,
) -> Result<String, Invalid> {
    line(raw, max)
        .map(str::to_string)
        .map_err(|_| Invalid::new(field, message))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_fault_is_told() {
        assert_eq!(line("  Shop  ", 100), Ok("Shop"));
        assert_eq!(line(" \t ", 100), Err(Fault::Empty));
        assert_eq!(line("abcd", 3), Err(Fault::TooLong));
        assert_eq!(line("é€😀", 3), Ok("é€😀"), "characters, not bytes");
        assert_eq!(line("two\nlines", 100), Err(Fault::NotOneLine));
        assert_eq!(line("nul\u{0}", 100), Err(Fault::NotOneLine));
        assert_eq!(
            line("bidi\u{202e}", 100),
            Ok("bidi\u{202e}"),
            "format, not control"
        );
        assert_eq!(
            Fault::NotOneLine.message(9),
            "must be a single line of text"
        );
        assert_eq!(Fault::TooLong.message(9), "at most 9 characters");
        assert_eq!(
            name("name", " Shop ", 100, "a name"),
            Ok("Shop".to_string())
        );
        let e = name("name", "a\u{7}b", 100, "give the site a name").unwrap_err();
        assert_eq!(
            (e.field.as_ref(), e.message.as_str()),
            ("name", "give the site a name")
        );
    }

    proptest! {
        /// What `line` lets through keeps the rule, is what it was given trimmed, and
        /// passes again unchanged; what it refuses breaks the rule in the way it says.
        #[test]
        fn line_keeps_the_rule(raw in any::<String>(), max in 1usize..120) {
            let trimmed = raw.trim();
            let count = trimmed.chars().count();
            let control = trimmed.chars().any(char::is_control);
            match line(&raw, max) {
                Ok(v) => {
                    prop_assert_eq!(v, trimmed);
                    prop_assert!(!v.is_empty() && count <= max && !control);
                    prop_assert_eq!(line(v, max), Ok(v));
                }
                Err(Fault::Empty) => prop_assert!(trimmed.is_empty()),
                Err(Fault::TooLong) => prop_assert!(count > max),
                Err(Fault::NotOneLine) => prop_assert!(count <= max && control),
            }
        }

        /// Text of printable characters within the limit always passes.
        #[test]
        fn printable_text_passes(v in "[^\\p{Cc}\\s][^\\p{Cc}]{0,58}[^\\p{Cc}\\s]") {
            prop_assert_eq!(line(&v, 60), Ok(v.as_str()));
        }
    }
}
