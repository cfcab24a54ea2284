//! `GET /me/export`: every personal row of the signed-in user as one JSON document, streamed
//! section by section and page by page, so a large account never sits in memory whole.
//!
//! The document: `{"format", "exported_at", "user_id", "<table>": [rows…], …}` with one array
//! per table (its rows as stored, secrets left out), materials carrying a `download_url` (the
//! file itself is `GET /materials/{id}/content`). Credentials (password hash, refresh and email
//! tokens) are not personal data to hand back and are never included.

use bytes::Bytes;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::entity::*;

/// Rows read (and sent) per query.
const PAGE: u64 = 200;
pub const FORMAT: &str = "studium-export/1";

type Chunk = Result<Bytes, std::io::Error>;

/// One table's rows of the user.
struct Section {
    name: &'static str,
    /// The rows after the given key (by the key column), a page of them.
    rows: Box<dyn Fn(Option<Uuid>) -> RowsFuture + Send + Sync>,
    /// The key column, as named in a row.
    key: &'static str,
    /// Columns left out (secrets, internal storage keys).
    strip: &'static [&'static str],
}

type RowsFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Value>, sea_orm::DbErr>> + Send>>;

/// A section over `entity` rows matching `condition`, a page at a time by keyset on `id` (or
/// on the given unique column), so no page re-reads the ones before it.
macro_rules! section {
    ($db:expr, $name:literal, $entity:ident, $condition:expr, $strip:expr) => {
        section!($db, $name, $entity, $condition, $strip, Id, "id")
    };
    ($db:expr, $name:literal, $entity:ident, $condition:expr, $strip:expr, $order:ident, $key:literal) => {{
        let db: DatabaseConnection = $db.clone();
        let condition: Condition = $condition;
        Section {
            name: $name,
            strip: $strip,
            key: $key,
            rows: Box::new(move |after: Option<Uuid>| {
                let db = db.clone();
                let condition = condition.clone();
                Box::pin(async move {
                    let mut query = $entity::Entity::find();
                    // Exact decimals as text on both backends (SQLite's row-to-JSON skips them).
                    for column in numeric_columns($name) {
                        query =
                            query.column_as(Expr::cust(format!("CAST({column} AS TEXT)")), *column);
                    }
                    if let Some(after) = after {
                        query = query.filter($entity::Column::$order.gt(after));
                    }
                    query
                        .filter(condition)
                        .order_by_asc($entity::Column::$order)
                        .limit(PAGE)
                        .into_json()
                        .all(&db)
                        .await
                })
            }),
        }
    }};
}

/// Columns of exact decimals, per section.
fn numeric_columns(section: &str) -> &'static [&'static str] {
    match section {
        "topic_progress" => &["mastery_score"],
        "quiz_attempts" => &["score_percentage"],
        "ai_usage" => &["estimated_cost"],
        _ => &[],
    }
}

/// Columns of JSON documents, per section (SQLite hands them back as text).
fn json_columns(section: &str) -> &'static [&'static str] {
    match section {
        "profile" => &["preferred_subjects"],
        "doubt_messages" => &["citations"],
        "quiz_attempts" => &["answers"],
        _ => &[],
    }
}

fn sections(db: &DatabaseConnection, user: Uuid) -> Vec<Section> {
    let doubt_sessions_of_user = Query::select()
        .column(doubt_sessions::Column::Id)
        .from(doubt_sessions::Entity)
        .and_where(doubt_sessions::Column::UserId.eq(user))
        .to_owned();
    vec![
        section!(
            db,
            "account",
            users,
            Condition::all().add(users::Column::Id.eq(user)),
            &["password_hash"]
        ),
        section!(
            db,
            "profile",
            user_profiles,
            Condition::all().add(user_profiles::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "sign_in_sessions",
            auth_sessions,
            Condition::all().add(auth_sessions::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "study_sessions",
            study_sessions,
            Condition::all().add(study_sessions::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "streak",
            user_streaks,
            Condition::all().add(user_streaks::Column::UserId.eq(user)),
            &[],
            UserId,
            "user_id"
        ),
        section!(
            db,
            "lesson_progress",
            lesson_progress,
            Condition::all().add(lesson_progress::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "topic_progress",
            topic_progress,
            Condition::all().add(topic_progress::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "xp_logs",
            xp_logs,
            Condition::all().add(xp_logs::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "achievements",
            user_achievements,
            Condition::all().add(user_achievements::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "doubt_sessions",
            doubt_sessions,
            Condition::all().add(doubt_sessions::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "doubt_messages",
            doubt_messages,
            Condition::all()
                .add(doubt_messages::Column::DoubtSessionId.in_subquery(doubt_sessions_of_user)),
            &[]
        ),
        section!(
            db,
            "quizzes",
            quizzes,
            Condition::any()
                .add(quizzes::Column::OwnerId.eq(user))
                .add(quizzes::Column::CreatedBy.eq(user)),
            &[]
        ),
        section!(
            db,
            "quiz_attempts",
            quiz_attempts,
            Condition::all().add(quiz_attempts::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "materials",
            materials,
            Condition::all().add(materials::Column::UserId.eq(user)),
            &["s3_url"]
        ),
        section!(
            db,
            "friends",
            friends,
            Condition::any()
                .add(friends::Column::RequesterId.eq(user))
                .add(friends::Column::AddresseeId.eq(user)),
            &[]
        ),
        section!(
            db,
            "recommendations",
            user_recommendations,
            Condition::all().add(user_recommendations::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "subscriptions",
            subscriptions,
            Condition::all().add(subscriptions::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "payments",
            payments,
            Condition::all().add(payments::Column::UserId.eq(user)),
            &[]
        ),
        section!(
            db,
            "ai_usage",
            ai_usage_logs,
            Condition::all().add(ai_usage_logs::Column::UserId.eq(user)),
            &[]
        ),
    ]
}

/// Starts writing the export of `user`; the returned receiver yields the document's bytes.
/// A database error midway ends the stream with an error (the client sees a broken transfer,
/// never a document that looks whole).
pub fn start(
    db: DatabaseConnection,
    user: Uuid,
    exported_at: chrono::DateTime<chrono::Utc>,
    api_prefix: &'static str,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    tokio::spawn(async move {
        if let Err(e) = write(&db, user, exported_at, api_prefix, &tx).await {
            tracing::error!(error = %e, user_id = %user, "export failed midway");
            let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    rx
}

async fn write(
    db: &DatabaseConnection,
    user: Uuid,
    exported_at: chrono::DateTime<chrono::Utc>,
    api_prefix: &str,
    tx: &mpsc::Sender<Chunk>,
) -> anyhow::Result<()> {
    let send = |text: String| async move {
        tx.send(Ok(Bytes::from(text)))
            .await
            .map_err(|_| anyhow::anyhow!("the client went away"))
    };
    send(format!(
        "{{\"format\":{},\"exported_at\":{},\"user_id\":{}",
        serde_json::to_string(FORMAT)?,
        serde_json::to_string(&exported_at)?,
        serde_json::to_string(&user)?
    ))
    .await?;
    for section in sections(db, user) {
        send(format!(",{}:[", serde_json::to_string(section.name)?)).await?;
        let mut first = true;
        let mut after = None;
        loop {
            let rows = (section.rows)(after).await?;
            let n = rows.len() as u64;
            after = rows
                .last()
                .and_then(|r| r.get(section.key))
                .and_then(Value::as_str)
                .and_then(|k| Uuid::parse_str(k).ok());
            let mut out = String::new();
            for mut row in rows {
                if let Value::Object(map) = &mut row {
                    for key in section.strip {
                        map.remove(*key);
                    }
                    for key in json_columns(section.name) {
                        if let Some(Value::String(text)) = map.get(*key)
                            && let Ok(parsed) = serde_json::from_str::<Value>(text)
                        {
                            map.insert((*key).to_string(), parsed);
                        }
                    }
                    if section.name == "materials"
                        && let Some(id) = map.get("id").and_then(Value::as_str).map(String::from)
                    {
                        map.insert(
                            "download_url".into(),
                            Value::String(format!("{api_prefix}/materials/{id}/content")),
                        );
                    }
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&serde_json::to_string(&row)?);
            }
            if !out.is_empty() {
                send(out).await?;
            }
            if n < PAGE {
                break;
            }
            if after.is_none() {
                anyhow::bail!("{}: a row without its key", section.name);
            }
        }
        send("]".into()).await?;
    }
    send("}".into()).await?;
    Ok(())
}
