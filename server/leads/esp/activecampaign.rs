//! ActiveCampaign, API v3 at the account's own API URL (`https://<account>.api-us1.com`,
//! given by the member with the key) under `/api/3`, with the key in `Api-Token`.
//!
//! - Lists: `GET /lists?limit=100` (100 is the largest page).
//! - Add, in two steps: `POST /contact/sync` creates or updates the contact by address and
//!   gives its id, then `POST /contactLists` with that id, the list and `status: 1`
//!   (subscribed).
//!
//! Quirks: ids are numbers written as strings in answers and sent as numbers. The sync's
//! 201 (created) or 200 (updated) is what "already there" means here (a contact already
//! in the account). `status: 1` also subscribes again someone who unsubscribed from the
//! list: they have just left their address again. These calls offer no double opt-in
//! (only ActiveCampaign's forms do), so the forward's switch does nothing. A bad key is a
//! 403, an invalid address a 422 with `errors[]`. A 429 carries `Retry-After`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Activecampaign;

/// `https://host[:port]` from the member's API URL, which may end in `/api/3`.
pub(super) fn origin(api_url: Option<&str>) -> Result<String, Outcome> {
    let refused = |error: &str| Outcome::Refused {
        status: 0,
        error: error.to_string(),
    };
    let raw = api_url.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(refused(
            "ActiveCampaign needs the account's API URL (Settings → Developer)",
        ));
    }
    let invalid = "the ActiveCampaign API URL should look like https://youraccount.api-us1.com";
    let rest = match raw.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("https://") => &raw[8..],
        _ => return Err(refused(invalid)),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !matches!(path, "" | "/" | "/api/3" | "/api/3/") {
        return Err(refused(invalid));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if !valid_host(host) {
        return Err(refused(invalid));
    }
    let host = host.to_ascii_lowercase();
    match port {
        None => Ok(format!("https://{host}")),
        Some(port) => {
            let digits = (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && !port.starts_with('0');
            match port.parse::<u16>() {
                Ok(n) if digits => Ok(format!("https://{host}:{n}")),
                _ => Err(refused(invalid)),
            }
        }
    }
}

/// A DNS name of at least two labels: letters, digits and inner hyphens.
fn valid_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let reply = c
        .send(
            Method::GET,
            "/lists?limit=100",
            &[("api-token", c.key)],
            None,
        )
        .await?;
    if !reply.ok() {
        return Err(reply.otherwise(P));
    }
    let lists = reply
        .body
        .get("lists")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(&reply, "no lists"))?;
    Ok(lists
        .iter()
        .filter_map(|l| {
            Some(ListChoice {
                id: number(l.get("id")?)?.to_string(),
                name: l.get("name")?.as_str()?.to_string(),
            })
        })
        .collect())
}

pub(super) async fn subscribe(
    c: &Conn<'_>,
    list: &str,
    email: &str,
    _double_opt_in: bool,
) -> Outcome {
    let Some(list) = digits(list) else {
        return Outcome::Refused {
            status: 0,
            error: "that is not an ActiveCampaign list id (a number)".into(),
        };
    };
    let headers = [("api-token", c.key)];
    let synced = json!({"contact": {"email": email}});
    let reply = match c
        .send(Method::POST, "/contact/sync", &headers, Some(&synced))
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        return reply.otherwise(P);
    }
    let existing = reply.status == 200;
    let Some(contact) = reply.body.pointer("/contact/id").and_then(number) else {
        return unexpected(&reply, "the contact sync held no contact id");
    };

    let added = json!({"contactList": {"list": list, "contact": contact, "status": 1}});
    let reply = match c
        .send(Method::POST, "/contactLists", &headers, Some(&added))
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        // The body holds only ids: a refusal here is about the list, not the address.
        return match reply.otherwise(P) {
            Outcome::Dropped { status, error } => Outcome::Refused {
                status,
                error: format!("ActiveCampaign would not add contacts to this list ({error})"),
            },
            other => other,
        };
    }
    Outcome::Delivered {
        status: reply.status,
        existing,
    }
}

/// An id, given as a number or as a string of digits.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => digits(s),
        _ => None,
    }
}

fn digits(s: &str) -> Option<u64> {
    let plain = (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| s.parse().ok()).flatten()
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from ActiveCampaign: {what}"),
    }
}
