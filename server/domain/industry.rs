use super::Invalid;

/// The industries a member can pick; benchmarks group accounts by these.
pub const INDUSTRIES: &[(&str, &str)] = &[
    ("agency", "Agency & consulting"),
    ("ecommerce", "E-commerce & retail"),
    ("education", "Education"),
    ("finance", "Finance & insurance"),
    ("food", "Food & hospitality"),
    ("health", "Health & wellness"),
    ("media", "Media & publishing"),
    ("nonprofit", "Non-profit"),
    ("real_estate", "Real estate"),
    ("saas", "Software & SaaS"),
    ("travel", "Travel"),
    ("other", "Other"),
];

/// One of [`INDUSTRIES`], by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Industry(&'static str);

impl Industry {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        INDUSTRIES
            .iter()
            .find(|(code, _)| *code == v)
            .map(|(code, _)| Industry(code))
            .ok_or_else(|| {
                let codes: Vec<&str> = INDUSTRIES.iter().map(|(c, _)| *c).collect();
                Invalid::new("industry", format!("must be one of: {}", codes.join(", ")))
            })
    }

    pub fn code(&self) -> &'static str {
        self.0
    }
}
