//! `GET /s/{key}.js`, the script a member pastes into their pages. Served from memory in
//! the best encoding the browser takes, with an ETag, briefly cacheable and usable stale
//! while it revalidates. A site with bars shown by country gets the script of the
//! visitor's country (looked up from their address, which is not kept).

use warp::Reply;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;

use crate::error::Error;
use crate::scripts::{Encoding, Lookup, Scripts};
use crate::web::error;

/// `GET` or `HEAD /s/{file}`; `server` hands these over straight from hyper.
pub(crate) async fn serve(
    scripts: &Scripts,
    file: &str,
    headers: &HeaderMap,
    ip: impl FnOnce() -> std::net::IpAddr,
) -> Response {
    let Some(key) = file.strip_suffix(".js") else {
        return error::respond(Error::NotFound);
    };
    let compiled = match scripts.script(key, ip).await {
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

    const CODINGS: &[&str] = &[
        "br", "BR", "gzip", "GZip", "deflate", "zstd", "identity", "*", "x-gzip", "b r", "",
    ];

    fn accept_like() -> impl Strategy<Value = String> {
        prop_oneof![
            hostile(),
            proptest::collection::vec(
                (
                    proptest::sample::select(CODINGS.to_vec()),
                    proptest::option::of(prop_oneof![
                        proptest::sample::select(vec![
                            "q=0", "q=0.0", "q=1", "q=0.5", " q = 0 ", "q=NaN", "q=-1", "q=",
                            "level=1", "q=inf"
                        ])
                        .prop_map(String::from),
                        hostile(),
                    ]),
                    "[ \t]{0,2}",
                ),
                0..6,
            )
            .prop_map(|parts| {
                parts
                    .into_iter()
                    .map(|(coding, weight, space)| match weight {
                        Some(w) => format!("{space}{coding};{w}"),
                        None => format!("{space}{coding}"),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_accept_encoding_never_panics_and_picks_only_what_was_named(accept in accept_like()) {
            let lower = accept.to_ascii_lowercase();
            match preferred_encoding(&accept) {
                Encoding::Brotli => prop_assert!(lower.contains("br"), "{:?}", accept),
                Encoding::Gzip => prop_assert!(lower.contains("gzip"), "{:?}", accept),
                Encoding::Identity => {}
            }
            // Naming br plainly, after whatever came before, always makes it acceptable.
            prop_assert_eq!(preferred_encoding(&format!("{accept},br")), Encoding::Brotli, "{:?}", accept);
        }

        #[test]
        fn plain_lists_pick_brotli_then_gzip_then_nothing(
            codings in proptest::collection::vec(
                (proptest::sample::select(CODINGS.to_vec()), "[ \t]{0,2}", "[ \t]{0,2}"),
                0..6,
            ),
        ) {
            let accept = codings
                .iter()
                .map(|(c, before, after)| format!("{before}{c}{after}"))
                .collect::<Vec<_>>()
                .join(",");
            let named = |name: &str| codings.iter().any(|(c, _, _)| c.eq_ignore_ascii_case(name));
            let expected = if named("br") {
                Encoding::Brotli
            } else if named("gzip") {
                Encoding::Gzip
            } else {
                Encoding::Identity
            };
            prop_assert_eq!(preferred_encoding(&accept), expected, "{:?}", accept);
        }
    }
}
