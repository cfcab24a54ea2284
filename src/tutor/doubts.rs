//! Doubt sessions: a student's question, grounded in the lessons through [`retrieval`], answered
//! by the configured provider, guarded against giving away unsubmitted quiz answers, and stored
//! with its citations (SPEC §3 "AI tutor").
//!
//! A question runs in two steps. [`prepare`] does everything that can fail because of the
//! request — validation, ownership, the usage reservation (429 over the limit) — so those
//! failures are ordinary problem documents even when the client asked for a stream. [`answer`]
//! then calls the provider, passes each guarded delta to the caller (the SSE stream), and only
//! when the reply is whole stores the question and the reply in one transaction with the XP
//! and achievements they earn and the reservation's settlement. A provider failure, a timeout or a
//! cut stream stores nothing and releases the reservation, so no half reply is ever kept.
//!
//! Every SQL statement is a round trip (on SQLite a hand-off to the connection's thread), so a
//! reply runs few: a new question whose XP the daily cap no longer allows is 11 statements and
//! 2 transactions (15 with their BEGIN and COMMIT; it was 16, 20 with them):
//!
//! | step | statements |
//! |---|---|
//! | read (before the reservation) | the passages ([`retrieval::search`]); the answer keys with whether there are ready materials ([`guard_keys_and_materials`]); a follow-up's thread, topic and history first ([`thread_of`]) |
//! | [`usage::reserve`] (its own transaction) | the user's row share-locked with the plan and the month's cost; the unit; the `reserved` log row |
//! | [`store`] (one transaction) | the user's row locked with the time zone; the thread; both messages; the capped XP award ([`xp::award_within_cap`], plus the leaderboards when it awards); the reached achievements ([`achievements::evaluate`]); the settlement |

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::StreamExt;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, UnionType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::guard::{AnswerKeys, StreamGuard};
use super::model::*;
use super::retrieval;
use crate::accounts;
use crate::ai::provider::{ChatEvent, Role, Turn, TutorRequest};
use crate::ai::usage::{self, Reservation};
use crate::ai::{Feature, Source, SourceKind, Usage};
use crate::db::lock_user_select;
use crate::entity::{
    doubt_messages, doubt_sessions, lesson_passages, material_chunks, materials, topics,
};
use crate::gamification::achievements::{self, Criteria};
use crate::gamification::xp::{self, XpSource};
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::materials::search_routes;
use crate::state::AppState;

/// XP for a question, and the most a day's questions earn (SPEC §3 XP).
pub const DOUBT_XP: i32 = 2;
pub const DOUBT_XP_PER_DAY: i64 = 10;
/// How many passages a reply is grounded in, at most.
const MAX_SOURCES: u64 = 3;
/// A passage joins the sources only when it scores at least this share of the best one.
const SOURCE_SCORE_SHARE: f64 = 0.5;
/// Tokens of earlier messages sent with a question, newest first.
const HISTORY_TOKEN_BUDGET: usize = 2000;
/// Characters of a passage shown in its citation.
const EXCERPT_CHARS: usize = 160;

const ROLE_USER: &str = "user";
const ROLE_ASSISTANT: &str = "assistant";

/// A question ready for the provider: checked, its allowance reserved.
pub struct Prepared {
    user_id: Uuid,
    /// The thread; `None` for the first question of a new one.
    session: Option<doubt_sessions::Model>,
    topic_id: Option<Uuid>,
    message: String,
    sources: Vec<Source>,
    keys: AnswerKeys,
    request: TutorRequest,
    reservation: Reservation,
}

/// Checks a question and reserves its allowance. `session_id` is the thread of a follow-up;
/// `topic_id` is only read for a new thread.
pub async fn prepare(
    state: &AppState,
    user_id: Uuid,
    session_id: Option<Uuid>,
    topic_id: Option<Uuid>,
    message: &str,
) -> AppResult<Prepared> {
    let message = message.trim().to_string();
    if message.is_empty() {
        return Err(AppError::invalid("message", "must not be blank"));
    }
    let db = state.db.read();
    // The thread with its topic's title and its history, or the new thread's topic.
    let (session, topic_id, topic_title, history) = match session_id {
        Some(id) => {
            let (session, topic_title, history) = thread_of(db, user_id, id).await?;
            let topic = session.topic_id;
            (Some(session), topic, topic_title, history)
        }
        None => match topic_id {
            Some(topic) => match topics::Entity::find_by_id(topic).one(db).await? {
                Some(found) => (None, topic_id, Some(found.name), Vec::new()),
                None => return Err(AppError::invalid("topic_id", "no such topic")),
            },
            None => (None, None, None, Vec::new()),
        },
    };
    let model = state.ai.chat_model().to_string();
    let history = crate::ai::tokens::trim_history(&history, HISTORY_TOKEN_BUDGET, &model);

    let hits = retrieval::search(db, &message, topic_id, MAX_SOURCES).await?;
    // (coverage, source): the lesson passages that pass the decline rule, then the student's
    // own material chunks that pass it by their own coverage; the best covered are kept.
    let mut candidates: Vec<(f64, Source)> = if retrieval::answerable(&hits) {
        let best = hits.first().map_or(0.0, |h| h.score);
        hits.into_iter()
            .filter(|h| h.score >= SOURCE_SCORE_SHARE * best)
            .map(|h| {
                let source = Source {
                    kind: SourceKind::Lesson,
                    id: h.passage_id,
                    parent_id: h.lesson_id,
                    heading: h.heading,
                    text: h.text,
                };
                (h.coverage, source)
            })
            .collect()
    } else {
        Vec::new()
    };
    let (protected, materials_ready) = guard_keys_and_materials(db, user_id, topic_id).await?;
    let material_hits = search_routes::search_for_tutor(
        state,
        user_id,
        &message,
        MAX_SOURCES as usize,
        materials_ready,
    )
    .await?;
    let best_material = material_hits.first().map_or(0.0, |h| h.score);
    for hit in material_hits {
        let covered = retrieval::plain_coverage(&message, &hit.text);
        if covered >= retrieval::MIN_COVERAGE && hit.score >= SOURCE_SCORE_SHARE * best_material {
            candidates.push((
                covered,
                Source {
                    kind: SourceKind::Material,
                    id: hit.chunk_id,
                    parent_id: hit.material_id,
                    heading: Some(hit.title),
                    text: hit.text,
                },
            ));
        }
    }
    // Lessons keep their own order; with material chunks among them, the best covered come
    // first (a stable sort: among equals, lessons keep their rank and come first).
    if candidates
        .iter()
        .any(|(_, s)| s.kind == SourceKind::Material)
    {
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    let sources: Vec<Source> = candidates
        .into_iter()
        .take(MAX_SOURCES as usize)
        .map(|(_, s)| s)
        .collect();
    let keys = AnswerKeys::new(&protected);

    let reservation = usage::reserve(
        &state.db,
        &state.config,
        user_id,
        Feature::Doubt,
        &model,
        state.clock.now(),
    )
    .await?;
    let request = TutorRequest {
        question: message.clone(),
        history,
        sources: sources.clone(),
        topic_title,
        protected_answers: protected,
    };
    Ok(Prepared {
        user_id,
        session,
        topic_id,
        message,
        sources,
        keys,
        request,
        reservation,
    })
}

/// Asks the provider, hands each guarded piece of the reply to `on_delta` as it arrives, and
/// stores the exchange once the reply is whole.
pub async fn answer(
    state: &AppState,
    prepared: Prepared,
    mut on_delta: impl FnMut(&str) + Send,
) -> AppResult<ExchangeResponse> {
    let Prepared {
        user_id,
        session,
        topic_id,
        message,
        sources,
        keys,
        request,
        reservation,
    } = prepared;
    let (reply, usage, withheld) = match generate(state, request, keys, &mut on_delta).await {
        Ok(done) => done,
        Err(err) => {
            reservation.release(&state.db, state.clock.now()).await?;
            return Err(err);
        }
    };
    let now = state.clock.now();
    let stored = store(
        state,
        StoreArgs {
            user_id,
            session,
            topic_id,
            message: &message,
            reply: &reply,
            sources: &sources,
            usage: &usage,
            reservation: &reservation,
        },
        now,
    )
    .await;
    match stored {
        Ok(mut exchange) => {
            reservation.settled();
            exchange.answer_withheld = withheld;
            Ok(exchange)
        }
        Err(err) => {
            reservation.release(&state.db, now).await?;
            Err(err)
        }
    }
}

/// Runs the provider's stream through the guard: the whole reply, the usage it reported, and
/// whether a key had to be masked.
async fn generate(
    state: &AppState,
    request: TutorRequest,
    keys: AnswerKeys,
    on_delta: &mut (impl FnMut(&str) + Send),
) -> AppResult<(String, Usage, bool)> {
    let mut stream = state.ai.tutor(request).await?;
    let mut guard = StreamGuard::new(keys);
    let mut reply = String::new();
    let mut usage = None;
    while let Some(event) = stream.next().await {
        match event? {
            ChatEvent::Delta(text) => {
                let safe = guard.push(&text);
                if !safe.is_empty() {
                    reply.push_str(&safe);
                    on_delta(&safe);
                }
            }
            ChatEvent::Done(u) => usage = Some(u),
        }
    }
    let usage = usage.ok_or(crate::ai::AiError::Malformed(
        "the reply ended before it was complete".into(),
    ))?;
    let tail = guard.finish();
    if !tail.is_empty() {
        reply.push_str(&tail);
        on_delta(&tail);
    }
    if reply.trim().is_empty() {
        return Err(crate::ai::AiError::Malformed("the reply was empty".into()).into());
    }
    // Masked here, or already by the provider.
    let withheld = guard.redacted() || reply.contains(super::guard::MASK);
    Ok((reply, usage, withheld))
}

struct StoreArgs<'a> {
    user_id: Uuid,
    session: Option<doubt_sessions::Model>,
    topic_id: Option<Uuid>,
    message: &'a str,
    reply: &'a str,
    sources: &'a [Source],
    usage: &'a Usage,
    /// Settled in the same transaction, so the reply and its accounting commit together.
    reservation: &'a Reservation,
}

/// The question, the reply and what they earn, in one transaction.
async fn store(
    state: &AppState,
    args: StoreArgs<'_>,
    now: DateTime<Utc>,
) -> AppResult<ExchangeResponse> {
    let StoreArgs {
        user_id,
        session,
        topic_id,
        message,
        reply,
        sources,
        usage,
        reservation,
    } = args;
    // The user's row locked and their time zone (for the day of the XP cap): one statement.
    let locked = lock_user_select(user_id)
        .expr_as(accounts::service::timezone_of_users_row(), "timezone")
        .to_owned();
    let (txn, row) = state.db.begin_write_after(&locked).await?;
    let zone = match row {
        Some(row) => row.try_get::<Option<String>>("", "timezone")?,
        None => None,
    };
    let tz = accounts::service::timezone_from(zone)?;
    let session = match session {
        Some(s) => {
            // The thread may have been deleted while the tutor was answering.
            let updated = doubt_sessions::Entity::update_many()
                .col_expr(doubt_sessions::Column::UpdatedAt, Expr::value(now))
                .filter(doubt_sessions::Column::Id.eq(s.id))
                .filter(doubt_sessions::Column::UserId.eq(user_id))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                return Err(AppError::NotFound("doubt session"));
            }
            doubt_sessions::Model {
                updated_at: now,
                ..s
            }
        }
        None => {
            doubt_sessions::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user_id),
                topic_id: Set(topic_id),
                title: Set(title_of(message)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    let citations: Vec<Citation> = sources
        .iter()
        .zip(1..)
        .map(|(s, n)| Citation {
            n,
            kind: s.kind,
            id: s.id,
            parent_id: s.parent_id,
            heading: s.heading.clone(),
            excerpt: excerpt(&s.text),
        })
        .collect();
    // The question and the reply in one statement, each read back as stored.
    let question_id = Uuid::now_v7();
    let reply_id = Uuid::now_v7();
    let mut stored = doubt_messages::Entity::insert_many([
        doubt_messages::ActiveModel {
            id: Set(question_id),
            doubt_session_id: Set(session.id),
            role: Set(ROLE_USER.into()),
            message_text: Set(message.to_string()),
            citations: Set(None),
            tokens_used: Set(None),
            created_at: Set(now),
        },
        doubt_messages::ActiveModel {
            id: Set(reply_id),
            doubt_session_id: Set(session.id),
            role: Set(ROLE_ASSISTANT.into()),
            message_text: Set(reply.to_string()),
            citations: Set(Some(
                serde_json::to_value(&citations).map_err(anyhow::Error::from)?,
            )),
            tokens_used: Set(Some(
                i32::try_from(usage.total_tokens()).unwrap_or(i32::MAX),
            )),
            created_at: Set(now),
        },
    ])
    .exec_with_returning(&txn)
    .await?;
    let mut take = |id: Uuid| {
        stored
            .iter()
            .position(|m| m.id == id)
            .map(|i| stored.swap_remove(i))
            .ok_or_else(|| anyhow::anyhow!("a stored message was not returned"))
    };
    let question = take(question_id)?;
    let reply = take(reply_id)?;

    // The daily cap's check and the award: one statement.
    let xp_awarded = xp::award_within_cap(
        &txn,
        user_id,
        XpSource::Doubt,
        question.id,
        DOUBT_XP,
        "Asked the tutor a question",
        start_of_day(tz, now),
        DOUBT_XP_PER_DAY,
        now,
    )
    .await?;
    let achievements_unlocked =
        achievements::evaluate(&txn, user_id, &[Criteria::DoubtsAsked], now).await?;
    reservation.settle_in(&txn, usage).await?;
    txn.commit().await?;
    Ok(ExchangeResponse {
        doubt_session: session.into(),
        user_message: question.into(),
        assistant_message: reply.into(),
        xp_awarded,
        achievements_unlocked,
        answer_withheld: false,
    })
}

/// The answer keys the guard must not let through (the quizzes area's
/// [`unsubmitted_answers`](crate::quizzes::service::unsubmitted_answers), in the same order)
/// and whether the student has a ready material to search, in one statement: the keys' rows,
/// then one row without a key when a ready material exists.
async fn guard_keys_and_materials(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Option<Uuid>,
) -> AppResult<(Vec<String>, bool)> {
    use crate::quizzes::service::{read_answer_keys, unsubmitted_answers_select};
    let marker = Query::select()
        .expr(Expr::val(Option::<Uuid>::None))
        .expr(Expr::val(Option::<String>::None))
        .and_where(Expr::exists(search_routes::ready_materials_select(user_id)))
        .to_owned();
    let stmt = unsubmitted_answers_select(user_id, topic_id)
        .union(UnionType::All, marker)
        .to_owned();
    let rows = conn.query_all(&stmt).await?;
    let all = rows.len();
    let mut keys = read_answer_keys(rows)?;
    let ready = keys.len() < all;
    keys.sort_by_key(|(id, _)| *id);
    Ok((keys.into_iter().map(|(_, key)| key).collect(), ready))
}

/// The start of the user's day at `now`, in their time zone: the daily XP cap counts from it.
fn start_of_day(tz: chrono_tz::Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = crate::study::streaks::local_date(tz, now);
    tz.from_local_datetime(&today.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// The thread's title: the question's first words.
fn title_of(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    if line.chars().count() <= TITLE_CHARS {
        return line.to_string();
    }
    let cut: String = line.chars().take(TITLE_CHARS - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > TITLE_CHARS / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{}\u{2026}", cut.trim_end())
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{}\u{2026}", cut.trim_end())
}

/// One of the user's threads; another user's is a 404.
async fn find_session(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<doubt_sessions::Model> {
    doubt_sessions::Entity::find_by_id(id)
        .filter(doubt_sessions::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("doubt session"))
}

async fn messages_of(
    conn: &impl ConnectionTrait,
    session_id: Uuid,
) -> AppResult<Vec<doubt_messages::Model>> {
    Ok(doubt_messages::Entity::find()
        .filter(doubt_messages::Column::DoubtSessionId.eq(session_id))
        .order_by_asc(doubt_messages::Column::CreatedAt)
        .order_by_asc(doubt_messages::Column::Id)
        .all(conn)
        .await?)
}

/// One of the user's threads (another user's is a 404), its topic's name (none when the topic
/// is gone) and its messages in order as the history of a follow-up: one statement, the thread
/// left-joined with its messages.
async fn thread_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> AppResult<(doubt_sessions::Model, Option<String>, Vec<Turn>)> {
    use doubt_messages as m;
    use doubt_sessions as s;
    let mut select = Query::select();
    for column in s::Column::iter() {
        select.column((s::Entity, column));
    }
    select
        .expr_as(
            Expr::cust("(SELECT t.name FROM topics t WHERE t.id = doubt_sessions.topic_id)"),
            "topic_name",
        )
        .expr_as(Expr::col((m::Entity, m::Column::Role)), "role")
        .expr_as(
            Expr::col((m::Entity, m::Column::MessageText)),
            "message_text",
        )
        .from(s::Entity)
        .left_join(
            m::Entity,
            Expr::col((m::Entity, m::Column::DoubtSessionId)).equals((s::Entity, s::Column::Id)),
        )
        .and_where(Expr::col((s::Entity, s::Column::Id)).eq(id))
        .and_where(Expr::col((s::Entity, s::Column::UserId)).eq(user_id))
        .order_by((m::Entity, m::Column::CreatedAt), Order::Asc)
        .order_by((m::Entity, m::Column::Id), Order::Asc);
    let rows = conn.query_all(&select).await?;
    let first = rows.first().ok_or(AppError::NotFound("doubt session"))?;
    let session = s::Model::from_query_result(first, "")?;
    let topic_title: Option<String> = first.try_get("", "topic_name")?;
    let mut history = Vec::with_capacity(rows.len());
    for row in &rows {
        let role: Option<String> = row.try_get("", "role")?;
        let text: Option<String> = row.try_get("", "message_text")?;
        if let (Some(role), Some(text)) = (role, text) {
            history.push(Turn {
                role: if role == ROLE_ASSISTANT {
                    Role::Assistant
                } else {
                    Role::User
                },
                text,
            });
        }
    }
    Ok((session, topic_title, history))
}

/// `GET /doubts`: my threads, the most recently created first.
pub async fn list(
    state: &AppState,
    user_id: Uuid,
    page: PageParams,
) -> AppResult<Page<DoubtSessionView>> {
    let limit = page.limit();
    let mut select = doubt_sessions::Entity::find()
        .filter(doubt_sessions::Column::UserId.eq(user_id))
        .order_by_desc(doubt_sessions::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(doubt_sessions::Column::Id.lt(after));
    }
    let mut rows = select.limit(limit + 1).all(state.db.read()).await?;
    let next_cursor = next_page(&mut rows, limit, |r| encode_cursor(r.id));
    Ok(Page {
        items: rows.into_iter().map(DoubtSessionView::from).collect(),
        next_cursor,
    })
}

/// `GET /doubts/{id}`: one of my threads with its messages.
pub async fn detail(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<DoubtDetail> {
    let db = state.db.read();
    let session = find_session(db, user_id, id).await?;
    let messages = messages_of(db, id).await?;
    Ok(DoubtDetail {
        session: session.into(),
        messages: messages.into_iter().map(DoubtMessageView::from).collect(),
    })
}

/// `DELETE /doubts/{id}`: the thread and its messages. XP the questions earned stays earned.
pub async fn delete(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<()> {
    let txn = state.db.begin_write().await?;
    find_session(&txn, user_id, id).await?;
    doubt_messages::Entity::delete_many()
        .filter(doubt_messages::Column::DoubtSessionId.eq(id))
        .exec(&txn)
        .await?;
    doubt_sessions::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The whole text of each passage the citations name (and a lesson passage's position in its
/// lesson), by passage id, for pages that show a cited passage in place. Material chunks are
/// read only from the user's own materials; a passage deleted since is simply absent.
pub async fn cited_passages(
    state: &AppState,
    user_id: Uuid,
    citations: &[Citation],
) -> AppResult<HashMap<Uuid, CitedPassage>> {
    let db = state.db.read();
    let ids_of = |kind: SourceKind| -> Vec<Uuid> {
        citations
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.id)
            .collect()
    };
    let mut found = HashMap::new();
    let lesson_ids = ids_of(SourceKind::Lesson);
    if !lesson_ids.is_empty() {
        for p in lesson_passages::Entity::find()
            .filter(lesson_passages::Column::Id.is_in(lesson_ids))
            .all(db)
            .await?
        {
            found.insert(
                p.id,
                CitedPassage {
                    position: Some(p.position),
                    text: p.passage_text,
                },
            );
        }
    }
    let chunk_ids = ids_of(SourceKind::Material);
    if !chunk_ids.is_empty() {
        let own = materials::Entity::find()
            .select_only()
            .column(materials::Column::Id)
            .filter(materials::Column::UserId.eq(user_id))
            .into_query();
        for c in material_chunks::Entity::find()
            .filter(material_chunks::Column::Id.is_in(chunk_ids))
            .filter(material_chunks::Column::MaterialId.in_subquery(own))
            .all(db)
            .await?
        {
            found.insert(
                c.id,
                CitedPassage {
                    position: None,
                    text: c.chunk_text,
                },
            );
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_words() {
        assert_eq!(title_of("What is a cell?"), "What is a cell?");
        let long = "word ".repeat(40);
        let t = title_of(&long);
        assert!(t.chars().count() <= TITLE_CHARS, "{t}");
        assert!(t.ends_with('\u{2026}') && !t.contains("  "), "{t}");
        assert_eq!(title_of("First line\nsecond line"), "First line");
    }
}
