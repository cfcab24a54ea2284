//! The content rules (SPEC §3, §4 content): the catalogue of subjects → topics → lessons
//! (admins write, every signed-in user reads), lesson completion with its effects on XP,
//! streak, mastery and achievements, and each user's progress through the catalogue.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, SqlErr, TryInsertResult,
};
use uuid::Uuid;

use super::model::*;
use crate::db::{lock_user, set_if_some, violated_unique_constraint};
use crate::entity::{lesson_progress, lessons, subjects, topic_progress, topics};
use crate::gamification::achievements::{self, Criteria};
use crate::gamification::xp;
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::PageParams;
use crate::http::extract::next_page;
use crate::state::AppState;
use crate::tutor::retrieval;
use crate::{accounts, mastery, quizzes, study};

// ---------------------------------------------------------------------------------------------
// Keyset pagination over (order_index, id): the catalogue is shown in the admin's order, and the
// id breaks ties so that every row has exactly one place and pages never skip or repeat a row.

/// The cursor of a page that ended at `(order_index, id)`: both, packed and base64url-encoded.
fn encode_position(order_index: i32, id: Uuid) -> String {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&order_index.to_be_bytes());
    bytes.extend_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_position(cursor: &str) -> AppResult<(i32, Uuid)> {
    let invalid = || AppError::invalid("cursor", "not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    if bytes.len() != 20 {
        return Err(invalid());
    }
    let (order, id) = bytes.split_at(4);
    let order = i32::from_be_bytes(order.try_into().map_err(|_| invalid())?);
    let id = Uuid::from_slice(id).map_err(|_| invalid())?;
    Ok((order, id))
}

/// One page of `select`, ordered by `(order_col, id_col)` and starting after the cursor.
async fn keyset_page<E>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    (order_col, id_col): (E::Column, E::Column),
    page: &PageParams,
    position: impl Fn(&E::Model) -> (i32, Uuid),
) -> AppResult<(Vec<E::Model>, Option<String>)>
where
    E: EntityTrait,
{
    let limit = page.limit();
    let mut select = select.order_by_asc(order_col).order_by_asc(id_col);
    if let Some(cursor) = &page.cursor {
        let (order, id) = decode_position(cursor)?;
        select = select.filter(
            Condition::any()
                .add(order_col.gt(order))
                .add(Condition::all().add(order_col.eq(order)).add(id_col.gt(id))),
        );
    }
    let mut rows = select.limit(limit + 1).all(conn).await?;
    let next = next_page(&mut rows, limit, |row| {
        let (order, id) = position(row);
        encode_position(order, id)
    });
    Ok((rows, next))
}

/// The order index a new item was `given`, else the one after the last of `select`'s rows:
/// where a new item goes by default.
async fn order_index_or_next<E>(
    given: Option<i32>,
    conn: &impl ConnectionTrait,
    select: Select<E>,
    order_col: E::Column,
) -> Result<i32, DbErr>
where
    E: EntityTrait,
{
    if let Some(given) = given {
        return Ok(given);
    }
    let max: Option<Option<i32>> = select
        .select_only()
        .column_as(ColumnTrait::max(&order_col), "max_order")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(match max.flatten() {
        Some(m) => m.saturating_add(1),
        None => 0,
    })
}

/// A failed catalogue write as the API answers it: a subject or topic name already taken is a
/// 409 (by constraint name), a foreign-key violation is `on_foreign_key` where the caller
/// names one, anything else the database error.
fn write_error(err: DbErr, on_foreign_key: Option<AppError>) -> AppError {
    match (violated_unique_constraint(&err), on_foreign_key) {
        (Some("subjects_name_key"), _) => subject_conflict(),
        (Some("topics_subject_name_key"), _) => topic_conflict(),
        (_, Some(answer)) if is_foreign_key_violation(&err) => answer,
        _ => err.into(),
    }
}

fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

fn subject_conflict() -> AppError {
    AppError::conflict(
        "subject-name-taken",
        "a subject with this name already exists",
    )
}

fn topic_conflict() -> AppError {
    AppError::conflict(
        "topic-name-taken",
        "this subject already has a topic with this name",
    )
}

fn has_lessons(what: &str) -> AppError {
    AppError::conflict(
        "has-lessons",
        format!(
            "this {what} still has lessons; delete them first or pass ?cascade=true to delete \
             them (and everyone's progress on them) too"
        ),
    )
}

/// Refuses to delete a topic or subject whose topics have quizzes: deleting them would take
/// students' attempts with them, which only an explicit `?cascade=true` may do.
fn has_quizzes(what: &str, counts: quizzes::service::QuizCounts) -> AppError {
    AppError::conflict(
        "has-quizzes",
        format!(
            "this {what} has {} with {} by students; pass ?cascade=true to delete the quizzes, \
             their questions and attempts, and the lessons with everyone's progress on them, too",
            count_of(counts.quizzes, "quiz", "quizzes"),
            count_of(counts.attempts, "attempt", "attempts"),
        ),
    )
}

fn count_of(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The 409 a delete without `cascade` answers when quizzes (`has-quizzes`) or lessons
/// (`has-lessons`) hang below the topics `topic_ids` selects.
async fn refuse_if_content_below(
    what: &str,
    txn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> AppResult<()> {
    let counts = quizzes::service::counts_on_topics(txn, topic_ids.clone()).await?;
    if counts.quizzes > 0 {
        return Err(has_quizzes(what, counts));
    }
    let lesson = lessons::Entity::find()
        .filter(lessons::Column::TopicId.in_subquery(topic_ids))
        .one(txn)
        .await?;
    match lesson {
        Some(_) => Err(has_lessons(what)),
        None => Ok(()),
    }
}

/// A cascading delete's content below the topics `topic_ids` selects: their quizzes (with
/// questions and attempts), then their lessons with everyone's progress on them.
async fn delete_content_below(
    txn: &impl ConnectionTrait,
    topic_ids: SelectStatement,
) -> AppResult<()> {
    quizzes::service::delete_on_topics(txn, topic_ids.clone()).await?;
    let lesson_ids = Query::select()
        .column(lessons::Column::Id)
        .from(lessons::Entity)
        .and_where(lessons::Column::TopicId.in_subquery(topic_ids.clone()))
        .to_owned();
    lesson_progress::Entity::delete_many()
        .filter(lesson_progress::Column::LessonId.in_subquery(lesson_ids))
        .exec(txn)
        .await?;
    lessons::Entity::delete_many()
        .filter(lessons::Column::TopicId.in_subquery(topic_ids))
        .exec(txn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Subjects

async fn find_subject(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<subjects::Model> {
    subjects::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("subject"))
}

/// `GET /subjects`: every subject, in the catalogue's order.
pub async fn list_subjects(state: &AppState, page: PageParams) -> AppResult<Page<SubjectView>> {
    let (rows, next_cursor) = keyset_page(
        state.db.read(),
        subjects::Entity::find(),
        (subjects::Column::OrderIndex, subjects::Column::Id),
        &page,
        |s| (s.order_index, s.id),
    )
    .await?;
    Ok(Page {
        items: rows.into_iter().map(SubjectView::from).collect(),
        next_cursor,
    })
}

pub async fn get_subject(state: &AppState, id: Uuid) -> AppResult<SubjectView> {
    Ok(find_subject(state.db.read(), id).await?.into())
}

/// `POST /subjects` (admin): subject names are unique (409 `subject-name-taken`).
pub async fn create_subject(state: &AppState, req: CreateSubjectRequest) -> AppResult<SubjectView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let order_index = order_index_or_next(
        req.order_index,
        &txn,
        subjects::Entity::find(),
        subjects::Column::OrderIndex,
    )
    .await?;
    let subject = subjects::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(req.name.trim().to_string()),
        description: Set(req.description),
        icon: Set(req.icon),
        color: Set(req.color),
        order_index: Set(order_index),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| write_error(e, None))?;
    txn.commit().await?;
    Ok(subject.into())
}

/// `PATCH /subjects/{id}` (admin).
pub async fn update_subject(
    state: &AppState,
    id: Uuid,
    req: UpdateSubjectRequest,
) -> AppResult<SubjectView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut active: subjects::ActiveModel = find_subject(&txn, id).await?.into();
    let UpdateSubjectRequest {
        name,
        description,
        icon,
        color,
        order_index,
    } = req;
    set_if_some(&mut active.name, name.map(|v| v.trim().to_string()));
    set_if_some(&mut active.description, description);
    set_if_some(&mut active.icon, icon);
    set_if_some(&mut active.color, color);
    set_if_some(&mut active.order_index, order_index);
    active.updated_at = Set(now);
    let subject = active
        .update(&txn)
        .await
        .map_err(|e| write_error(e, None))?;
    txn.commit().await?;
    Ok(subject.into())
}

/// `DELETE /subjects/{id}` (admin). A subject with topics is kept — 409 `has-quizzes` when its
/// topics have quizzes, `has-lessons` when lessons hang below it, `has-topics` otherwise —
/// unless `cascade`, which deletes its quizzes (with their questions and every attempt on
/// them), lessons (with everyone's progress on them), topics and the subject in one
/// transaction. The subject and its topics are locked first (PostgreSQL; SQLite's one writer
/// already serialises), so no topic, lesson or quiz can be added under them meanwhile and then
/// go by a schema cascade unseen.
pub async fn delete_subject(state: &AppState, id: Uuid, cascade: bool) -> AppResult<()> {
    let txn = state.db.begin_write().await?;
    subjects::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("subject"))?;
    topics::Entity::find()
        .filter(topics::Column::SubjectId.eq(id))
        .lock_exclusive()
        .all(&txn)
        .await?;
    let topic_ids = Query::select()
        .column(topics::Column::Id)
        .from(topics::Entity)
        .and_where(topics::Column::SubjectId.eq(id))
        .to_owned();
    if !cascade {
        refuse_if_content_below("subject", &txn, topic_ids).await?;
        let topic = topics::Entity::find()
            .filter(topics::Column::SubjectId.eq(id))
            .one(&txn)
            .await?;
        if topic.is_some() {
            return Err(AppError::conflict(
                "has-topics",
                "this subject still has topics; delete them first or pass ?cascade=true",
            ));
        }
    } else {
        delete_content_below(&txn, topic_ids).await?;
        topics::Entity::delete_many()
            .filter(topics::Column::SubjectId.eq(id))
            .exec(&txn)
            .await?;
    }
    subjects::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        // A topic added by a concurrent request after the check above.
        .map_err(|e| {
            write_error(
                e,
                Some(AppError::conflict(
                    "has-topics",
                    "this subject gained topics meanwhile",
                )),
            )
        })?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Topics

async fn find_topic(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<topics::Model> {
    topics::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("topic"))
}

/// `GET /subjects/{id}/topics`: the subject's topics in order; 404 for a missing subject.
pub async fn list_topics(
    state: &AppState,
    subject_id: Uuid,
    page: PageParams,
) -> AppResult<Page<TopicView>> {
    let db = state.db.read();
    let (rows, next_cursor) = keyset_page(
        db,
        topics::Entity::find().filter(topics::Column::SubjectId.eq(subject_id)),
        (topics::Column::OrderIndex, topics::Column::Id),
        &page,
        |t| (t.order_index, t.id),
    )
    .await?;
    if rows.is_empty() {
        find_subject(db, subject_id).await?;
    }
    Ok(Page {
        items: rows.into_iter().map(TopicView::from).collect(),
        next_cursor,
    })
}

pub async fn get_topic(state: &AppState, id: Uuid) -> AppResult<TopicView> {
    Ok(find_topic(state.db.read(), id).await?.into())
}

/// `POST /subjects/{id}/topics` (admin): names are unique within a subject (409 `topic-name-taken`).
pub async fn create_topic(
    state: &AppState,
    subject_id: Uuid,
    req: CreateTopicRequest,
) -> AppResult<TopicView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    find_subject(&txn, subject_id).await?;
    let order_index = order_index_or_next(
        req.order_index,
        &txn,
        topics::Entity::find().filter(topics::Column::SubjectId.eq(subject_id)),
        topics::Column::OrderIndex,
    )
    .await?;
    let topic = topics::ActiveModel {
        id: Set(Uuid::now_v7()),
        subject_id: Set(subject_id),
        name: Set(req.name.trim().to_string()),
        description: Set(req.description),
        order_index: Set(order_index),
        difficulty_level: Set(req.difficulty_level),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| write_error(e, Some(AppError::NotFound("subject"))))?;
    txn.commit().await?;
    Ok(topic.into())
}

/// `PATCH /topics/{id}` (admin); `subject_id` moves the topic to another subject.
pub async fn update_topic(
    state: &AppState,
    id: Uuid,
    req: UpdateTopicRequest,
) -> AppResult<TopicView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mut active: topics::ActiveModel = find_topic(&txn, id).await?.into();
    let UpdateTopicRequest {
        subject_id,
        name,
        description,
        difficulty_level,
        order_index,
    } = req;
    if let Some(v) = subject_id {
        if subjects::Entity::find_by_id(v).one(&txn).await?.is_none() {
            return Err(AppError::invalid("subject_id", "no such subject"));
        }
        active.subject_id = Set(v);
    }
    set_if_some(&mut active.name, name.map(|v| v.trim().to_string()));
    set_if_some(&mut active.description, description);
    set_if_some(&mut active.difficulty_level, difficulty_level);
    set_if_some(&mut active.order_index, order_index);
    active.updated_at = Set(now);
    let topic = active
        .update(&txn)
        .await
        .map_err(|e| write_error(e, Some(AppError::invalid("subject_id", "no such subject"))))?;
    txn.commit().await?;
    Ok(topic.into())
}

/// `DELETE /topics/{id}` (admin): a topic with quizzes is kept (409 `has-quizzes`), and one
/// with lessons (409 `has-lessons`), unless `cascade`, which deletes its quizzes with their
/// questions and every attempt on them, and its lessons with everyone's progress on them, in
/// the same transaction. The topic is locked first (PostgreSQL; SQLite's one writer already
/// serialises), so no quiz can be added to it meanwhile and then go by the schema's cascade
/// unseen.
pub async fn delete_topic(state: &AppState, id: Uuid, cascade: bool) -> AppResult<()> {
    let txn = state.db.begin_write().await?;
    topics::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("topic"))?;
    let this_topic = Query::select()
        .column(topics::Column::Id)
        .from(topics::Entity)
        .and_where(topics::Column::Id.eq(id))
        .to_owned();
    if cascade {
        delete_content_below(&txn, this_topic).await?;
    } else {
        refuse_if_content_below("topic", &txn, this_topic).await?;
    }
    topics::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        // A lesson added by a concurrent request after the check above.
        .map_err(|e| write_error(e, Some(has_lessons("topic"))))?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lessons

async fn find_lesson(conn: &impl ConnectionTrait, id: Uuid) -> AppResult<lessons::Model> {
    lessons::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("lesson"))
}

async fn find_progress(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    lesson_id: Uuid,
) -> Result<Option<lesson_progress::Model>, DbErr> {
    lesson_progress::Entity::find()
        .filter(lesson_progress::Column::UserId.eq(user_id))
        .filter(lesson_progress::Column::LessonId.eq(lesson_id))
        .one(conn)
        .await
}

/// What a lesson of `content_type` needs besides its fields' own limits: a `video` or `pdf`
/// lesson points at its media (`content_url`); a `text` lesson has text.
fn check_lesson_shape(
    content_type: &str,
    content: &str,
    content_url: Option<&str>,
) -> AppResult<()> {
    match content_type {
        "video" | "pdf" if content_url.is_none() => Err(AppError::invalid(
            "content_url",
            format!("a {content_type} lesson needs an http(s) content_url"),
        )),
        "text" if content.trim().is_empty() => Err(AppError::invalid(
            "content",
            "a text lesson needs its Markdown content",
        )),
        _ => Ok(()),
    }
}

/// `GET /topics/{id}/lessons`: the topic's lessons in order, each with whether the caller
/// completed it; 404 for a missing topic.
pub async fn list_lessons(
    state: &AppState,
    user_id: Uuid,
    topic_id: Uuid,
    page: PageParams,
) -> AppResult<Page<LessonSummary>> {
    let db = state.db.read();
    let (rows, next_cursor) = keyset_page(
        db,
        lessons::Entity::find().filter(lessons::Column::TopicId.eq(topic_id)),
        (lessons::Column::OrderIndex, lessons::Column::Id),
        &page,
        |l| (l.order_index, l.id),
    )
    .await?;
    // Lessons prove the topic exists; only an empty page needs to tell "none" from "no such topic".
    if rows.is_empty() {
        find_topic(db, topic_id).await?;
    }
    let progress: HashMap<Uuid, lesson_progress::Model> = if rows.is_empty() {
        HashMap::new()
    } else {
        lesson_progress::Entity::find()
            .filter(lesson_progress::Column::UserId.eq(user_id))
            .filter(lesson_progress::Column::LessonId.is_in(rows.iter().map(|l| l.id)))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.lesson_id, p))
            .collect()
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|l| {
                let p = progress.get(&l.id);
                LessonSummary::new(l, p)
            })
            .collect(),
        next_cursor,
    })
}

/// `GET /lessons/{id}`: the lesson with the caller's `completed` and `completed_at`.
pub async fn get_lesson(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<LessonView> {
    let db = state.db.read();
    let lesson = find_lesson(db, id).await?;
    let progress = find_progress(db, user_id, id).await?;
    Ok(LessonView::new(lesson, progress.as_ref()))
}

/// `POST /topics/{id}/lessons` (admin).
pub async fn create_lesson(
    state: &AppState,
    topic_id: Uuid,
    req: CreateLessonRequest,
) -> AppResult<LessonView> {
    let content_type = req.content_type.unwrap_or_else(|| "text".to_string());
    check_lesson_shape(&content_type, &req.content, req.content_url.as_deref())?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    find_topic(&txn, topic_id).await?;
    let order_index = order_index_or_next(
        req.order_index,
        &txn,
        lessons::Entity::find().filter(lessons::Column::TopicId.eq(topic_id)),
        lessons::Column::OrderIndex,
    )
    .await?;
    let lesson = lessons::ActiveModel {
        id: Set(Uuid::now_v7()),
        topic_id: Set(topic_id),
        title: Set(req.title.trim().to_string()),
        content: Set(req.content),
        content_type: Set(content_type),
        content_url: Set(req.content_url),
        order_index: Set(order_index),
        estimated_duration_minutes: Set(req.estimated_duration_minutes),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| write_error(e, Some(AppError::NotFound("topic"))))?;
    retrieval::index_lesson(&txn, lesson.id, &lesson.content, now).await?;
    txn.commit().await?;
    Ok(LessonView::new(lesson, None))
}

/// `PATCH /lessons/{id}` (admin); `topic_id` moves the lesson to another topic. The merged
/// lesson must still have the shape its `content_type` needs.
pub async fn update_lesson(
    state: &AppState,
    user_id: Uuid,
    id: Uuid,
    req: UpdateLessonRequest,
) -> AppResult<LessonView> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let current = find_lesson(&txn, id).await?;
    let UpdateLessonRequest {
        topic_id,
        title,
        content,
        content_type,
        content_url,
        order_index,
        estimated_duration_minutes,
    } = req;
    check_lesson_shape(
        content_type.as_deref().unwrap_or(&current.content_type),
        content.as_deref().unwrap_or(&current.content),
        match &content_url {
            Some(new) => new.as_deref(),
            None => current.content_url.as_deref(),
        },
    )?;
    let mut active: lessons::ActiveModel = current.into();
    if let Some(v) = topic_id {
        if topics::Entity::find_by_id(v).one(&txn).await?.is_none() {
            return Err(AppError::invalid("topic_id", "no such topic"));
        }
        active.topic_id = Set(v);
    }
    set_if_some(&mut active.title, title.map(|v| v.trim().to_string()));
    set_if_some(&mut active.content, content);
    set_if_some(&mut active.content_type, content_type);
    set_if_some(&mut active.content_url, content_url);
    set_if_some(&mut active.order_index, order_index);
    set_if_some(
        &mut active.estimated_duration_minutes,
        estimated_duration_minutes,
    );
    active.updated_at = Set(now);
    let lesson = active
        .update(&txn)
        .await
        .map_err(|e| write_error(e, Some(AppError::invalid("topic_id", "no such topic"))))?;
    retrieval::index_lesson(&txn, lesson.id, &lesson.content, now).await?;
    let progress = find_progress(&txn, user_id, id).await?;
    txn.commit().await?;
    Ok(LessonView::new(lesson, progress.as_ref()))
}

/// `DELETE /lessons/{id}` (admin): the lesson and everyone's progress on it. XP already
/// earned for it stays earned. Its passages go with it (ON DELETE CASCADE).
pub async fn delete_lesson(state: &AppState, id: Uuid) -> AppResult<()> {
    let txn = state.db.begin_write().await?;
    find_lesson(&txn, id).await?;
    lesson_progress::Entity::delete_many()
        .filter(lesson_progress::Column::LessonId.eq(id))
        .exec(&txn)
        .await?;
    lessons::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Completion and progress

/// `POST /lessons/{id}/complete` (SPEC §3 XP "lesson completed: 10, once per lesson", §3
/// Streaks, Mastery, Achievements): marks the lesson completed for the user and, the first time
/// only, awards the lesson XP, records the study day, moves the topic's mastery and evaluates
/// achievements — all in one transaction. A repeat (retry, double click, a parallel request)
/// changes nothing and awards 0: the unique (user_id, lesson_id) row decides which request is
/// first, and the per-user lock serialises the rest behind it.
pub async fn complete_lesson(
    state: &AppState,
    user_id: Uuid,
    lesson_id: Uuid,
) -> AppResult<CompleteLessonResponse> {
    let now = state.clock.now();
    // A lesson completed before stays completed: answer a repeat (a retry, a double click)
    // from one read, without the write transaction and the user's lock.
    if let Some(progress) = find_progress(state.db.read(), user_id, lesson_id).await?
        && progress.completed
    {
        return Ok(CompleteLessonResponse {
            lesson_progress: progress.into(),
            xp_awarded: 0,
            achievements_unlocked: Vec::new(),
        });
    }
    let txn = state.db.begin_write().await?;
    lock_user(&txn, user_id).await?;
    let lesson = find_lesson(&txn, lesson_id).await?;
    // A study session past its cap is over: its study day comes before this one.
    study::service::close_over_cap(&txn, user_id, now).await?;

    let inserted = lesson_progress::Entity::insert(lesson_progress::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        lesson_id: Set(lesson_id),
        completed: Set(true),
        completed_at: Set(Some(now)),
        time_spent_seconds: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([
        lesson_progress::Column::UserId,
        lesson_progress::Column::LessonId,
    ])
    .exec_without_returning(&txn)
    .await?;
    let first_completion = match inserted {
        TryInsertResult::Inserted(n) if n > 0 => true,
        // The row existed: it completes now only if it was not completed yet (say, in progress).
        _ => {
            let updated = lesson_progress::Entity::update_many()
                .col_expr(lesson_progress::Column::Completed, Expr::value(true))
                .col_expr(lesson_progress::Column::CompletedAt, Expr::value(now))
                .col_expr(lesson_progress::Column::UpdatedAt, Expr::value(now))
                .filter(lesson_progress::Column::UserId.eq(user_id))
                .filter(lesson_progress::Column::LessonId.eq(lesson_id))
                .filter(lesson_progress::Column::Completed.eq(false))
                .exec(&txn)
                .await?;
            updated.rows_affected > 0
        }
    };

    let (xp_awarded, achievements_unlocked) = if first_completion {
        let tz = accounts::service::user_timezone(&txn, user_id).await?;
        let awarded = xp::award(
            &txn,
            user_id,
            xp::XpSource::Lesson,
            lesson_id,
            xp::LESSON_XP,
            &format!("Completed the lesson \u{201c}{}\u{201d}", lesson.title),
            now,
        )
        .await?;
        study::streaks::record_study_day(&txn, user_id, tz, now, now).await?;
        mastery::service::on_lesson_completed(&txn, user_id, lesson.topic_id, now).await?;
        let unlocked = achievements::evaluate(
            &txn,
            user_id,
            &[Criteria::LessonsCompleted, Criteria::StreakDays],
            now,
        )
        .await?;
        (awarded, unlocked)
    } else {
        (0, Vec::new())
    };

    let progress = find_progress(&txn, user_id, lesson_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("lesson progress row vanished")))?;
    txn.commit().await?;
    Ok(CompleteLessonResponse {
        lesson_progress: progress.into(),
        xp_awarded,
        achievements_unlocked,
    })
}

/// Lesson counts per topic: all lessons, or those `user_id` completed.
async fn lessons_per_topic(
    conn: &impl ConnectionTrait,
    completed_by: Option<Uuid>,
) -> Result<HashMap<Uuid, i64>, DbErr> {
    let mut select = lessons::Entity::find()
        .select_only()
        .column(lessons::Column::TopicId)
        .column_as(lessons::Column::Id.count(), "n")
        .group_by(lessons::Column::TopicId);
    if let Some(user_id) = completed_by {
        select = select
            .inner_join(lesson_progress::Entity)
            .filter(lesson_progress::Column::UserId.eq(user_id))
            .filter(lesson_progress::Column::Completed.eq(true));
    }
    let rows: Vec<(Uuid, i64)> = select.into_tuple().all(conn).await?;
    Ok(rows.into_iter().collect())
}

/// `GET /me/progress`: for every subject and topic, how many lessons there are, how many the
/// user completed, and their mastery as of now (SPEC §3 Mastery, decay included). A subject's
/// mastery is the mean over its topics, an unpractised topic counting as 0.
pub async fn my_progress(state: &AppState, user_id: Uuid) -> AppResult<ProgressResponse> {
    let now: DateTime<Utc> = state.clock.now();
    let db = state.db.read();
    let (subject_rows, topic_rows, totals, completed, mastery_rows) = tokio::try_join!(
        subjects::Entity::find()
            .order_by_asc(subjects::Column::OrderIndex)
            .order_by_asc(subjects::Column::Id)
            .all(db),
        topics::Entity::find()
            .order_by_asc(topics::Column::OrderIndex)
            .order_by_asc(topics::Column::Id)
            .all(db),
        lessons_per_topic(db, None),
        lessons_per_topic(db, Some(user_id)),
        topic_progress::Entity::find()
            .filter(topic_progress::Column::UserId.eq(user_id))
            .all(db),
    )?;
    let mastery: HashMap<Uuid, f64> = mastery_rows
        .iter()
        .map(|row| {
            (
                row.topic_id,
                mastery::service::current_score(row, now).clamp(0.0, 100.0),
            )
        })
        .collect();
    let mut topics_by_subject: HashMap<Uuid, Vec<TopicProgress>> = HashMap::new();
    for t in topic_rows {
        topics_by_subject
            .entry(t.subject_id)
            .or_default()
            .push(TopicProgress {
                topic_id: t.id,
                lessons_total: totals.get(&t.id).copied().unwrap_or(0),
                lessons_completed: completed.get(&t.id).copied().unwrap_or(0),
                mastery: mastery.get(&t.id).copied().unwrap_or(0.0),
                name: t.name,
            });
    }
    let subjects = subject_rows
        .into_iter()
        .map(|s| {
            let topics = topics_by_subject.remove(&s.id).unwrap_or_default();
            let mastery = if topics.is_empty() {
                0.0
            } else {
                topics.iter().map(|t| t.mastery).sum::<f64>() / topics.len() as f64
            };
            SubjectProgress {
                subject_id: s.id,
                name: s.name,
                lessons_total: topics.iter().map(|t| t.lessons_total).sum(),
                lessons_completed: topics.iter().map(|t| t.lessons_completed).sum(),
                mastery,
                topics,
            }
        })
        .collect();
    Ok(ProgressResponse { subjects })
}
