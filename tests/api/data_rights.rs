//! A student's right to erasure (SPEC §2: deleting a user deletes everything personal of theirs).
//!
//! The test fills every table that references `users` with rows of two students, through the
//! API where an endpoint exists and directly where none does yet, deletes one account with
//! `DELETE /me`, and then walks every column that references `users` — found in the database's
//! own catalogue, so a table added later is walked too — asserting that none of the deleted
//! student's rows is left and none of the other student's rows is gone.

use std::collections::BTreeMap;

use chrono::Duration;
use reqwest::StatusCode;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use serde_json::json;
use studium::entity::numeric::Numeric;
use studium::entity::{
    ai_usage_counters, ai_usage_logs, doubt_messages, doubt_sessions, friends, material_chunks,
    materials, payments, quiz_attempts, quizzes, subscriptions, user_recommendations, xp_logs,
};
use uuid::Uuid;

use crate::db_test;
use crate::gamification::{complete_lesson, quiz, topic_with_lessons, uid};
use crate::helpers::*;

/// Every (table, column) whose foreign key references `users`.
async fn user_columns(app: &TestApp) -> Vec<(String, String)> {
    let db = app.state.db.read();
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT m.name, f.\"from\" FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" = 'users' ORDER BY 1, 2"
        }
        _ => {
            "SELECT kcu.table_name::text, kcu.column_name::text \
             FROM information_schema.referential_constraints rc \
             JOIN information_schema.key_column_usage kcu \
               ON kcu.constraint_name = rc.constraint_name \
              AND kcu.constraint_schema = rc.constraint_schema \
             JOIN information_schema.table_constraints pk \
               ON pk.constraint_name = rc.unique_constraint_name \
              AND pk.constraint_schema = rc.unique_constraint_schema \
             WHERE pk.table_name = 'users' AND kcu.table_schema = current_schema() ORDER BY 1, 2"
        }
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("catalogue")
        .into_iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).expect("table"),
                row.try_get_by_index::<String>(1).expect("column"),
            )
        })
        .collect()
}

/// Rows of `user` in each user column.
async fn rows_of(app: &TestApp, columns: &[(String, String)], user: Uuid) -> BTreeMap<String, i64> {
    let db = app.state.db.read();
    let backend = db.get_database_backend();
    let mut counts = BTreeMap::new();
    for (table, column) in columns {
        let placeholder = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT COUNT(*) FROM {table} WHERE {column} = {placeholder}"),
                [user.into()],
            ))
            .await
            .expect("count")
            .expect("a row");
        counts.insert(
            format!("{table}.{column}"),
            row.try_get_by_index::<i64>(0).expect("n"),
        );
    }
    counts
}

/// Personal rows in every table that has no endpoint yet, for `user` (who befriended `friend`).
async fn rows_without_endpoints(app: &TestApp, user: Uuid, friend: Uuid, topic_id: Uuid) {
    let db = app.state.db.write();
    let now = app.clock.now();
    let quiz_id = quiz(app, topic_id).await;
    quizzes::ActiveModel {
        id: Set(Uuid::now_v7()),
        topic_id: Set(topic_id),
        created_by: Set(Some(user)),
        owner_id: Set(Some(user)),
        title: Set("My own quiz".into()),
        description: Set(None),
        difficulty: Set(None),
        source: Set("lessons".into()),
        generated_by_ai: Set(true),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .expect("quiz");
    quiz_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        quiz_id: Set(quiz_id),
        answers: Set(json!([])),
        score_percentage: Set(Numeric(rust_decimal::Decimal::new(6667, 2))),
        correct_count: Set(2),
        total_questions: Set(3),
        xp_awarded: Set(0),
        started_at: Set(None),
        completed_at: Set(now),
    }
    .insert(db)
    .await
    .expect("attempt");
    let thread = Uuid::now_v7();
    doubt_sessions::ActiveModel {
        id: Set(thread),
        user_id: Set(user),
        topic_id: Set(Some(topic_id)),
        title: Set("Why?".into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("doubt");
    doubt_messages::ActiveModel {
        id: Set(Uuid::now_v7()),
        doubt_session_id: Set(thread),
        role: Set("user".into()),
        message_text: Set("Why is x = 2?".into()),
        citations: Set(None),
        tokens_used: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .expect("message");
    ai_usage_logs::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(Some(user)),
        feature_type: Set("doubt".into()),
        model_name: Set("offline".into()),
        prompt_tokens: Set(10),
        completion_tokens: Set(20),
        total_tokens: Set(30),
        estimated_cost: Set(Numeric::default()),
        request_status: Set("success".into()),
        created_at: Set(now),
        reserved_until: Set(None),
    }
    .insert(db)
    .await
    .expect("usage");
    ai_usage_counters::ActiveModel {
        user_id: Set(user),
        feature_type: Set("doubt".into()),
        usage_date: Set(now.date_naive()),
        used: Set(1),
    }
    .insert(db)
    .await
    .expect("usage counter");
    let material = Uuid::now_v7();
    materials::ActiveModel {
        id: Set(material),
        user_id: Set(user),
        topic_id: Set(Some(topic_id)),
        title: Set("Notes".into()),
        file_name: Set("notes.md".into()),
        content_type: Set("text/markdown".into()),
        file_size: Set(12),
        s3_url: Set(format!("materials/{material}")),
        processing_status: Set("ready".into()),
        processing_error: Set(None),
        uploaded_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("material");
    material_chunks::ActiveModel {
        id: Set(Uuid::now_v7()),
        material_id: Set(material),
        chunk_index: Set(0),
        chunk_text: Set("x = 2".into()),
        token_count: Set(3),
        embedding_vector: Set(None),
        embedding_model: Set(None),
        embedding_dim: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .expect("chunk");
    friendship(app, user, friend, "accepted").await;
    user_recommendations::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        recommendation_type: Set("continue_lesson".into()),
        reference_id: Set(None),
        title: Set("Keep going".into()),
        reason: Set("You started this topic".into()),
        priority_score: Set(50),
        expires_at: Set(now + Duration::hours(24)),
        dismissed_at: Set(None),
        generated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("recommendation");
    let subscription = Uuid::now_v7();
    subscriptions::ActiveModel {
        id: Set(subscription),
        user_id: Set(user),
        plan: Set("pro".into()),
        status: Set("active".into()),
        provider: Set("manual".into()),
        provider_customer_id: Set(None),
        provider_subscription_id: Set(None),
        current_period_start: Set(Some(now)),
        current_period_end: Set(None),
        provider_event_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .expect("subscription");
    payments::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user),
        subscription_id: Set(Some(subscription)),
        amount: Set(900),
        currency: Set("usd".into()),
        status: Set("paid".into()),
        provider_payment_id: Set(format!("pay_{subscription}")),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .expect("payment");
}

async fn friendship(app: &TestApp, requester: Uuid, addressee: Uuid, status: &str) {
    let now = app.clock.now();
    friends::ActiveModel {
        id: Set(Uuid::now_v7()),
        requester_id: Set(requester),
        addressee_id: Set(addressee),
        status: Set(status.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("friendship");
}

/// What a student does through the API today (registering made a sign-in session, a refresh
/// token and a verification email token): a lesson (progress, XP, streak, mastery, an
/// achievement) and a study session.
async fn use_the_app(app: &TestApp, user: &TestUser, lesson: Uuid) {
    complete_lesson(app, user, lesson).await;
    let now = app.clock.now();
    let logged = app
        .post(
            "/study-sessions",
            Some(&user.access),
            json!({"started_at": now - Duration::minutes(50), "ended_at": now - Duration::minutes(10)}),
        )
        .await;
    assert_eq!(logged.status, StatusCode::CREATED, "{}", logged.text);
}

db_test!(
    deleting_my_account_leaves_no_row_of_mine_in_any_table,
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 1).await;
        let first = app
        .post(
            "/admin/achievements",
            Some(&admin.access),
            json!({"title": "First lesson", "description": "d", "criteria_type": "lessons_completed", "criteria_value": 1}),
        )
        .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);

        let leaving = app.student().await;
        let staying = app.student().await;
        for user in [&leaving, &staying] {
            use_the_app(&app, user, topic.lessons[0]).await;
        }
        rows_without_endpoints(&app, uid(&leaving), uid(&staying), topic.id).await;
        rows_without_endpoints(&app, uid(&staying), uid(&admin), topic.id).await;
        friendship(&app, uid(&admin), uid(&leaving), "pending").await;

        let columns = user_columns(&app).await;
        assert!(
            columns.len() >= 20,
            "the catalogue lists too few user columns: {columns:?}"
        );
        let before = rows_of(&app, &columns, uid(&leaving)).await;
        let empty: Vec<_> = before.iter().filter(|(_, n)| **n == 0).collect();
        assert!(
            empty.is_empty(),
            "the test leaves these user columns untested: {empty:?}"
        );
        let others_before = rows_of(&app, &columns, uid(&staying)).await;

        let res = app.delete("/me", Some(&leaving.access)).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);

        let after = rows_of(&app, &columns, uid(&leaving)).await;
        let left: Vec<_> = after.iter().filter(|(_, n)| **n > 0).collect();
        assert!(
            left.is_empty(),
            "rows of the deleted user are left: {left:?}"
        );
        let others_after = rows_of(&app, &columns, uid(&staying)).await;
        // The other student loses only the friendship the deleted one asked for. (The change
        // feed records that their friendships changed: one more row there, none fewer.)
        for (column, n) in &others_before {
            if column == "me_changes.user_id" {
                assert!(others_after[column] >= *n, "{others_after:?}");
                continue;
            }
            let expected = if column == "friends.addressee_id" {
                n - 1
            } else {
                *n
            };
            assert_eq!(others_after[column], expected, "{column}: {others_after:?}");
        }
    }
);

db_test!(
    my_export_is_valid_json_with_every_table_of_mine_and_nothing_of_others,
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 1).await;
        let first = app
            .post(
                "/admin/achievements",
                Some(&admin.access),
                json!({"title": "First lesson", "description": "d", "criteria_type": "lessons_completed", "criteria_value": 1}),
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let ada = app.student().await;
        let bob = app.student().await;
        for user in [&ada, &bob] {
            use_the_app(&app, user, topic.lessons[0]).await;
        }
        rows_without_endpoints(&app, uid(&ada), uid(&admin), topic.id).await;
        rows_without_endpoints(&app, uid(&bob), uid(&admin), topic.id).await;
        // More XP entries than one page of the export holds.
        let now = app.clock.now();
        let many: Vec<xp_logs::ActiveModel> = (0..450)
            .map(|i| xp_logs::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(uid(&ada)),
                xp_amount: Set(1),
                source_type: Set("study".into()),
                reference_id: Set(None),
                description: Set(Some(format!("entry {i}"))),
                created_at: Set(now),
            })
            .collect();
        xp_logs::Entity::insert_many(many)
            .exec(app.state.db.write())
            .await
            .expect("xp logs");
        let uploaded = crate::materials::upload(&app, &ada, "mine.txt", b"my own notes").await;
        assert_eq!(uploaded.status, StatusCode::ACCEPTED, "{}", uploaded.text);

        assert_eq!(
            app.get("/me/export", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        let res = app.get("/me/export", Some(&ada.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert!(
            res.headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let doc: serde_json::Value = serde_json::from_str(&res.text).expect("valid JSON");
        assert_eq!(doc["user_id"], ada.id);
        assert_eq!(doc["account"][0]["email"], ada.email);
        assert!(doc["account"][0].get("password_hash").is_none());
        for section in [
            "account",
            "profile",
            "sign_in_sessions",
            "study_sessions",
            "streak",
            "lesson_progress",
            "topic_progress",
            "xp_logs",
            "achievements",
            "doubt_sessions",
            "doubt_messages",
            "quizzes",
            "quiz_attempts",
            "materials",
            "friends",
            "recommendations",
            "subscriptions",
            "payments",
            "ai_usage",
        ] {
            let rows = doc[section]
                .as_array()
                .unwrap_or_else(|| panic!("no {section}"));
            assert!(!rows.is_empty(), "{section} is empty: {}", res.text);
            for row in rows {
                if let Some(owner) = row.get("user_id") {
                    assert_eq!(owner, &json!(ada.id), "{section}: {row}");
                }
            }
        }
        let xp_rows = xp_logs::Entity::find()
            .filter(xp_logs::Column::UserId.eq(uid(&ada)))
            .count(app.state.db.read())
            .await
            .unwrap();
        let exported = doc["xp_logs"].as_array().unwrap();
        assert_eq!(exported.len() as u64, xp_rows);
        let ids: std::collections::BTreeSet<_> =
            exported.iter().map(|r| r["id"].to_string()).collect();
        assert_eq!(ids.len(), exported.len(), "a row exported twice");

        // Exact decimals and JSON documents come out the same on both backends.
        assert!(doc["topic_progress"][0]["mastery_score"].is_string());
        assert!(doc["quiz_attempts"][0]["score_percentage"].is_string());
        assert!(doc["quiz_attempts"][0]["answers"].is_array());

        // Every material says where its file is, and that link serves it.
        let materials = doc["materials"].as_array().unwrap();
        assert!(materials.iter().all(|m| m.get("s3_url").is_none()));
        let mine = materials
            .iter()
            .find(|m| m["id"] == uploaded.body["id"])
            .expect("the uploaded material");
        let link = mine["download_url"].as_str().unwrap();
        let file = app
            .client
            .get(format!("{}{link}", app.address))
            .bearer_auth(&ada.access)
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"my own notes");

        // Nothing of the other student.
        assert!(!res.text.contains(&bob.id), "{}", res.text);
        assert!(!res.text.contains(&bob.email));
    }
);
