use base64::Engine;
use rand::RngCore;

/// The public, unguessable key in a site's script URL: 144 random bits, URL-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteKey(String);

impl SiteKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        SiteKey(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A key as it appears in a request path; `None` for anything that cannot be one.
    pub fn from_path(raw: &str) -> Option<Self> {
        let ok = (16..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| SiteKey(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_url_safe_and_distinct() {
        let a = SiteKey::generate();
        assert_eq!(a.as_str().len(), 24);
        assert_ne!(a, SiteKey::generate());
        assert_eq!(SiteKey::from_path(a.as_str()), Some(a));
        assert!(SiteKey::from_path("short").is_none());
        assert!(SiteKey::from_path("../../../etc/passwd/xx").is_none());
    }
}
