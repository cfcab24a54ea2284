//! The `studium` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use studium::clock::Clock;
use studium::config::Config;
use studium::db::Db;
use studium::state::AppState;
use studium::tutor::eval::{QuestionSet, Report};

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
    /// Run background jobs only (no HTTP API): email, maintenance and the other queued work.
    /// Migrates the database first. Stops on Ctrl-C or SIGTERM, letting running jobs finish.
    Worker,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Install the demo subjects, topics, lessons, quizzes and achievements (migrates first).
    /// Idempotent: subjects and achievements that already exist by name are skipped.
    SeedDemo,
    /// Measure the materials search on the notes of eval/materials: nDCG@10, hit@3 and MRR of
    /// full-text alone, vector alone and the hybrid ranking, for the original questions and the
    /// held-out misspelt ones (migrates first; the evaluation's student and notes are removed
    /// afterwards).
    EvalMaterials,
    /// Benchmark the materials search on an empty database: one student with generated
    /// chunks grown to each size, searches timed one at a time (see bench/materials_search.py).
    #[command(hide = true)]
    BenchSearch {
        /// Chunk counts to measure at, ascending.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        sizes: Vec<usize>,
        /// Searches per size.
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
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
    /// Measure the tutor's retrieval: seeds the demo content if needed (migrates first), runs
    /// every question of the set through search and the decline rule, and prints hit@1, hit@3,
    /// MRR and how many unanswerable questions were declined. Fails when a goal is missed.
    EvalRetrieval {
        /// A question set in the format of eval/retrieval_questions.toml (the default, built in).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// Seeds the demo content (idempotent), indexes what is missing, runs the evaluation.
async fn eval_retrieval(db: &Db, set: &QuestionSet) -> anyhow::Result<Report> {
    let now = Clock::system().now();
    studium::demo::seed(db, now).await?;
    studium::tutor::retrieval::index_missing_in(db, now).await?;
    studium::tutor::eval::run(db.read(), set).await
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
            // Lessons written before passages existed become searchable by the tutor.
            if let Err(err) =
                studium::tutor::retrieval::index_missing_in(&state.db, state.clock.now()).await
            {
                tracing::error!(error = %err, "indexing lesson passages failed");
            }
            studium::server::serve(state).await
        }
        Command::Worker => {
            let state = AppState::init(config, Clock::system()).await?;
            studium::server::work(state).await
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
            let now = Clock::system().now();
            let result = match studium::demo::seed(&db, now).await {
                Ok(_) => studium::tutor::retrieval::index_missing_in(&db, now)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from),
                Err(err) => Err(err),
            };
            db.close().await;
            result
        }
        Command::EvalRetrieval { file } => {
            let set = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    QuestionSet::parse(&text)?
                }
                None => QuestionSet::parse(studium::tutor::eval::QUESTIONS)?,
            };
            let db = Db::connect(&config).await?;
            Migrator::up(db.write(), None).await?;
            let result = eval_retrieval(&db, &set).await;
            db.close().await;
            let report = result?;
            // The report is this command's output, for a person or a CI log to read.
            print!("{report}");
            if report.meets_goals() {
                Ok(())
            } else {
                anyhow::bail!("the retrieval evaluation does not meet its goals")
            }
        }
        Command::EvalMaterials => {
            use studium::materials::eval::{self, QuestionSet};
            let state = AppState::init(config, Clock::system()).await?;
            for (name, questions) in [
                ("eval/materials_questions.toml", eval::QUESTIONS),
                (
                    "eval/materials_questions_heldout.toml (held out)",
                    eval::HELDOUT,
                ),
            ] {
                let set = QuestionSet::parse(questions)?;
                let report = eval::run(&state, &set).await?;
                // The reports are this command's output.
                println!("{name}");
                print!("{report}");
            }
            Ok(())
        }
        Command::BenchSearch { sizes, queries } => {
            let state = AppState::init(config, Clock::system()).await?;
            let backend = format!("{:?}", state.db.backend()).to_lowercase();
            let rows = studium::materials::search_bench::run(&state, &sizes, queries).await?;
            // The table is this command's output.
            println!("| what | backend | chunks | p50 ms | p99 ms | mean ms |");
            println!("|---|---|---|---|---|---|");
            for r in rows {
                println!(
                    "| {} | {backend} | {} | {:.2} | {:.2} | {:.2} |",
                    r.what,
                    r.chunks,
                    r.p50.as_secs_f64() * 1e3,
                    r.p99.as_secs_f64() * 1e3,
                    r.mean.as_secs_f64() * 1e3
                );
            }
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
