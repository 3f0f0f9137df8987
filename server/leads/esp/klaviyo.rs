//! Klaviyo, the JSON:API at `https://a.klaviyo.com/api`, revision `2026-07-15`, with
//! `Authorization: Klaviyo-API-Key <private key>` and the `revision` header on every call.
//!
//! - Lists: `GET /lists` (the first page of ten).
//! - Add: `POST /profile-subscription-bulk-create-jobs` with one profile (the address,
//!   email marketing consent `SUBSCRIBED`) and the list in `relationships`; a missing
//!   profile is created.
//!
//! Quirks: the subscribe job is asynchronous and answers 202 with an empty body, so a new
//! subscriber cannot be told from an existing one, and a problem found later is not
//! reported here. The list's own `opt_in_process` decides on double opt-in; the forward's
//! switch does nothing. Calls go as `application/json` like every provider's here;
//! Klaviyo documents JSON:API's `application/vnd.api+json`, and its own examples use
//! plain JSON too (a 415 would stop the forward rather than drop addresses). An invalid
//! address is a 400 whose error points at the email attribute. A 429 carries
//! `Retry-After`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Klaviyo;

/// The dated API revision these calls are written against.
const REVISION: &str = "2026-07-15";

/// What the member sees as the profile's source in Klaviyo.
const SOURCE: &str = "Website bar";

fn auth(c: &Conn<'_>) -> String {
    format!("Klaviyo-API-Key {}", c.key)
}

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let auth = auth(c);
    let mut out = Vec::new();
    let mut path = "/lists".to_string();
    for _ in 0..super::MAX_LIST_PAGES {
        let reply = c
            .send(
                Method::GET,
                &path,
                &[("authorization", auth.as_str()), ("revision", REVISION)],
                None,
            )
            .await?;
        if !reply.ok() {
            return Err(reply.otherwise(P));
        }
        let lists = reply
            .body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| unexpected(&reply, "no lists"))?;
        out.extend(lists.iter().filter_map(|l| {
            Some(ListChoice {
                id: l.get("id")?.as_str()?.to_string(),
                name: l.pointer("/attributes/name")?.as_str()?.to_string(),
            })
        }));
        // The next page is a full URL on Klaviyo's host: its query goes to ours.
        let next = reply
            .body
            .pointer("/links/next")
            .and_then(Value::as_str)
            .and_then(|n| url::Url::parse(n).ok())
            .and_then(|n| n.query().map(str::to_string));
        match next {
            Some(query) => path = format!("/lists?{query}"),
            None => break,
        }
    }
    Ok(out)
}

pub(super) async fn subscribe(
    c: &Conn<'_>,
    list: &str,
    email: &str,
    _double_opt_in: bool,
) -> Outcome {
    if !(1..=64).contains(&list.len()) || !list.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Outcome::Refused {
            status: 0,
            error: "that is not a Klaviyo list id".into(),
        };
    }
    let body = json!({
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": SOURCE,
                "profiles": {
                    "data": [{
                        "type": "profile",
                        "attributes": {
                            "email": email,
                            "subscriptions": {
                                "email": {"marketing": {"consent": "SUBSCRIBED"}}
                            }
                        }
                    }]
                },
                "historical_import": false
            },
            "relationships": {
                "list": {"data": {"type": "list", "id": list}}
            }
        }
    });
    let auth = auth(c);
    let reply = match c
        .send(
            Method::POST,
            "/profile-subscription-bulk-create-jobs",
            &[("authorization", auth.as_str()), ("revision", REVISION)],
            Some(&body),
        )
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if reply.ok() {
        return Outcome::Delivered {
            status: reply.status,
            existing: false,
        };
    }
    // A 400 pointing at the list is about the forward; any other 400 (the email
    // attribute) is about the address.
    let about_list = reply
        .body
        .pointer("/errors/0/source/pointer")
        .and_then(Value::as_str)
        .is_some_and(|p| p.contains("/relationships/list"));
    if reply.status == 400 && about_list {
        return Outcome::Refused {
            status: 400,
            error: format!("Klaviyo has no such list ({})", reply.message()),
        };
    }
    if reply.status == 415 {
        return Outcome::Refused {
            status: 415,
            error: format!("Klaviyo refused the request's format ({})", reply.message()),
        };
    }
    reply.otherwise(P)
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from Klaviyo: {what}"),
    }
}
