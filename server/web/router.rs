//! Route tables. Each audience declares its routes in one table — method, path template,
//! who may call it, handler — and this module answers for all of them the same way: 404
//! for an unknown path, 405 for a known path and another method, 401 where a member is
//! needed and none is signed in, 404 for an id in the path the member does not own, and
//! only then the handler. A handler cannot be reached without what its route demands.
//!
//! A row is written `route!(GET "/sites/{site_id}", Member, sites::show)`. What a handler
//! needs from the path it asks for by type — `sites::show(req, site: OwnedSite)` — and the
//! guard (`super::guards`) looks it up for the signed-in member before the handler runs.
//! The guard names the path parameters it reads; a `route!` row whose template names
//! other parameters than its handler's guard does not compile (`params_match` is
//! evaluated by the compiler for every such row).
//!
//! The member API's rows are written `api_route!(Member, bars::get)`: the method and path
//! are the ones of the handler's `#[utoipa::path(get, path = "/api/v1/bars/{bar_id}")]`,
//! the one place they are written, and the row keeps the operation for the OpenAPI
//! document. utoipa gives the path only when the program runs, so these rows are checked
//! when the table is built — at every start of the server, and in every API test — and a
//! row whose template names other parameters than its handler's guard, or than the
//! operation declares as `Path` parameters, panics there, naming the route.

use std::any::Any;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::{RefOr, schema::Schema};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::filters::path::FullPath;
use warp::http::{HeaderMap, Method};
use warp::reply::Response;

use super::extract::{self, Client, Peer};
use super::{RouteLabel, State, csrf, error};
use crate::accounts::{Acting, Auth};
use crate::db::entities::member;
use crate::domain::{AccountId, Role};
use crate::error::{Error, Result};
use crate::teams::Change;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A signed-in person (session cookie or bearer token), whatever their accounts;
    /// 401 otherwise. For what is their own: profile, sessions, tokens, their data.
    Member,
    /// A signed-in person acting in an account with at least this role there; 401
    /// without credentials, 403 `role_forbidden` with a lesser role (after the path's
    /// ids were found in the account: another account's ids are 404 whatever the role).
    Viewer,
    Editor,
    Admin,
    Owner,
    /// A signed-in member with the operator role; 401 without credentials, 403 without
    /// the role.
    Operator,
}

impl Access {
    /// The role an account route needs.
    pub fn role(self) -> Option<Role> {
        match self {
            Access::Viewer => Some(Role::Viewer),
            Access::Editor => Some(Role::Editor),
            Access::Admin => Some(Role::Admin),
            Access::Owner => Some(Role::Owner),
            Access::Public | Access::Member | Access::Operator => None,
        }
    }
}

/// What a handler asks for beside the request, found from the path's parameters; the
/// guards themselves are in `super::guards`.
pub trait Guard: Sized + Send + 'static {
    /// The path parameters this guard reads, in the order the template names them.
    const PARAMS: &'static [&'static str];
    fn resolve(req: &Req) -> BoxFuture<'_, Result<Self>>;
}

/// What a guard found, until the handler takes it.
type Resolved = Box<dyn Any + Send>;
type Resolve = for<'a> fn(&'a Req) -> BoxFuture<'a, Result<Resolved>>;
type Erased = Arc<dyn Fn(Req, Resolved) -> BoxFuture<'static, Result<Response>> + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Fixed(&'static str),
    Param(&'static str),
}

pub struct Route {
    pub method: Method,
    /// The path as the OpenAPI document writes it: `/api/v1/bars/{bar_id}`.
    pub path: &'static str,
    pub access: Access,
    /// In a table of pages, whether a form sent here must carry the CSRF token.
    csrf: bool,
    /// The name an answered request is recorded under in its account's audit log.
    pub audit: Option<&'static str>,
    segments: Vec<Segment>,
    resolve: Resolve,
    handler: Erased,
    /// What the OpenAPI document says of the route: set for `api_route!` rows.
    documented: Option<Documented>,
}

/// The schemas an operation refers to, by name.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// What a route of the member API tells the OpenAPI document, from its handler's
/// `#[utoipa::path]`.
pub struct Documented {
    pub method: HttpMethod,
    /// The operation as annotated, with its tags; the security requirement is the
    /// document's to add, from the row's [`Access`].
    pub operation: Operation,
    /// Adds the schemas the operation's bodies refer to.
    pub schemas: fn(&mut Schemas),
}

/// A row's path template, as a type: `route!` declares one per row so that the compiler
/// can hold the template against the handler's guard.
pub trait Template {
    const PATH: &'static str;
}

/// A handler: `async fn(Req) -> Result<Response>`, or `async fn(Req, G)` where `G` is
/// a [`Guard`] for what the path names. `M` only tells the two shapes apart.
pub trait Handler<M>: Send + Sync + 'static {
    /// The path parameters the handler's guard reads, in order.
    const PARAMS: &'static [&'static str];
    fn erase(self) -> (Resolve, Erased);
}

/// The shape of a handler that needs nothing from its path.
pub struct Unguarded;

impl<F, Fut> Handler<Unguarded> for F
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    const PARAMS: &'static [&'static str] = &[];

    fn erase(self) -> (Resolve, Erased) {
        fn nothing(_: &Req) -> BoxFuture<'_, Result<Resolved>> {
            Box::pin(async { Ok(Box::new(()) as Resolved) })
        }
        (nothing, Arc::new(move |req, _| Box::pin(self(req))))
    }
}

impl<F, Fut, G> Handler<(G,)> for F
where
    F: Fn(Req, G) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
    G: Guard,
{
    const PARAMS: &'static [&'static str] = G::PARAMS;

    fn erase(self) -> (Resolve, Erased) {
        fn resolve<G: Guard>(req: &Req) -> BoxFuture<'_, Result<Resolved>> {
            Box::pin(async move { Ok(Box::new(G::resolve(req).await?) as Resolved) })
        }
        let handler: Erased = Arc::new(move |req, resolved: Resolved| {
            match resolved.downcast::<G>() {
                Ok(guard) => Box::pin(self(req, *guard)),
                // `resolve::<G>` made it: the two halves are built together here.
                Err(_) => Box::pin(async {
                    Err(Error::Internal(anyhow::anyhow!("a guard of another type")))
                }),
            }
        });
        (resolve::<G>, handler)
    }
}

/// Whether the `{name}` parameters of `path` are `params`, in order. Evaluated by the
/// compiler for every row of every table.
pub const fn params_match(path: &str, params: &[&str]) -> bool {
    let p = path.as_bytes();
    let (mut i, mut k) = (0, 0);
    while i < p.len() {
        if p[i] != b'{' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < p.len() && p[end] != b'}' {
            end += 1;
        }
        if k >= params.len() {
            return false;
        }
        let want = params[k].as_bytes();
        if want.len() != end - start {
            return false;
        }
        let mut j = 0;
        while j < want.len() {
            if want[j] != p[start + j] {
                return false;
            }
            j += 1;
        }
        k += 1;
        i = end + 1;
    }
    k == params.len()
}

/// One row of a table: `route!(METHOD "template", Access, handler)`.
macro_rules! route {
    ($method:ident $path:literal, $access:ident, $handler:expr) => {{
        struct Path;
        impl $crate::web::router::Template for Path {
            const PATH: &'static str = $path;
        }
        $crate::web::router::Route::new::<Path, _, _>(
            ::warp::http::Method::$method,
            $crate::web::router::Access::$access,
            $handler,
        )
    }};
}
pub(crate) use route;

/// One row of the member API: `api_route!(Access, module::handler)`. The method, the path
/// and the operation are those of the handler's `#[utoipa::path]` (the type utoipa makes
/// for it, `module::__path_handler`); see [`Route::api`].
macro_rules! api_route {
    ($access:ident, $module:ident :: $handler:ident) => {
        ::pastey::paste! {
            $crate::web::router::Route::api::<$module::[<__path_ $handler>], _, _>(
                $crate::web::router::Access::$access,
                stringify!($module),
                $module::$handler,
            )
        }
    };
}
pub(crate) use api_route;

impl Route {
    /// A row whose template `T` names exactly the parameters the handler's guard reads
    /// (checked by the compiler); see `route!`.
    pub fn new<T: Template, M, H: Handler<M>>(method: Method, access: Access, handler: H) -> Route {
        const {
            assert!(
                params_match(T::PATH, H::PARAMS),
                "the path's parameters are not the ones the handler's guard reads"
            )
        };
        Route::build(method, T::PATH, access, handler, None)
    }

    /// A row of the member API whose method, path and operation are those `P`, the
    /// handler's `#[utoipa::path]`, declares; `module` is the handler's module, the tag of
    /// an operation that names none (as utoipa's `paths(...)` would tag it). See
    /// `api_route!`.
    ///
    /// Panics, naming the route, when the annotation gives other than one method, or when
    /// the path's parameters are not, in order, the ones the handler's guard reads and the
    /// ones the operation declares as `Path` parameters.
    pub fn api<P, M, H>(access: Access, module: &'static str, handler: H) -> Route
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
        H: Handler<M>,
    {
        let path = intern(P::path());
        let method = match P::methods().as_slice() {
            [method] => method.clone(),
            _ => panic!("{path}: the handler's #[utoipa::path] must give one method"),
        };
        let name = method_of(&method);
        let mut operation = P::operation();
        let tags = operation.tags.get_or_insert_with(Vec::new);
        tags.extend(P::tags().into_iter().map(String::from));
        if tags.is_empty() && !module.is_empty() {
            tags.push(module.to_string());
        }
        assert!(
            params_match(path, H::PARAMS),
            "{name} {path}: the path's parameters are not the ones the handler's guard reads ({:?})",
            H::PARAMS
        );
        let declared: Vec<&str> = operation
            .parameters
            .iter()
            .flatten()
            .filter_map(|p| match p {
                RefOr::T(p) if p.parameter_in == ParameterIn::Path => Some(p.name.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            params_match(path, &declared),
            "{name} {path}: the path's parameters are not the ones its #[utoipa::path] declares in `params` ({declared:?})"
        );
        let documented = Documented {
            method,
            operation,
            schemas: <P as utoipa::__dev::SchemaReferences>::schemas,
        };
        Route::build(name, path, access, handler, Some(documented))
    }

    fn build<M, H: Handler<M>>(
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
        documented: Option<Documented>,
    ) -> Route {
        let segments = path
            .split('/')
            .skip(1)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name),
                    None => Segment::Fixed(s),
                },
            )
            .collect();
        let (resolve, handler) = handler.erase();
        Route {
            method,
            path,
            access,
            csrf: true,
            audit: None,
            segments,
            resolve,
            handler,
            documented,
        }
    }

    /// What the OpenAPI document says of this route, for a row of the member API.
    pub fn documented(&self) -> Option<&Documented> {
        self.documented.as_ref()
    }

    /// A page route whose form another site may send: it changes nothing, or a token in
    /// its URL is the proof (RFC 8058 one-click unsubscribe).
    pub fn without_csrf(mut self) -> Route {
        self.csrf = false;
        self
    }

    /// A change to record in the account's audit log, under `action`, when the route
    /// answers with success (a page's redirect after a form counts).
    pub fn audited(mut self, action: &'static str) -> Route {
        self.audit = Some(action);
        self
    }

    /// The names of the path's parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(p) => Some(*p),
            Segment::Fixed(_) => None,
        })
    }

    fn matches(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut parts = path.split('/').skip(1);
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Fixed(f) if *f == part => {}
                Segment::Fixed(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                // An id is a number: `/sessions/abc` is no route at all (404), not a
                // session route with a bad id.
                Segment::Param(name)
                    if name.ends_with("_id") && !part.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    return None;
                }
                Segment::Param(name) => params.push((*name, part.to_string())),
            }
        }
        parts.next().is_none().then_some(params)
    }
}

/// A path utoipa gives as a `String`, kept for the life of the program like a literal
/// template: each distinct path once, however often a table is built.
fn intern(path: String) -> &'static str {
    static PATHS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut paths = PATHS.lock().unwrap_or_else(PoisonError::into_inner);
    match paths.get(path.as_str()) {
        Some(kept) => kept,
        None => {
            let kept: &'static str = Box::leak(path.into_boxed_str());
            paths.insert(kept);
            kept
        }
    }
}

fn method_of(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

enum Lookup<'a> {
    Found(&'a Route, Vec<(&'static str, String)>),
    /// The path is known, the method is not: what `Allow` lists, and the route's label.
    WrongMethod(String, &'static str),
    Unknown,
}

/// How a page table answers an error: an HTML page (a member page asked for without a
/// session sends the browser to log in). Gets the method and the path with its query.
pub type ErrorPage = fn(&State, &Method, &str, Error) -> Response;

pub struct Table {
    routes: Vec<Route>,
    body_limit: usize,
    /// Set for pages: forms need the CSRF token, errors are pages, and public pages still
    /// learn who is signed in.
    error_page: Option<ErrorPage>,
}

impl Table {
    pub fn new(body_limit: usize, routes: Vec<Route>) -> Table {
        Table {
            routes,
            body_limit,
            error_page: None,
        }
    }

    /// A table of server-rendered pages.
    pub fn pages(body_limit: usize, routes: Vec<Route>, error_page: ErrorPage) -> Table {
        Table {
            routes,
            body_limit,
            error_page: Some(error_page),
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    fn knows(&self, path: &str) -> bool {
        self.routes.iter().any(|r| r.matches(path).is_some())
    }

    fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut allow: Vec<&str> = Vec::new();
        let mut label = None;
        for r in &self.routes {
            if let Some(params) = r.matches(path) {
                // HEAD is answered as GET (hyper leaves the body out).
                if r.method == *method || (*method == Method::HEAD && r.method == Method::GET) {
                    return Lookup::Found(r, params);
                }
                allow.push(r.method.as_str());
                label.get_or_insert(r.path);
            }
        }
        match label {
            Some(label) => Lookup::WrongMethod(allow.join(", "), label),
            None => Lookup::Unknown,
        }
    }

    /// The table as one warp filter. It takes a request only when its path is in the
    /// table, so the other audiences' filters still see the rest.
    pub fn filter(self, state: &State) -> BoxedFilter<(Response,)> {
        let table = Arc::new(self);
        let matcher = table.clone();
        let state = state.clone();
        warp::path::full()
            .and_then(move |path: FullPath| {
                let known = matcher.knows(path.as_str());
                async move {
                    if known {
                        Ok(path)
                    } else {
                        Err(warp::reject::not_found())
                    }
                }
            })
            .and(warp::method())
            .and(warp::header::headers_cloned())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::ext::optional::<Peer>())
            .and(warp::body::stream())
            .then(
                move |path: FullPath,
                      method: Method,
                      headers: HeaderMap,
                      query: String,
                      peer: Option<Peer>,
                      body| {
                    let (table, state) = (table.clone(), state.clone());
                    async move {
                        let incoming = Incoming {
                            state,
                            method,
                            headers,
                            query,
                            peer: peer.map(|p| p.0),
                        };
                        table.dispatch(path.as_str(), incoming, body).await
                    }
                },
            )
            .boxed()
    }

    async fn dispatch<S, B, E>(&self, path: &str, incoming: Incoming, body: S) -> Response
    where
        S: Stream<Item = std::result::Result<B, E>>,
        B: Buf,
        E: std::fmt::Display,
    {
        let (route, params) = match self.lookup(&incoming.method, path) {
            Lookup::Found(route, params) => (route, params),
            Lookup::WrongMethod(allow, label) => {
                let mut res = error::method_not_allowed(&allow);
                res.extensions_mut().insert(RouteLabel(label));
                return res;
            }
            Lookup::Unknown => return error::respond(Error::NotFound),
        };
        // What an error page needs once the request has gone to the handler.
        let page = self.error_page.map(|render| {
            let mut at = path.to_string();
            if !incoming.query.is_empty() {
                at.push('?');
                at.push_str(&incoming.query);
            }
            (render, incoming.state.clone(), incoming.method.clone(), at)
        });
        let result = async {
            let mut req = Req::new(incoming, path, params);
            if route.access == Access::Public {
                if page.is_some() {
                    // Public pages show the signed-in member's navigation too.
                    let creds = extract::credentials(&req.state.web, &req.headers);
                    if creds.cookie.is_some() {
                        req.auth = req.state.accounts.authenticate(&creds).await.ok();
                    }
                }
            } else {
                let creds = extract::credentials(&req.state.web, &req.headers);
                let auth = req.state.accounts.authenticate(&creds).await?;
                if route.access == Access::Operator && !auth.member.is_operator {
                    return Err(Error::forbidden(
                        "not_operator",
                        "this is for barkeep's operators (`barkeep admin grant EMAIL` makes one)",
                    ));
                }
                req.auth = Some(auth);
            }
            // What the path names, looked up in the account (404 when not its), then
            // whether the role acted with may do what the route does.
            let resolved = (route.resolve)(&req).await?;
            if let Some(needed) = route.access.role() {
                req.acting()?.allow(needed)?;
            }
            if has_body(&req.method) {
                if route.csrf {
                    csrf::check_origin(&req.state.web, &req.headers)?;
                }
                req.body = Some(extract::read_limited(&req.headers, body, self.body_limit).await);
                if page.is_some() && route.csrf {
                    let session = req.session_token();
                    csrf::check(
                        &req.state.web,
                        &req.headers,
                        req.body()?,
                        session.as_deref(),
                    )?;
                }
            }
            let audit = route.audit.and_then(|action| change_of(&req, action));
            let res = (route.handler)(req, resolved).await?;
            if let Some((mut change, state)) = audit
                && (res.status().is_success() || res.status().is_redirection())
            {
                if let Some(AuditSubject(subject)) = res.extensions().get::<AuditSubject>() {
                    change.subject = subject.clone();
                }
                state.teams.audit(change).await;
            }
            Ok(res)
        }
        .await;
        let mut res = match (result, page) {
            (Ok(res), _) => res,
            (Err(err), Some((render, state, method, at))) => render(&state, &method, &at, err),
            (Err(err), None) => error::respond(err),
        };
        res.extensions_mut().insert(RouteLabel(route.path));
        res
    }
}

/// What a handler may add to the answer to say what its change touched, for the audit
/// log (`invited ann@example.com as editor`); without it the path's ids are named.
#[derive(Clone)]
pub struct AuditSubject(pub String);

/// The audit entry an audited route's request makes, if it acts in an account.
fn change_of(req: &Req, action: &'static str) -> Option<(Change<'static>, State)> {
    let auth = req.auth.as_ref()?;
    let acting = auth.acting?;
    let subject = req
        .params
        .iter()
        .map(|(name, value)| format!("{} {value}", name.trim_end_matches("_id")))
        .collect::<Vec<_>>()
        .join(", ");
    Some((
        Change {
            account: acting.account,
            by: Some(auth.member.id),
            action,
            subject: if subject.is_empty() {
                "the account".to_string()
            } else {
                subject
            },
            ip: Some(req.client().ip.to_string()),
        },
        req.state.clone(),
    ))
}

fn has_body(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

struct Incoming {
    state: State,
    method: Method,
    headers: HeaderMap,
    query: String,
    peer: Option<SocketAddr>,
}

/// A request as a handler sees it.
pub struct Req {
    pub state: State,
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub headers: HeaderMap,
    pub query: String,
    pub peer: Option<SocketAddr>,
    params: Vec<(&'static str, String)>,
    auth: Option<Auth>,
    body: Option<Result<Bytes>>,
}

impl Req {
    fn new(incoming: Incoming, path: &str, params: Vec<(&'static str, String)>) -> Req {
        Req {
            state: incoming.state,
            method: incoming.method,
            path: path.to_string(),
            headers: incoming.headers,
            query: incoming.query,
            peer: incoming.peer,
            params,
            auth: None,
            body: None,
        }
    }

    pub fn auth(&self) -> Result<&Auth> {
        self.auth.as_ref().ok_or(Error::Unauthorized)
    }

    /// Who is signed in, if anyone (public pages look, without demanding it).
    pub fn signed_in(&self) -> Option<&Auth> {
        self.auth.as_ref()
    }

    /// Logs in with the client's address, user agent and device cookie (see
    /// `Accounts::login`); the caller sets the cookies with `cookies::logged_in`.
    pub async fn log_in(&self, email: &str, password: &str) -> Result<crate::accounts::LoggedIn> {
        let client = self.client();
        self.state
            .accounts
            .login(
                email,
                password,
                client.ip,
                client.user_agent.as_deref(),
                super::cookies::device_of(&self.state.web, &self.headers).as_ref(),
            )
            .await
    }

    /// The session token this browser is signed in with (its cookie), when it is signed
    /// in by cookie: what its pages' form tokens are bound to.
    pub fn session_token(&self) -> Option<String> {
        let creds = extract::credentials(&self.state.web, &self.headers);
        match self.auth.as_ref() {
            Some(auth) if auth.session_id.is_some() && creds.bearer.is_none() => creds.cookie,
            _ => None,
        }
    }

    /// After the session ended (the account was deleted): the rest of the request is
    /// answered as for anyone.
    pub fn sign_out(&mut self) {
        self.auth = None;
    }

    pub fn member(&self) -> Result<&member::Model> {
        Ok(&self.auth()?.member)
    }

    /// The account the request acts in, and the role it acts with there: 403
    /// `no_account` for a person in no account.
    pub fn acting(&self) -> Result<Acting> {
        self.auth()?.acting.ok_or_else(|| {
            Error::forbidden(
                "no_account",
                "you are in no account: create one, or accept an invitation",
            )
        })
    }

    /// The account the request acts in.
    pub fn account(&self) -> Result<AccountId> {
        Ok(self.acting()?.account)
    }

    /// A parameter of the path as it came, for the guards (`super::guards`) that read it.
    pub(super) fn path_param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw body, at most the table's limit.
    pub fn body(&self) -> Result<&Bytes> {
        match &self.body {
            Some(Ok(bytes)) => Ok(bytes),
            Some(Err(Error::PayloadTooLarge)) => Err(Error::PayloadTooLarge),
            Some(Err(err)) => Err(Error::bad_request("body_unreadable", err.to_string())),
            None => Err(Error::Internal(anyhow::anyhow!("this method has no body"))),
        }
    }

    /// The JSON body: 415 unless sent as `application/json`, 413 above the limit, 400
    /// when it is not JSON, 422 naming the field when it has the wrong shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if !extract::is_json(&self.headers) {
            return Err(Error::UnsupportedMediaType(
                "send the body as application/json".into(),
            ));
        }
        extract::parse_json(self.body()?)
    }

    /// The form fields of a page's form.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T> {
        extract::parse_form(self.body()?)
    }

    /// The query string, or a 422 naming the parameter that does not parse.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T> {
        serde_urlencoded::from_str::<T>(&self.query)
            .map_err(|e| Error::invalid("query", format!("the query string does not parse: {e}")))
    }

    pub fn client(&self) -> Client {
        Client::of(self.peer, &self.headers, &self.state.web.trusted_proxies)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard reading what `guards::OwnedVariant` reads, without a database.
    struct BarAndVariant;

    impl Guard for BarAndVariant {
        const PARAMS: &'static [&'static str] = &["bar_id", "variant_id"];
        fn resolve(_: &Req) -> BoxFuture<'_, Result<Self>> {
            Box::pin(async { Ok(BarAndVariant) })
        }
    }

    async fn nothing(_: Req, _: BarAndVariant) -> Result<Response> {
        Err(Error::NotFound)
    }

    #[test]
    fn templates_match_whole_paths_and_name_their_parameters() {
        let r = route!(GET "/api/v1/bars/{bar_id}/variants/{variant_id}", Member, nothing);
        assert_eq!(r.params().collect::<Vec<_>>(), ["bar_id", "variant_id"]);
        assert_eq!(
            r.matches("/api/v1/bars/3/variants/9"),
            Some(vec![("bar_id", "3".into()), ("variant_id", "9".into())])
        );
        assert_eq!(r.matches("/api/v1/bars/3/variants"), None);
        assert_eq!(r.matches("/api/v1/bars/3/variants/9/stats"), None);
        assert_eq!(r.matches("/api/v1/bars//variants/9"), None);
        assert_eq!(r.matches("/api/v1/bars/x/variants/9"), None);
        let t = Table::new(
            10,
            vec![
                r,
                route!(POST "/api/v1/bars/{bar_id}/variants/{variant_id}", Member, nothing),
            ],
        );
        assert!(
            matches!(t.lookup(&Method::DELETE, "/api/v1/bars/1/variants/2"), Lookup::WrongMethod(allow, _) if allow == "GET, POST")
        );
        assert!(matches!(
            t.lookup(&Method::HEAD, "/api/v1/bars/1/variants/2"),
            Lookup::Found(..)
        ));
        assert!(matches!(
            t.lookup(&Method::GET, "/api/v1/bars"),
            Lookup::Unknown
        ));
    }

    /// Handlers as the member API writes them: the method and path are in the annotation.
    mod handlers {
        use super::*;

        /// One variant.
        #[utoipa::path(get, path = "/api/v1/bars/{bar_id}/variants/{variant_id}", tag = "bars",
            params(("bar_id" = i64, Path), ("variant_id" = i64, Path)),
            responses((status = 200, description = "The variant")))]
        pub(super) async fn variant(_: Req, _: BarAndVariant) -> Result<Response> {
            Err(Error::NotFound)
        }

        /// Not tagged.
        #[utoipa::path(delete, path = "/api/v1/me", responses((status = 204, description = "Gone")))]
        pub(super) async fn untagged(_: Req) -> Result<Response> {
            Err(Error::NotFound)
        }

        /// A template with one parameter, a guard reading two.
        #[utoipa::path(get, path = "/api/v1/bars/{bar_id}",
            params(("bar_id" = i64, Path)),
            responses((status = 200, description = "The bar")))]
        pub(super) async fn fewer_than_the_guard(_: Req, _: BarAndVariant) -> Result<Response> {
            Err(Error::NotFound)
        }

        /// The guard's parameters, but only one of them declared.
        #[utoipa::path(get, path = "/api/v1/bars/{bar_id}/variants/{variant_id}",
            params(("bar_id" = i64, Path)),
            responses((status = 200, description = "The variant")))]
        pub(super) async fn undeclared(_: Req, _: BarAndVariant) -> Result<Response> {
            Err(Error::NotFound)
        }
    }

    #[test]
    fn an_api_row_takes_its_method_path_and_operation_from_the_annotation() {
        let r = api_route!(Member, handlers::variant);
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path, "/api/v1/bars/{bar_id}/variants/{variant_id}");
        assert_eq!(r.access, Access::Member);
        assert_eq!(r.params().collect::<Vec<_>>(), ["bar_id", "variant_id"]);
        assert!(r.matches("/api/v1/bars/3/variants/9").is_some());
        let doc = r.documented().expect("an API row is documented");
        assert!(doc.method == HttpMethod::Get);
        assert_eq!(doc.operation.operation_id.as_deref(), Some("variant"));
        assert_eq!(doc.operation.tags, Some(vec!["bars".to_string()]));
        // The same path from another table build is the same kept string.
        let again = api_route!(Member, handlers::variant);
        assert!(std::ptr::eq(r.path, again.path));
        // An operation that names no tag is tagged with its module, as `paths(...)` did.
        let r = api_route!(Public, handlers::untagged);
        assert_eq!(r.method, Method::DELETE);
        let doc = r.documented().unwrap();
        assert_eq!(doc.operation.tags, Some(vec!["handlers".to_string()]));
        // Literal rows are not.
        assert!(
            route!(GET "/api/v1/me", Public, nothing_at_all)
                .documented()
                .is_none()
        );
    }

    async fn nothing_at_all(_: Req) -> Result<Response> {
        Err(Error::NotFound)
    }

    #[test]
    #[should_panic(
        expected = "GET /api/v1/bars/{bar_id}: the path's parameters are not the ones the handler's guard reads"
    )]
    fn an_api_row_whose_guard_reads_other_parameters_panics_naming_it() {
        let _ = api_route!(Member, handlers::fewer_than_the_guard);
    }

    #[test]
    #[should_panic(
        expected = "GET /api/v1/bars/{bar_id}/variants/{variant_id}: the path's parameters are not the ones its #[utoipa::path] declares"
    )]
    fn an_api_row_whose_operation_declares_other_path_parameters_panics_naming_it() {
        let _ = api_route!(Member, handlers::undeclared);
    }

    /// What the compiler holds every row to (a row that fails it does not build).
    #[test]
    fn a_template_matches_a_guard_only_with_the_same_parameters_in_order() {
        const BOTH: &[&str] = &["bar_id", "variant_id"];
        assert!(params_match(
            "/api/v1/bars/{bar_id}/variants/{variant_id}",
            BOTH
        ));
        assert!(params_match("/api/v1/me", &[]));
        assert!(!params_match("/api/v1/bars/{bar_id}", BOTH));
        assert!(!params_match(
            "/api/v1/bars/{bar_id}/variants/{variant_id}",
            &["bar_id"]
        ));
        assert!(!params_match(
            "/api/v1/variants/{variant_id}/bars/{bar_id}",
            BOTH
        ));
        assert!(!params_match("/api/v1/sites/{site_id}", &["site"]));
        assert!(!params_match("/api/v1/sites/{site}", &["site_id"]));
        assert!(!params_match("/api/v1/sites", &["site_id"]));
    }
}
