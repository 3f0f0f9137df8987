//! Mailchimp, Marketing API 3.0, at `https://<dc>.api.mailchimp.com/3.0` where the data
//! centre `<dc>` is the part of the API key after its last `-`. HTTP Basic auth with any
//! user name and the key as the password.
//!
//! - Audiences: `GET /lists?count=100&offset=…`, a page of 100 at a time, up to ten pages
//!   or `total_items`.
//! - Add: `PUT /lists/{list}/members/{md5 of the lower-cased address}` with `status_if_new`
//!   `pending` (Mailchimp sends its confirmation email) or `subscribed`, and the tag
//!   `website-bar`. `skip_merge_validation=true` lets an audience with required merge
//!   fields take an address alone.
//!
//! Quirks: the PUT answers 200 for a new member and an existing one alike; a member is
//! known to have been there only when its status differs from the one asked for a new
//! one. Only `status_if_new` is sent, so an existing member's status (unsubscribed
//! included) is never changed. A 400 titled `Invalid Resource` ("looks fake or invalid")
//! or `Forgotten Email Not Subscribed` is about the address. The rate limit is ten
//! connections at once: a 429 without `Retry-After`, and under heavy load a 403 that may
//! come without a body, which is tried again.

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Conn, ListChoice, Outcome, Provider, Reply};

const P: Provider = Provider::Mailchimp;

/// The tag every lead gets, so the member can tell them apart in the audience.
const TAG: &str = "website-bar";

/// `https://<dc>.api.mailchimp.com` for a key like `…-us6`.
pub(super) fn origin(key: &str) -> Result<String, Outcome> {
    let dc = key.rsplit_once('-').map(|(_, dc)| dc).filter(|dc| {
        (1..=10).contains(&dc.len())
            && dc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    match dc {
        Some(dc) => Ok(format!("https://{dc}.api.mailchimp.com")),
        None => Err(Outcome::Refused {
            status: 0,
            error: "a Mailchimp API key ends in its data centre, like …-us6: paste the whole key"
                .into(),
        }),
    }
}

/// Lower-case hex MD5 of the lower-cased address: how Mailchimp names a list member.
pub(super) fn subscriber_hash(email: &str) -> String {
    Md5::digest(email.to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn auth(c: &Conn<'_>) -> String {
    let pair = format!("anystring:{}", c.key);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

pub(super) async fn lists(c: &Conn<'_>) -> Result<Vec<ListChoice>, Outcome> {
    let auth = auth(c);
    let mut out = Vec::new();
    for page in 0..super::MAX_LIST_PAGES {
        let reply = c
            .send(
                Method::GET,
                &format!("/lists?count=100&offset={}", page * 100),
                &[("authorization", auth.as_str())],
                None,
            )
            .await?;
        if !reply.ok() {
            return Err(failure(&reply));
        }
        let lists = reply
            .body
            .get("lists")
            .and_then(Value::as_array)
            .ok_or_else(|| unexpected(&reply, "no audiences"))?;
        out.extend(lists.iter().filter_map(|l| {
            Some(ListChoice {
                id: l.get("id")?.as_str()?.to_string(),
                name: l.get("name")?.as_str()?.to_string(),
            })
        }));
        let total = reply
            .body
            .get("total_items")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if lists.len() < 100 || out.len() as u64 >= total {
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
    if !valid_list(list) {
        return Outcome::Refused {
            status: 0,
            error: "that is not a Mailchimp audience id".into(),
        };
    }
    let asked = if double_opt_in {
        "pending"
    } else {
        "subscribed"
    };
    let body = json!({
        "email_address": email,
        "status_if_new": asked,
        "tags": [TAG],
    });
    let path = format!(
        "/lists/{list}/members/{}?skip_merge_validation=true",
        subscriber_hash(email)
    );
    let auth = auth(c);
    let reply = match c
        .send(
            Method::PUT,
            &path,
            &[("authorization", auth.as_str())],
            Some(&body),
        )
        .await
    {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    if reply.ok() {
        // A new member always gets the status asked for; any other status means the
        // address was already in the audience.
        let status = reply.body.get("status").and_then(Value::as_str);
        return Outcome::Delivered {
            status: reply.status,
            existing: status.is_some_and(|s| s != asked),
        };
    }
    failure(&reply)
}

/// Audience ids are short and alphanumeric; anything else never reaches the URL.
fn valid_list(list: &str) -> bool {
    (1..=64).contains(&list.len())
        && list
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn failure(reply: &Reply) -> Outcome {
    // Mailchimp's answer to too many connections at once can be a bare 403.
    if reply.status == 403 && !reply.body.is_object() {
        return Outcome::Retry {
            status: Some(403),
            after: Some(P.default_wait()),
            error: format!("Mailchimp is busy ({})", reply.message()),
        };
    }
    // Any other 400 ("Invalid Resource" for a fake-looking address, "Forgotten Email Not
    // Subscribed" for one deleted for good, "Member In Compliance State") is about the
    // address: dropped.
    reply.otherwise(P)
}

fn unexpected(reply: &Reply, what: &str) -> Outcome {
    Outcome::Retry {
        status: Some(reply.status),
        after: None,
        error: format!("unexpected answer from Mailchimp: {what}"),
    }
}
