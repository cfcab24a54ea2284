//! Study sessions, streaks and daily statistics through HTTP (SPEC §3 Study sessions,
//! Streaks, XP; §4 study).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use studium::entity::{study_sessions, subjects, topics, xp_logs};
use uuid::Uuid;

use crate::helpers::*;
use crate::long_session_test;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap()
}

fn date(y: i32, m: u32, d: u32) -> String {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().to_string()
}

async fn set_timezone(app: &TestApp, user: &TestUser, tz: &str) {
    let res = app
        .patch("/me/profile", Some(&user.access), json!({"timezone": tz}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

async fn start(app: &TestApp, user: &TestUser) -> Resp {
    app.post("/study-sessions/start", Some(&user.access), json!({}))
        .await
}

async fn stop(app: &TestApp, user: &TestUser, id: &str) -> Resp {
    app.post(
        &format!("/study-sessions/{id}/stop"),
        Some(&user.access),
        json!({}),
    )
    .await
}

async fn log_session(
    app: &TestApp,
    user: &TestUser,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
) -> Resp {
    app.post(
        "/study-sessions",
        Some(&user.access),
        json!({"started_at": started_at, "ended_at": ended_at}),
    )
    .await
}

/// Studies with the timer for `minutes`, finishing at `ended_at` (the clock is moved there).
async fn study_until(app: &TestApp, user: &TestUser, ended_at: DateTime<Utc>, minutes: i64) {
    app.clock.set(ended_at - Duration::minutes(minutes));
    let started = start(app, user).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
    app.clock.set(ended_at);
    let stopped = stop(app, user, started.body["id"].as_str().unwrap()).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
}

async fn streak(app: &TestApp, user: &TestUser) -> Value {
    let res = app.get("/me/streak", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body
}

async fn total_xp(app: &TestApp, user: &TestUser) -> i64 {
    let me = app.get("/me", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    me.body["total_xp"].as_i64().unwrap()
}

async fn sessions(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let res = app
        .get("/study-sessions?limit=100", Some(&user.access))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------- the study timer

long_session_test!(
    stopping_a_session_records_its_duration_and_awards_a_point_per_full_minute,
    |app| {
        let user = app.student().await;
        let started_at = app.clock.now();
        let started = start(&app, &user).await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        assert!(started.body["ended_at"].is_null());
        assert!(started.body["duration_seconds"].is_null());
        assert_eq!(ts(&started.body["started_at"]), started_at);
        let id = started.body["id"].as_str().unwrap().to_string();

        app.clock.advance(Duration::seconds(25 * 60 + 40));
        let stopped = stop(&app, &user, &id).await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        assert_eq!(stopped.body["session"]["id"], id.as_str());
        assert_eq!(stopped.body["session"]["duration_seconds"], 25 * 60 + 40);
        assert_eq!(ts(&stopped.body["session"]["ended_at"]), app.clock.now());
        assert_eq!(stopped.body["xp_awarded"], 25);
        assert_eq!(stopped.body["current_streak"], 1);
        assert_eq!(total_xp(&app, &user).await, 25);

        let listed = sessions(&app, &user).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["duration_seconds"], 25 * 60 + 40);
    }
);

/// `POST /study-sessions/start` with a raw body and Content-Type (`None`: the header is left out).
async fn start_raw(app: &TestApp, user: &TestUser, content_type: Option<&str>, body: &str) -> Resp {
    let mut req = app
        .client
        .post(app.url("/study-sessions/start"))
        .bearer_auth(&user.access);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if !body.is_empty() {
        req = req.body(body.to_string());
    }
    read(req.send().await.expect("request")).await
}

long_session_test!(
    a_bare_start_with_no_body_starts_a_session_and_a_body_is_still_checked,
    |app| {
        let user = app.student().await;
        let bare = start_raw(&app, &user, None, "").await;
        assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.text);
        assert!(bare.body["subject_id"].is_null());
        assert!(bare.body["notes"].is_null());
        let id = bare.body["id"].as_str().unwrap().to_string();
        app.clock.advance(Duration::minutes(5));
        assert_eq!(stop(&app, &user, &id).await.status, StatusCode::OK);

        // An empty body that says it is JSON is no body too.
        let empty_json = start_raw(&app, &user, Some("application/json"), "").await;
        assert_eq!(
            empty_json.status,
            StatusCode::CREATED,
            "{}",
            empty_json.text
        );
        let id = empty_json.body["id"].as_str().unwrap().to_string();
        app.clock.advance(Duration::minutes(5));
        assert_eq!(stop(&app, &user, &id).await.status, StatusCode::OK);

        // A body, when there is one, is read and validated as before; none of these starts a session.
        let malformed = start_raw(&app, &user, Some("application/json"), "{\"notes\": ").await;
        assert_eq!(
            malformed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            malformed.text
        );
        assert!(malformed.is_problem());
        assert_eq!(malformed.problem_slug(), "malformed-request");
        let not_json = start_raw(&app, &user, Some("text/plain"), "notes").await;
        assert_eq!(
            not_json.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{}",
            not_json.text
        );
        assert!(not_json.is_problem());
        let untyped = start_raw(&app, &user, None, "{}").await;
        assert_eq!(
            untyped.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{}",
            untyped.text
        );
        let wrong_type = start_raw(&app, &user, Some("application/json"), "{\"notes\": 5}").await;
        assert_eq!(
            wrong_type.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong_type.text
        );
        assert_eq!(wrong_type.body["errors"][0]["field"], "notes");
        let unknown = start_raw(
            &app,
            &user,
            Some("application/json"),
            "{\"mood\": \"keen\"}",
        )
        .await;
        assert_eq!(
            unknown.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            unknown.text
        );
        let too_long = json!({"notes": "n".repeat(2001)}).to_string();
        let too_long = start_raw(&app, &user, Some("application/json"), &too_long).await;
        assert_eq!(
            too_long.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            too_long.text
        );
        assert_eq!(too_long.body["errors"][0]["field"], "notes");
        assert_eq!(sessions(&app, &user).await.len(), 2);

        let with_notes = start_raw(
            &app,
            &user,
            Some("application/json"),
            &json!({"notes": "chapter 3"}).to_string(),
        )
        .await;
        assert_eq!(
            with_notes.status,
            StatusCode::CREATED,
            "{}",
            with_notes.text
        );
        assert_eq!(with_notes.body["notes"], "chapter 3");
    }
);

long_session_test!(
    a_session_under_a_minute_earns_no_xp_and_makes_no_study_day,
    |app| {
        let user = app.student().await;
        let started = start(&app, &user).await;
        app.clock.advance(Duration::seconds(30));
        let stopped = stop(&app, &user, started.body["id"].as_str().unwrap()).await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        assert_eq!(stopped.body["session"]["duration_seconds"], 30);
        assert_eq!(stopped.body["xp_awarded"], 0);
        assert_eq!(total_xp(&app, &user).await, 0);
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 0);
        assert!(s["last_study_date"].is_null());
        assert_eq!(s["studied_today"], false);
    }
);

long_session_test!(
    a_timer_left_running_for_five_hours_is_closed_at_four_with_at_most_120_xp,
    |app| {
        let user = app.student().await;
        let started_at = app.clock.now();
        let started = start(&app, &user).await;
        app.clock.advance(Duration::hours(5));
        let stopped = stop(&app, &user, started.body["id"].as_str().unwrap()).await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        assert_eq!(stopped.body["session"]["duration_seconds"], 4 * 3600);
        assert_eq!(
            ts(&stopped.body["session"]["ended_at"]),
            started_at + Duration::hours(4)
        );
        assert_eq!(stopped.body["xp_awarded"], 120);
        assert_eq!(total_xp(&app, &user).await, 120);
    }
);

long_session_test!(
    starting_while_a_session_runs_is_a_conflict_that_names_the_running_one,
    |app| {
        let user = app.student().await;
        let first = start(&app, &user).await;
        let id = first.body["id"].as_str().unwrap();
        app.clock.advance(Duration::minutes(10));
        let second = start(&app, &user).await;
        assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
        assert!(second.is_problem());
        assert_eq!(second.problem_slug(), "session-already-open");
        assert!(
            second.body["detail"].as_str().unwrap().contains(id),
            "{}",
            second.text
        );
        assert_eq!(sessions(&app, &user).await.len(), 1);

        // Once stopped, a new one may start.
        assert_eq!(stop(&app, &user, id).await.status, StatusCode::OK);
        assert_eq!(start(&app, &user).await.status, StatusCode::CREATED);
    }
);

long_session_test!(
    a_forgotten_timer_is_closed_at_four_hours_when_the_next_one_starts,
    |app| {
        let user = app.student().await;
        let forgotten = start(&app, &user).await;
        let forgotten_id = forgotten.body["id"].as_str().unwrap().to_string();
        app.clock.advance(Duration::hours(4) + Duration::minutes(1));
        let next = start(&app, &user).await;
        assert_eq!(next.status, StatusCode::CREATED, "{}", next.text);

        let listed = sessions(&app, &user).await;
        let old = listed
            .iter()
            .find(|s| s["id"] == forgotten_id.as_str())
            .unwrap();
        assert_eq!(old["duration_seconds"], 4 * 3600);
        assert_eq!(total_xp(&app, &user).await, 120);
        // The forgotten one cannot be stopped again (nor earn twice).
        let again = stop(&app, &user, &forgotten_id).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(total_xp(&app, &user).await, 120);
    }
);

long_session_test!(ten_parallel_starts_open_exactly_one_session, |app| {
    let user = app.student().await;
    let results = futures::future::join_all((0..10).map(|_| start(&app, &user))).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.problem_slug(), "session-already-open");
    }
    let listed = sessions(&app, &user).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["ended_at"].is_null());
});

long_session_test!(
    stopping_a_session_twice_is_a_conflict_and_awards_once,
    |app| {
        let user = app.student().await;
        let started = start(&app, &user).await;
        let id = started.body["id"].as_str().unwrap();
        app.clock.advance(Duration::minutes(10));
        assert_eq!(stop(&app, &user, id).await.status, StatusCode::OK);
        app.clock.advance(Duration::minutes(10));
        let again = stop(&app, &user, id).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.problem_slug(), "session-already-stopped");
        assert_eq!(total_xp(&app, &user).await, 10);
        assert_eq!(sessions(&app, &user).await[0]["duration_seconds"], 600);
    }
);

long_session_test!(
    another_users_session_can_be_neither_stopped_nor_listed,
    |app| {
        let owner = app.student().await;
        let other = app.student().await;
        let started = start(&app, &owner).await;
        let id = started.body["id"].as_str().unwrap();
        app.clock.advance(Duration::minutes(5));

        let res = stop(&app, &other, id).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert!(res.is_problem());
        let missing = stop(&app, &other, &Uuid::now_v7().to_string()).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(sessions(&app, &other).await.is_empty());

        // The owner's session is untouched and still theirs to stop.
        let mine = sessions(&app, &owner).await;
        assert!(mine[0]["ended_at"].is_null());
        assert_eq!(stop(&app, &owner, id).await.status, StatusCode::OK);
        assert_eq!(
            app.post(
                "/study-sessions/not-a-uuid/stop",
                Some(&owner.access),
                json!({})
            )
            .await
            .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.post("/study-sessions/start", None, json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
);

// ---------------------------------------------------------------- the 4-hour cap as read

/// The session's row as the database holds it.
async fn stored_session(app: &TestApp, id: &str) -> study_sessions::Model {
    study_sessions::Entity::find_by_id(id.parse::<Uuid>().unwrap())
        .one(app.state.db.read())
        .await
        .unwrap()
        .expect("session row")
}

fn day_of<'a>(stats: &'a Value, d: &str) -> &'a Value {
    stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["date"] == d)
        .unwrap_or_else(|| panic!("no {d} in {stats}"))
}

long_session_test!(
    a_timer_past_its_cap_reads_as_closed_at_four_hours_everywhere_before_anything_closes_it,
    |app| {
        let user = app.student().await;
        set_timezone(&app, &user, "Asia/Kolkata").await; // +05:30
        // A study day on 2 March local (11:30 local).
        study_until(&app, &user, utc(2026, 3, 2, 6, 0), 30).await;
        // Started at 21:30 local on 2 March; its cap, 20:00Z, is 01:30 on 3 March local but
        // still 2 March in UTC.
        app.clock.set(utc(2026, 3, 2, 16, 0));
        let started = start(&app, &user).await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.text);
        let id = started.body["id"].as_str().unwrap().to_string();

        // One second before the cap it is still running.
        app.clock
            .set(utc(2026, 3, 2, 19, 59) + Duration::seconds(59));
        let open = sessions(&app, &user).await;
        let open = open.iter().find(|s| s["id"] == id.as_str()).unwrap();
        assert!(open["ended_at"].is_null(), "{open}");
        assert!(open["duration_seconds"].is_null());
        assert_eq!(open["xp_awarded"], 0);

        // Past the cap it reads as closed at the cap, in every view at once.
        app.clock.set(utc(2026, 3, 2, 20, 30));
        let listed = sessions(&app, &user).await;
        let capped = listed.iter().find(|s| s["id"] == id.as_str()).unwrap();
        assert_eq!(ts(&capped["ended_at"]), utc(2026, 3, 2, 20, 0));
        assert_eq!(capped["duration_seconds"], 14_400);
        assert_eq!(capped["xp_awarded"], 120);

        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 2, "{s}");
        assert_eq!(s["longest_streak"], 2);
        assert_eq!(s["last_study_date"], date(2026, 3, 3));
        assert_eq!(s["studied_today"], true);
        assert_eq!(s["at_risk"], false);
        let me = app.get("/me", Some(&user.access)).await;
        assert_eq!(me.body["current_streak"], 2, "{}", me.text);

        let stats = app.get("/me/stats?days=2", Some(&user.access)).await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
        assert_eq!(day_of(&stats.body, &date(2026, 3, 3))["study_minutes"], 240);
        assert_eq!(day_of(&stats.body, &date(2026, 3, 3))["xp"], 120);
        assert_eq!(day_of(&stats.body, &date(2026, 3, 2))["study_minutes"], 30);
        assert_eq!(day_of(&stats.body, &date(2026, 3, 2))["xp"], 30);

        // Nothing has closed it in the database yet.
        let row = stored_session(&app, &id).await;
        assert!(row.ended_at.is_none());
        assert_eq!(row.xp_awarded, 0);

        // Stopping it now closes it exactly as it read: at the cap, its XP dated at the cap.
        let stopped = stop(&app, &user, &id).await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        assert_eq!(
            ts(&stopped.body["session"]["ended_at"]),
            utc(2026, 3, 2, 20, 0)
        );
        assert_eq!(stopped.body["xp_awarded"], 120);
        assert_eq!(stopped.body["current_streak"], 2);
        let after = app.get("/me/stats?days=2", Some(&user.access)).await;
        assert_eq!(after.body["days"], stats.body["days"]);
        assert_eq!(streak(&app, &user).await, s);
        let award = xp_logs::Entity::find()
            .filter(xp_logs::Column::ReferenceId.eq(id.parse::<Uuid>().unwrap()))
            .one(app.state.db.read())
            .await
            .unwrap()
            .expect("the session's award");
        assert_eq!(award.xp_amount, 120);
        assert_eq!(award.created_at, utc(2026, 3, 2, 20, 0));
    }
);

long_session_test!(
    a_lesson_completed_after_a_capped_session_counts_the_capped_day_first,
    |app| {
        let admin = app.admin().await;
        let topic = crate::gamification::topic_with_lessons(&app, &admin, 1).await;
        let user = app.student().await;
        study_until(&app, &user, utc(2026, 3, 1, 10, 0), 30).await;
        // Started at 19:00 on 2 March, capped at 23:00 the same day, never stopped.
        app.clock.set(utc(2026, 3, 2, 19, 0));
        assert_eq!(start(&app, &user).await.status, StatusCode::CREATED);
        // The next morning a lesson is completed before anything closed the session.
        app.clock.set(utc(2026, 3, 3, 9, 0));
        assert_eq!(streak(&app, &user).await["current_streak"], 2);
        crate::gamification::complete_lesson(&app, &user, topic.lessons[0]).await;
        // 1, 2 and 3 March: the capped day came first, so the lesson extends the streak.
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 3, "{s}");
        assert_eq!(s["last_study_date"], date(2026, 3, 3));
        assert_eq!(total_xp(&app, &user).await, 30 + 120 + 10);
    }
);

// ---------------------------------------------------------------- logging after the fact

long_session_test!(
    a_session_logged_after_the_fact_earns_xp_and_a_study_day,
    |app| {
        let user = app.student().await;
        let now = app.clock.now();
        let res = log_session(
            &app,
            &user,
            now - Duration::hours(3),
            now - Duration::hours(2) - Duration::minutes(15),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        assert_eq!(res.body["session"]["duration_seconds"], 45 * 60);
        assert_eq!(res.body["xp_awarded"], 45);
        assert_eq!(res.body["current_streak"], 1);
        assert_eq!(
            ts(&res.body["session"]["started_at"]),
            now - Duration::hours(3)
        );
        assert_eq!(total_xp(&app, &user).await, 45);
        assert_eq!(streak(&app, &user).await["studied_today"], true);

        // Exactly 4 hours, ending now, touching the earlier one's end: allowed.
        let res = log_session(
            &app,
            &user,
            now - Duration::hours(7),
            now - Duration::hours(3),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        assert_eq!(res.body["xp_awarded"], 120);
    }
);

long_session_test!(
    invalid_after_the_fact_sessions_are_refused_and_nothing_is_written,
    |app| {
        let user = app.student().await;
        let now = app.clock.now();
        let h = Duration::hours;

        // A logged session 08:00–09:00 and a running timer since 11:00.
        let logged = log_session(&app, &user, now - h(4), now - h(3)).await;
        assert_eq!(logged.status, StatusCode::CREATED, "{}", logged.text);
        app.clock.set(now - h(1));
        assert_eq!(start(&app, &user).await.status, StatusCode::CREATED);
        app.clock.set(now);
        let xp_before = total_xp(&app, &user).await;

        let invalid = [
            ("in the future", now - h(1), now + Duration::minutes(5)),
            (
                "longer than 4 hours",
                now - h(10),
                now - h(5) - Duration::seconds(59),
            ),
            ("ending before it starts", now - h(5), now - h(6)),
            ("ending as it starts", now - h(5), now - h(5)),
        ];
        for (what, started_at, ended_at) in invalid {
            let res = log_session(&app, &user, started_at, ended_at).await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {}",
                res.text
            );
            assert!(res.is_problem(), "{what}");
            assert_eq!(
                res.body["errors"][0]["field"], "ended_at",
                "{what}: {}",
                res.text
            );
        }

        let overlapping = [
            (
                "inside the logged one",
                now - h(4) + Duration::minutes(10),
                now - h(3) - Duration::minutes(10),
            ),
            (
                "across its start",
                now - h(5),
                now - h(4) + Duration::minutes(1),
            ),
            (
                "across its end",
                now - h(3) - Duration::minutes(1),
                now - h(2),
            ),
            ("around it", now - h(5), now - h(2)),
            (
                "over the running timer",
                now - h(2),
                now - Duration::minutes(30),
            ),
        ];
        for (what, started_at, ended_at) in overlapping {
            let res = log_session(&app, &user, started_at, ended_at).await;
            assert_eq!(res.status, StatusCode::CONFLICT, "{what}: {}", res.text);
            assert!(res.is_problem(), "{what}");
            assert_eq!(res.problem_slug(), "session-overlap", "{what}");
        }

        let malformed = app
            .post(
                "/study-sessions",
                Some(&user.access),
                json!({"started_at": "yesterday", "ended_at": now}),
            )
            .await;
        assert_eq!(
            malformed.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            malformed.text
        );
        assert!(malformed.is_problem());

        assert_eq!(sessions(&app, &user).await.len(), 2);
        assert_eq!(total_xp(&app, &user).await, xp_before);
    }
);

long_session_test!(
    parallel_overlapping_logs_of_the_same_time_are_written_once,
    |app| {
        let user = app.student().await;
        let now = app.clock.now();
        let results = futures::future::join_all((0..8).map(|i| {
            log_session(
                &app,
                &user,
                now - Duration::hours(2) + Duration::minutes(i),
                now - Duration::hours(1),
            )
        }))
        .await;
        let created = results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        assert_eq!(
            created,
            1,
            "{:?}",
            results.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        assert!(
            results
                .iter()
                .filter(|r| r.status != StatusCode::CREATED)
                .all(|r| r.problem_slug() == "session-overlap")
        );
        assert_eq!(sessions(&app, &user).await.len(), 1);
    }
);

long_session_test!(sessions_name_only_subjects_and_topics_that_exist, |app| {
    let user = app.student().await;
    let now = app.clock.now();
    let db = app.state.db.write();
    let subject = subjects::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(format!("Physics {}", Uuid::now_v7())),
        description: Set(None),
        icon: Set(None),
        color: Set(None),
        order_index: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let topic = topics::ActiveModel {
        id: Set(Uuid::now_v7()),
        subject_id: Set(subject.id),
        name: Set("Optics".into()),
        description: Set(None),
        order_index: Set(0),
        difficulty_level: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();

    let unknown = app
        .post(
            "/study-sessions/start",
            Some(&user.access),
            json!({"subject_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert_eq!(unknown.body["errors"][0]["field"], "subject_id");
    let unknown = app
        .post(
            "/study-sessions",
            Some(&user.access),
            json!({"started_at": now - Duration::hours(2), "ended_at": now - Duration::hours(1),
                       "topic_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert_eq!(unknown.body["errors"][0]["field"], "topic_id");
    let unknown_field = app
        .post(
            "/study-sessions/start",
            Some(&user.access),
            json!({"minutes": 5}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(sessions(&app, &user).await.is_empty());

    // A topic alone brings its subject along.
    let res = app
        .post(
            "/study-sessions/start",
            Some(&user.access),
            json!({"topic_id": topic.id, "notes": "  chapter 3  "}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(res.body["topic_id"], topic.id.to_string());
    assert_eq!(res.body["subject_id"], subject.id.to_string());
    assert_eq!(res.body["notes"], "chapter 3");
});

long_session_test!(
    sessions_are_listed_by_start_time_window_a_page_at_a_time,
    |app| {
        let user = app.student().await;
        let base = utc(2026, 3, 2, 8, 0);
        for day in 0..5 {
            let start_at = base + Duration::days(day);
            app.clock.set(start_at + Duration::hours(2));
            let res = log_session(&app, &user, start_at, start_at + Duration::minutes(30)).await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        }
        let from = (base + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = (base + Duration::days(4)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let res = app
            .get(
                &format!("/study-sessions?from={from}&to={to}&limit=2"),
                Some(&user.access),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let page1 = res.body["items"].as_array().unwrap().clone();
        assert_eq!(page1.len(), 2);
        let cursor = res.body["next_cursor"].as_str().unwrap();
        let res = app
            .get(
                &format!("/study-sessions?from={from}&to={to}&limit=2&cursor={cursor}"),
                Some(&user.access),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let page2 = res.body["items"].as_array().unwrap().clone();
        assert_eq!(page2.len(), 1);
        assert!(res.body["next_cursor"].is_null());
        let starts: Vec<_> = page1
            .iter()
            .chain(&page2)
            .map(|s| ts(&s["started_at"]))
            .collect();
        assert_eq!(
            starts,
            (1..4).map(|d| base + Duration::days(d)).collect::<Vec<_>>()
        );

        for bad in [
            format!("/study-sessions?from={to}&to={from}"),
            "/study-sessions?from=yesterday".to_string(),
            "/study-sessions?limit=0".to_string(),
        ] {
            let res = app.get(&bad, Some(&user.access)).await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}: {}",
                res.text
            );
            assert!(res.is_problem());
        }
    }
);

// ---------------------------------------------------------------- streaks

long_session_test!(
    consecutive_days_extend_the_streak_and_a_gap_starts_over,
    |app| {
        let user = app.student().await;
        study_until(&app, &user, utc(2026, 3, 2, 10, 0), 20).await;
        assert_eq!(streak(&app, &user).await["current_streak"], 1);
        // The same day again changes nothing.
        study_until(&app, &user, utc(2026, 3, 2, 18, 0), 20).await;
        assert_eq!(streak(&app, &user).await["current_streak"], 1);
        study_until(&app, &user, utc(2026, 3, 3, 9, 0), 20).await;
        study_until(&app, &user, utc(2026, 3, 4, 23, 0), 20).await;
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 3);
        assert_eq!(s["longest_streak"], 3);
        assert_eq!(s["last_study_date"], date(2026, 3, 4));

        // 5 March skipped: 6 March starts a new streak; the longest is kept.
        study_until(&app, &user, utc(2026, 3, 6, 12, 0), 20).await;
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 1);
        assert_eq!(s["longest_streak"], 3);
        assert_eq!(s["last_study_date"], date(2026, 3, 6));
    }
);

long_session_test!(
    a_streak_is_at_risk_until_today_is_studied_and_shows_zero_after_a_gap,
    |app| {
        let user = app.student().await;
        study_until(&app, &user, utc(2026, 3, 2, 10, 0), 20).await;
        let s = streak(&app, &user).await;
        assert_eq!(s["studied_today"], true);
        assert_eq!(s["at_risk"], false);

        app.clock.set(utc(2026, 3, 3, 23, 59));
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 1);
        assert_eq!(s["studied_today"], false);
        assert_eq!(s["at_risk"], true);

        app.clock.set(utc(2026, 3, 4, 0, 0));
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 0);
        assert_eq!(s["longest_streak"], 1);
        assert_eq!(s["last_study_date"], date(2026, 3, 2));
        assert_eq!(s["studied_today"], false);
        assert_eq!(s["at_risk"], false);
        let me = app.get("/me", Some(&user.access)).await;
        assert_eq!(me.body["current_streak"], 0);
    }
);

long_session_test!(
    in_kolkata_the_study_day_turns_at_local_midnight_not_utc_midnight,
    |app| {
        // 18:30Z is midnight in Asia/Kolkata (+05:30).
        let user = app.student().await;
        set_timezone(&app, &user, "Asia/Kolkata").await;
        let utc_user = app.student().await;

        for u in [&user, &utc_user] {
            // 23:30 local on 2 March, then 00:30 and 01:30 local on 3 March; all one UTC day.
            study_until(&app, u, utc(2026, 3, 2, 18, 0), 15).await;
            study_until(&app, u, utc(2026, 3, 2, 19, 0), 15).await;
            study_until(&app, u, utc(2026, 3, 2, 20, 0), 15).await;
        }
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 2);
        assert_eq!(s["last_study_date"], date(2026, 3, 3));
        assert_eq!(s["studied_today"], true);
        let s = streak(&app, &utc_user).await;
        assert_eq!(s["current_streak"], 1);
        assert_eq!(s["last_study_date"], date(2026, 3, 2));

        // 18:29Z on 3 March is 23:59 local: still today; a minute later, at risk.
        app.clock.set(utc(2026, 3, 3, 18, 29));
        assert_eq!(streak(&app, &user).await["studied_today"], true);
        app.clock.set(utc(2026, 3, 3, 18, 30));
        let s = streak(&app, &user).await;
        assert_eq!(s["studied_today"], false);
        assert_eq!(s["at_risk"], true);
        assert_eq!(s["current_streak"], 2);
    }
);

long_session_test!(
    in_auckland_the_local_date_runs_ahead_of_the_utc_date,
    |app| {
        // Pacific/Auckland is +13 in March (daylight time).
        let user = app.student().await;
        set_timezone(&app, &user, "Pacific/Auckland").await;
        study_until(&app, &user, utc(2026, 3, 2, 12, 0), 30).await; // 01:00, 3 March local
        let s = streak(&app, &user).await;
        assert_eq!(s["last_study_date"], date(2026, 3, 3));
        assert_eq!(s["studied_today"], true);

        study_until(&app, &user, utc(2026, 3, 3, 10, 30), 30).await; // 23:30, 3 March local
        assert_eq!(streak(&app, &user).await["current_streak"], 1);
        study_until(&app, &user, utc(2026, 3, 3, 11, 30), 30).await; // 00:30, 4 March local
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 2);
        assert_eq!(s["last_study_date"], date(2026, 3, 4));
    }
);

long_session_test!(
    in_los_angeles_consecutive_days_across_both_dst_changes_extend_the_streak,
    |app| {
        let user = app.student().await;
        set_timezone(&app, &user, "America/Los_Angeles").await;
        // 22:00 PST on 7 March, then 22:00 PDT on 8 March: 23 hours apart, consecutive days.
        study_until(&app, &user, utc(2026, 3, 8, 6, 0), 30).await;
        study_until(&app, &user, utc(2026, 3, 9, 5, 0), 30).await;
        let s = streak(&app, &user).await;
        assert_eq!(s["current_streak"], 2);
        assert_eq!(s["last_study_date"], date(2026, 3, 8));
        // 00:30 PDT on 9 March is the next day already.
        study_until(&app, &user, utc(2026, 3, 9, 7, 30), 20).await;
        assert_eq!(streak(&app, &user).await["current_streak"], 3);

        // Autumn: 23:30 PDT on 31 October, then 23:30 PST on 1 November (25 hours apart).
        let other = app.student().await;
        set_timezone(&app, &other, "America/Los_Angeles").await;
        study_until(&app, &other, utc(2026, 11, 1, 6, 30), 30).await;
        study_until(&app, &other, utc(2026, 11, 2, 7, 30), 30).await;
        let s = streak(&app, &other).await;
        assert_eq!(s["current_streak"], 2);
        assert_eq!(s["last_study_date"], date(2026, 11, 1));
        // 23:59 PST on 2 November: alive but at risk; 00:00 on 3 November: broken.
        app.clock.set(utc(2026, 11, 3, 7, 59));
        let s = streak(&app, &other).await;
        assert_eq!(s["current_streak"], 2);
        assert_eq!(s["at_risk"], true);
        app.clock.set(utc(2026, 11, 3, 8, 0));
        let s = streak(&app, &other).await;
        assert_eq!(s["current_streak"], 0);
        assert_eq!(s["at_risk"], false);
    }
);

// ---------------------------------------------------------------- daily statistics

long_session_test!(
    daily_stats_bucket_minutes_and_xp_by_local_day_with_zeros_between,
    |app| {
        let user = app.student().await;
        set_timezone(&app, &user, "America/New_York").await; // −05:00 in early March
        // 23:00–23:30 local on 3 March ends at 04:30Z on 4 March.
        study_until(&app, &user, utc(2026, 3, 4, 4, 30), 30).await;
        // Two sessions of 90 s on 5 March: 180 s is 3 minutes (rounded per day, not per session).
        for hour in [11, 13] {
            app.clock.set(utc(2026, 3, 5, hour, 0));
            let s = start(&app, &user).await;
            app.clock.advance(Duration::seconds(90));
            assert_eq!(
                stop(&app, &user, s.body["id"].as_str().unwrap())
                    .await
                    .status,
                StatusCode::OK
            );
        }
        // Long before the window.
        study_until(&app, &user, utc(2026, 2, 20, 15, 0), 40).await;

        app.clock.set(utc(2026, 3, 5, 20, 0));
        let res = app.get("/me/stats?days=7", Some(&user.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["timezone"], "America/New_York");
        let days = res.body["days"].as_array().unwrap();
        let dates: Vec<_> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
        let expected: Vec<_> = (0..7)
            .map(|i| {
                (NaiveDate::from_ymd_opt(2026, 2, 27).unwrap() + Duration::days(i)).to_string()
            })
            .collect();
        assert_eq!(dates, expected);
        let by_date = |d: &str| days.iter().find(|e| e["date"] == d).unwrap().clone();
        assert_eq!(by_date(&date(2026, 3, 3))["study_minutes"], 30);
        assert_eq!(by_date(&date(2026, 3, 3))["xp"], 30);
        assert_eq!(by_date(&date(2026, 3, 4))["study_minutes"], 0);
        assert_eq!(by_date(&date(2026, 3, 4))["xp"], 0);
        assert_eq!(by_date(&date(2026, 3, 5))["study_minutes"], 3);
        assert_eq!(by_date(&date(2026, 3, 5))["xp"], 2);
        assert_eq!(by_date(&date(2026, 2, 27))["study_minutes"], 0);
        assert_eq!(res.body["totals"]["study_minutes"], 33);
        assert_eq!(res.body["totals"]["xp"], 32);

        // The default is 7 days; one day is just today.
        let default = app.get("/me/stats", Some(&user.access)).await;
        assert_eq!(default.body["days"].as_array().unwrap().len(), 7);
        let today = app.get("/me/stats?days=1", Some(&user.access)).await;
        assert_eq!(today.body["days"][0]["date"], date(2026, 3, 5));
        assert_eq!(today.body["days"][0]["study_minutes"], 3);
        let year = app.get("/me/stats?days=365", Some(&user.access)).await;
        assert_eq!(year.status, StatusCode::OK);
        assert_eq!(year.body["days"].as_array().unwrap().len(), 365);
        assert_eq!(year.body["totals"]["study_minutes"], 73);
    }
);

long_session_test!(daily_stats_follow_local_days_across_a_dst_change, |app| {
    let user = app.student().await;
    set_timezone(&app, &user, "America/Los_Angeles").await;
    // 23:30 PDT on 8 March (the 23-hour day) is 06:30Z on 9 March.
    study_until(&app, &user, utc(2026, 3, 9, 6, 30), 25).await;
    // 00:10 PST on 8 March, just after local midnight (08:10Z).
    study_until(&app, &user, utc(2026, 3, 8, 8, 10), 10).await;
    // 23:50 PST on 7 March (07:50Z on 8 March).
    study_until(&app, &user, utc(2026, 3, 8, 7, 50), 5).await;
    app.clock.set(utc(2026, 3, 9, 18, 0));
    let res = app.get("/me/stats?days=3", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let minutes: Vec<_> = res.body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_string(),
                d["study_minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        minutes,
        vec![
            (date(2026, 3, 7), 5),
            (date(2026, 3, 8), 35),
            (date(2026, 3, 9), 0)
        ]
    );
});

long_session_test!(stats_refuse_a_day_count_outside_1_to_365, |app| {
    let user = app.student().await;
    for bad in ["0", "366", "400", "-1", "seven"] {
        let res = app
            .get(&format!("/me/stats?days={bad}"), Some(&user.access))
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            res.text
        );
        assert!(res.is_problem(), "{bad}");
    }
    assert_eq!(
        app.get("/me/stats", None).await.status,
        StatusCode::UNAUTHORIZED
    );
});

long_session_test!(
    a_session_logged_for_earlier_while_the_timer_runs_is_written,
    |app| {
        let user = app.student().await;
        let running = start(&app, &user).await;
        assert_eq!(running.status, StatusCode::CREATED, "{}", running.text);
        let now = app.clock.now();
        let earlier = log_session(
            &app,
            &user,
            now - Duration::minutes(90),
            now - Duration::minutes(30),
        )
        .await;
        assert_eq!(earlier.status, StatusCode::CREATED, "{}", earlier.text);
        assert_eq!(earlier.body["xp_awarded"], 60);
        // The timer still runs, and stops as usual.
        app.clock.advance(Duration::minutes(5));
        let id = running.body["id"].as_str().unwrap().to_string();
        let stopped = stop(&app, &user, &id).await;
        assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
        assert_eq!(stopped.body["xp_awarded"], 5);
    }
);
