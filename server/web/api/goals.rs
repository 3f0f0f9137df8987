//! A site's goals: a page reached later in a visit (`/thanks*`) or a call from the page
//! (`barkeep.goal("purchase", 49.90)`), compared between visitors shown a bar and visitors
//! held out of it in each bar's stats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::db::entities::site_goal;
use crate::error::{Error, Result};
use crate::web::guards::{OwnedGoal, OwnedSite};
use crate::web::router::Req;
use crate::web::{json, no_content};

#[derive(Serialize, ToSchema)]
pub(crate) struct GoalView {
    pub id: i64,
    /// What the page calls: `barkeep.goal("purchase")`.
    pub name: String,
    /// A path pattern reached later in the visit (`*` is any run of characters); `null`
    /// when only the page's call reaches it.
    pub path: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<site_goal::Model> for GoalView {
    fn from(g: site_goal::Model) -> Self {
        GoalView {
            id: g.id,
            name: g.name,
            path: g.path,
            created_at: g.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Goals {
    pub goals: Vec<GoalView>,
}

/// The site's goals.
#[utoipa::path(get, path = "/api/v1/sites/{site_id}/goals", tag = "sites",
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 200, description = "The site's goals", body = Goals)))]
pub(crate) async fn list(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let goals = req.state.catalog.goals(&site).await?;
    Ok(json(
        StatusCode::OK,
        &Goals {
            goals: goals.into_iter().map(GoalView::from).collect(),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateGoal {
    /// 1 to 40 lowercase letters, digits, `-` or `_`; unique on the site.
    pub name: String,
    /// A path pattern such as `/thanks*`; leave it out for a goal the page reports with
    /// `barkeep.goal(name, value)`.
    #[serde(default)]
    pub path: Option<String>,
}

/// Name a goal. The site's script reports it from then on (within about a minute, as
/// browsers keep the script that long).
#[utoipa::path(post, path = "/api/v1/sites/{site_id}/goals", tag = "sites", request_body = CreateGoal,
    params(("site_id" = i64, Path, description = "One of your sites")),
    responses((status = 201, description = "Created", body = GoalView)))]
pub(crate) async fn create(req: Req, OwnedSite(site): OwnedSite) -> Result<Response> {
    let body: CreateGoal = req.json()?;
    let goal = req
        .state
        .catalog
        .add_goal(&site, &body.name, body.path.as_deref())
        .await?;
    Ok(json(StatusCode::CREATED, &GoalView::from(goal)))
}

/// Delete a goal with its counts.
#[utoipa::path(delete, path = "/api/v1/sites/{site_id}/goals/{goal_id}", tag = "sites",
    params(
        ("site_id" = i64, Path, description = "One of your sites"),
        ("goal_id" = i64, Path, description = "One of the site's goals"),
    ),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(req: Req, OwnedGoal(site, goal): OwnedGoal) -> Result<Response> {
    if req.state.catalog.delete_goal(&site, goal).await? {
        Ok(no_content())
    } else {
        Err(Error::NotFound)
    }
}
