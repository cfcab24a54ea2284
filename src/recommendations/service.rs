//! Rule-based recommendations (SPEC §3 Recommendations), each with a priority, a 24-hour
//! expiry, a reason in words and a link to a real lesson, topic or quiz:
//!
//! | type | target | when |
//! |---|---|---|
//! | `streak_at_risk` | lesson | my streak runs and I have not studied today (my time zone) |
//! | `continue_lesson` | lesson | the next unfinished lesson of a topic I have started |
//! | `take_quiz` | quiz | every lesson of a topic done, and no attempt at its quizzes |
//! | `generate_quiz` | topic | the same, for a topic without a quiz yet |
//! | `review_topic` | topic | mastery below [`LOW_MASTERY`] |
//! | `new_topic` | topic | a topic not started, of a preferred subject first |
//!
//! Stored rows are shown while unexpired and while their rule still holds — a recommendation
//! whose target is done disappears at the next read — and regenerated when none is left, or
//! on `POST /me/recommendations/refresh`.
//!
//! `POST /me/recommendations/{id}/dismiss` sets `dismissed_at`: the row stays stored until its
//! expiry, is not listed, and while it stays no recommendation is made for the same target
//! (lesson, topic or quiz) — neither by a later read nor by a refresh.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::entity::{
    lesson_progress, lessons, quiz_attempts, quizzes, subjects, topic_progress, topics,
    user_profiles, user_recommendations, user_streaks,
};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;
use crate::study;

/// How long a recommendation stays (SPEC: 24 h).
const LIFETIME_HOURS: i64 = 24;
/// Mastery below which a topic is worth reviewing.
const LOW_MASTERY: i64 = 50;
/// At most this many of one kind, so one rule does not crowd out the others.
const PER_KIND: usize = 3;

/// A recommendation as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecommendationView {
    pub id: Uuid,
    /// `streak_at_risk`, `continue_lesson`, `take_quiz`, `generate_quiz`, `review_topic` or
    /// `new_topic`.
    pub recommendation_type: String,
    /// What `reference_id` is: `lesson`, `topic` or `quiz`.
    pub reference_type: String,
    pub reference_id: Uuid,
    /// The API path of the target.
    pub link: String,
    pub title: String,
    /// Why it was made, in words.
    pub reason: String,
    /// Higher first.
    pub priority_score: i32,
    pub expires_at: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
}

/// All of them at once (a handful): `next_cursor` is always null.
pub type RecommendationList = Page<RecommendationView>;

/// A recommendation the rules make now.
#[derive(Debug, Clone)]
struct Candidate {
    kind: &'static str,
    target: Uuid,
    title: String,
    reason: String,
    priority: i32,
}

fn reference_type(kind: &str) -> &'static str {
    match kind {
        "streak_at_risk" | "continue_lesson" => "lesson",
        "take_quiz" => "quiz",
        _ => "topic",
    }
}

fn link(kind: &str, id: Uuid) -> String {
    match reference_type(kind) {
        "lesson" => format!("/api/v1/lessons/{id}"),
        "quiz" => format!("/api/v1/quizzes/{id}"),
        _ => format!("/api/v1/topics/{id}"),
    }
}

fn view(row: user_recommendations::Model) -> Option<RecommendationView> {
    let reference_id = row.reference_id?;
    Some(RecommendationView {
        id: row.id,
        reference_type: reference_type(&row.recommendation_type).into(),
        link: link(&row.recommendation_type, reference_id),
        recommendation_type: row.recommendation_type,
        reference_id,
        title: row.title,
        reason: row.reason,
        priority_score: row.priority_score,
        expires_at: row.expires_at,
        generated_at: row.generated_at,
    })
}

/// What the rules recommend to `user_id` at `now`, highest priority first, leaving out the
/// targets in `skip` (dismissed ones) before each rule takes its few.
async fn candidates(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
    skip: &HashSet<Uuid>,
) -> Result<Vec<Candidate>, DbErr> {
    let subjects = subjects::Entity::find().all(conn).await?;
    let topics = topics::Entity::find()
        .order_by_asc(topics::Column::OrderIndex)
        .order_by_asc(topics::Column::Id)
        .all(conn)
        .await?;
    let lessons = lessons::Entity::find()
        .order_by_asc(lessons::Column::OrderIndex)
        .order_by_asc(lessons::Column::Id)
        .all(conn)
        .await?;
    let done: HashSet<Uuid> = lesson_progress::Entity::find()
        .filter(lesson_progress::Column::UserId.eq(user_id))
        .filter(lesson_progress::Column::Completed.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| p.lesson_id)
        .collect();
    let progress: HashMap<Uuid, topic_progress::Model> = topic_progress::Entity::find()
        .filter(topic_progress::Column::UserId.eq(user_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.topic_id, p))
        .collect();
    let quizzes = quizzes::Entity::find()
        .filter(
            Condition::any()
                .add(quizzes::Column::OwnerId.is_null())
                .add(quizzes::Column::OwnerId.eq(user_id)),
        )
        .order_by_asc(quizzes::Column::Id)
        .all(conn)
        .await?;
    let attempted: HashSet<Uuid> = quiz_attempts::Entity::find()
        .select_only()
        .column(quiz_attempts::Column::QuizId)
        .filter(quiz_attempts::Column::UserId.eq(user_id))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let profile = user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.eq(user_id))
        .one(conn)
        .await?;
    let streak = user_streaks::Entity::find_by_id(user_id).one(conn).await?;
    let tz = profile
        .as_ref()
        .and_then(|p| p.timezone.parse().ok())
        .unwrap_or(chrono_tz::UTC);

    let topic_name: HashMap<Uuid, &str> = topics.iter().map(|t| (t.id, t.name.as_str())).collect();
    let mut by_topic: HashMap<Uuid, Vec<&lessons::Model>> = HashMap::new();
    for l in &lessons {
        by_topic.entry(l.topic_id).or_default().push(l);
    }
    let mut out = Vec::new();

    // Next unfinished lessons of started topics, in topic order.
    let mut next_lessons: Vec<&lessons::Model> = Vec::new();
    for t in &topics {
        let ls = by_topic.get(&t.id).map(Vec::as_slice).unwrap_or_default();
        let started = ls.iter().any(|l| done.contains(&l.id));
        if started
            && let Some(next) = ls.iter().find(|l| !done.contains(&l.id))
            && !skip.contains(&next.id)
        {
            next_lessons.push(next);
        }
    }

    // A streak at risk: it runs (studied yesterday) and today is not a study day yet.
    let current = study::streaks::displayed_current(streak.as_ref(), tz, now);
    let today = study::streaks::local_date(tz, now);
    if current > 0
        && streak.as_ref().and_then(|s| s.last_study_date) != Some(today)
        && let Some(lesson) = next_lessons.first().copied().or_else(|| {
            topics
                .iter()
                .filter_map(|t| by_topic.get(&t.id))
                .flatten()
                .copied()
                .find(|l| !done.contains(&l.id) && !skip.contains(&l.id))
        })
    {
        out.push(Candidate {
            kind: "streak_at_risk",
            target: lesson.id,
            title: format!("Keep your {current}-day streak: {}", lesson.title),
            reason: format!(
                "You have studied {current} day(s) in a row but not yet today; finishing this lesson keeps the streak alive."
            ),
            priority: 100,
        });
    }

    for lesson in next_lessons.iter().take(PER_KIND) {
        let topic = topic_name.get(&lesson.topic_id).copied().unwrap_or("");
        out.push(Candidate {
            kind: "continue_lesson",
            target: lesson.id,
            title: format!("Continue: {}", lesson.title),
            reason: format!(
                "It is the next lesson you have not finished in {topic}, which you have started."
            ),
            priority: 80,
        });
    }

    // Topics whose lessons are all done and whose quizzes I have not tried.
    let mut quiz_recs = 0;
    for t in &topics {
        let ls = by_topic.get(&t.id).map(Vec::as_slice).unwrap_or_default();
        if ls.is_empty() || !ls.iter().all(|l| done.contains(&l.id)) {
            continue;
        }
        let topic_quizzes: Vec<&quizzes::Model> =
            quizzes.iter().filter(|q| q.topic_id == t.id).collect();
        if topic_quizzes.iter().any(|q| attempted.contains(&q.id)) || quiz_recs >= PER_KIND {
            continue;
        }
        let target = topic_quizzes.first().map_or(t.id, |q| q.id);
        if skip.contains(&target) {
            continue;
        }
        quiz_recs += 1;
        match topic_quizzes.first() {
            Some(q) => out.push(Candidate {
                kind: "take_quiz",
                target: q.id,
                title: format!("Quiz: {}", q.title),
                reason: format!(
                    "You finished every lesson of {} but have not tested yourself on it yet.",
                    t.name
                ),
                priority: 70,
            }),
            None => out.push(Candidate {
                kind: "generate_quiz",
                target: t.id,
                title: format!("Generate a quiz on {}", t.name),
                reason: format!(
                    "You finished every lesson of {} but have not tested yourself on it yet; it has no quiz, so generate one.",
                    t.name
                ),
                priority: 65,
            }),
        }
    }

    // Low mastery, weakest first.
    let low = Decimal::new(LOW_MASTERY, 0);
    let mut weak: Vec<(&topics::Model, Decimal)> = topics
        .iter()
        .filter_map(|t| progress.get(&t.id).map(|p| (t, p.mastery_score.0)))
        .filter(|(t, m)| *m < low && !skip.contains(&t.id))
        .collect();
    weak.sort_by_key(|w| w.1);
    for (t, mastery) in weak.into_iter().take(PER_KIND) {
        let shown = mastery.round_dp(0).to_i64().unwrap_or(0);
        out.push(Candidate {
            kind: "review_topic",
            target: t.id,
            title: format!("Review {}", t.name),
            reason: format!(
                "Your mastery of {} is {shown}/100, below {LOW_MASTERY}; a review and a quiz will bring it up.",
                t.name
            ),
            // The weaker, the more urgent: 60 to 69.
            priority: 60 + i32::try_from((LOW_MASTERY - shown) / 5).unwrap_or(0).min(9),
        });
    }

    // A topic not started, of a preferred subject first.
    let preferred: Vec<String> = profile
        .as_ref()
        .and_then(|p| p.preferred_subjects.clone())
        .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.to_lowercase())
        .collect();
    let subject_of: HashMap<Uuid, &subjects::Model> = subjects.iter().map(|s| (s.id, s)).collect();
    let is_preferred = |t: &topics::Model| {
        subject_of.get(&t.subject_id).is_some_and(|s| {
            preferred.contains(&s.name.to_lowercase()) || preferred.contains(&s.id.to_string())
        })
    };
    let fresh = |t: &&topics::Model| {
        let ls = by_topic.get(&t.id).map(Vec::as_slice).unwrap_or_default();
        !ls.is_empty()
            && !ls.iter().any(|l| done.contains(&l.id))
            && !progress.contains_key(&t.id)
            && !skip.contains(&t.id)
    };
    let mut new_topics: Vec<&topics::Model> = topics
        .iter()
        .filter(fresh)
        .filter(|t| is_preferred(t))
        .collect();
    let from_preferred = !new_topics.is_empty();
    if !from_preferred {
        let order: HashMap<Uuid, i32> = subjects.iter().map(|s| (s.id, s.order_index)).collect();
        new_topics = topics.iter().filter(fresh).collect();
        new_topics.sort_by_key(|t| {
            (
                order.get(&t.subject_id).copied().unwrap_or(0),
                t.order_index,
            )
        });
    }
    for t in new_topics.into_iter().take(1) {
        let subject = subject_of
            .get(&t.subject_id)
            .map(|s| s.name.as_str())
            .unwrap_or("");
        out.push(Candidate {
            kind: "new_topic",
            target: t.id,
            title: format!("Start {}", t.name),
            reason: if from_preferred {
                format!(
                    "{subject} is one of your preferred subjects, and you have not started {} yet.",
                    t.name
                )
            } else {
                format!("You have not started {} in {subject} yet.", t.name)
            },
            priority: if from_preferred { 50 } else { 40 },
        });
    }

    out.sort_by_key(|c| std::cmp::Reverse(c.priority));
    Ok(out)
}

/// Rows dismissed and not yet expired at `now`: they are kept, and hold back their targets.
fn dismissed_unexpired(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(user_recommendations::Column::DismissedAt.is_not_null())
        .add(user_recommendations::Column::ExpiresAt.gt(now))
}

/// The targets the user has dismissed, while the dismissed rows last.
async fn held_back(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<HashSet<Uuid>, DbErr> {
    Ok(user_recommendations::Entity::find()
        .select_only()
        .column(user_recommendations::Column::ReferenceId)
        .filter(user_recommendations::Column::UserId.eq(user_id))
        .filter(dismissed_unexpired(now))
        .into_tuple::<Option<Uuid>>()
        .all(conn)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Replaces the user's stored recommendations with `fresh`, less those whose target the user
/// has dismissed (the dismissed rows stay until they expire); returns the rows to show.
async fn store(
    state: &AppState,
    user_id: Uuid,
    fresh: Vec<Candidate>,
    now: DateTime<Utc>,
) -> AppResult<Vec<user_recommendations::Model>> {
    let tx = state.db.begin_write().await?;
    // Two reads regenerating at once replace one another's rows instead of doubling them.
    crate::db::lock_user(&tx, user_id).await?;
    user_recommendations::Entity::delete_many()
        .filter(user_recommendations::Column::UserId.eq(user_id))
        .filter(dismissed_unexpired(now).not())
        .exec(&tx)
        .await?;
    // Read under the lock, so a dismissal that committed first is respected.
    let dismissed = held_back(&tx, user_id, now).await?;
    let rows: Vec<user_recommendations::ActiveModel> = fresh
        .into_iter()
        .filter(|c| !dismissed.contains(&c.target))
        .map(|c| user_recommendations::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            recommendation_type: Set(c.kind.into()),
            reference_id: Set(Some(c.target)),
            title: Set(c.title),
            reason: Set(c.reason),
            priority_score: Set(c.priority),
            expires_at: Set(now + Duration::hours(LIFETIME_HOURS)),
            dismissed_at: Set(None),
            generated_at: Set(now),
        })
        .collect();
    if !rows.is_empty() {
        user_recommendations::Entity::insert_many(rows)
            .exec_without_returning(&tx)
            .await?;
    }
    let stored = user_recommendations::Entity::find()
        .filter(user_recommendations::Column::UserId.eq(user_id))
        .filter(user_recommendations::Column::DismissedAt.is_null())
        .order_by_desc(user_recommendations::Column::PriorityScore)
        .order_by_asc(user_recommendations::Column::Id)
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(stored)
}

/// `GET /me/recommendations`: the stored, unexpired recommendations while they are what the
/// rules make of the user's state now; regenerated when that state has moved (a target done,
/// a new one due) or they expired, so none ever points at something already done. Targets
/// the user dismissed are left out until the dismissed row expires.
pub async fn list(state: &AppState, me: &CurrentUser) -> AppResult<RecommendationList> {
    let now = state.clock.now();
    let db = state.db.read();
    let (dismissed, stored): (Vec<_>, Vec<_>) = user_recommendations::Entity::find()
        .filter(user_recommendations::Column::UserId.eq(me.id))
        .filter(user_recommendations::Column::ExpiresAt.gt(now))
        .order_by_desc(user_recommendations::Column::PriorityScore)
        .order_by_asc(user_recommendations::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .partition(|r| r.dismissed_at.is_some());
    let held_back: HashSet<Uuid> = dismissed.iter().filter_map(|r| r.reference_id).collect();
    let fresh = candidates(db, me.id, now, &held_back).await?;
    let wanted: HashSet<(&str, Uuid)> = fresh.iter().map(|c| (c.kind, c.target)).collect();
    let have: HashSet<(&str, Uuid)> = stored
        .iter()
        .filter_map(|r| Some((r.recommendation_type.as_str(), r.reference_id?)))
        .collect();
    let rows = if wanted == have && stored.len() == fresh.len() {
        stored
    } else {
        store(state, me.id, fresh, now).await?
    };
    Ok(RecommendationList {
        items: rows.into_iter().filter_map(view).collect(),
        next_cursor: None,
    })
}

/// `POST /me/recommendations/refresh`: regenerates them now.
pub async fn refresh(state: &AppState, me: &CurrentUser) -> AppResult<RecommendationList> {
    let now = state.clock.now();
    let db = state.db.read();
    let held_back = held_back(db, me.id, now).await?;
    let fresh = candidates(db, me.id, now, &held_back).await?;
    let rows = store(state, me.id, fresh, now).await?;
    Ok(RecommendationList {
        items: rows.into_iter().filter_map(view).collect(),
        next_cursor: None,
    })
}

/// `POST /me/recommendations/{id}/dismiss`: the recommendation is no longer listed, and none is
/// made for its target until it expires. Dismissing one already dismissed changes nothing;
/// another user's, or an unknown id, is not found.
pub async fn dismiss(state: &AppState, me: &CurrentUser, id: Uuid) -> AppResult<()> {
    let now = state.clock.now();
    let res = user_recommendations::Entity::update_many()
        .col_expr(
            user_recommendations::Column::DismissedAt,
            Expr::value(Some(now)),
        )
        .filter(user_recommendations::Column::Id.eq(id))
        .filter(user_recommendations::Column::UserId.eq(me.id))
        .filter(user_recommendations::Column::DismissedAt.is_null())
        .exec(state.db.write())
        .await?;
    if res.rows_affected == 0 {
        let exists = user_recommendations::Entity::find_by_id(id)
            .filter(user_recommendations::Column::UserId.eq(me.id))
            .one(state.db.write())
            .await?
            .is_some();
        if !exists {
            return Err(AppError::NotFound("recommendation"));
        }
    }
    Ok(())
}
