//! The pages' stylesheet and script: read from the embedded files once, compressed once,
//! and served under a URL that names their content, so browsers keep them for a year and
//! still fetch a new version the moment it changes.

use std::sync::LazyLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use warp::http::header::{self, HeaderValue};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::view::{PageFiles, accepted, compress};

pub struct Asset {
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

    pub fn url(&'static self) -> &'static str {
        &self.url
    }

    /// The file in the best encoding the request takes; cached for a year when asked for
    /// by its current version.
    pub fn answer(&self, request: &HeaderMap, query: &str) -> Response {
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

pub static CSS: LazyLock<Asset> =
    LazyLock::new(|| Asset::load("app.css", "text/css; charset=utf-8"));
pub static JS: LazyLock<Asset> =
    LazyLock::new(|| Asset::load("app.js", "text/javascript; charset=utf-8"));
