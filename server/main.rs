//! The `barkeep` command: `serve` (the default), `migrate`, and the operator's commands.

use std::process::ExitCode;

use barkeep::app::{Application, Config, ConfigError, logs, shutdown_signal};
use barkeep::db;
use clap::{Parser, Subcommand};

/// Website engagement bars: one small script, exact and private counts.
///
/// Configuration comes from BARKEEP_* environment variables; see README.md.
#[derive(Parser)]
#[command(name = "barkeep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Members with the operator role.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// System alerts to members: draft, preview, send, report.
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Industry benchmarks.
    Benchmarks {
        #[command(subcommand)]
        command: BenchmarksCommand,
    },
    /// Stripe webhook events and how their processing went.
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Give a member (by email address) the operator role.
    Grant { email: String },
    /// Take the operator role away.
    Revoke { email: String },
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Draft an alert; prints its id.
    Draft {
        /// planned_outage, new_feature, version_update, point_release, major_release,
        /// abuse_warning, policy_change, security_breach or promotion.
        #[arg(long)]
        kind: String,
        /// all, plan:ID or member:ID.
        #[arg(long, default_value = "all")]
        audience: String,
        /// The kind's fields as JSON, e.g. '{"starts_at": "2026-12-08T01:00:00Z", "ends_at": "2026-12-08T03:00:00Z"}'.
        #[arg(long, default_value = "{}")]
        fields: String,
        /// Text added below the kind's own; blank lines separate paragraphs.
        #[arg(long)]
        message: Option<String>,
    },
    /// Print the subject, text and HTML as the audience's first member gets them.
    Preview { id: i64 },
    /// Send a draft: queues one email per member of its audience (the servers send them).
    Send { id: i64 },
    /// Queued, sent, failed, bounced, opened and clicked, people apart from machines.
    Report { id: i64 },
    /// Recent alerts.
    List,
}

#[derive(Subcommand)]
enum BenchmarksCommand {
    /// Compute a snapshot now (the servers do once a day).
    Run,
}

#[derive(Subcommand)]
enum StripeCommand {
    /// The newest events, one per line: received, id, type, status, attempts, last error.
    Events {
        /// Only events of this status: received, processed, ignored, failed, gave_up.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.into()),
    };
    logs::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&anyhow::Error::new(e).context("starting the async runtime")),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    match runtime.block_on(run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let signal = shutdown_signal();
            let app = Application::build(config).await?;
            app.run_until(signal).await
        }
        Command::Migrate => {
            connect(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => admin_command(&config, command).await,
        Command::Alert { command } => alert_command(&config, command).await,
        Command::Benchmarks {
            command: BenchmarksCommand::Run,
        } => run_benchmarks(&config).await,
        Command::Stripe {
            command: StripeCommand::Events { status, limit },
        } => stripe_events(&config, status, limit).await,
    }
}

async fn admin_command(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let conn = connect(config).await?;
    let (email, grant) = match &command {
        AdminCommand::Grant { email } => (email, true),
        AdminCommand::Revoke { email } => (email, false),
    };
    let email = barkeep::domain::Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !db::accounts::set_operator(&conn, email.as_str(), grant).await? {
        anyhow::bail!("no member has the address {email}");
    }
    println!(
        "{email} {} the operator role",
        if grant { "now has" } else { "no longer has" }
    );
    Ok(())
}

async fn run_benchmarks(config: &Config) -> anyhow::Result<()> {
    let tools = barkeep::app::operator_tools(config, barkeep::clock::Clock::system()).await?;
    for c in tools.benchmarks.compute().await? {
        println!(
            "snapshot {} over {} days: {} accounts, {} cells ({} published), {} results",
            c.snapshot_id, c.window_days, c.accounts, c.cells, c.published_cells, c.results
        );
    }
    Ok(())
}

async fn stripe_events(config: &Config, status: Option<String>, limit: u64) -> anyhow::Result<()> {
    use barkeep::db::entities::stripe_event::EventStatus;
    let conn = connect(config).await?;
    let status = status
        .map(|s| {
            serde_json::from_value::<EventStatus>(serde_json::Value::String(s.clone())).map_err(
                |_| {
                    anyhow::anyhow!(
                        "`{s}` is not a status: received, processed, ignored, failed or gave_up"
                    )
                },
            )
        })
        .transpose()?;
    for e in db::billing::recent_events(&conn, status, limit).await? {
        println!(
            "{}\t{}\t{}\t{:?}\t{}\t{}",
            e.received_at.format("%Y-%m-%dT%H:%M:%SZ"),
            e.id,
            e.kind,
            e.status,
            e.attempts,
            e.last_error.unwrap_or_default()
        );
    }
    Ok(())
}

async fn alert_command(config: &Config, command: AlertCommand) -> anyhow::Result<()> {
    let alerts = barkeep::app::operator_tools(config, barkeep::clock::Clock::system())
        .await?
        .alerts;
    match command {
        AlertCommand::Draft {
            kind,
            audience,
            fields,
            message,
        } => draft_alert(&alerts, &kind, &audience, &fields, message).await,
        AlertCommand::Preview { id } => {
            let a = alerts.get(id).await.map_err(shown)?;
            let (to, r) = alerts.preview(&a, None).await.map_err(shown)?;
            println!(
                "To: {to}\nSubject: {}\n\n{}\n\n{}",
                r.subject, r.text, r.html
            );
            Ok(())
        }
        AlertCommand::Send { id } => {
            alerts.send(id).await.map_err(shown)?;
            alerts.fan_out().await?;
            let a = alerts.get(id).await.map_err(shown)?;
            println!(
                "alert {id}: {} emails queued; the servers send them",
                a.queued
            );
            Ok(())
        }
        AlertCommand::Report { id } => print_alert_report(&alerts, id).await,
        AlertCommand::List => {
            for a in alerts.recent(50).await.map_err(shown)? {
                println!(
                    "{}\t{}\t{}\t{}\t{} queued",
                    a.id,
                    a.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    a.kind,
                    a.status,
                    a.queued
                );
            }
            Ok(())
        }
    }
}

/// An error of barkeep's, as the API would word it.
fn shown(e: barkeep::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn draft_alert(
    alerts: &barkeep::alerts::Alerts,
    kind: &str,
    audience: &str,
    fields: &str,
    message: Option<String>,
) -> anyhow::Result<()> {
    use barkeep::alerts::{Draft, Kind};
    let kind =
        Kind::parse(kind).ok_or_else(|| anyhow::anyhow!("there is no alert kind `{kind}`"))?;
    let audience = parse_audience(audience)?;
    let fields: serde_json::Value =
        serde_json::from_str(fields).map_err(|e| anyhow::anyhow!("--fields is not JSON: {e}"))?;
    let draft = Draft {
        kind,
        audience,
        message,
        fields,
    };
    let a = alerts.draft(None, draft).await.map_err(shown)?;
    println!("{}", a.id);
    Ok(())
}

/// `all`, `plan:ID` or `member:ID`.
fn parse_audience(audience: &str) -> anyhow::Result<barkeep::alerts::AudienceSpec> {
    use barkeep::alerts::{AudienceSpec, Everyone};
    Ok(match audience.split_once(':') {
        None if audience == "all" => AudienceSpec::Everyone(Everyone::All),
        Some(("plan", plan)) => AudienceSpec::Plan {
            plan: plan.to_string(),
        },
        Some(("member", id)) => AudienceSpec::Member {
            member: barkeep::domain::MemberId(id.parse()?),
        },
        _ => anyhow::bail!("the audience is all, plan:ID or member:ID"),
    })
}

async fn print_alert_report(alerts: &barkeep::alerts::Alerts, id: i64) -> anyhow::Result<()> {
    println!("{}", alerts.report(id).await.map_err(shown)?);
    Ok(())
}

/// The database, migrated, for a command that is not the server (the data folder is
/// made first, as the server makes it).
async fn connect(config: &Config) -> anyhow::Result<db::Db> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    config.prepare()?;
    barkeep::app::startup::open_database(config).await
}

/// One clear line on stderr; a configuration problem leads with its variable.
fn fail(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<ConfigError>() {
        Some(c) => eprintln!("barkeep: configuration error: {c}"),
        None => eprintln!("barkeep: {err:#}"),
    }
    ExitCode::from(2)
}
