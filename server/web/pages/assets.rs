//! The pages' embedded files (templates, stylesheet, script) and compression. The
//! stylesheet and script are read once, compressed once, and served under a URL that names
//! their content, so browsers keep them for a year and still fetch a new version the moment
//! it changes.

use std::io::Write;
use std::sync::LazyLock;

use bytes::Bytes;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use warp::http::header::{self, HeaderValue};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

/// The page templates and their assets (CSS and JS), embedded in the binary.
#[derive(RustEmbed)]
#[folder = "templates/"]
#[include = "pages/**"]
#[include = "assets/*"]
pub(crate) struct PageFiles;

pub(super) struct Asset {
    /// `/assets/app.css?v=…`
    url: String,
    content_type: &'static str,
    version: String,
    plain: Bytes,
    gzip: Bytes,
    brotli: Bytes,
}

impl Asset {
    fn load(file: &str, content_type: &'static str) -> Asset {
        // A missing file is a build mistake; the page still renders, unstyled.
        let plain = PageFiles::get(&format!("assets/{file}"))
            .map(|f| Bytes::from(f.data.into_owned()))
            .unwrap_or_default();
        let version: String = Sha256::digest(&plain)
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let pack = |e| Bytes::from(compress(&plain, e, true).unwrap_or_default());
        Asset {
            url: format!("/assets/{file}?v={version}"),
            content_type,
            gzip: pack("gzip"),
            brotli: pack("br"),
            version,
            plain,
        }
    }

    pub(super) fn url(&'static self) -> &'static str {
        &self.url
    }

    /// The file in the best encoding the request takes; cached for a year when asked for
    /// by its current version.
    pub(super) fn answer(&self, request: &HeaderMap, query: &str) -> Response {
        let (body, encoding) = match accepted(request) {
            Some("br") => (self.brotli.clone(), Some("br")),
            Some("gzip") => (self.gzip.clone(), Some("gzip")),
            _ => (self.plain.clone(), None),
        };
        let mut res = Response::new(body.into());
        *res.status_mut() = StatusCode::OK;
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(e) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        let current = query.strip_prefix("v=").is_some_and(|v| v == self.version);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if current {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=300"
            }),
        );
        res
    }
}

pub(super) static CSS: LazyLock<Asset> =
    LazyLock::new(|| Asset::load("app.css", "text/css; charset=utf-8"));
pub(super) static JS: LazyLock<Asset> =
    LazyLock::new(|| Asset::load("app.js", "text/javascript; charset=utf-8"));

/// Which compression the request accepts, best first.
pub(super) fn accepted(request: &HeaderMap) -> Option<&'static str> {
    let accept = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let has = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            it.next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
                && !it.any(|p| p.trim().replace(' ', "") == "q=0")
        })
    };
    if has("br") {
        Some("br")
    } else if has("gzip") {
        Some("gzip")
    } else {
        None
    }
}

pub(super) fn compress(body: &[u8], encoding: &str, best: bool) -> Option<Vec<u8>> {
    match encoding {
        "br" => {
            let quality = if best { 11 } else { 5 };
            let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, quality, 22);
            w.write_all(body).ok()?;
            w.flush().ok()?;
            Some(w.into_inner())
        }
        "gzip" => {
            let level = if best {
                flate2::Compression::best()
            } else {
                flate2::Compression::default()
            };
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
            enc.write_all(body).ok()?;
            enc.finish().ok()
        }
        _ => None,
    }
}

/// A body in the best encoding the request accepts (small bodies go as they are).
pub(super) fn compressed(
    request: &HeaderMap,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response {
    let encoding = accepted(request).filter(|_| body.len() > 1024);
    let (body, encoding) = match encoding.and_then(|e| Some((compress(&body, e, false)?, e))) {
        Some((packed, e)) => (packed, Some(e)),
        None => (body, None),
    };
    let mut res = Response::new(body.into());
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_accept_encoding() {
        let mut h = HeaderMap::new();
        h.insert(
            "accept-encoding",
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert_eq!(accepted(&h), Some("br"));
        h.insert("accept-encoding", HeaderValue::from_static("gzip, br;q=0"));
        assert_eq!(accepted(&h), Some("gzip"));
        h.insert("accept-encoding", HeaderValue::from_static("identity"));
        assert_eq!(accepted(&h), None);
    }
}
