//! `POST /e` (views, clicks, dismissals, as `sendBeacon` sends them), `GET /e` (the same
//! as an image, for pages without beacons) and `POST /l` (leads). They answer at once
//! and never with a server error: counting happens in memory (`ingest`), and an event
//! that is not counted is still a 204 for the visitor, with the reason in metrics.

use std::borrow::Cow;
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

/// A transparent 1×1 GIF: the answer to `GET /e`, and the open pixel of barkeep's emails.
pub(crate) const PIXEL: &[u8] = &[
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
    let outcome = body.and_then(|b| {
        // `h` borrows from the body: no copy of the hostname per event.
        parse_json::<RawEvent>(ingest, &b).and_then(|raw| {
            let event = raw
                .event()
                .inspect_err(|_| ingest.not_counted_malformed())?;
            let _ = ingest.record(event, visitor);
            Ok(())
        })
    });
    answer(outcome, StatusCode::NO_CONTENT.into_response())
}

fn parse_json<'a, T: Deserialize<'a>>(ingest: &Ingest, body: &'a [u8]) -> Result<T, Error> {
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

/// An event as the runtime sends it: `{"d":12,"k":"v","h":"shop.example","p":1,"b":1}`;
/// a goal adds `g` (the goal), `a` (1: the visitor was held out) and optionally `n` (its
/// value).
#[derive(Debug, Default, Deserialize)]
struct RawEvent<'a> {
    d: Option<i64>,
    k: Option<KindCode>,
    #[serde(default)]
    g: Option<i64>,
    #[serde(default)]
    a: Option<u8>,
    #[serde(default)]
    n: Option<f64>,
    #[serde(borrow)]
    h: Option<Cow<'a, str>>,
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
    /// The bar was shown in this visit (sent once per visit, with site goals or a holdout).
    #[serde(rename = "e")]
    Shown,
    /// The visitor was held out of the bar in this visit.
    #[serde(rename = "o")]
    HeldOut,
    #[serde(rename = "g")]
    Goal,
    #[serde(other)]
    Other,
}

fn malformed(message: &str) -> Error {
    Error::bad_request("malformed_event", message.to_string())
}

fn page_host<S: AsRef<str>>(h: &Option<S>) -> Result<&str, Error> {
    match h.as_ref().map(AsRef::as_ref) {
        Some(h) if !h.is_empty() && h.len() <= 253 => Ok(h),
        _ => Err(malformed("h (the page hostname) is missing or too long")),
    }
}

impl RawEvent<'_> {
    fn event(&self) -> Result<Event<'_>, Error> {
        let deployment_id = self
            .d
            .filter(|d| *d > 0)
            .ok_or_else(|| malformed("d (the deployment) is missing"))?;
        let kind = match self.k {
            Some(KindCode::View) => Kind::View,
            Some(KindCode::Click) => Kind::Click,
            Some(KindCode::Dismiss) => Kind::Dismiss,
            Some(KindCode::Shown) => Kind::Shown,
            Some(KindCode::HeldOut) => Kind::HeldOut,
            Some(KindCode::Goal) => Kind::Goal {
                goal: self
                    .g
                    .filter(|g| *g > 0)
                    .ok_or_else(|| malformed("g (the goal) is missing"))?,
                held_out: self.a == Some(1),
                // A value that is not an amount is left out; the goal still counts.
                value: self.n.and_then(crate::domain::site_goal::value_cents),
            },
            _ => return Err(malformed("k must be v, c, x, e, o or g")),
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

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    use super::*;
    use serde_json::Value;

    fn url_like() -> impl Strategy<Value = String> {
        prop_oneof![
            hostile(),
            proptest::collection::vec(
                prop_oneof![
                    3 => proptest::sample::select(vec![
                        "https://", "http://", "://", ":", "//", "@", "user:pw@", "[", "]", "[::1]",
                        ":8443", "/", "?", "#", "shop.example", "null", "é", "\u{202e}", "\u{0}", "%40",
                    ])
                    .prop_map(String::from),
                    2 => "[a-z0-9.-]{1,10}",
                    1 => hostile_char().prop_map(String::from),
                ],
                0..10,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    /// One field of an event or a lead: absent (`None`), or a JSON value that is often
    /// right and often of the wrong kind.
    fn field() -> impl Strategy<Value = Option<Value>> {
        proptest::option::weighted(
            0.85,
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                (1i64..1_000_000).prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                (0u64..300).prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::from),
                Just(Value::Null),
                proptest::sample::select(vec!["v", "c", "x", "", "V", "view"])
                    .prop_map(Value::from),
                hostile().prop_map(Value::from),
                "[a-z0-9.-]{1,20}".prop_map(Value::from),
                Just(serde_json::json!([1, "v"])),
                Just(serde_json::json!({"v": 1})),
            ],
        )
    }

    fn object(fields: &[(&str, &Option<Value>)]) -> Vec<u8> {
        let mut object = serde_json::Map::new();
        for (key, value) in fields {
            if let Some(value) = value {
                object.insert((*key).to_string(), value.clone());
            }
        }
        serde_json::to_vec(&Value::Object(object)).expect("a JSON object serialises")
    }

    /// Whether serde reads the field as the type the struct gives it.
    fn reads_as_i64(v: &Option<Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(v) => v.as_i64().is_some(),
        }
    }

    fn reads_as_u8(v: &Option<Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(v) => v.as_u64().is_some_and(|n| n <= 255),
        }
    }

    fn reads_as_string(v: &Option<Value>) -> bool {
        matches!(v, None | Some(Value::Null | Value::String(_)))
    }

    fn positive(v: &Option<Value>) -> bool {
        v.as_ref().and_then(Value::as_i64).is_some_and(|d| d > 0)
    }

    fn good_host(v: &Option<Value>) -> bool {
        v.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|h| (1..=253).contains(&h.len()))
    }

    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            hostile().prop_map(String::into_bytes),
            r#"[\[\]{}",:0-9a-z.eE+\\ \-]{0,200}"#.prop_map(String::into_bytes),
            r#"\{"d":-?[0-9]{1,20}(\.[0-9])?,"k":"[vcxé]{0,2}","h":"[^"]{0,300}"(,"p":[0-9]{1,3})?(,"b":-?[0-9]{1,3})?\}"#
                .prop_map(String::into_bytes),
            r#"\{"d":[0-9]{1,5},"h":"[a-z.]{0,20}","m":"[^"]{0,60}"(,"hp":"[a-z]{0,3}")?\}"#
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn hosts_of_arbitrary_text_are_non_empty_parts_of_it(url in url_like()) {
            if let Some(h) = host_of(&url) {
                prop_assert!(!h.is_empty());
                prop_assert!(url.contains(h), "{:?} is not in {:?}", h, url);
                prop_assert!(
                    !h.contains(['/', '?', '#', '@']),
                    "{:?} from {:?} is more than a host",
                    h,
                    url
                );
            }
        }

        #[test]
        fn hosts_of_absolute_urls_are_their_hosts(
            scheme in "[a-z][a-z0-9+.-]{0,9}",
            userinfo in proptest::option::of("[a-z]{1,8}(:[a-z0-9]{1,8})?"),
            host in "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){0,3}",
            rest in proptest::sample::select(vec!["", "/", "/a/b?c#d", "?q=1", "#top", ":8443", ":8443/x"]),
        ) {
            let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
            let url = format!("{scheme}://{userinfo}{host}{rest}");
            prop_assert_eq!(host_of(&url), Some(host.as_str()), "{:?}", url);
        }

        #[test]
        fn arbitrary_bodies_never_panic_the_event_and_lead_readers(body in body_bytes()) {
            if let Ok(raw) = serde_json::from_slice::<RawEvent>(&body)
                && let Ok(e) = raw.event() {
                    prop_assert!(e.deployment_id > 0);
                    prop_assert!((1..=253).contains(&e.page_host.len()));
                }
            if let Ok(raw) = serde_json::from_slice::<RawLead>(&body)
                && let Ok(l) = raw.lead() {
                    prop_assert!(l.deployment_id > 0);
                    prop_assert!((1..=253).contains(&l.page_host.len()));
                }
        }

        #[test]
        fn arbitrary_pixel_queries_never_panic(query in prop_oneof![
            hostile(),
            "([dkhpb]=[a-z0-9%+.-]{0,12}&?){0,8}",
        ]) {
            let raw = serde_urlencoded::from_str::<RawEvent>(&query).unwrap_or_default();
            if let Ok(e) = raw.event() {
                prop_assert!(e.deployment_id > 0);
                prop_assert!((1..=253).contains(&e.page_host.len()));
            }
        }

        #[test]
        fn well_formed_pixel_queries_are_events(
            d in 1i64..=i64::MAX,
            k in proptest::sample::select(vec!["v", "c", "x"]),
            h in hostile().prop_filter("a page hostname is 1 to 253 bytes", |h| (1..=253).contains(&h.len())),
            p in proptest::option::of(any::<u8>()),
        ) {
            let mut query = ::url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("d", &d.to_string()).append_pair("k", k).append_pair("h", &h);
            if let Some(p) = p {
                query.append_pair("p", &p.to_string());
            }
            let query = query.finish();
            let raw = serde_urlencoded::from_str::<RawEvent>(&query);
            prop_assert!(raw.is_ok(), "{:?}: {:?}", query, raw);
            let raw = raw.unwrap_or_default();
            let e = raw.event();
            prop_assert!(e.is_ok(), "{:?} is not an event", query);
            let e = e.ok().unwrap();
            prop_assert_eq!(e.deployment_id, d);
            prop_assert_eq!(e.page_host, h.as_str());
            prop_assert_eq!(e.privacy, p == Some(1));
        }

        #[test]
        fn event_objects_with_arbitrary_values_are_read_exactly_when_well_formed(
            d in field(),
            k in field(),
            h in field(),
            p in field(),
            b in field(),
        ) {
            let body = object(&[("d", &d), ("k", &k), ("h", &h), ("p", &p), ("b", &b)]);
            let parsed = serde_json::from_slice::<RawEvent>(&body);
            let readable = reads_as_i64(&d)
                && reads_as_string(&k)
                && reads_as_string(&h)
                && reads_as_u8(&p)
                && reads_as_u8(&b);
            prop_assert_eq!(parsed.is_ok(), readable, "{}", String::from_utf8_lossy(&body));
            let Ok(raw) = parsed else {
                return Ok(());
            };
            let kind = k.as_ref().and_then(Value::as_str);
            let valid = positive(&d) && matches!(kind, Some("v" | "c" | "x")) && good_host(&h);
            match raw.event() {
                Ok(e) => {
                    prop_assert!(valid, "accepted {}", String::from_utf8_lossy(&body));
                    prop_assert!(e.deployment_id > 0);
                    prop_assert_eq!(Some(e.deployment_id), d.as_ref().and_then(Value::as_i64));
                    prop_assert!((1..=253).contains(&e.page_host.len()));
                    prop_assert_eq!(Some(e.page_host), h.as_ref().and_then(Value::as_str));
                    let expected = match kind {
                        Some("v") => Kind::View,
                        Some("c") => Kind::Click,
                        _ => Kind::Dismiss,
                    };
                    prop_assert_eq!(e.kind, expected, "kind {:?}", kind);
                    prop_assert_eq!(e.privacy, p.as_ref().and_then(Value::as_u64) == Some(1));
                    prop_assert_eq!(e.automation, b.as_ref().and_then(Value::as_u64) == Some(1));
                }
                Err(_) => prop_assert!(!valid, "refused {}", String::from_utf8_lossy(&body)),
            }
        }

        #[test]
        fn lead_objects_with_arbitrary_values_are_read_exactly_when_well_formed(
            d in field(),
            h in field(),
            m in field(),
            hp in field(),
            b in field(),
        ) {
            let body = object(&[("d", &d), ("h", &h), ("m", &m), ("hp", &hp), ("b", &b)]);
            let parsed = serde_json::from_slice::<RawLead>(&body);
            let readable = reads_as_i64(&d)
                && reads_as_string(&h)
                && reads_as_string(&m)
                && reads_as_string(&hp)
                && reads_as_u8(&b);
            prop_assert_eq!(parsed.is_ok(), readable, "{}", String::from_utf8_lossy(&body));
            let Ok(raw) = parsed else {
                return Ok(());
            };
            let email = m.as_ref().and_then(Value::as_str);
            let valid = positive(&d) && good_host(&h) && email.is_some();
            match raw.lead() {
                Ok(l) => {
                    prop_assert!(valid, "accepted {}", String::from_utf8_lossy(&body));
                    prop_assert!(l.deployment_id > 0);
                    prop_assert!((1..=253).contains(&l.page_host.len()));
                    prop_assert_eq!(Some(l.email), email);
                    prop_assert_eq!(l.honeypot, hp.as_ref().and_then(Value::as_str).unwrap_or(""));
                    prop_assert_eq!(l.automation, b.as_ref().and_then(Value::as_u64) == Some(1));
                }
                Err(_) => prop_assert!(!valid, "refused {}", String::from_utf8_lossy(&body)),
            }
        }
    }
}
