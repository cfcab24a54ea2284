//! The CHECK constraints of `m20261126_000008_checks` (and those `m20261126_000010_ai_usage_control`
//! adds or widens): the database itself refuses a row that
//! breaks one — inserted or updated with raw SQL, past any validation of the application — and
//! names the constraint; values at the bounds and NULLs pass. Rolling the migration back lets
//! such rows in again, and migrating over them stops with a message naming each broken check.
//! On SQLite and on PostgreSQL (see `support`).

use std::sync::atomic::{AtomicU32, Ordering};

mod support;

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr};
use support::on_postgres;

const T: &str = "'2026-01-01T00:00:00Z'";
const ALICE: u32 = 0xa11ce;
const SUBJECT: u32 = 0x5b;
const TOPIC: u32 = 0x70;
const QUIZ: u32 = 0x9a;
const DOUBT: u32 = 0xd0;

/// A UUID literal (text; both backends compare it with the keys written the same way).
fn id(n: u32) -> String {
    format!("'00000000-0000-7000-8000-{n:012x}'")
}

/// A fresh user `n` (for rows that need a user of their own).
fn user(n: u32) -> String {
    format!(
        "INSERT INTO users (id, email, created_at, updated_at) VALUES ({}, 'user{n}@example.com', {T}, {T})",
        id(n)
    )
}

/// A check, the values it must let through and those it must refuse, and how to write a row
/// of its table (the statements before the last one set up what the row needs).
struct Case {
    check: &'static str,
    table: &'static str,
    column: &'static str,
    good: &'static [&'static str],
    bad: &'static [&'static str],
    row: fn(u32, &str) -> Vec<String>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            check: "users_role_check",
            table: "users",
            column: "role",
            good: &["'student'", "'admin'"],
            bad: &["'superuser'", "'Admin'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO users (id, email, role, created_at, updated_at) VALUES ({}, 'r{n}@example.com', {v}, {T}, {T})",
                    id(n)
                )]
            },
        },
        Case {
            check: "users_auth_provider_check",
            table: "users",
            column: "auth_provider",
            good: &["'email'", "'google'"],
            bad: &["'github'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO users (id, email, auth_provider, created_at, updated_at) VALUES ({}, 'p{n}@example.com', {v}, {T}, {T})",
                    id(n)
                )]
            },
        },
        Case {
            check: "lessons_content_type_check",
            table: "lessons",
            column: "content_type",
            good: &["'text'", "'video'", "'pdf'"],
            bad: &["'audio'", "''"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO lessons (id, topic_id, title, content, content_type, created_at, updated_at) \
                     VALUES ({}, {}, 'Lesson {n}', 'Text', {v}, {T}, {T})",
                    id(n),
                    id(TOPIC)
                )]
            },
        },
        Case {
            check: "topics_difficulty_level_check",
            table: "topics",
            column: "difficulty_level",
            good: &["NULL", "1", "3", "5"],
            bad: &["0", "6", "-1"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO topics (id, subject_id, name, difficulty_level, created_at, updated_at) \
                     VALUES ({}, {}, 'Topic {n}', {v}, {T}, {T})",
                    id(n),
                    id(SUBJECT)
                )]
            },
        },
        Case {
            check: "friends_status_check",
            table: "friends",
            column: "status",
            good: &["'pending'", "'accepted'"],
            bad: &["'declined'", "'blocked'"],
            row: |n, v| {
                vec![
                    user(n + 1),
                    format!(
                        "INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at) \
                         VALUES ({}, {}, {}, {v}, {T}, {T})",
                        id(n),
                        id(ALICE),
                        id(n + 1)
                    ),
                ]
            },
        },
        Case {
            check: "materials_processing_status_check",
            table: "materials",
            column: "processing_status",
            good: &["'pending'", "'processing'", "'ready'", "'failed'"],
            bad: &["'done'", "'READY'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO materials (id, user_id, title, file_name, content_type, file_size, s3_url, processing_status, uploaded_at, updated_at) \
                     VALUES ({}, {}, 'Notes', 'notes.txt', 'text/plain', 10, 'key/{n}', {v}, {T}, {T})",
                    id(n),
                    id(ALICE)
                )]
            },
        },
        Case {
            check: "quiz_attempts_score_percentage_check",
            table: "quiz_attempts",
            column: "score_percentage",
            // Quoted too: SeaORM binds decimals to SQLite as text.
            good: &["0", "66.67", "'66.67'", "100"],
            bad: &["-1", "100.01", "'100.01'", "150"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO quiz_attempts (id, user_id, quiz_id, answers, score_percentage, correct_count, total_questions, completed_at) \
                     VALUES ({}, {}, {}, '[]', {v}, 2, 3, {T})",
                    id(n),
                    id(ALICE),
                    id(QUIZ)
                )]
            },
        },
        Case {
            check: "topic_progress_mastery_score_check",
            table: "topic_progress",
            column: "mastery_score",
            good: &["0", "42.13", "100"],
            bad: &["-0.01", "101"],
            row: |n, v| {
                vec![
                    format!(
                        "INSERT INTO topics (id, subject_id, name, created_at, updated_at) VALUES ({}, {}, 'Mastery {n}', {T}, {T})",
                        id(n + 1),
                        id(SUBJECT)
                    ),
                    format!(
                        "INSERT INTO topic_progress (id, user_id, topic_id, mastery_score, last_updated) \
                         VALUES ({}, {}, {}, {v}, {T})",
                        id(n),
                        id(ALICE),
                        id(n + 1)
                    ),
                ]
            },
        },
        Case {
            check: "xp_logs_xp_amount_check",
            table: "xp_logs",
            column: "xp_amount",
            good: &["1", "120"],
            bad: &["0", "-5"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO xp_logs (id, user_id, xp_amount, source_type, reference_id, created_at) \
                     VALUES ({}, {}, {v}, 'study', {}, {T})",
                    id(n),
                    id(ALICE),
                    id(n)
                )]
            },
        },
        Case {
            check: "ai_usage_logs_feature_type_check",
            table: "ai_usage_logs",
            column: "feature_type",
            good: &["'doubt'", "'quiz'", "'material'"],
            bad: &["'tutor'", "'embedding'"],
            row: |n, v| ai_usage(n, v, "'success'", ["10", "5", "15"], "'0.000120'"),
        },
        Case {
            check: "ai_usage_logs_request_status_check",
            table: "ai_usage_logs",
            column: "request_status",
            // 'reserved' since m20261126_000010_ai_usage_control: a call under way.
            good: &["'success'", "'error'", "'rejected'", "'reserved'"],
            bad: &["'timeout'", "'Reserved'"],
            row: |n, v| ai_usage(n, "'doubt'", v, ["10", "5", "15"], "'0'"),
        },
        Case {
            check: "ai_usage_counters_used_check",
            table: "ai_usage_counters",
            column: "used",
            good: &["0", "20"],
            bad: &["-1"],
            row: |n, v| usage_counter(n, "'doubt'", v),
        },
        Case {
            check: "ai_usage_counters_feature_type_check",
            table: "ai_usage_counters",
            column: "feature_type",
            good: &["'doubt'", "'quiz'", "'material'"],
            bad: &["'tutor'"],
            row: |n, v| usage_counter(n, v, "1"),
        },
        Case {
            check: "ai_usage_logs_prompt_tokens_check",
            table: "ai_usage_logs",
            column: "prompt_tokens",
            good: &["0", "900"],
            bad: &["-1"],
            row: |n, v| ai_usage(n, "'quiz'", "'success'", [v, "0", "0"], "'0'"),
        },
        Case {
            check: "ai_usage_logs_completion_tokens_check",
            table: "ai_usage_logs",
            column: "completion_tokens",
            good: &["0", "300"],
            bad: &["-1"],
            row: |n, v| ai_usage(n, "'quiz'", "'success'", ["0", v, "0"], "'0'"),
        },
        Case {
            check: "ai_usage_logs_total_tokens_check",
            table: "ai_usage_logs",
            column: "total_tokens",
            good: &["0", "1200"],
            bad: &["-1"],
            row: |n, v| ai_usage(n, "'quiz'", "'success'", ["0", "0", v], "'0'"),
        },
        Case {
            check: "ai_usage_logs_estimated_cost_check",
            table: "ai_usage_logs",
            column: "estimated_cost",
            good: &["'0'", "'0.000001'", "'2.500000'"],
            bad: &["'-0.000001'", "'-3'"],
            row: |n, v| ai_usage(n, "'material'", "'success'", ["1", "0", "1"], v),
        },
        Case {
            check: "payments_amount_check",
            table: "payments",
            column: "amount",
            good: &["0", "999"],
            bad: &["-1"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO payments (id, user_id, amount, currency, status, provider_payment_id, created_at) \
                     VALUES ({}, {}, {v}, 'usd', 'succeeded', 'pi_{n}', {T})",
                    id(n),
                    id(ALICE)
                )]
            },
        },
        Case {
            check: "subscriptions_plan_check",
            table: "subscriptions",
            column: "plan",
            good: &["'free'", "'pro'"],
            bad: &["'enterprise'"],
            row: |n, v| subscription(n, v, "'canceled'"),
        },
        Case {
            check: "subscriptions_status_check",
            table: "subscriptions",
            column: "status",
            good: &["'active'", "'trialing'", "'past_due'", "'canceled'"],
            bad: &["'expired'", "'paused'"],
            row: |n, v| subscription(n, "'pro'", v),
        },
        Case {
            check: "doubt_messages_role_check",
            table: "doubt_messages",
            column: "role",
            good: &["'user'", "'assistant'"],
            bad: &["'system'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO doubt_messages (id, doubt_session_id, role, message_text, created_at) \
                     VALUES ({}, {}, {v}, 'Why?', {T})",
                    id(n),
                    id(DOUBT)
                )]
            },
        },
        Case {
            check: "email_tokens_purpose_check",
            table: "email_tokens",
            column: "purpose",
            good: &["'verify_email'", "'password_reset'"],
            bad: &["'login'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO email_tokens (id, user_id, purpose, token_hash, expires_at, created_at) \
                     VALUES ({}, {}, {v}, 'hash{n}', {T}, {T})",
                    id(n),
                    id(ALICE)
                )]
            },
        },
        Case {
            check: "jobs_status_check",
            table: "jobs",
            column: "status",
            good: &["'queued'", "'running'", "'done'", "'dead'"],
            // `failed` was a status until migration 11 replaced it with `dead`.
            bad: &["'waiting'", "'failed'"],
            row: |n, v| {
                vec![format!(
                    "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
                     VALUES ({}, 'extract', '{{}}', {v}, 0, 3, {T}, {T}, {T})",
                    id(n)
                )]
            },
        },
        Case {
            check: "study_sessions_duration_seconds_check",
            table: "study_sessions",
            column: "duration_seconds",
            good: &["NULL", "0", "14400"],
            bad: &["-1", "14401"],
            row: |n, v| study_session(n, v, "0"),
        },
        Case {
            check: "study_sessions_xp_awarded_check",
            table: "study_sessions",
            column: "xp_awarded",
            good: &["0", "120"],
            bad: &["-1"],
            row: |n, v| study_session(n, "600", v),
        },
        Case {
            check: "achievements_criteria_value_check",
            table: "achievements",
            column: "criteria_value",
            good: &["1", "100"],
            bad: &["0", "-3"],
            row: |n, v| achievement(n, v, "0"),
        },
        Case {
            check: "achievements_xp_reward_check",
            table: "achievements",
            column: "xp_reward",
            good: &["0", "1000"],
            bad: &["-1", "1001"],
            row: |n, v| achievement(n, "1", v),
        },
        Case {
            check: "user_streaks_current_streak_check",
            table: "user_streaks",
            column: "current_streak",
            good: &["0", "7"],
            bad: &["-1"],
            row: |n, v| streak(n, v, "7"),
        },
        Case {
            check: "user_streaks_longest_streak_check",
            table: "user_streaks",
            column: "longest_streak",
            good: &["0", "7"],
            bad: &["-1"],
            row: |n, v| streak(n, "0", v),
        },
    ]
}

fn ai_usage(n: u32, feature: &str, status: &str, tokens: [&str; 3], cost: &str) -> Vec<String> {
    let [prompt, completion, total] = tokens;
    vec![format!(
        "INSERT INTO ai_usage_logs (id, user_id, feature_type, model_name, prompt_tokens, completion_tokens, total_tokens, estimated_cost, request_status, created_at) \
         VALUES ({}, {}, {feature}, 'offline', {prompt}, {completion}, {total}, {cost}, {status}, {T})",
        id(n),
        id(ALICE)
    )]
}

/// A usage counter of a user of its own (the key is per user, feature and day).
fn usage_counter(n: u32, feature: &str, used: &str) -> Vec<String> {
    vec![
        user(n + 1),
        format!(
            "INSERT INTO ai_usage_counters (user_id, feature_type, usage_date, used) \
             VALUES ({}, {feature}, '2026-01-01', {used})",
            id(n + 1)
        ),
    ]
}

/// A subscription of a user of its own (at most one current subscription per user).
fn subscription(n: u32, plan: &str, status: &str) -> Vec<String> {
    vec![
        user(n + 1),
        format!(
            "INSERT INTO subscriptions (id, user_id, plan, status, provider, created_at, updated_at) \
             VALUES ({}, {}, {plan}, {status}, 'manual', {T}, {T})",
            id(n),
            id(n + 1)
        ),
    ]
}

fn study_session(n: u32, duration: &str, xp: &str) -> Vec<String> {
    vec![format!(
        "INSERT INTO study_sessions (id, user_id, started_at, ended_at, duration_seconds, xp_awarded, created_at) \
         VALUES ({}, {}, {T}, {T}, {duration}, {xp}, {T})",
        id(n),
        id(ALICE)
    )]
}

fn achievement(n: u32, criteria_value: &str, xp_reward: &str) -> Vec<String> {
    vec![format!(
        "INSERT INTO achievements (id, title, description, criteria_type, criteria_value, xp_reward, created_at) \
         VALUES ({}, 'Achievement {n}', 'Do it', 'total_xp', {criteria_value}, {xp_reward}, {T})",
        id(n)
    )]
}

/// A streak row of a user of its own (one row per user).
fn streak(n: u32, current: &str, longest: &str) -> Vec<String> {
    vec![
        user(n + 1),
        format!(
            "INSERT INTO user_streaks (user_id, current_streak, longest_streak, updated_at) \
             VALUES ({}, {current}, {longest}, {T})",
            id(n + 1)
        ),
    ]
}

/// Row numbers, two apart (a row may use `n + 1` for a parent of its own).
fn next() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0x1000);
    N.fetch_add(2, Ordering::SeqCst)
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// Runs the setup statements, then the last one, which must fail: its error text.
async fn refused(db: &DatabaseConnection, statements: &[String]) -> Result<String, DbErr> {
    let (last, setup) = statements
        .split_last()
        .ok_or_else(|| DbErr::Custom("no statement".into()))?;
    for sql in setup {
        exec(db, sql).await?;
    }
    match exec(db, last).await {
        Ok(()) => Err(DbErr::Custom(format!("expected a refusal of: {last}"))),
        Err(e) => Ok(e.to_string()),
    }
}

async fn accepted(db: &DatabaseConnection, statements: &[String]) -> Result<(), DbErr> {
    for sql in statements {
        exec(db, sql)
            .await
            .map_err(|e| DbErr::Custom(format!("{sql}: {e}")))?;
    }
    Ok(())
}

async fn parents(db: &DatabaseConnection) -> Result<(), DbErr> {
    accepted(
        db,
        &[
            user(ALICE),
            format!(
                "INSERT INTO subjects (id, name, created_at, updated_at) VALUES ({}, 'Chemistry', {T}, {T})",
                id(SUBJECT)
            ),
            format!(
                "INSERT INTO topics (id, subject_id, name, created_at, updated_at) VALUES ({}, {}, 'Atoms', {T}, {T})",
                id(TOPIC),
                id(SUBJECT)
            ),
            format!(
                "INSERT INTO quizzes (id, topic_id, title, source, created_at) VALUES ({}, {}, 'Atoms quiz', 'manual', {T})",
                id(QUIZ),
                id(TOPIC)
            ),
            format!(
                "INSERT INTO doubt_sessions (id, user_id, title, created_at, updated_at) VALUES ({}, {}, 'Why', {T}, {T})",
                id(DOUBT),
                id(ALICE)
            ),
        ],
    )
    .await
}

async fn every_check_refuses_bad_rows(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    parents(db).await?;
    for case in cases() {
        for good in case.good {
            accepted(db, &(case.row)(next(), good)).await?;
        }
        for bad in case.bad {
            let e = refused(db, &(case.row)(next(), bad)).await?;
            assert!(e.contains(case.check), "{} = {bad}: {e}", case.column);
        }
        // Changing a good row to a bad value is refused too.
        let update = format!(
            "UPDATE {} SET {} = {}",
            case.table, case.column, case.bad[0]
        );
        let e = refused(db, &[update]).await?;
        assert!(e.contains(case.check), "update of {}: {e}", case.column);
    }
    Ok(())
}

async fn rolling_back_lets_bad_rows_in_and_migrating_over_them_names_each(
    db: &DatabaseConnection,
) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    parents(db).await?;
    // Back to just before the checks, whatever migrations came after them.
    let checks = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261126_000008_checks")
        .ok_or_else(|| DbErr::Custom("no checks migration".into()))?;
    let later = u32::try_from(Migrator::migrations().len() - checks)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Migrator::down(db, Some(later)).await?;
    // Without the checks, the database takes these.
    let bad_user = next();
    accepted(db, &(cases()[0].row)(bad_user, "'superuser'")).await?;
    accepted(db, &study_session(next(), "20000", "0")).await?;
    accepted(db, &study_session(next(), "-5", "0")).await?;

    let e = Migrator::up(db, None)
        .await
        .err()
        .ok_or_else(|| DbErr::Custom("migrating over bad rows succeeded".into()))?
        .to_string();
    assert!(e.contains("users: 1 row(s) break users_role_check"), "{e}");
    assert!(
        e.contains("study_sessions: 2 row(s) break study_sessions_duration_seconds_check"),
        "{e}"
    );
    assert!(!e.contains("xp_logs"), "{e}");
    // Nothing was added: the bad rows can still be joined by more.
    accepted(db, &(cases()[0].row)(next(), "'root'")).await?;

    exec(
        db,
        "DELETE FROM users WHERE role NOT IN ('student', 'admin')",
    )
    .await?;
    exec(
        db,
        "DELETE FROM study_sessions WHERE duration_seconds NOT BETWEEN 0 AND 14400",
    )
    .await?;
    Migrator::up(db, None).await?;
    let e = refused(db, &(cases()[0].row)(next(), "'superuser'")).await?;
    assert!(e.contains("users_role_check"), "{e}");
    Ok(())
}

async fn on_sqlite<F, Fut>(test: F) -> Result<(), DbErr>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = Result<(), DbErr>>,
{
    let db = Database::connect("sqlite::memory:").await?;
    test(db).await
}

#[tokio::test]
async fn every_check_refuses_bad_rows_on_sqlite() -> Result<(), DbErr> {
    on_sqlite(|db| async move { every_check_refuses_bad_rows(&db).await }).await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn every_check_refuses_bad_rows_on_postgres() -> Result<(), DbErr> {
    on_postgres(|db| async move { every_check_refuses_bad_rows(&db).await }).await
}

#[tokio::test]
async fn rolling_back_and_migrating_over_bad_rows_on_sqlite() -> Result<(), DbErr> {
    on_sqlite(|db| async move {
        rolling_back_lets_bad_rows_in_and_migrating_over_them_names_each(&db).await
    })
    .await
}

#[tokio::test]
#[cfg_attr(
    studium_pg_off,
    ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
)]
async fn rolling_back_and_migrating_over_bad_rows_on_postgres() -> Result<(), DbErr> {
    on_postgres(|db| async move {
        rolling_back_lets_bad_rows_in_and_migrating_over_them_names_each(&db).await
    })
    .await
}
