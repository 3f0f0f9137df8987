//! Webhook signatures in Stripe's scheme: a header `t=<unix time>,v1=<hex>`, where each
//! `v1` is an HMAC-SHA256 keyed with the endpoint's secret over `"<t>.<body>"`. barkeep
//! checks Stripe's on the raw body before anything is parsed (any `v1` matching any of
//! the configured secrets, two during a rotation, compared in constant time, `t` within
//! five minutes of now), and signs its own lead webhooks the same way.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far the signed time may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused. None of these writes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header has no t= and v1= parts")]
    Malformed,
    #[error("the signature does not match the body (forged, or changed after signing)")]
    Mismatch,
    #[error("the signature's timestamp is more than five minutes from now")]
    Stale,
}

/// Checks `header` against `body` for any of `secrets`, at unix time `now`.
pub fn verify<S: AsRef<[u8]>>(
    header: Option<&str>,
    body: &[u8],
    secrets: &[S],
    now: i64,
) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Missing)?;
    let mut timestamp = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                if let Some(bytes) = decode_hex(v) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(Refused::Malformed)?;
    if candidates.is_empty() {
        return Err(Refused::Malformed);
    }
    let signed = signed_payload(t, body);
    let matches = secrets.iter().any(|secret| {
        let Ok(mac) = Hmac::<Sha256>::new_from_slice(secret.as_ref()) else {
            return false;
        };
        let mac = mac.chain_update(&signed);
        // verify_slice compares in constant time.
        candidates
            .iter()
            .any(|c| mac.clone().verify_slice(c).is_ok())
    });
    if !matches {
        return Err(Refused::Mismatch);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(Refused::Stale);
    }
    Ok(())
}

/// The header value signing `body` at time `t` with `secret`: `t=<t>,v1=<hex>`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this cannot happen.
        unreachable!("HMAC refused a key")
    });
    mac.update(&signed_payload(t, body));
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("t={t},v1={hex}")
}

fn signed_payload(t: i64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_signed_body_passes_and_anything_else_is_refused() {
        let header = sign(b"whsec_a", 1_000_000, BODY);
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], 1_000_100), Ok(()));
        // Either secret of a rotation.
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_new", "whsec_a"], 1_000_000),
            Ok(())
        );
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_b"], 1_000_000),
            Err(Refused::Mismatch)
        );
        let altered = br#"{"id":"evt_1","type":"invoice.paid "}"#;
        assert_eq!(
            verify(Some(&header), altered, &["whsec_a"], 1_000_000),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_a"], 1_000_301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_a"], 999_699),
            Err(Refused::Stale)
        );
        assert_eq!(verify(None, BODY, &["whsec_a"], 0), Err(Refused::Missing));
        assert_eq!(
            verify(Some("v1=abcd"), BODY, &["whsec_a"], 0),
            Err(Refused::Malformed)
        );
        assert_eq!(
            verify(Some("t=5,v1=zz"), BODY, &["whsec_a"], 5),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let good = sign(b"whsec_a", 42, BODY);
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t=42,v1={},v0=ignored,v1={v1}", "00".repeat(32));
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], 42), Ok(()));
    }

    #[test]
    fn signs_as_stripe_documents() {
        // HMAC-SHA256 over "<t>.<body>" in hex, as computed independently (Python's hmac).
        assert_eq!(
            sign(b"whsec_test_secret", 1492774577, b"{}"),
            "t=1492774577,v1=53140ab8fa70c511cc40d5c9198af7dde7bbaee877038c056d8250c3bd3b2e11"
        );
    }
}
