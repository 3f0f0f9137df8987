//! Where a site's leads go: its list at an email service provider (pick the provider,
//! paste the key, pick the list, test with a made-up address, read the last attempts),
//! and the account's REST hooks. The pasted key goes back to the page only sealed, while
//! the member picks a list.

use chrono::{DateTime, Utc};
use serde::Serialize;
use warp::reply::Response;

use super::forms::{Errors, FORM, Fields};
use super::view::{Notice, done, render, see_other};
use crate::db::entities::{list_forward, site};
use crate::error::{Error, Result};
use crate::leads::Attempt;
use crate::leads::esp::{DoubleOptIn, ListChoice, Provider};
use crate::leads::lists::{ForwardInput, ListsInput};
use crate::web::api::leads::DeliveryView;
use crate::web::guards::OwnedSite;
use crate::web::router::Req;

#[derive(Serialize)]
struct ForwardRow {
    provider: &'static str,
    list_word: &'static str,
    key_last4: String,
    list_name: String,
    /// What double opt-in does for this forward, in words.
    double_opt_in: String,
    paused_until: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
    stopped_error: Option<String>,
}

/// The second step: the lists the key sees, and what carries the key to the save.
#[derive(Serialize)]
struct Picking {
    provider: &'static str,
    slug: &'static str,
    list_word: &'static str,
    lists: Vec<ListChoice>,
    /// The pasted key, sealed; empty when the saved key is used.
    pending: String,
    api_url: String,
    offers_double_opt_in: bool,
    /// The switch's starting value: on.
    ticked: Fields,
}

#[derive(Serialize)]
struct HookRow {
    id: i64,
    event: String,
    target_host: String,
    created_at: DateTime<Utc>,
    last_status: Option<i32>,
    last_error: Option<String>,
}

#[derive(Serialize)]
struct ListsPage {
    site_id: i64,
    site_name: String,
    /// `[slug, name]` of every provider, for the picker.
    providers: Vec<(&'static str, &'static str)>,
    forward: Option<ForwardRow>,
    picking: Option<Picking>,
    tested: Option<Attempt>,
    attempts: Vec<DeliveryView>,
    hooks: Vec<HookRow>,
    key_hint: &'static str,
    form: Fields,
    errors: Errors,
}

/// What the page shows besides its saved state.
#[derive(Default)]
struct Shown {
    picking: Option<Picking>,
    tested: Option<Attempt>,
    form: Fields,
    errors: Errors,
}

fn forward_row(f: list_forward::Model) -> Option<ForwardRow> {
    let p = Provider::parse(&f.provider)?;
    Some(ForwardRow {
        provider: p.name(),
        list_word: p.list_word(),
        key_last4: f.key_last4,
        list_name: f.list_name,
        double_opt_in: match (p.double_opt_in(), f.double_opt_in) {
            (DoubleOptIn::Switch, true) => format!("on: {} asks each address to confirm", p.name()),
            (DoubleOptIn::Switch, false) => "off".into(),
            (DoubleOptIn::ListDecides, _) => {
                format!("decided by the list's setting at {}", p.name())
            }
            (DoubleOptIn::NotOffered, _) => format!("not offered by {}'s API", p.name()),
        },
        paused_until: f.paused_until.filter(|u| *u > Utc::now()),
        stopped_at: f.stopped_at,
        stopped_error: f.stopped_error,
    })
}

async fn page(req: &Req, site: &site::Model, shown: Shown) -> Result<Response> {
    let state = &req.state;
    let forward = state.leads.list_forward(site.id).await?;
    let mut form = shown.form;
    if form.get("provider").is_empty() {
        let current = forward
            .as_ref()
            .map_or("mailchimp", |f| f.provider.as_str());
        form.set("provider", current);
    }
    let attempts = state
        .leads
        .list_deliveries(site.id)
        .await?
        .into_iter()
        .take(20)
        .map(DeliveryView::from)
        .collect();
    let hooks = state
        .hooks
        .list(req.account()?)
        .await?
        .into_iter()
        .map(|h| HookRow {
            id: h.id,
            target_host: url::Url::parse(&h.target_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default(),
            event: h.event,
            created_at: h.created_at,
            last_status: h.last_status,
            last_error: h.last_error,
        })
        .collect();
    let status = shown.errors.status();
    render(
        req,
        "pages/lists.html",
        &ListsPage {
            site_id: site.id.0,
            site_name: site.name.clone(),
            providers: Provider::ALL
                .into_iter()
                .map(|p| (p.slug(), p.name()))
                .collect(),
            key_hint: if forward.is_some() {
                "Paste a key made for barkeep at your provider (HubSpot: a private app's token), or leave it empty to keep the saved key. It is stored encrypted and never shown again."
            } else {
                "Paste a key made for barkeep at your provider (HubSpot: a private app's token). It is stored encrypted and never shown again."
            },
            forward: forward.and_then(forward_row),
            picking: shown.picking,
            tested: shown.tested,
            attempts,
            hooks,
            form,
            errors: shown.errors,
        },
        status,
    )
}

pub(super) async fn show(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    // Back from a test: its attempt, the newest of the tests.
    let tested = if req.query.split('&').any(|p| p == "tested=1") {
        req.state
            .leads
            .list_deliveries(site.id)
            .await?
            .into_iter()
            .find(|d| d.test)
            .map(|d| Attempt {
                ok: d.ok,
                status_code: d.status_code,
                error: d.error,
            })
    } else {
        None
    };
    let shown = Shown {
        tested,
        ..Shown::default()
    };
    page(&req, &site, shown).await
}

fn provider_of(f: &Fields) -> Result<Provider> {
    Provider::parse(f.get("provider"))
        .ok_or_else(|| Error::invalid("provider", "pick one of the providers"))
}

/// Step one: read the lists the pasted (or saved) key sees.
pub(super) async fn check(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let leads = &req.state.leads;
    let read = async {
        let provider = provider_of(&f)?;
        let key = f.text("key").map(str::to_string);
        let input = ListsInput {
            provider,
            key: key.clone(),
            api_url: f.text("api_url").map(str::to_string),
        };
        let lists = leads.lists(site.id, &input).await?;
        let pending = match &key {
            Some(k) => leads.seal_pending(site.id, k)?,
            None => String::new(),
        };
        Ok::<_, Error>(Picking {
            provider: provider.name(),
            slug: provider.slug(),
            list_word: provider.list_word(),
            lists,
            pending,
            api_url: f.get("api_url").trim().to_string(),
            offers_double_opt_in: provider.double_opt_in() == DoubleOptIn::Switch,
            ticked: {
                let mut t = Fields::default();
                t.set("double_opt_in", "on");
                t
            },
        })
    };
    // The key is never written back into the form.
    let mut form = f.clone();
    form.set("key", "");
    match read.await {
        Ok(picking) => {
            let shown = Shown {
                picking: Some(picking),
                form,
                ..Shown::default()
            };
            page(&req, &site, shown).await
        }
        Err(err) => {
            let shown = Shown {
                errors: Errors::of(err)?,
                form,
                ..Shown::default()
            };
            page(&req, &site, shown).await
        }
    }
}

/// Step two: save the forward with the list picked.
pub(super) async fn save(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let f = Fields::parse(req.body()?)?;
    let leads = &req.state.leads;
    let saved = async {
        let provider = provider_of(&f)?;
        let key = match f.text("pending") {
            Some(sealed) => Some(leads.open_pending(site.id, sealed).ok_or_else(|| {
                Error::invalid(
                    "key",
                    "paste the key again: this form was made for another one",
                )
            })?),
            None => None,
        };
        let input = ForwardInput {
            provider,
            key,
            api_url: f.text("api_url").map(str::to_string),
            list_id: f.get("list_id").to_string(),
            double_opt_in: (provider.double_opt_in() == DoubleOptIn::Switch)
                .then(|| f.ticked("double_opt_in")),
        };
        leads.set_list_forward(site.id, input).await
    };
    match saved.await {
        Ok(_) => Ok(done(
            &format!("/sites/{}/lists", site.id),
            Notice::ListForwardSaved,
        )),
        Err(err) => {
            // The choice of list is gone with this page: what refused it is said above
            // the form that reads the lists again.
            let mut errors = Errors::of(err)?;
            for field in ["list_id", "double_opt_in"] {
                if let Some(m) = errors.0.remove(field) {
                    errors.add(FORM, m);
                }
            }
            let mut form = f.clone();
            form.set("pending", "");
            let shown = Shown {
                errors,
                form,
                ..Shown::default()
            };
            page(&req, &site, shown).await
        }
    }
}

/// Adds the made-up address now; the page it leads to shows how it went.
pub(super) async fn test(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    match req
        .state
        .leads
        .test_list_forward(req.account()?, site.id)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/sites/{}/lists?tested=1", site.id))),
        Err(err) => {
            let shown = Shown {
                errors: Errors::of(err)?,
                ..Shown::default()
            };
            page(&req, &site, shown).await
        }
    }
}

pub(super) async fn delete(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    req.state.leads.delete_list_forward(site.id).await?;
    Ok(done(
        &format!("/sites/{}/lists", site.id),
        Notice::ListForwardRemoved,
    ))
}
