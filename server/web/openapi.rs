//! The OpenAPI 3.1 document of the member API, generated from the request and response
//! types and the handlers' annotations, served at `GET /api/v1/openapi.json`. Its paths
//! are the rows of the API's route table (`super::api::table`, handed to [`prepare`] at
//! start-up), each with the operation of its handler's `#[utoipa::path]`, and the
//! security its row's `Access` demands.

use std::sync::OnceLock;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi as Document, Ref, Response as DocResponse};
use utoipa::{Modify, OpenApi};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::ErrorBody;
use super::router::{Access, Req, Route, Schemas};
use crate::error::{Error, Result};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "barkeep member API",
        description = "Sites, bars, publishing and stats of a barkeep member. Authenticate with \
            the session cookie from `POST /api/v1/login`, or with `Authorization: Bearer` and an \
            API token. Errors are `{\"error\": code, \"message\": text}`, with `field` for a 422.",
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Signing up and in"),
        (name = "account", description = "The member's own account"),
        (name = "people", description = "Accounts several people share: roles, invitations, handing over"),
        (name = "sites", description = "Sites and their hostnames"),
        (name = "bars", description = "Bars, variants and publishing"),
        (name = "stats", description = "Counts, series and A/B comparisons"),
        (name = "benchmarks", description = "Your rates among comparable accounts"),
        (name = "leads", description = "Where leads go (email, webhook, a list at an email service provider), and the leads barkeep holds for you"),
        (name = "hooks", description = "REST hooks for automation tools (Zapier, Make, n8n): subscribe a URL to an event"),
        (name = "billing", description = "The plan, its limits and usage, Stripe Checkout and portal"),
        (name = "admin", description = "Operators only"),
    ),
)]
pub(crate) struct ApiDoc;

/// The paths: every documented row of the API's table, and the schemas they refer to.
struct Routes<'a>(&'a [Route]);

impl Modify for Routes<'_> {
    fn modify(&self, doc: &mut Document) {
        let mut schemas = Schemas::new();
        for route in self.0 {
            let Some(documented) = route.documented() else {
                continue;
            };
            let mut operation = documented.operation.clone();
            operation.security = security(route.access);
            doc.paths
                .add_path_operation(route.path, vec![documented.method.clone()], operation);
            (documented.schemas)(&mut schemas);
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
    }
}

/// What a route's `Access` asks of a caller: a session cookie or a bearer token for a
/// member's or an operator's, nothing for a public one.
fn security(access: Access) -> Option<Vec<SecurityRequirement>> {
    match access {
        Access::Public => None,
        Access::Member
        | Access::Viewer
        | Access::Editor
        | Access::Admin
        | Access::Owner
        | Access::Operator => Some(vec![
            SecurityRequirement::new("session", Vec::<String>::new()),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]),
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut cookie = ApiKeyValue::new(crate::web::cookies::SESSION);
        cookie.description = Some(
            "The session cookie `POST /api/v1/login` sets (named `__Host-barkeep_session` when barkeep is served over https). A browser's writes with it must come from barkeep's own origin."
                .into(),
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("an API token (bk_…) or a session token")
                    .build(),
            ),
        );
    }
}

/// Adds the error answers every operation can give, with the one error body.
struct Errors;

const COMMON_ERRORS: [(&str, &str); 8] = [
    (
        "400",
        "The request cannot be read (malformed JSON, an unreadable body)",
    ),
    ("404", "Not found, or not yours"),
    ("405", "The path does not take that method"),
    ("413", "The body is too large"),
    ("422", "A value breaks a rule; `field` names it"),
    ("429", "Too many requests; see Retry-After"),
    ("500", "Something went wrong on barkeep's side"),
    ("503", "Temporarily unavailable"),
];

fn error_response(description: &str) -> DocResponse {
    DocResponse::builder()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
}

fn add_errors(op: &mut Operation) {
    let responses = &mut op.responses.responses;
    let mut errors: Vec<(&str, &str)> = COMMON_ERRORS.to_vec();
    if op.request_body.is_some() {
        errors.push(("415", "The body is not sent as application/json"));
    }
    if op.security.is_some() {
        errors.push(("401", "Not signed in"));
        errors.push((
            "403",
            "Not allowed: the role in the account is too narrow (`role_forbidden`), the \
             `Barkeep-Account` header names an account you are not in (`not_in_account`), \
             or an operator route",
        ));
        errors.push((
            "402",
            "The plan does not allow more of this; `limit` and `current` say how many",
        ));
        errors.push((
            "409",
            "The request clashes with what exists; `error` says how",
        ));
    } else {
        errors.push(("401", "Wrong credentials"));
        errors.push((
            "409",
            "The request clashes with what exists; `error` says how",
        ));
    }
    for (status, description) in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description).into());
    }
}

impl Modify for Errors {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(op);
            }
        }
    }
}

/// The document as JSON, made once at start-up.
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// The document of these routes: the paths first, then the errors every operation may
/// answer.
fn document(routes: &[Route]) -> Document {
    let mut doc = ApiDoc::openapi();
    Routes(routes).modify(&mut doc);
    Errors.modify(&mut doc);
    doc
}

/// Builds the document of the API's routes; start-up fails if it cannot.
pub(crate) fn prepare(routes: &[Route]) -> anyhow::Result<()> {
    let json = document(routes).to_pretty_json()?;
    let _ = DOCUMENT.set(json);
    Ok(())
}

/// `GET /api/v1/openapi.json`
pub(crate) async fn serve(_req: Req) -> Result<Response> {
    let document = DOCUMENT
        .get()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("the OpenAPI document was not prepared")))?;
    let mut res = Response::new(document.as_str().into());
    *res.status_mut() = StatusCode::OK;
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    res.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
}
