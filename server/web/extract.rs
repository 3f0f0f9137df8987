//! Reading what handlers need out of a request: a bounded body, JSON of the right shape,
//! form fields, cookies and bearer tokens, and who the client is. A bad body becomes an
//! [`Error`] the handler returns, so rejections keep meaning only "no route matched".

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body, Frame};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;

use super::{Settings, cookies};
use crate::accounts::Credentials;
use crate::domain::AccountId;
use crate::domain::misfit_field;
use crate::error::Error;

/// Reads a body of at most `limit` bytes; a larger one (declared or sent) is a 413.
pub(crate) async fn read_limited<S, B, E>(
    headers: &HeaderMap,
    stream: S,
    limit: usize,
) -> Result<Bytes, Error>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    let frames = stream.map(|chunk| chunk.map(|mut b| Frame::data(b.copy_to_bytes(b.remaining()))));
    read_body(headers, StreamBody::new(frames), limit).await
}

/// [`read_limited`] for a body as hyper hands it over. A body that came whole with its
/// headers is read in one poll: its declared length says it is complete, so the
/// connection is not asked for the end of it (a second turn of the connection's task
/// for every event).
pub(crate) async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Error>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::PayloadTooLarge);
    }
    let mut body = std::pin::pin!(body);
    // Most bodies arrive in one piece, which is kept as it is, without a copy.
    let mut whole: Option<Bytes> = None;
    let mut pieces = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::bad_request(
                "body_unreadable",
                format!("the request body could not be read: {e}"),
            )
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let read = whole.as_ref().map_or(0, Bytes::len) + pieces.len();
        if read + data.remaining() > limit {
            return Err(Error::PayloadTooLarge);
        }
        if read == 0 {
            whole = Some(data.copy_to_bytes(data.remaining()));
        } else {
            if let Some(first) = whole.take() {
                pieces.reserve(declared.unwrap_or(0).min(limit as u64) as usize);
                pieces.put(first);
            }
            pieces.put(data);
        }
        if body.is_end_stream() {
            break;
        }
    }
    Ok(whole.unwrap_or_else(|| pieces.freeze()))
}

/// Whether the request says its body is `application/json`.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
}

/// Parses a JSON body. Malformed JSON is a 400; JSON of the wrong shape (a missing or
/// unknown field, a wrong type, an unknown option) is a 422 naming the field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|err| match err.inner().classify() {
            serde_json::error::Category::Data => Error::invalid(
                misfit_field(&err).unwrap_or_else(|| "body".to_string()),
                strip_position(&err.inner().to_string()),
            ),
            _ => not_json(err.inner()),
        })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(err: &serde_json::Error) -> Error {
    Error::bad_request("invalid_json", format!("the body is not valid JSON: {err}"))
}

/// "… at line 1 column 30" means nothing to someone who sent a one-line body.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Form fields of an `application/x-www-form-urlencoded` body.
pub(crate) fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| Error::bad_request("invalid_form", format!("the form could not be read: {e}")))
}

/// The session cookie and bearer token, if any.
pub(crate) fn credentials(settings: &Settings, headers: &HeaderMap) -> Credentials {
    Credentials {
        cookie: cookies::session_of(settings, headers),
        bearer: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            })
            .filter(|t| !t.is_empty()),
        account: headers.get(ACCOUNT_HEADER).map(|v| {
            // An id that does not read as one names no account (403 `not_in_account`).
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| *n > 0)
                .map_or(AccountId(0), AccountId)
        }),
    }
}

/// The header naming the account an API request acts in, for a person in several.
pub(crate) const ACCOUNT_HEADER: &str = "barkeep-account";

/// The address a connection came from, put on each request by `server`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Who is on the other end: the client IP (believing `X-Forwarded-For` only from
/// trusted proxies) and the user agent.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Client {
    pub fn of(remote: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Client {
        Client {
            ip: client_ip(remote, headers, trusted),
            user_agent: headers
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect()),
        }
    }
}

/// Walks `X-Forwarded-For` from the right, skipping trusted proxies; the first address
/// that is not a trusted proxy is the client.
pub(crate) fn client_ip(
    remote: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = remote
        .map(|a| a.ip().to_canonical())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','));
    for hop in hops {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers("203.0.113.9, 10.0.0.7");
        assert_eq!(
            client_ip(Some(proxy), &h, &trusted).to_string(),
            "203.0.113.9"
        );
        assert_eq!(client_ip(Some(proxy), &h, &[]).to_string(), "10.0.0.5");
        let outsider: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        assert_eq!(
            client_ip(Some(outsider), &h, &trusted).to_string(),
            "198.51.100.1"
        );
        // A client cannot push its own fake hop past the first untrusted address.
        let h = headers("1.1.1.1, 203.0.113.9");
        assert_eq!(
            client_ip(Some(proxy), &h, &trusted).to_string(),
            "203.0.113.9"
        );
        let h = headers("garbage");
        assert_eq!(client_ip(Some(proxy), &h, &trusted).to_string(), "10.0.0.5");
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; barkeep_session=tok; b=2".parse().unwrap());
        assert_eq!(
            cookies::cookie(&h, cookies::SESSION).as_deref(),
            Some("tok")
        );
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

    use std::collections::HashMap;
    use std::net::Ipv6Addr;

    use warp::http::HeaderValue;

    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            hostile().prop_map(String::into_bytes),
            r#"[\[\]{}",:0-9a-z.eE+\\ \-]{0,200}"#.prop_map(String::into_bytes),
            r#"\{("[a-z_.]{0,8}":("[^"\\]{0,20}"|-?[0-9]{1,25}(\.[0-9]+)?|true|null|\[\]|\{\}),?){0,6}\}"#
                .prop_map(String::into_bytes),
            // Deep nesting, past any recursion limit.
            (0usize..5000, any::<bool>()).prop_map(|(depth, object)| {
                if object {
                    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)).into_bytes()
                } else {
                    format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
                }
            }),
            "([a-z%+=&.\\[\\]]{0,10}(=[a-z%+0-9]{0,10})?&?){0,10}".prop_map(String::into_bytes),
        ]
    }

    /// Header values as clients send them, restricted to what a `HeaderValue` can hold.
    fn headers_with(name: &'static str, values: &[String]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                headers.append(name, v);
            }
        }
        headers
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
            any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
            (any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c)| IpAddr::V4(Ipv4Addr::new(10, a, b, c))),
            (any::<u8>(), any::<u8>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv4Addr::new(10, 0, a, b).to_ipv6_mapped())),
            Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]
    }

    fn forwarded_for() -> impl Strategy<Value = String> {
        prop_oneof![
            hostile(),
            proptest::collection::vec(
                prop_oneof![
                    3 => ip().prop_map(|ip| ip.to_string()),
                    1 => proptest::sample::select(vec!["unknown", "", " ", "10.0.0.7:443", "[::1]", "::ffff:10.0.0.9"])
                        .prop_map(String::from),
                    1 => hostile(),
                ],
                0..6,
            )
            .prop_map(|hops| hops.join(", ")),
        ]
    }

    fn trusted() -> Vec<IpNet> {
        ["10.0.0.0/8", "::1/128", "fd00::/8"]
            .iter()
            .map(|n| n.parse().expect("a network"))
            .collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_and_json_is_read_as_serde_json_reads_it(body in body_bytes()) {
            let ours = parse_json::<serde_json::Value>(&body);
            let theirs = serde_json::from_slice::<serde_json::Value>(&body);
            prop_assert_eq!(ours.ok(), theirs.ok(), "{}", String::from_utf8_lossy(&body));
            let _ = parse_form::<HashMap<String, String>>(&body);
            let _ = parse_form::<Vec<(String, String)>>(&body);
        }

        #[test]
        fn forms_are_read_back_with_the_last_value_of_each_name(
            pairs in proptest::collection::vec((hostile(), hostile()), 0..12),
        ) {
            let mut form = ::url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &pairs {
                form.append_pair(name, value);
            }
            let body = form.finish();
            let read = parse_form::<HashMap<String, String>>(body.as_bytes());
            prop_assert!(read.is_ok(), "{:?} could not be read", body);
            let read = read.ok().unwrap_or_default();
            let mut expected = HashMap::new();
            for (name, value) in pairs {
                expected.insert(name, value);
            }
            prop_assert_eq!(read, expected);
        }

        #[test]
        fn arbitrary_cookie_and_authorization_headers_never_panic(
            cookies in proptest::collection::vec(prop_oneof![
                hostile(),
                "([ ;]{0,2}[a-z_]{0,16}(=[^;]{0,20})?;?){0,6}",
            ], 0..3),
            authorization in proptest::collection::vec(prop_oneof![
                hostile(),
                "[ \t]{0,2}(Bearer|bearer|BEARER|Basic|Token)?[ \t]{0,3}[A-Za-z0-9._~+/=-]{0,40}[ \t]{0,2}",
            ], 0..2),
            name in prop_oneof![hostile(), Just(cookies::SESSION.to_string())],
        ) {
            let mut headers = headers_with("cookie", &cookies);
            for a in &authorization {
                if let Ok(v) = HeaderValue::from_bytes(a.as_bytes()) {
                    headers.append("authorization", v);
                }
            }
            if let Some(v) = cookies::cookie(&headers, &name) {
                prop_assert!(!v.is_empty() && v == v.trim(), "{:?}", v);
            }
            let c = credentials(&Settings::for_tests("http://127.0.0.1"), &headers);
            for v in [&c.cookie, &c.bearer].into_iter().flatten() {
                prop_assert!(!v.is_empty() && v.as_str() == v.trim(), "{:?}", v);
            }
        }

        #[test]
        fn a_named_cookie_is_found_among_others(
            name in "n_[a-z_]{1,16}",
            value in "[A-Za-z0-9_.-]{1,40}",
            before in "([a-z]{1,6}=[a-z0-9]{0,6}; ){0,3}",
            after in "(; [a-z]{1,6}=[a-z0-9]{0,6}){0,3}",
            separate_line in any::<bool>(),
        ) {
            let pair = format!("{name}={value}");
            let lines = if separate_line {
                vec![format!("{before}x=1"), format!("{pair}{after}")]
            } else {
                vec![format!("{before}{pair}{after}")]
            };
            let headers = headers_with("cookie", &lines);
            prop_assert_eq!(cookies::cookie(&headers, &name), Some(value.clone()), "{:?}", lines);
        }

        #[test]
        fn a_bearer_token_is_read_whatever_the_case_of_its_scheme(
            scheme in "[Bb][Ee][Aa][Rr][Ee][Rr]",
            token in "[A-Za-z0-9._~+/=-]{1,80}",
            pad in "[ \t]{0,2}",
        ) {
            let headers = headers_with("authorization", &[format!("{pad}{scheme} {token}{pad}")]);
            prop_assert_eq!(credentials(&Settings::for_tests("http://127.0.0.1"), &headers).bearer, Some(token.clone()));
        }

        #[test]
        fn forwarded_for_is_believed_only_from_trusted_peers(
            peer in ip(),
            port in any::<u16>(),
            xff in proptest::collection::vec(forwarded_for(), 0..3),
            no_peer in proptest::bool::weighted(0.05),
        ) {
            let trusted = trusted();
            let headers = headers_with("x-forwarded-for", &xff);
            let remote = (!no_peer).then(|| SocketAddr::new(peer, port));
            let peer = remote
                .map(|a| a.ip().to_canonical())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
            let client = client_ip(remote, &headers, &trusted);
            prop_assert_eq!(client_ip(remote, &headers, &[]), peer, "no trusted proxies: the peer");
            if !is_trusted(&peer) {
                prop_assert_eq!(client, peer, "an untrusted peer is the client");
                return Ok(());
            }
            // Every hop the header names, as the server reads it.
            let values: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let hops: Vec<IpAddr> = values
                .iter()
                .flat_map(|v| v.split(','))
                .filter_map(|h| h.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical())
                .collect();
            prop_assert!(
                client == peer || hops.contains(&client),
                "{} is neither the peer nor a hop of {:?}",
                client,
                values
            );
            // The hop the trusted proxy itself added is believed when it is not a proxy.
            if let Some(last) = values
                .last()
                .and_then(|v| v.rsplit(',').next())
                .and_then(|h| h.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_canonical())
                && !is_trusted(&last) {
                    prop_assert_eq!(client, last, "{:?}", values);
                }
        }
    }
}
