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
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
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
            Command::Admin { command } => {
                let conn = connect(&config).await?;
                let (email, grant) = match &command {
                    AdminCommand::Grant { email } => (email, true),
                    AdminCommand::Revoke { email } => (email, false),
                };
                let email = barkeep::domain::Email::parse(email)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if !db::accounts::set_operator(&conn, email.as_str(), grant).await? {
                    anyhow::bail!("no member has the address {email}");
                }
                println!(
                    "{email} {} the operator role",
                    if grant { "now has" } else { "no longer has" }
                );
                Ok(())
            }
            Command::Stripe {
                command: StripeCommand::Events { status, limit },
            } => {
                use barkeep::db::entities::stripe_event::EventStatus;
                let conn = connect(&config).await?;
                let status = status
                    .map(|s| {
                        serde_json::from_value::<EventStatus>(serde_json::Value::String(s.clone()))
                            .map_err(|_| anyhow::anyhow!("`{s}` is not a status: received, processed, ignored, failed or gave_up"))
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
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The database, migrated, for a command that is not the server.
async fn connect(config: &Config) -> anyhow::Result<db::Db> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let conn = db::connect(&config.database)
        .await
        .map_err(|e| ConfigError::new("BARKEEP_DATABASE_URL", e.to_string()))?;
    db::migrate(&conn).await?;
    Ok(conn)
}

/// One clear line on stderr; a configuration problem leads with its variable.
fn fail(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<ConfigError>() {
        Some(c) => eprintln!("barkeep: configuration error: {c}"),
        None => eprintln!("barkeep: {err:#}"),
    }
    ExitCode::from(2)
}
