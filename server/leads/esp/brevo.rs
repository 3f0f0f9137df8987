//! Brevo (formerly Sendinblue), API v3 at `https://api.brevo.com/v3`, with the key in the
//! `api-key` header.
//!
//! - Lists: `GET /contacts/lists?limit=50&offset=0&sort=desc` (50 is the largest page).
//! - Add: `POST /contacts` with the address, `listIds: [<id>]` and `updateEnabled: true`,
//!   which makes it an upsert on the address.
//!
//! Quirks: list ids are numbers. A new contact is a 201 with `{"id": …}`, an existing one a
//! 204 with an empty body. The contacts API adds addresses as subscribed: Brevo's double
//! opt-in is a separate call that needs a template and a redirect URL, so the forward's
//! switch does nothing here. An invalid address is a 400 `invalid_parameter`. A 429 carries
//! no `Retry-After`, only `x-sib-ratelimit-reset` (seconds until the window resets).

use reqwest::Method;
use serde_json::json;

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Brevo;

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let mut out = Vec::new();
    for page in 0..super::MAX_LIST_PAGES {
        let reply = c
            .send(
                Method::GET,
                &format!("/contacts/lists?limit=50&offset={}&sort=desc", page * 50),
                &[("api-key", c.key)],
                None,
            )
            .await?;
        if !reply.ok() {
            return Err(failure(&reply));
        }
        // An account without lists may answer without the `lists` field.
        let Some(lists) = reply.body.get("lists") else {
            if reply.body.is_object() {
                break;
            }
            return Err(unexpected(&reply, "no lists"));
        };
        let lists = lists
            .as_array()
            .ok_or_else(|| unexpected(&reply, "no lists"))?;
        out.extend(lists.iter().filter_map(|l| {
            Some(ListChoice {
                id: l.get("id")?.as_u64()?.to_string(),
                name: l.get("name")?.as_str()?.to_string(),
            })
        }));
        if lists.len() < 50 {
            break;
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
    let Some(list) = list_id(list) else {
        return Outcome::Refused {
            status: 0,
            error: "that is not a Brevo list id (a number)".into(),
        };
    };
    let body = json!({
        "email": email,
        "listIds": [list],
        "updateEnabled": true,
    });
    let reply = match c
        .send(
            Method::POST,
            "/contacts",
            &[("api-key", c.key)],
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
            existing: reply.status == 204,
        };
    }
    failure(&reply)
}

fn list_id(list: &str) -> Option<u64> {
    if !(1..=19).contains(&list.len()) || !list.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    list.parse().ok().filter(|&id| id > 0)
}

fn failure(reply: &Reply) -> Outcome {
    let message = reply.message();
    match reply.status {
        429 => Outcome::Retry {
            status: Some(429),
            after: Some(
                reply
                    .retry_after()
                    .or_else(|| reply.seconds_header("x-sib-ratelimit-reset"))
                    .unwrap_or(P.default_wait()),
            ),
            error: format!("rate limited ({message})"),
        },
        // `not_enough_credits`: the account itself must change.
        402 => Outcome::Refused {
            status: 402,
            error: format!("Brevo refused the account ({message})"),
        },
        // `account_in_process`: Brevo is still setting the account up.
        425 => Outcome::Retry {
            status: Some(425),
            after: Some(P.default_wait()),
            error: message,
        },
        // A 400 naming the list is about the forward, not the address.
        400 if message.to_ascii_lowercase().contains("list") => Outcome::Refused {
            status: 400,
            error: format!("Brevo has no such list ({message})"),
        },
        // Otherwise a 400 (`invalid_parameter` for a bad address) is about the address.
        _ => reply.otherwise(P),
    }
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from Brevo: {what}"),
    }
}
