use std::fmt;

use super::Invalid;

/// A link a bar may open: `http(s)://` for a link goal, `tel:` for a call goal. Nothing
/// else (no `javascript:`, no `data:`) can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeUrl(String);

impl SafeUrl {
    pub fn parse_web(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let url = url::Url::parse(v).map_err(|_| {
            Invalid::new(
                field,
                format!("`{v}` is not a URL such as https://example.com/sale"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new(
                field,
                "the link must start with https:// or http://",
            ));
        }
        if v.len() > 2000 {
            return Err(Invalid::new(
                field,
                "the link is longer than 2000 characters",
            ));
        }
        Ok(SafeUrl(url.to_string()))
    }

    pub fn parse_tel(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let number = v.strip_prefix("tel:").ok_or_else(|| {
            Invalid::new(
                field,
                "a call bar's link must be a tel: link such as tel:+15551234567",
            )
        })?;
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let allowed = number
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.() ".contains(c));
        if !allowed || !(3..=20).contains(&digits) {
            return Err(Invalid::new(field, format!("`{v}` is not a phone number")));
        }
        Ok(SafeUrl(format!("tel:{}", number.replace(' ', ""))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_and_phone_links() {
        assert_eq!(
            SafeUrl::parse_web("https://shop.example/sale", "l")
                .unwrap()
                .as_str(),
            "https://shop.example/sale"
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x.example",
            "/relative",
            "https://",
            "tel:+1555",
        ] {
            assert!(SafeUrl::parse_web(bad, "l").is_err(), "{bad}");
        }
        assert_eq!(
            SafeUrl::parse_tel("tel:+1 555 123 4567", "l")
                .unwrap()
                .as_str(),
            "tel:+15551234567"
        );
        for bad in ["+15551234567", "tel:call-me", "tel:12", "https://x.example"] {
            assert!(SafeUrl::parse_tel(bad, "l").is_err(), "{bad}");
        }
    }
}
