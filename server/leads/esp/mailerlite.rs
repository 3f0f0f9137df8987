//! MailerLite, the current API at `https://connect.mailerlite.com/api` (not MailerLite
//! Classic), with the token as `Authorization: Bearer`.
//!
//! - Groups: `GET /groups?limit=50&page=1&sort=name`.
//! - Add: `POST /subscribers` with the address and `groups: ["<id>"]`, plus
//!   `status: "unconfirmed"` when double opt-in is asked for.
//!
//! Quirks: the add is a non-destructive upsert, 201 for a new subscriber and 200 for an
//! existing one; groups are added, fields left out are left alone. Group ids are long
//! numbers sent as strings. The account setting "double opt-in for API and integrations"
//! may confirm addresses even without `unconfirmed`; what `unconfirmed` does to a
//! subscriber who is already active is not documented. An invalid address is a 422 with
//! `errors.email`. A 429 carries `Retry-After`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Mailerlite;

fn auth(c: &Conn<'_>) -> String {
    format!("Bearer {}", c.key)
}

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let auth = auth(c);
    let mut out = Vec::new();
    for page in 1..=super::MAX_LIST_PAGES {
        let reply = c
            .send(
                Method::GET,
                &format!("/groups?limit=50&page={page}&sort=name"),
                &[("authorization", auth.as_str())],
                None,
            )
            .await?;
        if !reply.ok() {
            return Err(reply.otherwise(P));
        }
        let groups = reply
            .body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| unexpected(&reply, "no groups"))?;
        out.extend(groups.iter().filter_map(|g| {
            let id = match g.get("id")? {
                Value::String(id) => id.clone(),
                Value::Number(id) => id.to_string(),
                _ => return None,
            };
            Some(ListChoice {
                id,
                name: g.get("name")?.as_str()?.to_string(),
            })
        }));
        let last = reply
            .body
            .pointer("/meta/last_page")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        if groups.len() < 50 || u64::from(page) >= last {
            break;
        }
    }
    Ok(out)
}

pub(super) async fn subscribe(
    c: &Conn<'_>,
    list: &str,
    email: &str,
    double_opt_in: bool,
) -> Outcome {
    if !(1..=32).contains(&list.len()) || !list.bytes().all(|b| b.is_ascii_digit()) {
        return Outcome::Refused {
            status: 0,
            error: "that is not a MailerLite group id (a number)".into(),
        };
    }
    let mut body = json!({
        "email": email,
        "groups": [list],
    });
    if double_opt_in {
        body["status"] = json!("unconfirmed");
    }
    let auth = auth(c);
    let reply = match c
        .send(
            Method::POST,
            "/subscribers",
            &[("authorization", auth.as_str())],
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
            existing: reply.status == 200,
        };
    }
    failure(&reply)
}

fn failure(reply: &Reply) -> Outcome {
    // A 422 about the group (`groups`, `groups.0`) means the group is gone; one about
    // `email`, or anything else, is about the address.
    let about_group = reply
        .body
        .get("errors")
        .and_then(Value::as_object)
        .is_some_and(|errors| errors.keys().any(|k| k.starts_with("groups")));
    if reply.status == 422 && about_group {
        return Outcome::Refused {
            status: 422,
            error: format!("MailerLite has no such group ({})", reply.message()),
        };
    }
    reply.otherwise(P)
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from MailerLite: {what}"),
    }
}
