//! Request guards: what a handler needs from its path, asked for by type. A handler
//! written `async fn get(req: Req, bar: OwnedBar)` runs only after `OwnedBar` found the
//! bar named by `{bar_id}` among the account's (404 otherwise), and the route
//! table does not compile when the row's template names other parameters than the
//! guard reads (see `router::params_match`). Roles will be checked here too: a guard
//! is where "who may touch this" is answered, once per kind of thing.

use futures_util::future::BoxFuture;

use super::router::{Guard, Req};
use crate::db::entities::{bar, deployment, lead, site, variant};
use crate::domain::{
    BarId, DeploymentId, InvitationId, MemberId, SessionId, SiteId, TokenId, VariantId,
};
use crate::error::{Error, Result};

/// A path id: a positive number, or the resource is simply not there.
fn id(req: &Req, name: &str) -> Result<i64> {
    req.path_param(name)
        .and_then(|raw| raw.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or(Error::NotFound)
}

/// `{site_id}`: one of the account's sites.
pub(crate) struct OwnedSite(pub site::Model);

impl Guard for OwnedSite {
    const PARAMS: &'static [&'static str] = &["site_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let account = req.account()?;
            let site = req
                .state
                .catalog
                .site_of(account, SiteId(id(req, "site_id")?))
                .await?;
            site.map(OwnedSite).ok_or(Error::NotFound)
        })
    }
}

/// `{bar_id}`: one of the account's bars.
pub(crate) struct OwnedBar(pub bar::Model);

async fn bar_of(req: &Req) -> Result<bar::Model> {
    let account = req.account()?;
    req.state
        .catalog
        .bar_of(account, BarId(id(req, "bar_id")?))
        .await?
        .ok_or(Error::NotFound)
}

impl Guard for OwnedBar {
    const PARAMS: &'static [&'static str] = &["bar_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { bar_of(req).await.map(OwnedBar) })
    }
}

/// `{bar_id}/…/{variant_id}`: a variant of one of the account's bars.
pub(crate) struct OwnedVariant {
    pub bar: bar::Model,
    pub variant: variant::Model,
}

impl Guard for OwnedVariant {
    const PARAMS: &'static [&'static str] = &["bar_id", "variant_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let bar = bar_of(req).await?;
            let variant = req
                .state
                .catalog
                .variant_of(bar.id, VariantId(id(req, "variant_id")?))
                .await?
                .ok_or(Error::NotFound)?;
            Ok(OwnedVariant { bar, variant })
        })
    }
}

/// `{deployment_id}`: a published version of one of the account's bars.
pub(crate) struct OwnedDeployment(pub deployment::Model);

impl Guard for OwnedDeployment {
    const PARAMS: &'static [&'static str] = &["deployment_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let account = req.account()?;
            let deployment = req
                .state
                .catalog
                .deployment_of(account, DeploymentId(id(req, "deployment_id")?))
                .await?;
            deployment.map(OwnedDeployment).ok_or(Error::NotFound)
        })
    }
}

/// `{site_id}/…/{lead_id}`: a lead left on one of the account's sites.
pub(crate) struct OwnedLead(pub lead::Model);

impl Guard for OwnedLead {
    const PARAMS: &'static [&'static str] = &["site_id", "lead_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let OwnedSite(site) = OwnedSite::resolve(req).await?;
            let lead = req
                .state
                .leads
                .lead_of(site.id, id(req, "lead_id")?)
                .await?
                .ok_or(Error::NotFound)?;
            Ok(OwnedLead(lead))
        })
    }
}

/// `{site_id}/goals/{goal_id}`: a goal of one of the account's sites.
pub(crate) struct OwnedGoal(pub site::Model, pub i64);

impl Guard for OwnedGoal {
    const PARAMS: &'static [&'static str] = &["site_id", "goal_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let OwnedSite(site) = OwnedSite::resolve(req).await?;
            let goal = id(req, "goal_id")?;
            let goals = req.state.catalog.goals(&site).await?;
            if goals.iter().any(|g| g.id == goal) {
                Ok(OwnedGoal(site, goal))
            } else {
                Err(Error::NotFound)
            }
        })
    }
}

/// `{hook_id}`: the id of a REST hook; the handler looks only among the account's own.
pub(crate) struct HookRef(pub i64);

impl Guard for HookRef {
    const PARAMS: &'static [&'static str] = &["hook_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(HookRef(id(req, "hook_id")?)) })
    }
}

/// `{session_id}`: the id of a session; the handler ends it only among the member's own.
pub(crate) struct SessionRef(pub SessionId);

impl Guard for SessionRef {
    const PARAMS: &'static [&'static str] = &["session_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(SessionRef(SessionId(id(req, "session_id")?))) })
    }
}

/// `{token_id}`: the id of an API token; the handler looks only among the member's own.
pub(crate) struct TokenRef(pub TokenId);

impl Guard for TokenRef {
    const PARAMS: &'static [&'static str] = &["token_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(TokenRef(TokenId(id(req, "token_id")?))) })
    }
}

/// `{member_id}`: a person of the account the request acts in (404 for anyone else).
pub(crate) struct PersonRef(pub MemberId);

impl Guard for PersonRef {
    const PARAMS: &'static [&'static str] = &["member_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move {
            let account = req.account()?;
            let member = MemberId(id(req, "member_id")?);
            let people = req.state.teams.people(account).await?;
            if people.iter().any(|p| p.member.id == member) {
                Ok(PersonRef(member))
            } else {
                Err(Error::NotFound)
            }
        })
    }
}

/// `{invitation_id}`: an invitation; the handler looks only among the account's own.
pub(crate) struct InvitationRef(pub InvitationId);

impl Guard for InvitationRef {
    const PARAMS: &'static [&'static str] = &["invitation_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(InvitationRef(InvitationId(id(req, "invitation_id")?))) })
    }
}

/// `{alert_id}`: an alert (alerts belong to no member; only operator routes name them).
pub(crate) struct AlertRef(pub i64);

impl Guard for AlertRef {
    const PARAMS: &'static [&'static str] = &["alert_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(AlertRef(id(req, "alert_id")?)) })
    }
}

/// `{mail_id}`: an email of the outbox (operator routes only).
pub(crate) struct MailRef(pub i64);

impl Guard for MailRef {
    const PARAMS: &'static [&'static str] = &["mail_id"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        Box::pin(async move { Ok(MailRef(id(req, "mail_id")?)) })
    }
}

/// `{token}`: an opaque token in a public link (an email's tracked open or click),
/// as it came; the handler verifies it.
pub(crate) struct LinkToken(pub String);

impl Guard for LinkToken {
    const PARAMS: &'static [&'static str] = &["token"];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>> {
        let token = req.path_param("token").unwrap_or_default().to_string();
        Box::pin(async move { Ok(LinkToken(token)) })
    }
}
