//! Visitors: `GET /s/{key}.js`, the script a member pastes into their pages. Served from
//! memory in the best encoding the browser takes, with an ETag, briefly cacheable and
//! usable stale while it revalidates.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::header::{self, HeaderName};
use warp::http::{HeaderMap, HeaderValue, StatusCode};

/// Headers a script answer carries, including those added for every response.
const HEADERS: usize = 12;

const CORP: HeaderName = HeaderName::from_static("cross-origin-resource-policy");
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::error::AppError;
use crate::script::{Compiled, Lookup, Scripts};
use crate::state::AppState;

/// Browsers and CDNs keep a site's script a minute, and may use it for ten more while
/// they fetch the new one: a publish reaches visitors within about a minute.
const SITE_CACHE: &str = "public, max-age=60, stale-while-revalidate=600";
/// An unknown key may become a site soon (a new site, another process): keep it briefly.
const UNKNOWN_CACHE: &str = "public, max-age=10";

pub fn routes(state: &AppState) -> BoxedFilter<(Response,)> {
    let scripts = state.scripts.clone();
    warp::path!("s" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(warp::any().map(move || scripts.clone()))
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("if-none-match"))
        .then(serve)
        .boxed()
}

async fn serve(
    file: String,
    scripts: Arc<Scripts>,
    accept: Option<String>,
    if_none_match: Option<String>,
) -> Response {
    let Some(key) = file.strip_suffix(".js") else {
        return AppError::NotFound.into_response();
    };
    let (compiled, cache) = match scripts.script(key).await {
        Lookup::Site(c) => (c, SITE_CACHE),
        Lookup::Unknown(c) => (c, UNKNOWN_CACHE),
    };
    respond(
        &compiled,
        cache,
        accept.as_deref(),
        if_none_match.as_deref(),
    )
}

fn respond(
    c: &Compiled,
    cache: &'static str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> Response {
    let fresh = if_none_match.is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == c.etag.to_str().unwrap_or("")
        })
    });
    let mut res = if fresh {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        *res.headers_mut() = HeaderMap::with_capacity(HEADERS);
        res
    } else {
        let (body, encoding) = match preferred_encoding(accept.unwrap_or("")) {
            Encoding::Brotli => (c.brotli.clone(), Some("br")),
            Encoding::Gzip => (c.gzip.clone(), Some("gzip")),
            Encoding::Identity => (c.plain.clone(), None),
        };
        let mut res = Response::new(body.into());
        // One allocation for every header this answer gets, here and on the way out.
        *res.headers_mut() = HeaderMap::with_capacity(HEADERS);
        if let Some(e) = encoding {
            res.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, c.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Pages that isolate themselves (COEP) may still load it.
    h.insert(CORP, HeaderValue::from_static("cross-origin"));
    res
}

#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// Brotli if acceptable, else gzip, else none; `;q=0` rules an encoding out.
fn preferred_encoding(accept: &str) -> Encoding {
    let acceptable = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            coding.eq_ignore_ascii_case(name) && q > 0.0
        })
    };
    if acceptable("br") {
        Encoding::Brotli
    } else if acceptable("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_best_acceptable_encoding() {
        assert_eq!(
            preferred_encoding("gzip, deflate, br, zstd"),
            Encoding::Brotli
        );
        assert_eq!(preferred_encoding("gzip"), Encoding::Gzip);
        assert_eq!(preferred_encoding("br;q=0, gzip;q=0.5"), Encoding::Gzip);
        assert_eq!(preferred_encoding(""), Encoding::Identity);
        assert_eq!(preferred_encoding("identity"), Encoding::Identity);
    }
}
