//! HubSpot, CRM API v3 at `https://api.hubapi.com`, with a private app's access token as
//! `Authorization: Bearer`.
//!
//! - Lists: `POST /crm/v3/lists/search` for MANUAL and SNAPSHOT lists, the only kinds
//!   whose members can be added through the API (DYNAMIC lists follow their filters);
//!   contact lists only.
//! - Add, in two steps: `POST /crm/v3/objects/contacts/batch/upsert` with one input keyed
//!   by `email` gives the contact's id, then `PUT /crm/v3/lists/{id}/memberships/add` with
//!   that id.
//!
//! Quirks: the upsert answers 200 with `new: true` or `false` per contact, which is what
//! "already there" means here (a contact already in the CRM); a batch can also answer 207
//! with per-input `errors`. The membership answer spells its field `recordsIdsAdded`, and
//! lists ids it could not find in `recordIdsMissing`. HubSpot's CRM API has no double
//! opt-in (only its forms do), so the forward's switch does nothing. An invalid address is
//! a 400 `VALIDATION_ERROR` with `INVALID_EMAIL` in the message. A 429 names no time;
//! its `policyName` tells a per-second limit from the daily one.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Hubspot;

/// HubSpot's type id for contacts: only contact lists take contacts.
const CONTACTS: &str = "0-1";

fn auth(c: &Conn<'_>) -> String {
    format!("Bearer {}", c.key)
}

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let body = json!({
        "query": "",
        "processingTypes": ["MANUAL", "SNAPSHOT"],
        "count": 100,
        "offset": 0,
        "additionalProperties": ["hs_list_size"],
    });
    let auth = auth(c);
    let reply = c
        .send(
            Method::POST,
            "/crm/v3/lists/search",
            &[("authorization", auth.as_str())],
            Some(&body),
        )
        .await?;
    if !reply.ok() {
        return Err(failure(&reply));
    }
    let lists = reply
        .body
        .get("lists")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(&reply, "no lists"))?;
    Ok(lists
        .iter()
        .filter(|l| {
            let kind = l.get("processingType").and_then(Value::as_str);
            let object = l.get("objectTypeId").and_then(Value::as_str);
            matches!(kind, Some("MANUAL" | "SNAPSHOT")) && object.is_none_or(|o| o == CONTACTS)
        })
        .filter_map(|l| {
            Some(ListChoice {
                id: id_text(l.get("listId")?)?,
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
    if !(1..=20).contains(&list.len()) || !list.bytes().all(|b| b.is_ascii_digit()) {
        return Outcome::Refused {
            status: 0,
            error: "that is not a HubSpot list id (a number)".into(),
        };
    }
    let auth = auth(c);
    let headers = [("authorization", auth.as_str())];
    let body = json!({
        "inputs": [{
            "idProperty": "email",
            "id": email,
            "properties": {"email": email},
        }]
    });
    let reply = match c
        .send(
            Method::POST,
            "/crm/v3/objects/contacts/batch/upsert",
            &headers,
            Some(&body),
        )
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        return failure(&reply);
    }
    let result = reply.body.pointer("/results/0");
    let Some(contact) = result.and_then(|r| r.get("id")).and_then(id_text) else {
        return missing_contact(&reply);
    };
    let existing = result
        .and_then(|r| r.get("new"))
        .and_then(Value::as_bool)
        .is_some_and(|new| !new);

    let path = format!("/crm/v3/lists/{list}/memberships/add");
    let reply = match c
        .send(Method::PUT, &path, &headers, Some(&json!([contact])))
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        // The body holds only ids: a refusal here is about the list, not the address.
        return match failure(&reply) {
            Outcome::Dropped { status, error } => Outcome::Refused {
                status,
                error: format!("HubSpot would not add contacts to this list ({error})"),
            },
            other => other,
        };
    }
    let missing = reply
        .body
        .get("recordIdsMissing")
        .and_then(Value::as_array)
        .is_some_and(|ids| ids.iter().filter_map(id_text).any(|id| id == contact));
    if missing {
        return Outcome::Retry {
            status: Some(reply.status),
            after: Some(P.default_wait()),
            error: "HubSpot could not find the contact it had just saved".into(),
        };
    }
    Outcome::Delivered {
        status: reply.status,
        existing,
    }
}

/// A 2xx upsert without a contact id: a 207 with per-input errors, or something new.
fn missing_contact(reply: &Reply) -> Outcome {
    let error = reply.body.pointer("/errors/0");
    let category = error
        .and_then(|e| e.get("category"))
        .and_then(Value::as_str);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect::<String>();
    if category == Some("VALIDATION_ERROR") {
        return Outcome::Dropped {
            status: reply.status,
            error: format!("HTTP {}: {message}", reply.status),
        };
    }
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: "HubSpot's answer to the contact upsert held no contact id".into(),
    }
}

fn failure(reply: &Reply) -> Outcome {
    let daily = reply.body.get("policyName").and_then(Value::as_str) == Some("DAILY");
    if reply.status == 429 && daily {
        return Outcome::Retry {
            status: Some(429),
            after: Some(Duration::from_secs(3600)),
            error: format!("daily limit reached ({})", reply.message()),
        };
    }
    // A 400 `VALIDATION_ERROR` (`INVALID_EMAIL`) is about the address.
    reply.otherwise(P)
}

/// HubSpot's ids are strings in v3, numbers in places.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from HubSpot: {what}"),
    }
}
