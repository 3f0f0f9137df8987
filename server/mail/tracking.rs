//! Opens and clicks of email to members. At send time the HTML part's links become
//! signed redirects and an open pixel is added (the text part is left as written). A
//! click leads only to the link the email itself carried, by its position, so the
//! redirect can never be pointed elsewhere. Opens and clicks that come within seconds of
//! delivery, as HEAD requests, from image proxies, Apple's Mail Privacy Protection or
//! known scanners are recorded as machine events, apart from what people did. The
//! operator can switch all of it off (`BARKEEP_MAIL_TRACKING=off`).

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use super::links::{Links, Tracked};
use crate::clock::Clock;
use crate::db::Db;
use crate::db::entities::email_event::EmailEventKind;
use crate::db::outbox as q;

/// Opens and clicks this soon after delivery are a scanner's, not a person's.
pub const MACHINE_WINDOW_SECS: i64 = 10;

static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"href="(https?://[^"]+)""#).unwrap_or_else(|e| unreachable!("{e}"))
});

/// User agents of image proxies and link scanners that fetch on the reader's behalf.
const MACHINE_AGENTS: [&str; 14] = [
    "googleimageproxy",
    "ggpht.com",
    "yahoomailproxy",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "messagelabs",
    "trendmicro",
    "forcepoint",
    "zscaler",
    "fireeye",
    "safelinks",
    "microsoft office protection",
];

/// Rewrites the links of `html` into click redirects (all but the unsubscribe link)
/// and adds the open pixel. Returns the HTML and the links, in the order of their
/// indexes.
pub fn instrument(html: &str, outbox: i64, links: &Links) -> (String, Vec<String>) {
    let keep = format!("{}/unsubscribe", links.base_url());
    let mut found: Vec<String> = Vec::new();
    let rewritten = HREF.replace_all(html, |caps: &regex::Captures<'_>| {
        let escaped = &caps[1];
        let url = escaped.replace("&amp;", "&");
        if url.starts_with(&keep) {
            return caps[0].to_string();
        }
        let index = match found.iter().position(|u| *u == url) {
            Some(i) => i,
            None => {
                found.push(url);
                found.len() - 1
            }
        };
        let Ok(index) = u16::try_from(index) else {
            return caps[0].to_string();
        };
        format!("href=\"{}\"", links.click_url(outbox, index))
    });
    let pixel = format!(
        "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">",
        links.open_url(outbox)
    );
    let html = match rewritten.rfind("</body>") {
        Some(at) => format!("{}{pixel}{}", &rewritten[..at], &rewritten[at..]),
        None => format!("{rewritten}{pixel}"),
    };
    (html, found)
}

/// What is known of whoever fetched a tracking link.
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
    pub head: bool,
    /// The user agent is on barkeep's bot list.
    pub bot: bool,
}

/// Why a fetch is a machine's, if it is.
pub fn machine_reason(
    fetch: &Fetch,
    sent_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if fetch.head {
        return Some("a HEAD request");
    }
    if sent_at.is_some_and(|s| now - s < Duration::seconds(MACHINE_WINDOW_SECS)) {
        return Some("within seconds of delivery");
    }
    let ua = fetch
        .user_agent
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    if ua.is_empty() {
        return Some("no user agent");
    }
    if MACHINE_AGENTS.iter().any(|m| ua.contains(m)) {
        return Some("an image proxy or link scanner");
    }
    // Apple's Mail Privacy Protection fetches every image from Apple's own network.
    if let Some(IpAddr::V4(ip)) = fetch.ip
        && ip.octets()[0] == 17
    {
        return Some("Apple Mail Privacy Protection");
    }
    if fetch.bot {
        return Some("a bot");
    }
    None
}

#[derive(Clone)]
pub struct Tracker {
    db: Db,
    clock: Clock,
    links: Arc<Links>,
    pub enabled: bool,
}

impl Tracker {
    pub fn new(db: Db, clock: Clock, links: Arc<Links>, enabled: bool) -> Tracker {
        Tracker {
            db,
            clock,
            links,
            enabled,
        }
    }

    /// Records an open. Never fails outward: the pixel is answered whatever happens.
    pub async fn open(&self, token: &str, fetch: &Fetch) {
        let Some(Tracked::Open { outbox }) = self.links.parse_tracking(token) else {
            return;
        };
        if !self.enabled {
            return;
        }
        if let Err(err) = self.record(outbox, EmailEventKind::Open, None, fetch).await {
            tracing::warn!(outbox_id = outbox, error = %err, "could not record an open");
        }
    }

    /// Records a click and answers where it leads; `None` for a token that is not one
    /// of barkeep's, or a link the email did not carry.
    pub async fn click(&self, token: &str, fetch: &Fetch) -> Option<String> {
        let Some(Tracked::Click { outbox, link }) = self.links.parse_tracking(token) else {
            return None;
        };
        let row = match q::sent_links(&self.db, outbox).await {
            Ok(row) => row,
            Err(err) => {
                tracing::warn!(outbox_id = outbox, error = %err, "could not read a sent email's links");
                return None;
            }
        };
        let url = row
            .as_deref()
            .and_then(|links| serde_json::from_str::<Vec<String>>(links).ok())
            .and_then(|links| links.get(usize::from(link)).cloned())?;
        if self.enabled
            && let Err(err) = self
                .record(outbox, EmailEventKind::Click, Some(i32::from(link)), fetch)
                .await
        {
            tracing::warn!(outbox_id = outbox, error = %err, "could not record a click");
        }
        Some(url)
    }

    async fn record(
        &self,
        outbox: i64,
        kind: EmailEventKind,
        link: Option<i32>,
        fetch: &Fetch,
    ) -> anyhow::Result<()> {
        let now = self.clock.now();
        let sent_at = q::sent_at(&self.db, outbox).await?;
        let reason = machine_reason(fetch, sent_at, now);
        q::insert_event(&self.db, outbox, kind, link, reason.is_some(), reason, now).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_redirects_by_position_and_the_pixel_closes_the_body() {
        let links = Links::new(
            b"a secret of at least thirty-two bytes!",
            "https://b.example",
        );
        let html = r#"<html><body><a href="https://x.example/a?b=1&amp;c=2">A</a> <a href="https://y.example/">B</a> <a href="https://x.example/a?b=1&amp;c=2">A again</a> <a href="https://b.example/unsubscribe?t=abc">Unsubscribe</a> <a href="mailto:x@y.z">mail</a></body></html>"#;
        let (out, found) = instrument(html, 5, &links);
        assert_eq!(found, ["https://x.example/a?b=1&c=2", "https://y.example/"]);
        assert!(out.contains(&links.click_url(5, 0)));
        assert!(out.contains(&links.click_url(5, 1)));
        assert!(!out.contains("https://x.example/a"));
        assert!(
            out.contains("https://b.example/unsubscribe?t=abc"),
            "left alone"
        );
        assert!(out.contains("mailto:x@y.z"));
        assert!(out.contains(&format!("{}\"", links.open_url(5))));
        assert!(out.ends_with("</body></html>"));
    }

    #[test]
    fn machines_are_told_from_people() {
        let sent: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let later = sent + Duration::minutes(5);
        let person = Fetch {
            user_agent: Some("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15".into()),
            ip: Some("203.0.113.9".parse().unwrap()),
            ..Fetch::default()
        };
        assert_eq!(machine_reason(&person, Some(sent), later), None);
        assert!(machine_reason(&person, Some(sent), sent + Duration::seconds(3)).is_some());
        let apple = Fetch {
            ip: Some("17.58.0.1".parse().unwrap()),
            ..person.clone()
        };
        assert_eq!(
            machine_reason(&apple, Some(sent), later),
            Some("Apple Mail Privacy Protection")
        );
        let proxy = Fetch {
            user_agent: Some("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)".into()),
            ..person.clone()
        };
        assert!(machine_reason(&proxy, Some(sent), later).is_some());
        let head = Fetch {
            head: true,
            ..person.clone()
        };
        assert!(machine_reason(&head, Some(sent), later).is_some());
        let bot = Fetch {
            bot: true,
            ..person
        };
        assert_eq!(machine_reason(&bot, Some(sent), later), Some("a bot"));
    }
}
