use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use super::Invalid;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

pub const MIN_CHARS: usize = 10;
/// Hashing cost grows with length; nobody needs more than this.
pub const MAX_BYTES: usize = 1024;

/// A new password that meets the rules. Its value never prints.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a password a member chose. `email` is refused as a password.
    pub fn parse(raw: &str, field: &'static str, email: Option<&str>) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_CHARS {
            return Err(Invalid::new(
                field,
                format!("the password must be at least {MIN_CHARS} characters long"),
            ));
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(field, "the password is too long"));
        }
        let lower = raw.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err(Invalid::new(
                field,
                "that password is on a list of commonly used passwords; choose another",
            ));
        }
        if email.is_some_and(|e| e.eq_ignore_ascii_case(raw.trim())) {
            return Err(Invalid::new(
                field,
                "the password must not be your email address",
            ));
        }
        if raw.chars().all(|c| raw.starts_with(c)) {
            return Err(Invalid::new(
                field,
                "the password must not repeat one character",
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_and_common_list() {
        assert!(Password::parse("short", "password", None).is_err());
        assert!(Password::parse("1234567890", "password", None).is_err());
        assert!(Password::parse("QwertyUIOP", "password", None).is_err());
        assert!(Password::parse("aaaaaaaaaaaa", "password", None).is_err());
        assert!(Password::parse("ada@example.com", "password", Some("ada@example.com")).is_err());
        assert!(Password::parse("correct horse battery", "password", None).is_ok());
    }

    #[test]
    fn never_prints() {
        let p = Password::parse("correct horse battery", "password", None).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
