//! Where email goes: a folder of `.eml` files (the default, for running locally), an
//! SMTP server through lettre (DKIM-signed when a key is configured), or an HTTP email
//! API speaking Postmark's JSON. Every send ends in success, "try again later", or
//! "refused for good" (and whether the address itself was refused).
//!
//! DKIM signs a finished message, and barkeep builds one only for SMTP (and the folder,
//! which shows what SMTP would send). An HTTP email API is handed the parts of an email
//! as JSON and builds the message itself, so the provider signs it with the domain's key
//! set up there; a DKIM key configured with an HTTP API is not used, and startup says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::message::dkim::DkimConfig;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::MailTransportConfig;
use crate::db::entities::outbox::Stream;
use crate::domain::Secret;

/// One HTTP attempt gets this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts at the HTTP API within one send, before the outbox's own backoff takes over.
const HTTP_ATTEMPTS: u32 = 3;
/// Logged at startup when a DKIM key is configured together with an HTTP email API.
const DKIM_UNUSED_WITH_HTTP: &str = "BARKEEP_DKIM_KEY_FILE is not used with an HTTP email API: barkeep hands the API the parts of each email, not a finished message, and the provider signs with the DKIM key set up for your domain there";

/// An email ready to hand to a transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub outbox_id: i64,
    pub kind: crate::db::entities::outbox::EmailKind,
    /// When it was queued: names its file in the folder transport, the same on a retry.
    pub created: DateTime<Utc>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub date: DateTime<Utc>,
    /// `List-Id`, `List-Unsubscribe`, `List-Unsubscribe-Post` for subscription mail.
    pub headers: Vec<(&'static str, String)>,
    pub stream: Stream,
}

/// Why a send did not succeed.
#[derive(Debug)]
pub enum SendError {
    /// Try again later: the server or the network had a moment.
    Retry(anyhow::Error),
    /// Refused for good. `address` when the recipient's address itself was refused
    /// (unknown user, inactive recipient): it is suppressed from subscription mail.
    Refused { error: anyhow::Error, address: bool },
}

impl SendError {
    pub fn error(&self) -> &anyhow::Error {
        match self {
            SendError::Retry(e) | SendError::Refused { error: e, .. } => e,
        }
    }
}

#[derive(Clone)]
pub enum Transport {
    Folder {
        dir: PathBuf,
        dkim: Option<Arc<DkimConfig>>,
    },
    Smtp {
        smtp: AsyncSmtpTransport<Tokio1Executor>,
        dkim: Option<Arc<DkimConfig>>,
    },
    Http(HttpApi),
}

impl Transport {
    pub fn from_config(
        config: &MailTransportConfig,
        dkim: Option<DkimConfig>,
    ) -> anyhow::Result<Self> {
        let dkim = dkim.map(Arc::new);
        match config {
            MailTransportConfig::Folder(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating mail folder {}", dir.display()))?;
                Ok(Transport::Folder {
                    dir: dir.clone(),
                    dkim,
                })
            }
            MailTransportConfig::Smtp(url) => {
                let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("BARKEEP_MAIL_URL")?
                    .timeout(Some(Duration::from_secs(30)))
                    .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(16))
                    .build();
                Ok(Transport::Smtp { smtp, dkim })
            }
            MailTransportConfig::Http { base, token } => {
                if dkim.is_some() {
                    tracing::warn!("{DKIM_UNUSED_WITH_HTTP}");
                }
                Ok(Transport::Http(HttpApi {
                    client: reqwest::Client::builder()
                        .timeout(HTTP_TIMEOUT)
                        .build()
                        .context("building the HTTP client")?,
                    endpoint: format!("{}/email", base.trim_end_matches('/')),
                    token: token.clone(),
                }))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Folder { dir, .. } => format!("folder {}", dir.display()),
            Transport::Smtp { dkim, .. } => {
                format!("SMTP{}", if dkim.is_some() { ", DKIM-signed" } else { "" })
            }
            Transport::Http(api) => format!(
                "HTTP email API at {} (DKIM-signed by the provider)",
                api.endpoint
            ),
        }
    }

    pub async fn send(&self, email: &Outgoing) -> Result<(), SendError> {
        match self {
            Transport::Folder { dir, dkim } => {
                let message = build_message(email, dkim.as_deref()).map_err(refused)?;
                // The name is fixed by the outbox row, so a retry overwrites rather than
                // adding a second copy; the rename makes the file appear whole.
                let name = format!(
                    "{}-{:06}-{}.eml",
                    email.created.format("%Y%m%dT%H%M%S"),
                    email.outbox_id,
                    email.kind
                );
                let tmp = dir.join(format!(".{name}.tmp"));
                let write = async {
                    tokio::fs::write(&tmp, message.formatted()).await?;
                    tokio::fs::rename(&tmp, dir.join(&name)).await
                };
                write.await.map_err(|e| {
                    SendError::Retry(anyhow::Error::new(e).context("writing the email file"))
                })
            }
            Transport::Smtp { smtp, dkim } => {
                let message = build_message(email, dkim.as_deref()).map_err(refused)?;
                smtp.send(message).await.map(|_| ()).map_err(|e| {
                    if e.is_permanent() {
                        // 5xx: the server will never take it. A refused recipient is the
                        // usual reason (550 no such user); anything about the message
                        // itself would show as the same code, so both count as the address.
                        SendError::Refused {
                            error: anyhow::Error::new(e).context("SMTP refused the email for good"),
                            address: true,
                        }
                    } else {
                        SendError::Retry(anyhow::Error::new(e).context("SMTP delivery"))
                    }
                })
            }
            Transport::Http(api) => api.send(email).await,
        }
    }
}

fn refused(e: anyhow::Error) -> SendError {
    SendError::Refused {
        error: e,
        address: false,
    }
}

fn build_message(email: &Outgoing, dkim: Option<&DkimConfig>) -> anyhow::Result<Message> {
    let from: Mailbox = email.from.parse().context("sender address")?;
    let to: Mailbox = email.to.parse().context("recipient address")?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .date(std::time::SystemTime::from(email.date))
        .message_id(Some(email.message_id.clone()));
    for (name, value) in &email.headers {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.clone(),
        ));
    }
    let mut message = builder.multipart(MultiPart::alternative_plain_html(
        email.text.clone(),
        email.html.clone(),
    ))?;
    if let Some(dkim) = dkim {
        message.sign(dkim);
    }
    Ok(message)
}

/// An HTTP email API with Postmark's JSON (`POST /email`, `X-Postmark-Server-Token`).
#[derive(Clone)]
pub struct HttpApi {
    client: reqwest::Client,
    endpoint: String,
    token: Secret<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApiEmail<'a> {
    from: &'a str,
    to: &'a str,
    subject: &'a str,
    text_body: &'a str,
    html_body: &'a str,
    headers: Vec<ApiHeader<'a>>,
    message_stream: &'static str,
    metadata: ApiMetadata,
    track_opens: bool,
    track_links: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApiHeader<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ApiMetadata {
    /// Comes back in the API's bounce and complaint webhooks.
    outbox_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ApiAnswer {
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    message: String,
}

/// Postmark's codes for a recipient that must not be mailed again (inactive recipient,
/// invalid address).
const ADDRESS_CODES: [i64; 2] = [406, 300];

impl HttpApi {
    async fn send(&self, email: &Outgoing) -> Result<(), SendError> {
        let mut headers = vec![ApiHeader {
            name: "Message-ID",
            value: &email.message_id,
        }];
        headers.extend(
            email
                .headers
                .iter()
                .map(|(n, v)| ApiHeader { name: n, value: v }),
        );
        let body = ApiEmail {
            from: &email.from,
            to: &email.to,
            subject: &email.subject,
            text_body: &email.text,
            html_body: &email.html,
            headers,
            // Postmark keeps transactional and broadcast mail apart, with their own
            // reputation and their own unsubscribe handling.
            message_stream: match email.stream {
                Stream::Transactional => "outbound",
                Stream::Subscription => "broadcast",
            },
            metadata: ApiMetadata {
                outbox_id: email.outbox_id.to_string(),
            },
            // barkeep tracks on its own (and only when the operator lets it).
            track_opens: false,
            track_links: "None",
        };
        let mut last = anyhow::anyhow!("no attempt");
        for attempt in 0..HTTP_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            let res = self
                .client
                .post(&self.endpoint)
                .header("accept", "application/json")
                .header("x-postmark-server-token", self.token.expose())
                .json(&body)
                .send()
                .await;
            let res = match res {
                Ok(r) => r,
                Err(e) => {
                    last = anyhow::Error::new(e).context("the email API did not answer");
                    continue;
                }
            };
            let status = res.status();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let answer: ApiAnswer = res.json().await.unwrap_or_default();
            if status.is_success() && answer.error_code == 0 {
                return Ok(());
            }
            let what = anyhow::anyhow!(
                "the email API answered {status} (code {}): {}",
                answer.error_code,
                answer.message
            );
            match status.as_u16() {
                429 | 500..=599 => {
                    if let Some(secs) = retry_after.filter(|s| *s <= 5) {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                    }
                    last = what;
                }
                // A bad token or account problem: fixable by the operator, so keep the mail.
                401 | 403 => return Err(SendError::Retry(what)),
                _ => {
                    return Err(SendError::Refused {
                        error: what,
                        address: ADDRESS_CODES.contains(&answer.error_code),
                    });
                }
            }
        }
        Err(SendError::Retry(last))
    }
}
