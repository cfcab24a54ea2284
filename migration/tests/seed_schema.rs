//! The seed design's names (docs/seed-schema.md) after all migrations, and the upgrade to them
//! from the schema before `m20261126_000007_seed_names`, which must keep every row and convert
//! each value as that migration's header says. On SQLite and on PostgreSQL (see `support`).

use std::future::Future;

mod support;

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, TryGetable,
};
use support::on_postgres;

const SEED_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/seed-schema.md");

/// What the seed design holds; a parser that finds less (or more) is broken, not the schema.
const SEED_TABLES: usize = 23;
const SEED_COLUMNS: usize = 138;

const T: &str = "'2026-01-01T00:00:00Z'";
const T2: &str = "'2026-02-03T04:05:06Z'";

// Row ids of the upgrade fixture, rendered per backend by `uuid`.
const ALICE: u16 = 0x0a;
const BOB: u16 = 0x0b;
const CAROL: u16 = 0x0c;
const SUBJECT: u16 = 0x20;
const TOPIC_BEGINNER: u16 = 0x21;
const TOPIC_ADVANCED: u16 = 0x22;
const TOPIC_INTERMEDIATE: u16 = 0x23;
const TOPIC_UNRATED: u16 = 0x24;
const LESSON_1: u16 = 0x31;
const LESSON_2: u16 = 0x32;
const PROGRESS_DONE: u16 = 0x41;
const PROGRESS_STARTED: u16 = 0x42;
const SESSION_AWARDED: u16 = 0x51;
const SESSION_UNAWARDED: u16 = 0x52;
const XP_STUDY: u16 = 0x61;
const XP_QUIZ: u16 = 0x62;
const XP_PERFECT: u16 = 0x63;
const XP_ACHIEVEMENT: u16 = 0x64;
const STREAK: u16 = 0x71;
const DOUBT_SESSION: u16 = 0x81;
const DOUBT_MESSAGE: u16 = 0x82;
const AI_TUTOR: u16 = 0x91;
const AI_QUIZ: u16 = 0x92;
const AI_EMBEDDING: u16 = 0x93;
const QUIZ: u16 = 0xa1;
const ATTEMPT: u16 = 0xa2;
const MATERIAL: u16 = 0xb1;
const CHUNK: u16 = 0xb2;
const TOPIC_PROGRESS: u16 = 0xc1;
const ACHIEVEMENT: u16 = 0xd1;
const RECOMMENDATION: u16 = 0xe1;
const SUBSCRIPTION: u16 = 0xf1;
const SUBSCRIPTION_CANCELED: u16 = 0xf2;
const SUBSCRIPTION_SECOND_ACTIVE: u16 = 0xf3;
const SUBSCRIPTION_TRIALING: u16 = 0xf4;
const PAYMENT: u16 = 0xf9;

/// The tables the upgrade changes (and fills here), whose row counts it must keep.
const UPGRADED_TABLES: &[&str] = &[
    "users",
    "user_profiles",
    "subjects",
    "topics",
    "lessons",
    "lesson_progress",
    "study_sessions",
    "xp_logs",
    "user_streaks",
    "doubt_sessions",
    "doubt_messages",
    "ai_usage_logs",
    "quizzes",
    "quiz_attempts",
    "materials",
    "material_chunks",
    "topic_progress",
    "achievements",
    "user_recommendations",
    "subscriptions",
    "payments",
];

/// A UUID literal as SeaORM stores it: a 16-byte blob on SQLite, `uuid` on PostgreSQL.
fn uuid(backend: DbBackend, n: u16) -> String {
    let hex = format!("00000000000070008000{n:012x}");
    match backend {
        DbBackend::Sqlite => format!("X'{hex}'"),
        _ => format!(
            "'{}-{}-{}-{}-{}'::uuid",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ),
    }
}

/// A boolean literal: 1/0 on SQLite, true/false on PostgreSQL.
fn boolean(backend: DbBackend, value: bool) -> &'static str {
    match (backend, value) {
        (DbBackend::Sqlite, true) => "1",
        (DbBackend::Sqlite, false) => "0",
        (_, true) => "true",
        (_, false) => "false",
    }
}

/// The seed's tables and their fields, in document order: each `### Table: \`name\``
/// heading starts a table, whose `| field | type | notes |` rows follow.
fn parse_seed(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_table = false;
    for line in markdown.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("### Table: `") {
            let name = rest.split('`').next().unwrap_or_default();
            tables.push((name.to_owned(), Vec::new()));
            in_table = true;
        } else if line.starts_with('#') {
            in_table = false;
        } else if in_table && line.starts_with('|') {
            let field = line
                .trim_matches('|')
                .split('|')
                .next()
                .unwrap_or("")
                .trim();
            let separator = !field.is_empty() && field.chars().all(|c| c == '-' || c == ':');
            if field.is_empty() || separator || field == "Field" {
                continue;
            }
            if let Some((_, fields)) = tables.last_mut() {
                fields.push(field.to_owned());
            }
        }
    }
    tables
}

fn statement(db: &DatabaseConnection, sql: &str) -> Statement {
    Statement::from_string(db.get_database_backend(), sql)
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql)
        .await
        .map(|_| ())
        .map_err(|e| DbErr::Custom(format!("{e}\n  in: {sql}")))
}

/// Runs `sql`, which must fail, and returns the error text.
async fn violation(db: &DatabaseConnection, sql: &str) -> Result<String, DbErr> {
    match db.execute_unprepared(sql).await {
        Ok(_) => Err(DbErr::Custom(format!("expected a violation from: {sql}"))),
        Err(e) => Ok(e.to_string()),
    }
}

/// The column `v` of the one row `sql` returns.
async fn value<V: TryGetable>(db: &DatabaseConnection, sql: &str) -> Result<V, DbErr> {
    db.query_one_raw(statement(db, sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no row from: {sql}")))?
        .try_get("", "v")
        .map_err(|e| DbErr::Custom(format!("{e}\n  in: {sql}")))
}

/// The column `v` of every row `sql` returns.
async fn values<V: TryGetable>(db: &DatabaseConnection, sql: &str) -> Result<Vec<V>, DbErr> {
    db.query_all_raw(statement(db, sql))
        .await?
        .iter()
        .map(|row| row.try_get("", "v"))
        .collect::<Result<_, _>>()
        .map_err(|e| DbErr::Custom(format!("{e}\n  in: {sql}")))
}

async fn count(db: &DatabaseConnection, table: &str) -> Result<i64, DbErr> {
    value(db, &format!("SELECT COUNT(*) AS v FROM {table}")).await
}

/// `table`'s columns as (name, declared type): PRAGMA table_info on SQLite,
/// information_schema.columns on PostgreSQL. Empty when the table does not exist.
async fn columns(db: &DatabaseConnection, table: &str) -> Result<Vec<(String, String)>, DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => format!("SELECT name, type AS ty FROM pragma_table_info('{table}')"),
        _ => format!(
            "SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    db.query_all_raw(statement(db, &sql))
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "name")?, row.try_get("", "ty")?)))
        .collect()
}

/// `table`'s primary key columns, in key order.
async fn primary_key(db: &DatabaseConnection, table: &str) -> Result<Vec<String>, DbErr> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            format!("SELECT name AS v FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk")
        }
        _ => format!(
            "SELECT k.column_name::text AS v FROM information_schema.table_constraints c \
             JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema \
             AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name \
             WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema() \
             AND c.table_name = '{table}' ORDER BY k.ordinal_position"
        ),
    };
    values(db, &sql).await
}

async fn on_sqlite<F, Fut>(test: F) -> Result<(), DbErr>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = Result<(), DbErr>>,
{
    test(Database::connect("sqlite::memory:").await?).await
}

// ---------------------------------------------------------------------------------------------
// Every seed table and column, under its seed name.
// ---------------------------------------------------------------------------------------------

async fn seed_tables_and_columns_exist(db: DatabaseConnection) -> Result<(), DbErr> {
    let db = &db;
    let backend = db.get_database_backend();
    let markdown = std::fs::read_to_string(SEED_SCHEMA)
        .map_err(|e| DbErr::Custom(format!("{SEED_SCHEMA}: {e}")))?;
    let seed = parse_seed(&markdown);
    let seed_columns: usize = seed.iter().map(|(_, fields)| fields.len()).sum();
    assert_eq!(
        (seed.len(), seed_columns),
        (SEED_TABLES, SEED_COLUMNS),
        "the parser found {} tables and {seed_columns} columns in {SEED_SCHEMA}: {seed:?}",
        seed.len(),
    );

    Migrator::up(db, None).await?;

    let mut problems = Vec::new();
    for (table, fields) in &seed {
        let actual = columns(db, table).await?;
        if actual.is_empty() {
            problems.push(format!(
                "table {table} is missing (seed columns: {fields:?})"
            ));
            continue;
        }
        for field in fields {
            if !actual.iter().any(|(name, _)| name == field) {
                problems.push(format!("column {table}.{field} is missing"));
            }
        }
    }

    // The types the seed's values need.
    let type_of = async |table: &str, column: &str| -> Result<Option<String>, DbErr> {
        Ok(columns(db, table)
            .await?
            .into_iter()
            .find(|(name, _)| name == column)
            .map(|(_, ty)| ty.to_lowercase()))
    };
    let sqlite = backend == DbBackend::Sqlite;
    let mut expect_type =
        |table: &str, column: &str, ty: Option<String>, wanted: &str, ok: bool| {
            if let Some(ty) = ty
                && !ok
            {
                problems.push(format!("{table}.{column} is {ty}, not {wanted}"));
            }
        };
    let ty = type_of("topics", "difficulty_level").await?;
    let ok = ty.as_deref().is_some_and(|ty| {
        if sqlite {
            ty.contains("int") // SQLite's rule for INTEGER affinity
        } else {
            matches!(ty, "integer" | "smallint" | "bigint")
        }
    });
    expect_type("topics", "difficulty_level", ty, "integer-typed", ok);
    let ty = type_of("lesson_progress", "completed").await?;
    let ok = ty.as_deref().is_some_and(|ty| {
        if sqlite {
            ty.contains("bool")
        } else {
            ty == "boolean"
        }
    });
    expect_type("lesson_progress", "completed", ty, "boolean", ok);
    if !sqlite {
        for (table, column) in [
            ("quiz_attempts", "score_percentage"),
            ("topic_progress", "mastery_score"),
            ("ai_usage_logs", "estimated_cost"),
        ] {
            let ty = type_of(table, column).await?;
            let ok = ty.as_deref() == Some("numeric");
            expect_type(table, column, ty, "numeric", ok);
        }
    }
    let key = primary_key(db, "user_streaks").await?;
    if key != ["user_id"] {
        problems.push(format!(
            "user_streaks' primary key is {key:?}, not (user_id)"
        ));
    }

    assert!(
        problems.is_empty(),
        "{} problem(s) with the seed's names on {backend:?}:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    Ok(())
}

#[tokio::test]
async fn every_seed_table_and_column_exists_on_sqlite() -> Result<(), DbErr> {
    on_sqlite(seed_tables_and_columns_exist).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn every_seed_table_and_column_exists_on_postgres() -> Result<(), DbErr> {
    on_postgres(seed_tables_and_columns_exist).await
}

// ---------------------------------------------------------------------------------------------
// Upgrading from the schema before the seed names keeps every row and converts each value.
// ---------------------------------------------------------------------------------------------

/// Rows in every table migration 7 changes, in the schema before it.
fn fixture(backend: DbBackend) -> Vec<String> {
    let id = |n: u16| uuid(backend, n);
    let yes = boolean(backend, true);
    let no = boolean(backend, false);
    let (alice, bob, carol) = (id(ALICE), id(BOB), id(CAROL));
    let subject = id(SUBJECT);
    let (lesson_1, lesson_2) = (id(LESSON_1), id(LESSON_2));
    let session = id(SESSION_AWARDED);
    let doubt = id(DOUBT_SESSION);
    let quiz = id(QUIZ);
    let attempt = id(ATTEMPT);
    let material = id(MATERIAL);
    let achievement = id(ACHIEVEMENT);
    let subscription = id(SUBSCRIPTION);

    let mut sql = vec![
        // An e-mail account, a Google-only account (no password) and an unverified one.
        format!(
            "INSERT INTO users (id, email, password_hash, full_name, email_verified, google_id, created_at, updated_at) VALUES \
             ({alice}, 'alice@example.com', 'argon2-hash', 'Alice Able', {yes}, NULL, {T}, {T}), \
             ({bob}, 'bob@example.com', NULL, 'Bob Google', {yes}, 'google-sub-bob', {T}, {T}), \
             ({carol}, 'carol@example.com', 'argon2-hash', 'Carol Case', {no}, NULL, {T}, {T})"
        ),
    ];
    for (profile, user) in [(0x1a, &alice), (0x1b, &bob), (0x1c, &carol)] {
        sql.push(format!(
            "INSERT INTO user_profiles (id, user_id, grade_level, created_at, updated_at) VALUES ({}, {user}, 'grade 11', {T}, {T})",
            id(profile)
        ));
    }
    sql.push(format!(
        "INSERT INTO subjects (id, name, created_at, updated_at) VALUES ({subject}, 'Mathematics', {T}, {T})"
    ));
    for (topic, name, difficulty) in [
        (TOPIC_BEGINNER, "Fractions", "'beginner'"),
        (TOPIC_ADVANCED, "Calculus", "'advanced'"),
        (TOPIC_INTERMEDIATE, "Algebra", "'Intermediate'"),
        (TOPIC_UNRATED, "Puzzles", "NULL"),
    ] {
        sql.push(format!(
            "INSERT INTO topics (id, subject_id, name, difficulty_level, created_at, updated_at) \
             VALUES ({}, {subject}, '{name}', {difficulty}, {T}, {T})",
            id(topic)
        ));
    }
    let topic = id(TOPIC_BEGINNER);
    for (lesson, title) in [(&lesson_1, "Halves"), (&lesson_2, "Thirds")] {
        sql.push(format!(
            "INSERT INTO lessons (id, topic_id, title, content, content_type, duration_minutes, created_at, updated_at) \
             VALUES ({lesson}, {topic}, '{title}', '# {title}', 'text', 25, {T}, {T})"
        ));
    }
    sql.extend([
        format!(
            "INSERT INTO lesson_progress (id, user_id, lesson_id, status, completed_at, created_at, updated_at) VALUES \
             ({}, {alice}, {lesson_1}, 'completed', {T2}, {T}, {T}), \
             ({}, {alice}, {lesson_2}, 'in_progress', NULL, {T}, {T})",
            id(PROGRESS_DONE),
            id(PROGRESS_STARTED)
        ),
        format!(
            "INSERT INTO study_sessions (id, user_id, started_at, ended_at, duration_seconds, created_at) VALUES \
             ({session}, {alice}, {T}, {T2}, 1500, {T}), \
             ({}, {bob}, {T}, {T2}, 60, {T})",
            id(SESSION_UNAWARDED)
        ),
        format!(
            "INSERT INTO quizzes (id, topic_id, title, source, is_ai_generated, created_at) \
             VALUES ({quiz}, {topic}, 'Fractions check', 'ai', {yes}, {T})"
        ),
        format!(
            "INSERT INTO quiz_attempts (id, user_id, quiz_id, answers, score, correct_count, total_questions, xp_awarded, completed_at) \
             VALUES ({attempt}, {alice}, {quiz}, '[]', 67, 2, 3, 10, {T})"
        ),
        format!(
            "INSERT INTO achievements (id, name, description, icon, criteria_type, criteria_value, xp_reward, created_at) \
             VALUES ({achievement}, 'First Steps', 'Finish a lesson', 'trophy', 'lessons_completed', 1, 50, {T})"
        ),
        format!(
            "INSERT INTO xp_logs (id, user_id, xp_amount, source_type, reference_id, created_at) VALUES \
             ({}, {alice}, 7, 'study_session', {session}, {T}), \
             ({}, {alice}, 10, 'quiz_attempt', {attempt}, {T}), \
             ({}, {alice}, 5, 'quiz_perfect', {quiz}, {T}), \
             ({}, {alice}, 50, 'achievement', {achievement}, {T})",
            id(XP_STUDY),
            id(XP_QUIZ),
            id(XP_PERFECT),
            id(XP_ACHIEVEMENT)
        ),
        format!(
            "INSERT INTO user_streaks (id, user_id, current_streak, longest_streak, last_study_date, updated_at) \
             VALUES ({}, {alice}, 3, 5, '2026-01-01', {T})",
            id(STREAK)
        ),
        format!(
            "INSERT INTO doubt_sessions (id, user_id, topic_id, title, created_at, updated_at) \
             VALUES ({doubt}, {alice}, {topic}, 'Halving', {T}, {T})"
        ),
        format!(
            "INSERT INTO doubt_messages (id, session_id, role, content, created_at) \
             VALUES ({}, {doubt}, 'user', 'Why is 2/4 one half?', {T})",
            id(DOUBT_MESSAGE)
        ),
        format!(
            "INSERT INTO ai_usage_logs (id, user_id, feature, model, prompt_tokens, completion_tokens, total_tokens, estimated_cost_micros, status, created_at) VALUES \
             ({}, {alice}, 'tutor', 'gpt-4o-mini', 100, 20, 120, 1234, 'success', {T}), \
             ({}, {alice}, 'quiz_generation', 'gpt-4o', 900, 300, 1200, 2500000, 'success', {T}), \
             ({}, NULL, 'embedding', 'text-embedding-3-small', 50, 0, 50, 0, 'error', {T})",
            id(AI_TUTOR),
            id(AI_QUIZ),
            id(AI_EMBEDDING)
        ),
        format!(
            "INSERT INTO materials (id, user_id, title, file_name, file_type, file_size, storage_key, processing_status, created_at, updated_at) \
             VALUES ({material}, {alice}, 'Notes', 'notes.pdf', 'application/pdf', 2048, 'materials/alice/notes.pdf', 'ready', {T2}, {T})"
        ),
        format!(
            "INSERT INTO material_chunks (id, material_id, chunk_index, content, token_count, created_at) \
             VALUES ({}, {material}, 0, 'A half is one of two equal parts.', 9, {T})",
            id(CHUNK)
        ),
        format!(
            "INSERT INTO topic_progress (id, user_id, topic_id, mastery_score, updated_at) \
             VALUES ({}, {alice}, {topic}, 42.125, {T2})",
            id(TOPIC_PROGRESS)
        ),
        format!(
            "INSERT INTO user_recommendations (id, user_id, recommendation_type, reference_id, title, reason, priority, expires_at, created_at) \
             VALUES ({}, {alice}, 'lesson', {lesson_2}, 'Continue Thirds', 'started, not finished', 5, {T2}, {T2})",
            id(RECOMMENDATION)
        ),
        format!(
            "INSERT INTO subscriptions (id, user_id, plan, status, provider, provider_subscription_id, created_at, updated_at) \
             VALUES ({subscription}, {alice}, 'pro', 'active', 'stripe', 'sub_1', {T}, {T})"
        ),
        format!(
            "INSERT INTO payments (id, user_id, subscription_id, amount, currency, status, provider_payment_id, created_at) \
             VALUES ({}, {alice}, {subscription}, 999, 'usd', 'succeeded', 'pi_1', {T})",
            id(PAYMENT)
        ),
    ]);
    sql
}

async fn upgrade_keeps_rows(db: DatabaseConnection) -> Result<(), DbErr> {
    let db = &db;
    let backend = db.get_database_backend();
    let id = |n: u16| uuid(backend, n);

    Migrator::up(db, Some(6)).await?;
    for sql in fixture(backend) {
        exec(db, &sql).await?;
    }
    let mut before = Vec::new();
    for table in UPGRADED_TABLES {
        before.push(count(db, table).await?);
    }

    Migrator::up(db, None).await?;

    let mut after = Vec::new();
    for table in UPGRADED_TABLES {
        after.push(count(db, table).await?);
    }
    assert_eq!(
        UPGRADED_TABLES.iter().zip(&after).collect::<Vec<_>>(),
        UPGRADED_TABLES.iter().zip(&before).collect::<Vec<_>>(),
        "row counts after the upgrade (left) and before (right)"
    );

    // `SELECT {column} AS v FROM {table} WHERE id = {row}`
    let get = |column: &str, table: &str, row: u16| {
        format!("SELECT {column} AS v FROM {table} WHERE id = {}", id(row))
    };
    let text = async |column: &str, table: &str, row: u16| -> Result<String, DbErr> {
        value(db, &get(&format!("CAST({column} AS TEXT)"), table, row)).await
    };
    let number = async |column: &str, table: &str, row: u16| -> Result<f64, DbErr> {
        let text = text(column, table, row).await?;
        text.parse()
            .map_err(|e| DbErr::Custom(format!("{table}.{column} = {text:?}: {e}")))
    };
    let flag = async |column: &str, table: &str, row: u16| -> Result<bool, DbErr> {
        value(db, &get(column, table, row)).await
    };
    let int = async |column: &str, table: &str, row: u16| -> Result<Option<i32>, DbErr> {
        value(db, &get(column, table, row)).await
    };
    let exists = async |table: &str, condition: String| -> Result<bool, DbErr> {
        Ok(count(db, &format!("{table} WHERE {condition}")).await? == 1)
    };

    // users: auth_provider from how the account signs in; email_verified → is_verified.
    assert_eq!(text("auth_provider", "users", ALICE).await?, "email");
    assert_eq!(text("auth_provider", "users", BOB).await?, "google");
    assert_eq!(text("auth_provider", "users", CAROL).await?, "email");
    assert!(flag("is_verified", "users", ALICE).await?);
    assert!(flag("is_verified", "users", BOB).await?);
    assert!(!flag("is_verified", "users", CAROL).await?);
    assert_eq!(text("email", "users", BOB).await?, "bob@example.com");

    // user_profiles: full_name moved here; the new seed fields are empty.
    for (user, name) in [
        (ALICE, "Alice Able"),
        (BOB, "Bob Google"),
        (CAROL, "Carol Case"),
    ] {
        let sql = format!(
            "SELECT full_name AS v FROM user_profiles WHERE user_id = {}",
            id(user)
        );
        assert_eq!(value::<String>(db, &sql).await?, name, "{sql}");
    }
    assert!(exists("user_profiles", format!("user_id = {} AND grade_level = 'grade 11' AND primary_goal IS NULL AND study_preference IS NULL AND onboarding_completed = {}", id(ALICE), boolean(backend, false))).await?);

    // topics: difficulty words → 1–5.
    assert_eq!(
        int("difficulty_level", "topics", TOPIC_BEGINNER).await?,
        Some(1)
    );
    assert_eq!(
        int("difficulty_level", "topics", TOPIC_ADVANCED).await?,
        Some(5)
    );
    assert_eq!(
        int("difficulty_level", "topics", TOPIC_INTERMEDIATE).await?,
        Some(3)
    );
    assert_eq!(
        int("difficulty_level", "topics", TOPIC_UNRATED).await?,
        None
    );
    assert_eq!(
        int("estimated_duration_minutes", "lessons", LESSON_1).await?,
        Some(25)
    );

    // lesson_progress: status → completed, completed_at kept.
    assert!(flag("completed", "lesson_progress", PROGRESS_DONE).await?);
    assert!(!flag("completed", "lesson_progress", PROGRESS_STARTED).await?);
    assert!(
        exists(
            "lesson_progress",
            format!("id = {} AND completed_at = {T2}", id(PROGRESS_DONE))
        )
        .await?
    );
    assert!(
        exists(
            "lesson_progress",
            format!("id = {} AND completed_at IS NULL", id(PROGRESS_STARTED))
        )
        .await?
    );

    // study_sessions.xp_awarded from the session's xp_logs row.
    assert_eq!(
        int("xp_awarded", "study_sessions", SESSION_AWARDED).await?,
        Some(7)
    );
    assert_eq!(
        int("xp_awarded", "study_sessions", SESSION_UNAWARDED).await?,
        Some(0)
    );
    assert!(
        exists(
            "study_sessions",
            format!(
                "id = {} AND duration_seconds = 1500 AND ended_at = {T2}",
                id(SESSION_AWARDED)
            )
        )
        .await?
    );

    // xp_logs: the seed's source types, references and amounts kept.
    for (row, source, reference, xp) in [
        (XP_STUDY, "study", SESSION_AWARDED, 7),
        (XP_QUIZ, "quiz", ATTEMPT, 10),
        (XP_PERFECT, "quiz", QUIZ, 5),
        (XP_ACHIEVEMENT, "achievement", ACHIEVEMENT, 50),
    ] {
        assert_eq!(text("source_type", "xp_logs", row).await?, source);
        assert!(
            exists(
                "xp_logs",
                format!(
                    "id = {} AND reference_id = {} AND xp_amount = {xp} AND user_id = {}",
                    id(row),
                    id(reference),
                    id(ALICE)
                )
            )
            .await?,
            "xp_logs row {row:#x}"
        );
    }

    // user_streaks keyed by user_id, values kept.
    let streak = format!(
        "SELECT current_streak AS v FROM user_streaks WHERE user_id = {}",
        id(ALICE)
    );
    assert_eq!(value::<i32>(db, &streak).await?, 3);
    assert!(exists("user_streaks", format!("user_id = {} AND longest_streak = 5 AND last_study_date = '2026-01-01' AND updated_at = {T}", id(ALICE))).await?);

    // doubt_messages: session_id → doubt_session_id, content → message_text.
    assert_eq!(
        text("message_text", "doubt_messages", DOUBT_MESSAGE).await?,
        "Why is 2/4 one half?"
    );
    assert!(
        exists(
            "doubt_messages",
            format!(
                "id = {} AND doubt_session_id = {} AND role = 'user'",
                id(DOUBT_MESSAGE),
                id(DOUBT_SESSION)
            )
        )
        .await?
    );

    // ai_usage_logs: the seed's feature names, the model and status renamed, the cost in exact
    // dollars (text on SQLite, so SQLite's numeric affinity cannot turn it into a float).
    for (row, feature, model, cost, status) in [
        (AI_TUTOR, "doubt", "gpt-4o-mini", "0.001234", "success"),
        (AI_QUIZ, "quiz", "gpt-4o", "2.500000", "success"),
        (
            AI_EMBEDDING,
            "material",
            "text-embedding-3-small",
            "0.000000",
            "error",
        ),
    ] {
        assert_eq!(text("feature_type", "ai_usage_logs", row).await?, feature);
        assert_eq!(text("model_name", "ai_usage_logs", row).await?, model);
        assert_eq!(text("estimated_cost", "ai_usage_logs", row).await?, cost);
        assert_eq!(text("request_status", "ai_usage_logs", row).await?, status);
    }
    if backend == DbBackend::Sqlite {
        let sql = "SELECT DISTINCT typeof(estimated_cost) AS v FROM ai_usage_logs";
        assert_eq!(values::<String>(db, sql).await?, ["text"], "{sql}");
    }
    assert!(
        exists(
            "ai_usage_logs",
            format!(
                "id = {} AND prompt_tokens = 100 AND completion_tokens = 20 AND total_tokens = 120",
                id(AI_TUTOR)
            )
        )
        .await?
    );

    // Quizzes and attempts.
    assert!(flag("generated_by_ai", "quizzes", QUIZ).await?);
    assert_eq!(
        number("score_percentage", "quiz_attempts", ATTEMPT).await?,
        67.0
    );
    assert_eq!(int("xp_awarded", "quiz_attempts", ATTEMPT).await?, Some(10));

    // Materials and their chunks.
    assert_eq!(
        text("s3_url", "materials", MATERIAL).await?,
        "materials/alice/notes.pdf"
    );
    assert_eq!(
        text("content_type", "materials", MATERIAL).await?,
        "application/pdf"
    );
    assert!(
        exists(
            "materials",
            format!(
                "id = {} AND uploaded_at = {T2} AND file_name = 'notes.pdf'",
                id(MATERIAL)
            )
        )
        .await?
    );
    assert_eq!(
        text("chunk_text", "material_chunks", CHUNK).await?,
        "A half is one of two equal parts."
    );

    // topic_progress: updated_at → last_updated, mastery rounded to two places.
    let mastery = number("mastery_score", "topic_progress", TOPIC_PROGRESS).await?;
    assert!((mastery - 42.125).abs() < 0.01, "mastery_score {mastery}");
    assert!(
        exists(
            "topic_progress",
            format!("id = {} AND last_updated = {T2}", id(TOPIC_PROGRESS))
        )
        .await?
    );

    // achievements and recommendations.
    assert_eq!(
        text("title", "achievements", ACHIEVEMENT).await?,
        "First Steps"
    );
    assert_eq!(
        text("badge_icon", "achievements", ACHIEVEMENT).await?,
        "trophy"
    );
    assert_eq!(
        int("priority_score", "user_recommendations", RECOMMENDATION).await?,
        Some(5)
    );
    assert!(
        exists(
            "user_recommendations",
            format!(
                "id = {} AND generated_at = {T2} AND reference_id = {}",
                id(RECOMMENDATION),
                id(LESSON_2)
            )
        )
        .await?
    );

    // Subscriptions and payments survive (SQLite rebuilds both tables), still linked.
    let (alice, subscription, payment) = (id(ALICE), id(SUBSCRIPTION), id(PAYMENT));
    assert!(exists("subscriptions", format!("id = {subscription} AND user_id = {alice} AND status = 'active' AND provider_subscription_id = 'sub_1'")).await?);
    assert!(
        exists(
            "payments",
            format!("id = {payment} AND subscription_id = {subscription} AND amount = 999")
        )
        .await?
    );

    // A subscription history: ended subscriptions beside the one current subscription.
    let subscribe = |row: u16, status: &str| {
        format!(
            "INSERT INTO subscriptions (id, user_id, plan, status, provider, provider_subscription_id, created_at, updated_at) \
             VALUES ({}, {alice}, 'pro', '{status}', 'stripe', 'sub_{row}', {T}, {T})",
            id(row)
        )
    };
    exec(db, &subscribe(SUBSCRIPTION_CANCELED, "canceled")).await?;
    for (row, status) in [
        (SUBSCRIPTION_SECOND_ACTIVE, "active"),
        (SUBSCRIPTION_TRIALING, "trialing"),
    ] {
        let e = violation(db, &subscribe(row, status)).await?;
        assert!(e.to_lowercase().contains("unique"), "{status}: {e}");
    }
    assert_eq!(count(db, "subscriptions").await?, 2);

    // One streak row per user.
    let e = violation(db, &format!("INSERT INTO user_streaks (user_id, current_streak, longest_streak, updated_at) VALUES ({alice}, 1, 1, {T})")).await?;
    assert!(e.to_lowercase().contains("unique"), "{e}");

    // The payment's foreign key still names subscriptions (SQLite rewrote it on the rename).
    exec(
        db,
        &format!("DELETE FROM subscriptions WHERE id = {subscription}"),
    )
    .await?;
    assert!(
        exists(
            "payments",
            format!("id = {payment} AND subscription_id IS NULL")
        )
        .await?
    );

    Ok(())
}

#[tokio::test]
async fn upgrading_keeps_every_row_on_sqlite() -> Result<(), DbErr> {
    on_sqlite(upgrade_keeps_rows).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn upgrading_keeps_every_row_on_postgres() -> Result<(), DbErr> {
    on_postgres(upgrade_keeps_rows).await
}
