//! The editor's preview frame: a plain stand-in page with the bar drawn by the real
//! runtime, spliced with the bar as the form describes it (shown at once, whatever its
//! targeting or trigger). The editor loads it in a sandboxed frame (scripts, no origin)
//! and reloads it as the form changes. Its runtime's beacons go to `/preview/e` and
//! `/preview/l`, which count nothing.

use serde::Serialize;
use warp::http::StatusCode;
use warp::http::header::{self, HeaderValue};
use warp::reply::Response;

use super::assets::compressed;
use super::bars::previewed;
use super::forms::{Fields, sentence};
use crate::domain::bar::Modules;
use crate::domain::bar::{RuntimeBar, Snapshot};
use crate::domain::{BarId, DeploymentId, VariantId};
use crate::error::{Error, Result};
use crate::scripts::compiled::RUNTIME;
use crate::web::no_content;
use crate::web::router::Req;

#[derive(Serialize)]
struct RuntimeConfig<'a> {
    e: String,
    h: [&'a str; 1],
    b: [RuntimeBar; 1],
}

#[derive(Serialize)]
struct PreviewPage {
    nonce: String,
    script: Option<String>,
    problem: Option<String>,
    bottom: bool,
}

/// The host the frame is loaded from: the runtime draws only on its site's hostnames.
fn frame_host(req: &Req, base_url: &str) -> String {
    let host = req
        .header("host")
        .map(str::to_string)
        .or_else(|| {
            url::Url::parse(base_url)
                .ok()?
                .host_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    // Without the port; an IPv6 literal keeps its brackets off as `location.hostname` does.
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
        None => host.split(':').next().unwrap_or_default().to_string(),
    };
    host.to_ascii_lowercase()
}

pub(super) async fn page(req: Req) -> Result<Response> {
    let f: Fields = Fields(req.query().unwrap_or_default());
    let base = req.state.web.base_url.clone();
    let nonce = crate::web::csrf::issue();
    let ctx = match previewed(&req, &f).await? {
        Ok((settings, content)) => {
            let bottom = settings.placement == crate::domain::bar::Placement::Bottom;
            let snapshot = Snapshot {
                bar_id: BarId(0),
                variant_id: VariantId(0),
                variant_name: "A".into(),
                weight: 1,
                settings,
                content,
            };
            let bar = RuntimeBar::from_deployments(&[(DeploymentId(0), snapshot)])
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("a preview without a bar")))?
                .for_preview();
            let host = frame_host(&req, &base);
            let mut modules = Modules::new();
            bar.modules(&mut modules);
            let config = serde_json::to_string(&RuntimeConfig {
                e: format!("{base}/preview"),
                h: [&host],
                b: [bar],
            })
            .map_err(|e| Error::Internal(e.into()))?;
            // Inline, the configuration must not be able to end the script element.
            let config = config.replace('<', "\\u003c");
            PreviewPage {
                nonce: nonce.clone(),
                script: Some(RUNTIME.assemble(&config, &modules)),
                problem: None,
                bottom,
            }
        }
        Err(invalid) => PreviewPage {
            nonce: nonce.clone(),
            script: None,
            problem: Some(format!(
                "The preview waits for a valid form: {}",
                sentence(&invalid.message)
            )),
            bottom: false,
        },
    };
    let html = req
        .state
        .views
        .render("pages/preview.html", &ctx, &super::view::Chrome::bare())
        .map_err(Error::Internal)?;
    let origin = url::Url::parse(&base)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut res = compressed(&req.headers, html.into_bytes(), "text/html; charset=utf-8");
    *res.status_mut() = StatusCode::OK;
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; connect-src {origin}; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(res)
}

/// A view, click or lead in the preview: accepted, and forgotten.
pub(super) async fn beacon(_req: Req) -> Result<Response> {
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_runtime_can_sit_in_a_script_element() {
        let r = &*crate::scripts::compiled::RUNTIME;
        for part in [&r.head, &r.tail]
            .into_iter()
            .chain(r.modules.iter().map(|(_, c)| c))
        {
            assert!(!part.contains("</script"));
            assert!(!part.contains("<!--"));
        }
    }
}
