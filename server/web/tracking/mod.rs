//! The links inside barkeep's emails: the open pixel and click redirects. They answer at
//! once whatever happens (the pixel is always the image); the only state they change is
//! the record of the open or click.

use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use super::guards::LinkToken;
use super::pages::message;
use super::router::{Req, Table, route};
use super::visitor::events::PIXEL;
use crate::error::Result;
use crate::mail::Fetch;

pub(crate) fn table() -> Table {
    Table::new(
        0,
        vec![
            route!(GET "/t/o/{token}", Public, open),
            route!(GET "/t/c/{token}", Public, click),
        ],
    )
}

fn fetch(req: &Req) -> Fetch {
    let user_agent = req.header("user-agent").map(str::to_string);
    Fetch {
        bot: req.state.ingest.is_bot(user_agent.as_deref()),
        user_agent,
        ip: Some(req.client().ip),
        head: req.method == Method::HEAD,
    }
}

async fn open(req: Req, LinkToken(token): LinkToken) -> Result<Response> {
    req.state.tracker.open(&token, &fetch(&req)).await;
    let mut res = Response::new(PIXEL.into());
    let h = res.headers_mut();
    h.insert("content-type", HeaderValue::from_static("image/gif"));
    h.insert(
        "cache-control",
        HeaderValue::from_static("no-store, max-age=0"),
    );
    Ok(res)
}

async fn click(req: Req, LinkToken(token): LinkToken) -> Result<Response> {
    match req.state.tracker.click(&token, &fetch(&req)).await {
        Some(url) => {
            let mut res = Response::new(Default::default());
            *res.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&url) {
                res.headers_mut().insert("location", v);
            }
            Ok(res)
        }
        None => message(
            &req,
            StatusCode::NOT_FOUND,
            "This link does not work",
            "The link is incomplete or was changed. Open it again from the email.",
        ),
    }
}
