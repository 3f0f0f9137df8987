//! `POST /e` (views, clicks, dismissals, as `sendBeacon` sends them), `GET /e` (the same
//! as an image, for pages without beacons) and `POST /l` (leads). They answer at once
//! and never with a server error: counting happens in memory (`ingest`), and an event
//! that is not counted is still a 204 for the visitor, with the reason in metrics.

use std::net::SocketAddr;

use bytes::Bytes;
use ipnet::IpNet;
use serde::Deserialize;
use warp::Reply;
use warp::http::header::{self, HeaderName};
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

use crate::error::Error;
use crate::ingest::{Event, Ingest, Kind, Lead, Rejected, Visitor};
use crate::web::{error, extract};

/// An event is a few dozen bytes; a lead a little more.
pub(crate) const EVENT_LIMIT: usize = 1024;
pub(crate) const LEAD_LIMIT: usize = 2048;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// What the request says about the visitor; nothing of it outlives the request.
pub(crate) fn visitor<'a>(
    remote: Option<SocketAddr>,
    headers: &'a HeaderMap,
    trusted: &[IpNet],
) -> Visitor<'a> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    Visitor {
        ip: extract::client_ip(remote, headers, trusted),
        user_agent: text(header::USER_AGENT),
        // `Origin: null` (sandboxed frames) says nothing; fall back to Referer.
        origin_host: text(header::ORIGIN)
            .and_then(host_of)
            .or_else(|| text(header::REFERER).and_then(host_of)),
        privacy_header: text(HeaderName::from_static("dnt")) == Some("1")
            || text(HeaderName::from_static("sec-gpc")) == Some("1"),
    }
}

/// The host of an absolute URL (`https://shop.example:8443/x` → `shop.example`).
fn host_of(url: &str) -> Option<&str> {
    let colon = url.find(':')?;
    let rest = url[colon..].strip_prefix("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// `GET /e?d=…&k=…&h=…`: one event, answered with a transparent pixel.
pub(crate) fn pixel(ingest: &Ingest, visitor: Visitor<'_>, query: &str) -> Response {
    let outcome = serde_urlencoded::from_str::<RawEvent>(query)
        .unwrap_or_default()
        .event()
        .inspect_err(|_| ingest.not_counted_malformed())
        .map(|event| {
            let _ = ingest.record(event, visitor);
        });
    let mut pixel = Response::new(Bytes::from_static(PIXEL).into());
    pixel
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    answer(outcome, pixel)
}

/// `POST /l`: one email address left in an email bar, answered 204.
pub(crate) fn post_lead(
    ingest: &Ingest,
    visitor: Visitor<'_>,
    body: Result<Bytes, Error>,
) -> Response {
    let outcome = body
        .and_then(|b| parse_json::<RawLead>(ingest, &b))
        .and_then(|raw| {
            let lead = raw.lead().inspect_err(|_| ingest.not_counted_malformed())?;
            match ingest.record_lead(lead, visitor) {
                Err(Rejected::InvalidEmail) => Err(Error::bad_request(
                    "invalid_email",
                    "that is not an email address",
                )),
                _ => Ok(()),
            }
        });
    answer(outcome, StatusCode::NO_CONTENT.into_response())
}

/// `POST /e`: one event, counted or not, answered 204 (400 when it is not an event).
pub(crate) fn post_event(
    ingest: &Ingest,
    visitor: Visitor<'_>,
    body: Result<Bytes, Error>,
) -> Response {
    let outcome = body
        .and_then(|b| parse_json::<RawEvent>(ingest, &b))
        .and_then(|raw| {
            let event = raw
                .event()
                .inspect_err(|_| ingest.not_counted_malformed())?;
            let _ = ingest.record(event, visitor);
            Ok(())
        });
    answer(outcome, StatusCode::NO_CONTENT.into_response())
}

fn parse_json<T: for<'de> Deserialize<'de>>(ingest: &Ingest, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        ingest.not_counted_malformed();
        Error::bad_request("malformed_event", format!("not an event: {e}"))
    })
}

/// Visitor answers are never cached and never say more than they must.
fn answer(outcome: Result<(), Error>, ok: Response) -> Response {
    let mut res = match outcome {
        Ok(()) => ok,
        Err(err) => error::respond(err),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An event as the runtime sends it: `{"d":12,"k":"v","h":"shop.example","p":1,"b":1}`.
#[derive(Debug, Default, Deserialize)]
struct RawEvent {
    d: Option<i64>,
    k: Option<KindCode>,
    h: Option<String>,
    #[serde(default)]
    p: Option<u8>,
    #[serde(default)]
    b: Option<u8>,
}

/// The event's kind as sent: one letter.
#[derive(Debug, Clone, Copy, Deserialize)]
enum KindCode {
    #[serde(rename = "v")]
    View,
    #[serde(rename = "c")]
    Click,
    #[serde(rename = "x")]
    Dismiss,
    #[serde(other)]
    Other,
}

fn malformed(message: &str) -> Error {
    Error::bad_request("malformed_event", message.to_string())
}

fn page_host(h: &Option<String>) -> Result<&str, Error> {
    match h.as_deref() {
        Some(h) if !h.is_empty() && h.len() <= 253 => Ok(h),
        _ => Err(malformed("h (the page hostname) is missing or too long")),
    }
}

impl RawEvent {
    fn event(&self) -> Result<Event<'_>, Error> {
        let deployment_id = self
            .d
            .filter(|d| *d > 0)
            .ok_or_else(|| malformed("d (the deployment) is missing"))?;
        let kind = match self.k {
            Some(KindCode::View) => Kind::View,
            Some(KindCode::Click) => Kind::Click,
            Some(KindCode::Dismiss) => Kind::Dismiss,
            _ => return Err(malformed("k must be v, c or x")),
        };
        Ok(Event {
            deployment_id,
            kind,
            page_host: page_host(&self.h)?,
            privacy: self.p == Some(1),
            automation: self.b == Some(1),
        })
    }
}

/// A lead as the runtime sends it: `{"d":12,"h":"shop.example","m":"a@b.example","hp":""}`.
#[derive(Debug, Deserialize)]
struct RawLead {
    d: Option<i64>,
    h: Option<String>,
    m: Option<String>,
    #[serde(default)]
    hp: Option<String>,
    #[serde(default)]
    b: Option<u8>,
}

impl RawLead {
    fn lead(&self) -> Result<Lead<'_>, Error> {
        Ok(Lead {
            deployment_id: self
                .d
                .filter(|d| *d > 0)
                .ok_or_else(|| malformed("d (the deployment) is missing"))?,
            page_host: page_host(&self.h)?,
            email: self
                .m
                .as_deref()
                .ok_or_else(|| malformed("m (the email address) is missing"))?,
            honeypot: self.hp.as_deref().unwrap_or(""),
            automation: self.b == Some(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_of_origins_and_referers() {
        assert_eq!(host_of("https://shop.example"), Some("shop.example"));
        assert_eq!(
            host_of("https://shop.example:8443/a/b?c#d"),
            Some("shop.example")
        );
        assert_eq!(
            host_of("http://user:pw@shop.example/x"),
            Some("shop.example")
        );
        assert_eq!(host_of("http://[::1]:8080/"), Some("[::1]"));
        assert_eq!(host_of("null"), None);
        assert_eq!(host_of("https://"), None);
    }
}
