//! Site goals: what a site counts as a visit that went somewhere (a thank-you page reached
//! later in the visit, or a purchase the page reports), compared between visitors who saw a
//! bar and visitors held out of it.

use super::Invalid;

/// Goals per site.
pub const MAX_GOALS: usize = 20;
/// The largest value one goal report may carry (in the site's own currency units).
pub const MAX_VALUE_CENTS: i64 = 100_000_000;

/// A goal's name as the page calls it: `barkeep.goal("purchase", 49.90)`.
pub fn name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let fits = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fits {
        Ok(name.to_string())
    } else {
        Err(Invalid::new(
            "name",
            "a goal's name is 1 to 40 lowercase letters, digits, - or _ (such as purchase or signup)",
        ))
    }
}

/// A path pattern such as `/thanks*` (the whole path; `*` is any run of characters), or
/// none: the page then reports the goal by calling it.
pub fn path(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(p) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if !p.starts_with('/')
        || p.len() > 200
        || p.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid::new(
            "path",
            format!("`{p}` is not a path pattern such as /thanks* (it must start with /)"),
        ));
    }
    Ok(Some(p.to_string()))
}

/// A goal's value as the runtime sends it (a number of currency units), in hundredths;
/// `None` for anything that is not a finite amount from 0 to 1,000,000.
pub fn value_cents(v: f64) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let cents = (v * 100.0).round();
    (cents <= MAX_VALUE_CENTS as f64).then_some(cents as i64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn names_paths_and_values() {
        assert_eq!(name(" purchase ").unwrap(), "purchase");
        assert!(name("Purchase").is_err());
        assert!(name("").is_err());
        assert!(name(&"a".repeat(41)).is_err());
        assert_eq!(path(Some("/thanks*")).unwrap().as_deref(), Some("/thanks*"));
        assert_eq!(path(Some("  ")).unwrap(), None);
        assert!(path(Some("thanks")).is_err());
        assert!(path(Some("/a b")).is_err());
        assert_eq!(value_cents(49.904), Some(4990));
        assert_eq!(value_cents(0.0), Some(0));
        assert_eq!(value_cents(-1.0), None);
        assert_eq!(value_cents(f64::NAN), None);
        assert_eq!(value_cents(f64::INFINITY), None);
        assert_eq!(value_cents(1e6), Some(MAX_VALUE_CENTS));
        assert_eq!(value_cents(1e6 + 1.0), None);
    }

    proptest! {
        #[test]
        fn any_text_is_a_name_or_an_error(s in any::<String>()) {
            if let Ok(n) = name(&s) {
                prop_assert!(n.len() <= 40 && !n.is_empty());
            }
            if let Ok(Some(p)) = path(Some(&s)) {
                prop_assert!(p.starts_with('/'));
            }
        }

        #[test]
        fn any_number_is_a_value_or_none(v in any::<f64>()) {
            if let Some(c) = value_cents(v) {
                prop_assert!((0..=MAX_VALUE_CENTS).contains(&c));
            }
        }
    }
}
