//! The `barkeep` command: `serve` (the default) and `migrate`.

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
                let _ = rustls::crypto::ring::default_provider().install_default();
                let conn = db::connect(&config.database)
                    .await
                    .map_err(|e| ConfigError::new("BARKEEP_DATABASE_URL", e.to_string()))?;
                db::migrate(&conn).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One clear line on stderr; a configuration problem leads with its variable.
fn fail(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<ConfigError>() {
        Some(c) => eprintln!("barkeep: configuration error: {c}"),
        None => eprintln!("barkeep: {err:#}"),
    }
    ExitCode::from(2)
}
