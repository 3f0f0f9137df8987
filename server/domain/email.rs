use std::fmt;

use super::Invalid;

/// A syntactically valid email address, trimmed and lower-cased so that one mailbox
/// maps to one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() {
            return Err(Invalid::new("email", "an email address is required"));
        }
        if v.len() > 254 {
            return Err(Invalid::new("email", "that email address is too long"));
        }
        let address: lettre::Address = v
            .parse()
            .map_err(|_| Invalid::new("email", "that is not a valid email address"))?;
        // A domain without a dot cannot receive mail from the internet.
        if !address.domain().contains('.') {
            return Err(Invalid::new("email", "that is not a valid email address"));
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn rejects_what_cannot_receive_mail() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
