//! The quiz rules (SPEC §3 Quizzes, XP, Streaks, Mastery, Achievements; §4 quizzes): who sees
//! which quiz, storing validated questions, scoring attempts on the server with their effects,
//! and the store functions other areas call inside their own transactions (topic cascades, the
//! tutor's answer-leak guard). Topics are given to the cascade helpers as a subquery of their
//! ids, so one statement serves one topic or a whole subject's.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, SqlErr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::*;
use super::validate::{QuestionDraft, answer_key, matching_option, validate_question};
use crate::db::lock_user;
use crate::entity::{quiz_attempts, quiz_questions, quizzes, topics};
use crate::gamification::achievements::{self, Criteria};
use crate::gamification::xp;
use crate::http::Page;
use crate::http::error::{AppError, AppResult, FieldError};
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::state::AppState;
use crate::{accounts, mastery, study};

/// SPEC §3 XP: 10 per correct answer beyond the user's best earlier attempt on the quiz.
pub const XP_PER_CORRECT_ANSWER: i32 = 10;
/// SPEC §3 XP: 20 the first time the user scores 100 % on a quiz.
pub const XP_FIRST_PERFECT: i32 = 20;
/// `quizzes.source` of hand-written quizzes (admin and demo alike).
pub const SOURCE_MANUAL: &str = "manual";
/// `quiz_questions.question_type` of every question: multiple choice is the only kind.
pub const QUESTION_TYPE: &str = "multiple_choice";

/// How many quizzes the topics have, and how many attempts students submitted on them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QuizCounts {
    pub quizzes: u64,
    pub attempts: u64,
}

/// `SELECT id FROM quizzes WHERE topic_id IN (topic_ids)`.
fn quiz_ids(topic_ids: SelectStatement) -> SelectStatement {
    Query::select()
        .column(quizzes::Column::Id)
        .from(quizzes::Entity)
        .and_where(quizzes::Column::TopicId.in_subquery(topic_ids))
        .to_owned()
}

/// The quizzes on `topic_ids` and the attempts on those quizzes.
pub async fn counts_on_topics(
    conn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> Result<QuizCounts, DbErr> {
    let quizzes = quizzes::Entity::find()
        .filter(quizzes::Column::TopicId.in_subquery(topic_ids.clone()))
        .count(conn)
        .await?;
    let attempts = if quizzes == 0 {
        0
    } else {
        quiz_attempts::Entity::find()
            .filter(quiz_attempts::Column::QuizId.in_subquery(quiz_ids(topic_ids)))
            .count(conn)
            .await?
    };
    Ok(QuizCounts { quizzes, attempts })
}

/// Deletes the quizzes on `topic_ids` with their questions and every attempt on them, in the
/// caller's transaction; children first, so nothing depends on the schema's cascades. XP the
/// attempts earned stays earned, as with deleted lessons.
pub async fn delete_on_topics(
    conn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> Result<QuizCounts, DbErr> {
    let attempts = quiz_attempts::Entity::delete_many()
        .filter(quiz_attempts::Column::QuizId.in_subquery(quiz_ids(topic_ids.clone())))
        .exec(conn)
        .await?
        .rows_affected;
    quiz_questions::Entity::delete_many()
        .filter(quiz_questions::Column::QuizId.in_subquery(quiz_ids(topic_ids.clone())))
        .exec(conn)
        .await?;
    let quizzes = quizzes::Entity::delete_many()
        .filter(quizzes::Column::TopicId.in_subquery(topic_ids))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(QuizCounts { quizzes, attempts })
}

// ---------------------------------------------------------------------------------------------
// Visibility: shared quizzes (owner_id NULL: hand-written, demo) and the user's own generated
// ones. Another user's own quiz does not exist for anyone else (404).

fn visible_to(user_id: Uuid) -> Condition {
    Condition::any()
        .add(quizzes::Column::OwnerId.is_null())
        .add(quizzes::Column::OwnerId.eq(user_id))
}

async fn find_visible(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    quiz_id: Uuid,
) -> AppResult<quizzes::Model> {
    quizzes::Entity::find_by_id(quiz_id)
        .filter(visible_to(user_id))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("quiz"))
}

/// The questions of a quiz in the order they are asked.
async fn questions_of(
    conn: &impl ConnectionTrait,
    quiz_id: Uuid,
) -> Result<Vec<quiz_questions::Model>, DbErr> {
    quiz_questions::Entity::find()
        .filter(quiz_questions::Column::QuizId.eq(quiz_id))
        .order_by_asc(quiz_questions::Column::OrderIndex)
        .order_by_asc(quiz_questions::Column::Id)
        .all(conn)
        .await
}

/// `GET /topics/{id}/quizzes`: the quizzes of a topic the user may take, oldest first, with
/// their question counts and the user's best score. 404 for a missing topic.
pub async fn list_topic_quizzes(
    state: &AppState,
    user_id: Uuid,
    topic_id: Uuid,
    page: PageParams,
) -> AppResult<Page<QuizSummary>> {
    let db = state.db.read();
    topics::Entity::find_by_id(topic_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("topic"))?;
    let limit = page.limit();
    let mut select = quizzes::Entity::find()
        .filter(quizzes::Column::TopicId.eq(topic_id))
        .filter(visible_to(user_id))
        .order_by_asc(quizzes::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(quizzes::Column::Id.gt(after));
    }
    let mut rows = select.limit(limit + 1).all(db).await?;
    let next_cursor = next_page(&mut rows, limit, |q| encode_cursor(q.id));
    let items = summaries(db, user_id, rows).await?;
    Ok(Page { items, next_cursor })
}

/// The quizzes as the user's lists show them: with their question counts and the user's best
/// score and attempt count.
async fn summaries(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    rows: Vec<quizzes::Model>,
) -> AppResult<Vec<QuizSummary>> {
    let ids: Vec<Uuid> = rows.iter().map(|q| q.id).collect();
    let counts: Vec<(Uuid, i64)> = quiz_questions::Entity::find()
        .select_only()
        .column(quiz_questions::Column::QuizId)
        .column_as(quiz_questions::Column::Id.count(), "n")
        .filter(quiz_questions::Column::QuizId.is_in(ids.clone()))
        .group_by(quiz_questions::Column::QuizId)
        .into_tuple()
        .all(db)
        .await?;
    let counts: HashMap<Uuid, i64> = counts.into_iter().collect();
    let scores: Vec<(Uuid, crate::entity::numeric::Numeric)> = quiz_attempts::Entity::find()
        .select_only()
        .column(quiz_attempts::Column::QuizId)
        .column(quiz_attempts::Column::ScorePercentage)
        .filter(quiz_attempts::Column::UserId.eq(user_id))
        .filter(quiz_attempts::Column::QuizId.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    let mut best: HashMap<Uuid, (f64, i64)> = HashMap::new();
    for (quiz_id, score) in scores {
        let score = score.0.to_f64().unwrap_or(0.0);
        let entry = best.entry(quiz_id).or_insert((score, 0));
        entry.0 = entry.0.max(score);
        entry.1 += 1;
    }
    let items = rows
        .into_iter()
        .map(|q| {
            let mine = best.get(&q.id).copied();
            QuizSummary {
                question_count: counts.get(&q.id).copied().unwrap_or(0),
                best_score: mine.map(|(s, _)| s),
                attempt_count: mine.map_or(0, |(_, n)| n),
                id: q.id,
                topic_id: q.topic_id,
                title: q.title,
                description: q.description,
                difficulty: q.difficulty,
                source: q.source,
                generated_by_ai: q.generated_by_ai,
                owner_id: q.owner_id,
                created_at: q.created_at,
            }
        })
        .collect();
    Ok(items)
}

/// The quizzes the user generated or has attempted (shared ones included), the newest first,
/// at most `limit`: the web app's own list of "my quizzes".
pub async fn my_quizzes(
    state: &AppState,
    user_id: Uuid,
    limit: u64,
) -> AppResult<Vec<QuizSummary>> {
    let db = state.db.read();
    let attempted = Query::select()
        .column(quiz_attempts::Column::QuizId)
        .from(quiz_attempts::Entity)
        .and_where(quiz_attempts::Column::UserId.eq(user_id))
        .to_owned();
    let rows = quizzes::Entity::find()
        .filter(visible_to(user_id))
        .filter(
            Condition::any()
                .add(quizzes::Column::OwnerId.eq(user_id))
                .add(quizzes::Column::Id.in_subquery(attempted)),
        )
        .order_by_desc(quizzes::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    summaries(db, user_id, rows).await
}

/// `GET /quizzes/{id}`: the quiz and its questions without answers or explanations (SPEC §3
/// Quizzes: students never see them before they submit).
pub async fn get_quiz(state: &AppState, user_id: Uuid, quiz_id: Uuid) -> AppResult<QuizView> {
    let db = state.db.read();
    let quiz = find_visible(db, user_id, quiz_id).await?;
    let questions = questions_of(db, quiz_id).await?;
    Ok(QuizView::new(quiz, &questions))
}

// ---------------------------------------------------------------------------------------------
// Storing quizzes

/// Stores a quiz and its questions in the caller's transaction; the generation endpoint and
/// `POST /admin/quizzes` both come here. Every question is checked by `validate_question`
/// (and stored as repaired) — a question that fails is an error, never stored broken. Callers
/// validate first to tell their client which question is wrong.
#[allow(clippy::too_many_arguments)]
pub async fn store_quiz(
    conn: &impl ConnectionTrait,
    topic_id: Uuid,
    owner_id: Option<Uuid>,
    created_by: Option<Uuid>,
    title: &str,
    description: Option<&str>,
    difficulty: Option<&str>,
    source: &str,
    generated_by_ai: bool,
    questions: Vec<QuestionDraft>,
    now: DateTime<Utc>,
) -> Result<quizzes::Model, DbErr> {
    let questions = questions
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            validate_question(q)
                .map_err(|e| DbErr::Custom(format!("question {} is invalid: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quiz = quizzes::Model {
        id: Uuid::now_v7(),
        topic_id,
        created_by,
        owner_id,
        title: title.trim().to_string(),
        description: description
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(String::from),
        difficulty: difficulty
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(String::from),
        source: source.to_string(),
        generated_by_ai,
        created_at: now,
    };
    quizzes::Entity::insert(quizzes::ActiveModel::from(quiz.clone()))
        .exec_without_returning(conn)
        .await?;
    let rows: Vec<quiz_questions::ActiveModel> = questions
        .into_iter()
        .enumerate()
        .map(|(i, q)| quiz_questions::ActiveModel {
            id: Set(Uuid::now_v7()),
            quiz_id: Set(quiz.id),
            question_text: Set(q.question_text),
            question_type: Set(QUESTION_TYPE.into()),
            options: Set(serde_json::json!(q.options)),
            correct_answer: Set(q.correct_answer),
            explanation: Set(q.explanation),
            order_index: Set(i32::try_from(i + 1).unwrap_or(i32::MAX)),
        })
        .collect();
    if !rows.is_empty() {
        quiz_questions::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(quiz)
}

/// `POST /admin/quizzes`: a hand-written shared quiz. Each question goes through the same
/// validator as generated ones; every rejected question is reported at its path
/// (`questions[2].options`). An unknown topic is a 422 on `topic_id`.
pub async fn create_quiz(
    state: &AppState,
    admin_id: Uuid,
    req: CreateQuizRequest,
) -> AppResult<AdminQuizView> {
    let mut errors = Vec::new();
    if req.title.trim().is_empty() {
        errors.push(FieldError::new("title", "must not be blank"));
    }
    let mut questions = Vec::with_capacity(req.questions.len());
    for (i, q) in req.questions.into_iter().enumerate() {
        match validate_question(q) {
            Ok(q) => questions.push(q),
            Err(e) => errors.push(FieldError::new(
                format!("questions[{i}].{}", e.field),
                e.message,
            )),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let no_topic = || AppError::invalid("topic_id", "no such topic");
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    topics::Entity::find_by_id(req.topic_id)
        .one(&txn)
        .await?
        .ok_or_else(no_topic)?;
    let quiz = store_quiz(
        &txn,
        req.topic_id,
        None,
        Some(admin_id),
        &req.title,
        req.description.as_deref(),
        req.difficulty.as_deref(),
        SOURCE_MANUAL,
        false,
        questions,
        now,
    )
    .await
    .map_err(|e| match e.sql_err() {
        // The topic was deleted between the check and the insert.
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => no_topic(),
        _ => e.into(),
    })?;
    let questions = questions_of(&txn, quiz.id).await?;
    txn.commit().await?;
    Ok(AdminQuizView::new(quiz, &questions))
}

// ---------------------------------------------------------------------------------------------
// Attempts

/// One answer as stored in `quiz_attempts.answers`: the option as the question writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAnswer {
    question_id: Uuid,
    answer: String,
}

/// SPEC §3 Quizzes "an attempt must answer questions of that quiz only": each answer names a
/// question of this quiz, at most once, and is one of its options (matched ignoring case and
/// surrounding spaces, then stored as the option is written). Every offending answer is
/// reported at its path. Questions left out are allowed and count as wrong.
fn check_answers(
    questions: &[quiz_questions::Model],
    answers: &[AnswerInput],
) -> AppResult<Vec<StoredAnswer>> {
    let by_id: HashMap<Uuid, &quiz_questions::Model> =
        questions.iter().map(|q| (q.id, q)).collect();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    let mut stored = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate() {
        let Some(question) = by_id.get(&a.question_id) else {
            errors.push(FieldError::new(
                format!("answers[{i}].question_id"),
                "is not a question of this quiz",
            ));
            continue;
        };
        if !seen.insert(a.question_id) {
            errors.push(FieldError::new(
                format!("answers[{i}].question_id"),
                "this question is answered twice",
            ));
            continue;
        }
        match matching_option(&options_of(question), &a.answer) {
            Some(option) => stored.push(StoredAnswer {
                question_id: a.question_id,
                answer: option.clone(),
            }),
            None => errors.push(FieldError::new(
                format!("answers[{i}].answer"),
                "must be one of the question's options",
            )),
        }
    }
    if errors.is_empty() {
        Ok(stored)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// The verdict on every question, in order; a question without an answer is wrong.
fn results(questions: &[quiz_questions::Model], answers: &[StoredAnswer]) -> Vec<QuestionResult> {
    let given: HashMap<Uuid, &str> = answers
        .iter()
        .map(|a| (a.question_id, a.answer.as_str()))
        .collect();
    questions
        .iter()
        .map(|q| {
            let answer = given.get(&q.id).map(|a| a.to_string());
            QuestionResult {
                question_id: q.id,
                correct: answer
                    .as_deref()
                    .is_some_and(|a| answer_key(a) == answer_key(&q.correct_answer)),
                answer,
                correct_answer: q.correct_answer.clone(),
                explanation: q.explanation.clone(),
            }
        })
        .collect()
}

/// `correct` of `total` as a percentage with two decimals (2 of 3 is 66.67).
fn percentage(correct: i32, total: i32) -> Decimal {
    if total <= 0 {
        return Decimal::ZERO;
    }
    (Decimal::from(correct) * Decimal::from(100) / Decimal::from(total))
        .round_dp(2)
        .normalize()
}

/// The most questions the user got right in any earlier attempt on the quiz (0 before the first).
async fn best_earlier_correct(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    quiz_id: Uuid,
) -> Result<i32, DbErr> {
    let best: Option<Option<i32>> = quiz_attempts::Entity::find()
        .select_only()
        .column_as(quiz_attempts::Column::CorrectCount.max(), "best")
        .filter(quiz_attempts::Column::UserId.eq(user_id))
        .filter(quiz_attempts::Column::QuizId.eq(quiz_id))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(best.flatten().unwrap_or(0))
}

/// `POST /quizzes/{id}/attempts` (SPEC §3 Quizzes, XP, Streaks, Mastery, Achievements): scores
/// the answers on the server, stores the attempt, and in the same transaction awards XP —
/// `XP_PER_CORRECT_ANSWER` per correct answer beyond the user's best earlier attempt on the
/// quiz, plus `XP_FIRST_PERFECT` the first time they score 100 % — records the study day,
/// moves the topic's mastery and evaluates the quiz, streak and XP achievements.
///
/// Exactly once under concurrency: the per-user lock (`db::lock_user` on PostgreSQL; the
/// IMMEDIATE write transaction on SQLite) makes parallel submissions of one user run one after
/// the other, so each sees the attempts committed before it as "earlier" and a repeat of the
/// best score earns nothing; the perfect bonus references the quiz, so the unique
/// `xp_logs` key allows it once even without the lock.
pub async fn submit_attempt(
    state: &AppState,
    user_id: Uuid,
    quiz_id: Uuid,
    req: SubmitAttemptRequest,
) -> AppResult<AttemptResponse> {
    let now = state.clock.now();
    if req.started_at.is_some_and(|s| s > now) {
        return Err(AppError::invalid("started_at", "must not be in the future"));
    }
    // Scoring needs only the quiz: do it before taking the user's lock.
    let db = state.db.read();
    let quiz = find_visible(db, user_id, quiz_id).await?;
    let questions = questions_of(db, quiz_id).await?;
    let answers = check_answers(&questions, &req.answers)?;
    let results = results(&questions, &answers);
    let total = i32::try_from(questions.len()).unwrap_or(i32::MAX);
    let correct = i32::try_from(results.iter().filter(|r| r.correct).count()).unwrap_or(0);
    let score = percentage(correct, total);

    let txn = state.db.begin_write().await?;
    lock_user(&txn, user_id).await?;
    // The quiz may have been deleted since it was read.
    find_visible(&txn, user_id, quiz_id).await?;
    // A study session past its cap is over: its study day comes before this one.
    study::service::close_over_cap(&txn, user_id, now).await?;

    let attempt_id = Uuid::now_v7();
    let gained = (correct - best_earlier_correct(&txn, user_id, quiz_id).await?).max(0);
    let mut xp_awarded = xp::award(
        &txn,
        user_id,
        xp::XpSource::QuizAttempt,
        attempt_id,
        gained.saturating_mul(XP_PER_CORRECT_ANSWER),
        &format!(
            "Quiz \u{201c}{}\u{201d}: {correct} of {total} correct",
            quiz.title
        ),
        now,
    )
    .await?;
    if total > 0 && correct == total {
        xp_awarded += xp::award(
            &txn,
            user_id,
            xp::XpSource::QuizPerfect,
            quiz_id,
            XP_FIRST_PERFECT,
            &format!(
                "First perfect score on the quiz \u{201c}{}\u{201d}",
                quiz.title
            ),
            now,
        )
        .await?;
    }
    let attempt = quiz_attempts::Model {
        id: attempt_id,
        user_id,
        quiz_id,
        answers: serde_json::to_value(&answers)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("answers as JSON: {e}")))?,
        score_percentage: score.into(),
        correct_count: correct,
        total_questions: total,
        xp_awarded,
        started_at: req.started_at,
        completed_at: now,
    };
    quiz_attempts::Entity::insert(quiz_attempts::ActiveModel::from(attempt.clone()))
        .exec_without_returning(&txn)
        .await?;

    let tz = accounts::service::user_timezone(&txn, user_id).await?;
    study::streaks::record_study_day(&txn, user_id, tz, now, now).await?;
    mastery::service::on_quiz_scored(
        &txn,
        user_id,
        quiz.topic_id,
        score.to_f64().unwrap_or(0.0),
        now,
    )
    .await?;
    let achievements_unlocked = achievements::evaluate(
        &txn,
        user_id,
        &[
            Criteria::QuizzesCompleted,
            Criteria::PerfectQuizzes,
            Criteria::StreakDays,
        ],
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(AttemptResponse {
        attempt: AttemptView::from(&attempt),
        results,
        xp_awarded,
        achievements_unlocked,
    })
}

/// `GET /quiz-attempts/{id}`: one of the user's attempts with its results; another user's
/// attempt is a 404.
pub async fn get_attempt(
    state: &AppState,
    user_id: Uuid,
    attempt_id: Uuid,
) -> AppResult<AttemptDetail> {
    let db = state.db.read();
    let attempt = quiz_attempts::Entity::find_by_id(attempt_id)
        .filter(quiz_attempts::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("quiz attempt"))?;
    let questions = questions_of(db, attempt.quiz_id).await?;
    let answers: Vec<StoredAnswer> =
        serde_json::from_value(attempt.answers.clone()).unwrap_or_default();
    Ok(AttemptDetail {
        results: results(&questions, &answers),
        attempt: AttemptView::from(&attempt),
    })
}

/// `GET /me/quiz-attempts`: the user's attempts, newest first, optionally on one quiz.
pub async fn list_my_attempts(
    state: &AppState,
    user_id: Uuid,
    query: AttemptListQuery,
) -> AppResult<Page<AttemptView>> {
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit();
    let mut select = quiz_attempts::Entity::find()
        .filter(quiz_attempts::Column::UserId.eq(user_id))
        .order_by_desc(quiz_attempts::Column::Id);
    if let Some(quiz_id) = query.quiz_id {
        select = select.filter(quiz_attempts::Column::QuizId.eq(quiz_id));
    }
    if let Some(before) = page.after_id()? {
        select = select.filter(quiz_attempts::Column::Id.lt(before));
    }
    let mut rows = select.limit(limit + 1).all(state.db.read()).await?;
    let next_cursor = next_page(&mut rows, limit, |a| encode_cursor(a.id));
    Ok(Page {
        items: rows.iter().map(AttemptView::from).collect(),
        next_cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// The tutor's answer-leak guard

/// The correct answers of the questions of quizzes visible to the user (on `topic_id` when
/// given, otherwise everywhere) that the user has not submitted an attempt on yet: the keys
/// the tutor must never give away (issue 8, answer-leak guard). Once the user has submitted
/// an attempt, the results showed them the keys anyway.
pub async fn unsubmitted_answers(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Option<Uuid>,
) -> Result<Vec<String>, DbErr> {
    let mut keys = read_answer_keys(
        conn.query_all(&unsubmitted_answers_select(user_id, topic_id))
            .await?,
    )?;
    keys.sort_by_key(|(id, _)| *id);
    Ok(keys.into_iter().map(|(_, key)| key).collect())
}

/// [`unsubmitted_answers`] as a statement, `(id, correct_answer)` rows in no order, for a
/// caller that reads the keys in one statement with something of its own (the tutor, in a
/// `UNION ALL`); read its rows with [`read_answer_keys`] and order them by id.
pub fn unsubmitted_answers_select(user_id: Uuid, topic_id: Option<Uuid>) -> SelectStatement {
    let mut visible = Query::select()
        .column(quizzes::Column::Id)
        .from(quizzes::Entity)
        .cond_where(visible_to(user_id))
        .and_where(
            quizzes::Column::Id.not_in_subquery(
                Query::select()
                    .column(quiz_attempts::Column::QuizId)
                    .from(quiz_attempts::Entity)
                    .and_where(quiz_attempts::Column::UserId.eq(user_id))
                    .to_owned(),
            ),
        )
        .to_owned();
    if let Some(topic_id) = topic_id {
        visible.and_where(quizzes::Column::TopicId.eq(topic_id));
    }
    quiz_questions::Entity::find()
        .select_only()
        .column(quiz_questions::Column::Id)
        .column(quiz_questions::Column::CorrectAnswer)
        .filter(quiz_questions::Column::QuizId.in_subquery(visible))
        .into_query()
}

/// The `(id, key)` pairs of rows of [`unsubmitted_answers_select`]; a row without both (one a
/// caller added to the statement) is skipped.
pub fn read_answer_keys(rows: Vec<sea_orm::QueryResult>) -> Result<Vec<(Uuid, String)>, DbErr> {
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Option<Uuid> = row.try_get_by_index(0)?;
        let key: Option<String> = row.try_get_by_index(1)?;
        if let (Some(id), Some(key)) = (id, key) {
            keys.push((id, key));
        }
    }
    Ok(keys)
}
