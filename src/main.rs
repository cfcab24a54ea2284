//! The `studium` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use studium::clock::Clock;
use studium::config::Config;
use studium::db::Db;
use studium::state::AppState;

// glibc's allocator contends across SQLite's worker threads and keeps freed password-hash
// buffers (19 MiB each) resident; mimalloc is faster here and gives them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "studium",
    version,
    about = "Studium: the backend of an AI study companion",
    long_about = "Studium serves the Studium API. With no configuration it uses a SQLite file \
(studium.db), a local upload directory and the built-in offline AI, listening on 127.0.0.1:8080. \
Configure it with STUDIUM_* environment variables or a TOML file (see README)."
)]
struct Cli {
    /// A TOML configuration file; environment variables override it.
    #[arg(long, short, env = "STUDIUM_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default). Migrates the database first.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Install the demo subjects, topics, lessons, quizzes and achievements (migrates first).
    /// Idempotent: subjects and achievements that already exist by name are skipped.
    SeedDemo,
    /// Create an admin account, or promote an existing account to admin.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// The password; read from STUDIUM_ADMIN_PASSWORD when not given.
        #[arg(long, env = "STUDIUM_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "Administrator")]
        full_name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("studium: {err}");
            return ExitCode::from(2);
        }
    };
    studium::telemetry::init(&config.log_format);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("studium: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let state = AppState::init(config, Clock::system()).await?;
            studium::demo::seed_on_start(&state).await;
            studium::server::serve(state).await
        }
        Command::Migrate => {
            let db = Db::connect(&config).await?;
            Migrator::up(db.write(), None).await?;
            tracing::info!("migrations applied");
            db.close().await;
            Ok(())
        }
        Command::SeedDemo => {
            let db = Db::connect(&config).await?;
            Migrator::up(db.write(), None).await?;
            let result = studium::demo::seed(&db, Clock::system().now()).await;
            db.close().await;
            result?;
            Ok(())
        }
        Command::CreateAdmin {
            email,
            password,
            full_name,
        } => {
            let state = AppState::init(config, Clock::system()).await?;
            let (id, created) =
                studium::accounts::service::create_admin(&state, &email, password, &full_name)
                    .await?;
            if created {
                tracing::info!(%id, %email, "admin account created");
            } else {
                tracing::info!(%id, %email, "existing account promoted to admin");
            }
            Ok(())
        }
    }
}
