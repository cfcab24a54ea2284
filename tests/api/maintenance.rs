//! Periodic maintenance (`studium::maintenance`): study sessions past their 4-hour cap closed
//! as a stop at the cap would close them, and rows past their use purged. The tests call
//! `run_once` directly with the clock moved forward, then look through HTTP and the database.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use studium::entity::{
    auth_sessions, email_tokens, rate_limit_buckets, refresh_tokens, study_sessions,
    user_achievements, user_streaks, xp_logs,
};
use studium::maintenance::{self, Report};
use uuid::Uuid;

use crate::gamification::uid;
use crate::helpers::*;
use crate::long_session_test;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

async fn start(app: &TestApp, user: &TestUser) -> Uuid {
    let res = app
        .post("/study-sessions/start", Some(&user.access), json!({}))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    res.body["id"].as_str().unwrap().parse().unwrap()
}

/// Studies with the timer for `minutes`, finishing at `ended_at` (the clock is moved there).
async fn study_until(app: &TestApp, user: &TestUser, ended_at: DateTime<Utc>, minutes: i64) {
    app.clock.set(ended_at - Duration::minutes(minutes));
    let id = start(app, user).await;
    app.clock.set(ended_at);
    let res = app
        .post(
            &format!("/study-sessions/{id}/stop"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

async fn session_row(app: &TestApp, id: Uuid) -> study_sessions::Model {
    study_sessions::Entity::find_by_id(id)
        .one(app.state.db.read())
        .await
        .unwrap()
        .expect("session row")
}

async fn session_awards(app: &TestApp, id: Uuid) -> Vec<xp_logs::Model> {
    xp_logs::Entity::find()
        .filter(xp_logs::Column::ReferenceId.eq(id))
        .all(app.state.db.read())
        .await
        .unwrap()
}

async fn run(app: &TestApp) -> Report {
    maintenance::run_once(&app.state)
        .await
        .expect("maintenance run")
}

async fn get_ok(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let res = app.get(path, Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body
}

// ---------------------------------------------------------------- the sweep

long_session_test!(
    the_sweep_closes_a_session_past_its_cap_as_a_stop_at_the_cap_would,
    |app| {
        let admin = app.admin().await;
        let created = app
            .post(
                "/admin/achievements",
                Some(&admin.access),
                json!({"title": "Marathon", "description": "Study 4 hours",
                       "criteria_type": "study_minutes", "criteria_value": 240, "xp_reward": 25}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let achievement: Uuid = created.body["id"].as_str().unwrap().parse().unwrap();

        let user = app.student().await;
        let res = app
            .patch(
                "/me/profile",
                Some(&user.access),
                json!({"timezone": "Asia/Kolkata"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        // A study day on 2 March local, then a timer started at 21:30 local and forgotten: its
        // cap, 20:00Z, is 01:30 on 3 March in Kolkata (still 2 March in UTC).
        study_until(&app, &user, utc(2026, 3, 2, 6, 0), 30).await;
        app.clock.set(utc(2026, 3, 2, 16, 0));
        let forgotten = start(&app, &user).await;
        // Someone else's timer, still within its 4 hours at the sweep.
        let other = app.student().await;
        app.clock.set(utc(2026, 3, 2, 19, 0));
        let running = start(&app, &other).await;

        app.clock.set(utc(2026, 3, 2, 20, 30));
        let report = run(&app).await;
        assert_eq!(report.study_sessions_closed, 1, "{report:?}");
        assert_eq!(report.study_sessions_failed, 0);

        let cap = utc(2026, 3, 2, 20, 0);
        let row = session_row(&app, forgotten).await;
        assert_eq!(row.ended_at, Some(cap));
        assert_eq!(row.duration_seconds, Some(14_400));
        assert_eq!(row.xp_awarded, 120);
        let awards = session_awards(&app, forgotten).await;
        assert_eq!(awards.len(), 1);
        assert_eq!(awards[0].xp_amount, 120);
        assert_eq!(awards[0].created_at, cap);
        let streak = user_streaks::Entity::find_by_id(uid(&user))
            .one(app.state.db.read())
            .await
            .unwrap()
            .expect("streak row");
        assert_eq!(streak.current_streak, 2);
        assert_eq!(streak.last_study_date, NaiveDate::from_ymd_opt(2026, 3, 3));
        let unlocked = user_achievements::Entity::find()
            .filter(user_achievements::Column::UserId.eq(uid(&user)))
            .filter(user_achievements::Column::AchievementId.eq(achievement))
            .one(app.state.db.read())
            .await
            .unwrap()
            .expect("the 4-hour achievement unlocked");
        assert_eq!(unlocked.unlocked_at, cap);
        assert!(session_row(&app, running).await.ended_at.is_none());

        // Through HTTP, everything agrees, GET /me included.
        let me = get_ok(&app, &user, "/me").await;
        assert_eq!(me["total_xp"], 30 + 120 + 25);
        assert_eq!(me["current_streak"], 2);
        let streak = get_ok(&app, &user, "/me/streak").await;
        assert_eq!(streak["current_streak"], 2);
        assert_eq!(streak["last_study_date"], "2026-03-03");
        let listed = get_ok(&app, &user, "/study-sessions").await;
        let closed = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == forgotten.to_string().as_str())
            .unwrap()
            .clone();
        assert_eq!(closed["duration_seconds"], 14_400);
        assert_eq!(closed["xp_awarded"], 120);
        let stopped = app
            .post(
                &format!("/study-sessions/{forgotten}/stop"),
                Some(&user.access),
                json!({}),
            )
            .await;
        assert_eq!(stopped.status, StatusCode::CONFLICT, "{}", stopped.text);

        // A second run finds nothing more, and awards nothing twice.
        assert_eq!(run(&app).await.study_sessions_closed, 0);
        assert_eq!(session_awards(&app, forgotten).await.len(), 1);
        assert_eq!(get_ok(&app, &user, "/me").await["total_xp"], 30 + 120 + 25);

        // The other timer is swept once it passes its own cap.
        app.clock.set(utc(2026, 3, 2, 23, 0));
        assert_eq!(run(&app).await.study_sessions_closed, 1);
        assert_eq!(
            session_row(&app, running).await.ended_at,
            Some(utc(2026, 3, 2, 23, 0))
        );
    }
);

long_session_test!(
    sweeps_running_at_once_close_and_reward_each_session_once,
    |app| {
        let mut users = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let user = app.student().await;
            ids.push(start(&app, &user).await);
            users.push(user);
        }
        app.clock.advance(Duration::hours(5));
        // As several instances would: four sweeps at the same moment.
        let reports = futures::future::join_all((0..4).map(|_| run(&app))).await;
        let closed: u64 = reports.iter().map(|r| r.study_sessions_closed).sum();
        assert_eq!(closed, 3, "{reports:?}");
        assert!(reports.iter().all(|r| r.study_sessions_failed == 0));
        for (user, id) in users.iter().zip(&ids) {
            assert_eq!(session_awards(&app, *id).await.len(), 1);
            assert_eq!(session_row(&app, *id).await.duration_seconds, Some(14_400));
            assert_eq!(get_ok(&app, user, "/me").await["total_xp"], 120);
        }
    }
);

long_session_test!(
    the_maintenance_task_runs_at_once_and_stops_when_told,
    |app| {
        let user = app.student().await;
        let id = start(&app, &user).await;
        app.clock.advance(Duration::hours(4) + Duration::minutes(1));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(maintenance::run_periodically(
            app.state.clone(),
            StdDuration::from_secs(3600),
            stopped,
        ));
        // The first run comes at once, not after an interval.
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
        while session_row(&app, id).await.ended_at.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the first maintenance run did not come"
            );
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .expect("the maintenance task stops when told")
            .expect("the maintenance task ends cleanly");
    }
);

// ---------------------------------------------------------------- purging rows past their use

fn hash() -> String {
    Uuid::now_v7().simple().to_string()
}

async fn auth_session(
    app: &TestApp,
    user_id: Uuid,
    last_used_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
) -> Uuid {
    let id = Uuid::now_v7();
    auth_sessions::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        user_agent: Set(None),
        ip: Set(None),
        created_at: Set(last_used_at - Duration::days(1)),
        last_used_at: Set(last_used_at),
        revoked_at: Set(revoked_at),
        revoked_reason: Set(revoked_at.map(|_| "logout".to_string())),
    }
    .insert(app.state.db.write())
    .await
    .expect("auth session");
    id
}

async fn refresh_token(
    app: &TestApp,
    user_id: Uuid,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
) -> Uuid {
    let id = Uuid::now_v7();
    refresh_tokens::ActiveModel {
        id: Set(id),
        session_id: Set(session_id),
        user_id: Set(user_id),
        token_hash: Set(hash()),
        expires_at: Set(expires_at),
        used_at: Set(used_at),
        created_at: Set(expires_at - Duration::days(30)),
    }
    .insert(app.state.db.write())
    .await
    .expect("refresh token");
    id
}

async fn email_token(
    app: &TestApp,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
) -> Uuid {
    let id = Uuid::now_v7();
    email_tokens::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        purpose: Set("password_reset".into()),
        token_hash: Set(hash()),
        expires_at: Set(expires_at),
        used_at: Set(used_at),
        created_at: Set(expires_at - Duration::hours(24)),
    }
    .insert(app.state.db.write())
    .await
    .expect("email token");
    id
}

async fn bucket(app: &TestApp, key: &str, expires_at: DateTime<Utc>) {
    rate_limit_buckets::ActiveModel {
        key: Set(key.into()),
        window_start: Set(expires_at - Duration::minutes(15)),
        hits: Set(3),
        expires_at: Set(expires_at),
    }
    .insert(app.state.db.write())
    .await
    .expect("bucket");
}

async fn exists<E>(app: &TestApp, id: Uuid) -> bool
where
    E: EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    E::find_by_id(id)
        .one(app.state.db.read())
        .await
        .unwrap()
        .is_some()
}

long_session_test!(
    maintenance_purges_rows_past_their_use_and_keeps_the_rest,
    |app| {
        let user = app.student().await;
        let user_id = uid(&user);
        let now = app.clock.now();
        let month = Duration::days(31);
        let day = Duration::days(1);
        let live_session = auth_sessions::Entity::find()
            .filter(auth_sessions::Column::UserId.eq(user_id))
            .one(app.state.db.read())
            .await
            .unwrap()
            .expect("the sign-up session")
            .id;

        // Sign-in sessions: revoked a month ago and idle a month go; revoked yesterday stays
        // (a refresh token of it still answers that the session was ended).
        let revoked_old = auth_session(&app, user_id, now - day, Some(now - month)).await;
        let revoked_recent = auth_session(&app, user_id, now - day, Some(now - day)).await;
        let idle = auth_session(&app, user_id, now - month, None).await;
        let idle_token = refresh_token(&app, user_id, idle, now + day, None).await;
        // Refresh tokens: expired, and used a month ago, go; used yesterday (still valid, kept
        // for reuse detection) stays.
        let expired = refresh_token(
            &app,
            user_id,
            live_session,
            now - Duration::seconds(1),
            None,
        )
        .await;
        let used_old =
            refresh_token(&app, user_id, live_session, now + day, Some(now - month)).await;
        let used_recent =
            refresh_token(&app, user_id, live_session, now + day, Some(now - day)).await;
        // Email tokens: expired and used go; an unused valid one stays.
        let email_expired = email_token(&app, user_id, now - Duration::seconds(1), None).await;
        let email_used = email_token(
            &app,
            user_id,
            now + Duration::hours(1),
            Some(now - Duration::minutes(1)),
        )
        .await;
        let email_live = email_token(&app, user_id, now + Duration::hours(1), None).await;
        // Rate-limit buckets: an ended window goes.
        bucket(&app, "test:ended", now - Duration::seconds(1)).await;
        bucket(&app, "test:current", now + Duration::minutes(5)).await;

        let report = run(&app).await;
        assert_eq!(
            report,
            Report {
                refresh_tokens_purged: 2,
                auth_sessions_purged: 2,
                email_tokens_purged: 2,
                rate_limit_buckets_purged: 1,
                ..Report::default()
            }
        );
        for gone in [revoked_old, idle] {
            assert!(!exists::<auth_sessions::Entity>(&app, gone).await);
        }
        for kept in [live_session, revoked_recent] {
            assert!(exists::<auth_sessions::Entity>(&app, kept).await);
        }
        for gone in [idle_token, expired, used_old] {
            assert!(!exists::<refresh_tokens::Entity>(&app, gone).await);
        }
        assert!(exists::<refresh_tokens::Entity>(&app, used_recent).await);
        for gone in [email_expired, email_used] {
            assert!(!exists::<email_tokens::Entity>(&app, gone).await);
        }
        assert!(exists::<email_tokens::Entity>(&app, email_live).await);
        let buckets: Vec<String> = rate_limit_buckets::Entity::find()
            .all(app.state.db.read())
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert!(!buckets.contains(&"test:ended".to_string()), "{buckets:?}");
        assert!(buckets.contains(&"test:current".to_string()), "{buckets:?}");

        // What is in use still works.
        assert_eq!(
            get_ok(&app, &user, "/me").await["user"]["id"],
            user.id.as_str()
        );
        let refreshed = app
            .post(
                "/auth/refresh",
                None,
                json!({"refresh_token": user.refresh}),
            )
            .await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

        // A second run finds nothing more to purge.
        let again = run(&app).await;
        assert_eq!(again, Report::default());
        assert_eq!(
            refresh_tokens::Entity::find()
                .filter(refresh_tokens::Column::UserId.eq(user_id))
                .count(app.state.db.read())
                .await
                .unwrap(),
            // The sign-up token (now used), the one the refresh issued, and `used_recent`.
            3
        );
    }
);
