//! Reading what handlers need out of a request: a bounded body, JSON of the right shape,
//! form fields, cookies and bearer tokens, and who the client is. A bad body becomes an
//! [`Error`] the handler returns, so rejections keep meaning only "no route matched".

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;

use crate::accounts::{Credentials, SESSION_COOKIE};
use crate::error::Error;

/// Reads a body of at most `limit` bytes; a larger one (declared or sent) is a 413.
pub async fn read_limited<S, B, E>(
    headers: &HeaderMap,
    stream: S,
    limit: usize,
) -> Result<Bytes, Error>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::PayloadTooLarge);
    }
    let unreadable = |e: E| {
        Error::bad_request(
            "body_unreadable",
            format!("the request body could not be read: {e}"),
        )
    };
    let mut stream = std::pin::pin!(stream);
    // Most bodies arrive in one piece, which is kept as it is, without a copy.
    let mut first = match stream.next().await {
        None => return Ok(Bytes::new()),
        Some(chunk) => chunk.map_err(unreadable)?,
    };
    if first.remaining() > limit {
        return Err(Error::PayloadTooLarge);
    }
    let Some(second) = stream.next().await else {
        return Ok(first.copy_to_bytes(first.remaining()));
    };
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    buf.put(first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        let chunk = chunk.map_err(unreadable)?;
        if buf.len() + chunk.remaining() > limit {
            return Err(Error::PayloadTooLarge);
        }
        buf.put(chunk);
        next = stream.next().await;
    }
    Ok(buf.freeze())
}

/// Whether the request says its body is `application/json`.
pub fn is_json(headers: &HeaderMap) -> bool {
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
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = match (path.as_str(), missing_field(&inner)) {
                    (".", Some(missing)) => missing,
                    (".", None) => "body".to_string(),
                    (p, Some(missing)) => format!("{p}.{missing}"),
                    (p, None) => p.to_string(),
                };
                Error::invalid(field, strip_position(&inner.to_string()))
            }
            _ => not_json(&inner),
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(err: &serde_json::Error) -> Error {
    Error::bad_request("invalid_json", format!("the body is not valid JSON: {err}"))
}

fn missing_field(err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    let rest = text.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// "… at line 1 column 30" means nothing to someone who sent a one-line body.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Form fields of an `application/x-www-form-urlencoded` body.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| Error::bad_request("invalid_form", format!("the form could not be read: {e}")))
}

/// The session cookie and bearer token, if any.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    Credentials {
        cookie: cookie(headers, SESSION_COOKIE),
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
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The address a connection came from, put on each request by `server`.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

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
pub fn client_ip(remote: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
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
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
    }
}
