//! `GET /s/{key}.js`, the script a member pastes into their pages. Served from memory in
//! the best encoding the browser takes, with an ETag, briefly cacheable and usable stale
//! while it revalidates.

use warp::Reply;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;

use crate::delivery::{Encoding, Lookup, Scripts};
use crate::error::Error;
use crate::web::error;

/// `GET` or `HEAD /s/{file}`; `server` hands these over straight from hyper.
pub(crate) async fn serve(scripts: &Scripts, file: &str, headers: &HeaderMap) -> Response {
    let Some(key) = file.strip_suffix(".js") else {
        return error::respond(Error::NotFound);
    };
    let compiled = match scripts.script(key).await {
        Lookup::Site(c) | Lookup::Unknown(c) => c,
    };
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let fresh = text(header::IF_NONE_MATCH).is_some_and(|v| {
        v.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == compiled.etag.to_str().unwrap_or("")
        })
    });
    if fresh {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        *res.headers_mut() = compiled.not_modified();
        return res;
    }
    let encoding = preferred_encoding(text(header::ACCEPT_ENCODING).unwrap_or(""));
    let (body, headers) = compiled.answer(encoding);
    let mut res = Response::new(body.into());
    *res.headers_mut() = headers;
    res
}

/// Brotli if acceptable, else gzip, else none; `;q=0` rules an encoding out.
fn preferred_encoding(accept: &str) -> Encoding {
    // What browsers send: a plain list without weights.
    if !accept.contains(';') {
        let has = |name: &str| {
            accept
                .split(',')
                .any(|c| c.trim().eq_ignore_ascii_case(name))
        };
        return if has("br") {
            Encoding::Brotli
        } else if has("gzip") {
            Encoding::Gzip
        } else {
            Encoding::Identity
        };
    }
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
        assert_eq!(preferred_encoding("GZIP ,BR"), Encoding::Brotli);
        assert_eq!(preferred_encoding("br;q=0"), Encoding::Identity);
    }
}
