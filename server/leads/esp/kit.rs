//! Kit (formerly ConvertKit), API v4 at `https://api.kit.com/v4`, with the personal API
//! key in `X-Kit-Api-Key`.
//!
//! - Forms and tags: `GET /forms?status=active&per_page=500` and `GET /tags?per_page=500`
//!   (the default page; 1000 is the largest). A choice's id is `form:<id>` or `tag:<id>`, its name
//!   `Form: <name>` or `Tag: <name>`.
//! - Add, in two steps: `POST /subscribers` creates the subscriber (or finds the one with
//!   that address), `inactive` when double opt-in is asked for and `active` otherwise; then
//!   `POST /forms/{id}/subscribers` or `POST /tags/{id}/subscribers` with the address.
//!
//! Quirks: both steps answer 201 when they created something and 200 when it was already
//! there; the second step's 200 is what "already there" means here. Confirmation is the
//! form's own setting: an `inactive` subscriber added to a double opt-in form gets Kit's
//! confirmation email, but one added only to a tag gets none and stays inactive. Step one
//! cannot change an existing subscriber's state. An invalid address is a 422. Over the
//! limit Kit answers 429 with the plain text `Retry later` and no `Retry-After`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Kit;

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let mut out = read(
        c,
        "/forms?status=active&per_page=500",
        "forms",
        "form",
        "Form",
    )
    .await?;
    out.extend(read(c, "/tags?per_page=500", "tags", "tag", "Tag").await?);
    Ok(out)
}

/// One page of forms or tags, as choices.
async fn read(
    c: &Conn<'_>,
    path: &str,
    field: &str,
    kind: &str,
    label: &str,
) -> Result<Vec<ListChoice>, Outcome> {
    let reply = c
        .send(Method::GET, path, &[("x-kit-api-key", c.key)], None)
        .await?;
    if !reply.ok() {
        return Err(reply.otherwise(P));
    }
    let items = reply
        .body
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(&reply, &format!("no {field}")))?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let id = item.get("id")?.as_u64()?;
            let name = item.get("name")?.as_str()?;
            Some(ListChoice {
                id: format!("{kind}:{id}"),
                name: format!("{label}: {name}"),
            })
        })
        .collect())
}

pub(super) async fn subscribe(
    c: &Conn<'_>,
    list: &str,
    email: &str,
    double_opt_in: bool,
) -> Outcome {
    let Some(target) = target(list) else {
        return Outcome::Refused {
            status: 0,
            error: "that is not a Kit form or tag (form:<id> or tag:<id>)".into(),
        };
    };
    let headers = [("x-kit-api-key", c.key)];
    // Only a form sends Kit's confirmation email: a tag's subscriber created inactive
    // would stay inactive, so a tag adds subscribers as active whatever the switch says.
    let state = if double_opt_in && list.starts_with("form:") {
        "inactive"
    } else {
        "active"
    };
    let created = json!({"email_address": email, "state": state});
    let reply = match c
        .send(Method::POST, "/subscribers", &headers, Some(&created))
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        return reply.otherwise(P);
    }
    let added = json!({"email_address": email});
    let reply = match c.send(Method::POST, &target, &headers, Some(&added)).await {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if !reply.ok() {
        return reply.otherwise(P);
    }
    Outcome::Delivered {
        status: reply.status,
        existing: reply.status == 200,
    }
}

/// `form:<id>` or `tag:<id>` → the path that adds a subscriber to it.
fn target(list: &str) -> Option<String> {
    let (kind, id) = list.split_once(':')?;
    let kind = match kind {
        "form" => "forms",
        "tag" => "tags",
        _ => return None,
    };
    let digits = (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| format!("/{kind}/{id}/subscribers"))
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from Kit: {what}"),
    }
}
