//! Friends and leaderboards (SPEC §3 Friends, Leaderboards; §4 social).

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use studium::entity::{friends, user_achievements};
use uuid::Uuid;

use crate::db_test;
use crate::gamification::{create_achievement, uid};
use crate::helpers::*;

async fn named(app: &TestApp, name: &str) -> TestUser {
    let email = app.unique_email("friend");
    let res = app.register_as(&email, PASSWORD, name).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    user_from(&res, &email)
}

async fn ask(app: &TestApp, from: &TestUser, to: &TestUser) -> Resp {
    app.post(
        "/friends/requests",
        Some(&from.access),
        json!({"addressee_id": to.id}),
    )
    .await
}

/// Makes `a` and `b` friends through the API.
pub async fn befriend(app: &TestApp, a: &TestUser, b: &TestUser) {
    let res = ask(app, a, b).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let id = res.body["id"].as_str().expect("id").to_string();
    let res = app
        .post(
            &format!("/friends/requests/{id}/accept"),
            Some(&b.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

async fn pair_rows(app: &TestApp, a: &TestUser, b: &TestUser) -> Vec<friends::Model> {
    friends::Entity::find()
        .filter(friends::Column::RequesterId.is_in([uid(a), uid(b)]))
        .filter(friends::Column::AddresseeId.is_in([uid(a), uid(b)]))
        .all(app.state.db.read())
        .await
        .expect("friends rows")
}

async fn friend_ids(app: &TestApp, user: &TestUser) -> Vec<String> {
    let res = app.get("/friends", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| f["user_id"].as_str().expect("user_id").to_string())
        .collect()
}

db_test!(
    requests_crossing_at_the_same_moment_make_one_accepted_friendship,
    |app| {
        for _ in 0..5 {
            let a = app.student().await;
            let b = app.student().await;
            let (ab, ba) = tokio::join!(ask(&app, &a, &b), ask(&app, &b, &a));
            let mut statuses = [ab.status, ba.status];
            statuses.sort();
            // One request was created, the other found it and accepted it.
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::CREATED],
                "{} / {}",
                ab.text,
                ba.text
            );
            let rows = pair_rows(&app, &a, &b).await;
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0].status, "accepted");
            assert_eq!(friend_ids(&app, &a).await, vec![b.id.clone()]);
            assert_eq!(friend_ids(&app, &b).await, vec![a.id.clone()]);
        }
    }
);

db_test!(a_request_to_someone_who_asked_me_accepts_theirs, |app| {
    let a = app.student().await;
    let b = app.student().await;
    let first = ask(&app, &a, &b).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.body["status"], "pending");
    let again = ask(&app, &a, &b).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.problem_slug(), "request-exists");
    let back = ask(&app, &b, &a).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body["status"], "accepted");
    assert_eq!(back.body["id"], first.body["id"]);
    assert_eq!(pair_rows(&app, &a, &b).await.len(), 1);
    let third = ask(&app, &b, &a).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert_eq!(third.problem_slug(), "already-friends");
});

db_test!(
    only_the_addressee_accepts_and_the_requester_cancels,
    |app| {
        let a = app.student().await;
        let b = app.student().await;
        let stranger = app.student().await;
        let req = ask(&app, &a, &b).await;
        let id = req.body["id"].as_str().expect("id").to_string();

        // Listed on both sides, with the other user's name only.
        let incoming = app
            .get("/friends/requests?direction=incoming", Some(&b.access))
            .await;
        assert_eq!(
            incoming.body["items"][0]["id"],
            id.as_str(),
            "{}",
            incoming.text
        );
        assert_eq!(incoming.body["items"][0]["other_user"]["id"], a.id.as_str());
        assert!(
            incoming.body["items"][0]["other_user"]
                .get("email")
                .is_none()
        );
        let outgoing = app
            .get("/friends/requests?direction=outgoing", Some(&a.access))
            .await;
        assert_eq!(outgoing.body["items"][0]["id"], id.as_str());
        let none = app
            .get("/friends/requests?direction=outgoing", Some(&b.access))
            .await;
        assert_eq!(none.body["items"], json!([]));
        let bad = app
            .get("/friends/requests?direction=sideways", Some(&b.access))
            .await;
        assert!(
            bad.status.is_client_error() && bad.is_problem(),
            "{}",
            bad.text
        );

        // The requester cannot accept; a stranger sees nothing.
        let accept = format!("/friends/requests/{id}/accept");
        let res = app.post(&accept, Some(&a.access), json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        let res = app.post(&accept, Some(&stranger.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&stranger.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        let res = app
            .post(
                &format!("/friends/requests/{}/accept", Uuid::now_v7()),
                Some(&b.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        assert_eq!(pair_rows(&app, &a, &b).await[0].status, "pending");

        // The requester cancels: gone for both; accepting it now is 404.
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&a.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        let res = app.post(&accept, Some(&b.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        assert!(pair_rows(&app, &a, &b).await.is_empty());

        // The addressee declines a new one.
        let req = ask(&app, &a, &b).await;
        let id = req.body["id"].as_str().expect("id").to_string();
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(pair_rows(&app, &a, &b).await.is_empty());

        // Accepted: both list each other, and either may unfriend; a friendship is no request.
        befriend(&app, &a, &b).await;
        let friends = app.get("/friends", Some(&a.access)).await;
        let f = &friends.body["items"][0];
        assert_eq!(f["user_id"], b.id.as_str(), "{}", friends.text);
        assert_eq!(f["full_name"], "Ada Student");
        assert_eq!(f["total_xp"], 0);
        assert_eq!(f["level"], 1);
        assert_eq!(f["current_streak"], 0);
        let id = pair_rows(&app, &a, &b).await[0].id;
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&a.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&stranger.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(friend_ids(&app, &a).await.is_empty());
        assert!(friend_ids(&app, &b).await.is_empty());
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
);

db_test!(bad_friend_requests_change_nothing, |app| {
    let a = app.student().await;
    let b = app.student().await;
    let cases = [
        json!({"addressee_id": a.id}),
        json!({}),
        json!({"addressee_id": b.id, "email": b.email}),
        json!({"addressee_id": "not-a-uuid"}),
        json!({"addressee_id": b.id, "extra": 1}),
    ];
    for body in cases {
        let res = app
            .post("/friends/requests", Some(&a.access), body.clone())
            .await;
        assert!(
            res.status.is_client_error() && res.is_problem(),
            "{body}: {}",
            res.text
        );
    }
    let res = app
        .post(
            "/friends/requests",
            Some(&a.access),
            json!({"addressee_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .post("/friends/requests", None, json!({"addressee_id": b.id}))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(pair_rows(&app, &a, &b).await.is_empty());
    // By exact email (any case) it works.
    let res = app
        .post(
            "/friends/requests",
            Some(&a.access),
            json!({"email": b.email.to_uppercase()}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(res.body["addressee_id"], b.id.as_str());
});

db_test!(
    user_search_reveals_ids_and_names_of_active_users_only,
    |app| {
        let admin = app.admin().await;
        let me = app.student().await;
        let tag = &Uuid::now_v7().simple().to_string()[24..];
        let grace = named(&app, &format!("Grace{tag} Hopper")).await;
        let _gracie = named(&app, &format!("Grace{tag}ful Percent")).await;
        let gone = named(&app, &format!("Grace{tag} Gone")).await;
        let res = app
            .patch(
                &format!("/admin/users/{}", gone.id),
                Some(&admin.access),
                json!({"is_active": false}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);

        let res = app
            .get(&format!("/users/search?q=grace{tag}"), Some(&me.access))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let items = res.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{}", res.text);
        for item in items {
            let keys: Vec<&String> = item.as_object().expect("object").keys().collect();
            assert_eq!(keys, ["full_name", "id"]);
            assert_ne!(item["id"], gone.id.as_str());
        }
        // A name in the middle does not match; wildcards are literal.
        let res = app.get("/users/search?q=hopper", Some(&me.access)).await;
        assert!(
            res.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|i| i["id"] != grace.id.as_str())
        );
        let res = app.get("/users/search?q=%25%25", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["items"], json!([]));
        // An exact email finds its user; a part of one does not; an inactive user never shows.
        let res = app
            .get(
                &format!("/users/search?q={}", grace.email),
                Some(&me.access),
            )
            .await;
        assert_eq!(
            res.body["items"][0]["id"],
            grace.id.as_str(),
            "{}",
            res.text
        );
        let res = app
            .get(
                &format!("/users/search?q={}", &grace.email[..10]),
                Some(&me.access),
            )
            .await;
        assert_eq!(res.body["items"], json!([]));
        let res = app
            .get(&format!("/users/search?q={}", gone.email), Some(&me.access))
            .await;
        assert_eq!(res.body["items"], json!([]));
        // An inactive user cannot be asked either.
        let res = ask(&app, &me, &gone).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app.get("/users/search?q=a", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert!(res.is_problem());
    }
);

db_test!(
    user_search_and_friend_requests_are_rate_limited,
    config = |c| {
        c.rate_limit_user_search_per_user = 3;
        c.rate_limit_friend_requests_per_user = 2;
    },
    |app| {
        let me = app.student().await;
        for _ in 0..3 {
            let res = app.get("/users/search?q=ada", Some(&me.access)).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        }
        let res = app.get("/users/search?q=ada", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.text);
        assert!(res.headers.get("retry-after").is_some());
        // Another user has their own allowance.
        let other = app.student().await;
        let res = app.get("/users/search?q=ada", Some(&other.access)).await;
        assert_eq!(res.status, StatusCode::OK);

        for _ in 0..2 {
            let to = app.student().await;
            assert_eq!(ask(&app, &me, &to).await.status, StatusCode::CREATED);
        }
        let to = app.student().await;
        let res = ask(&app, &me, &to).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(pair_rows(&app, &me, &to).await.is_empty());
    }
);

db_test!(
    accepting_a_friend_fires_friends_achievements_for_both,
    |app| {
        let admin = app.admin().await;
        let achievement = create_achievement(&app, &admin, "friends", 1, 0).await;
        let a = app.student().await;
        let b = app.student().await;
        befriend(&app, &a, &b).await;
        for user in [&a, &b] {
            let unlocked = user_achievements::Entity::find()
                .filter(user_achievements::Column::UserId.eq(uid(user)))
                .filter(user_achievements::Column::AchievementId.eq(achievement))
                .count(app.state.db.read())
                .await
                .expect("count");
            assert_eq!(unlocked, 1);
        }
    }
);

// ---------------------------------------------------------------------------------------------
// Leaderboards

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::ActiveModelTrait;
use sea_orm::ActiveValue::Set;
use studium::entity::{leaderboard_cache, user_profiles, users};
use studium::gamification::xp::{self, XpSource};
use studium::jobs::Enqueued;
use studium::social::leaderboard::{self, Period};

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s)
        .single()
        .expect("time")
}

/// Awards `amount` XP to `user` at the app's clock, as every event does, outside any request
/// (as a job would), and waits until the change feed has told the instance.
async fn award_xp(app: &TestApp, user: Uuid, amount: i32) {
    let got = xp::award(
        app.state.db.write(),
        user,
        XpSource::Doubt,
        Uuid::now_v7(),
        amount,
        "test award",
        app.clock.now(),
    )
    .await
    .expect("award");
    assert_eq!(got, amount);
    app.feed_told().await;
}

/// A user written straight to the tables (registering a hundred through the API would hash a
/// hundred passwords); they only need to exist to hold XP.
async fn bare_user(app: &TestApp, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let now = app.clock.now();
    users::ActiveModel {
        id: Set(id),
        email: Set(app.unique_email("bare")),
        password_hash: Set(None),
        role: Set("student".into()),
        is_active: Set(true),
        auth_provider: Set("email".into()),
        is_verified: Set(true),
        google_id: Set(None),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("user");
    user_profiles::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(id),
        full_name: Set(name.into()),
        avatar_url: Set(None),
        bio: Set(None),
        grade_level: Set(None),
        school: Set(None),
        learning_goals: Set(None),
        preferred_subjects: Set(None),
        daily_goal_minutes: Set(30),
        timezone: Set("UTC".into()),
        primary_goal: Set(None),
        study_preference: Set(None),
        onboarding_completed: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("profile");
    id
}

async fn board(app: &TestApp, user: &TestUser, path: &str) -> Resp {
    let res = app.get(path, Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res
}

/// The weekly global board as `user` reads it once `shows` holds of it; fails after five times
/// [`leaderboard::TOP_CONFIRMED_FOR`] (a margin for a loaded machine).
async fn board_showing(app: &TestApp, user: &TestUser, shows: impl Fn(&Resp) -> bool) -> Resp {
    let deadline = std::time::Instant::now() + 5 * leaderboard::TOP_CONFIRMED_FOR;
    loop {
        let read = board(app, user, "/leaderboards/weekly").await;
        if shows(&read) {
            return read;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never shown: {}",
            read.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn lines(res: &Resp) -> Vec<(i64, String, i64)> {
    res.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["rank"].as_i64().expect("rank"),
                e["user_id"].as_str().expect("user_id").to_string(),
                e["xp"].as_i64().expect("xp"),
            )
        })
        .collect()
}

db_test!(
    weekly_and_monthly_periods_turn_over_at_midnight_utc,
    // The clock moves over two days; the tokens issued at the start stay valid.
    config = |c| {
        c.access_token_ttl_secs = 7 * 24 * 3600;
    },
    |app| {
        // Sunday 29 November 2026, last second: A's XP is last week's, and November's.
        app.set_time(at(2026, 11, 29, 23, 59, 59));
        let a = app.student().await;
        let b = app.student().await;
        award_xp(&app, uid(&a), 50).await;
        app.set_time(at(2026, 11, 30, 0, 0, 0));
        award_xp(&app, uid(&b), 20).await;

        let week = board(&app, &a, "/leaderboards/weekly").await;
        assert_eq!(week.body["period_start"], "2026-11-30");
        assert_eq!(lines(&week), vec![(1, b.id.clone(), 20)]);
        assert_eq!(week.body["me"]["xp"], 0);
        assert_eq!(week.body["me"]["rank"], 2);
        let month = board(&app, &a, "/leaderboards/monthly").await;
        assert_eq!(month.body["period_start"], "2026-11-01");
        assert_eq!(
            lines(&month),
            vec![(1, a.id.clone(), 50), (2, b.id.clone(), 20)]
        );

        app.set_time(at(2026, 11, 29, 23, 59, 59));
        let last_week = board(&app, &b, "/leaderboards/weekly").await;
        assert_eq!(last_week.body["period_start"], "2026-11-23");
        assert_eq!(lines(&last_week), vec![(1, a.id.clone(), 50)]);

        // The last second of November against the first of December.
        app.set_time(at(2026, 11, 30, 23, 59, 59));
        award_xp(&app, uid(&a), 5).await;
        app.set_time(at(2026, 12, 1, 0, 0, 0));
        award_xp(&app, uid(&b), 7).await;
        let december = board(&app, &a, "/leaderboards/monthly").await;
        assert_eq!(december.body["period_start"], "2026-12-01");
        assert_eq!(lines(&december), vec![(1, b.id.clone(), 7)]);
        // Tuesday 1 December is still the week of Monday 30 November.
        let week = board(&app, &a, "/leaderboards/weekly?scope=friends").await;
        assert_eq!(week.body["period_start"], "2026-11-30");
        assert_eq!(week.body["me"]["xp"], 5);
        app.set_time(at(2026, 11, 30, 23, 59, 59));
        leaderboard::refresh_all(&app.state).await.expect("refresh");
        let november = board(&app, &a, "/leaderboards/monthly").await;
        assert_eq!(
            lines(&november),
            vec![(1, a.id.clone(), 55), (2, b.id.clone(), 20)]
        );
        assert_eq!(november.body["me"]["rank"], 1);

        let bad = app.get("/leaderboards/yearly", Some(&a.access)).await;
        assert!(
            bad.status.is_client_error() && bad.is_problem(),
            "{}",
            bad.text
        );
        let bad = app
            .get("/leaderboards/weekly?scope=everyone", Some(&a.access))
            .await;
        assert!(
            bad.status.is_client_error() && bad.is_problem(),
            "{}",
            bad.text
        );
        let anon = app.get("/leaderboards/weekly", None).await;
        assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    }
);

db_test!(a_deleted_account_no_longer_counts_above_anyone, |app| {
    app.set_time(at(2026, 11, 25, 12, 0, 0));
    let me = app.student().await;
    let leaver = app.student().await;
    award_xp(&app, uid(&me), 50).await;
    award_xp(&app, uid(&leaver), 70).await;
    for path in ["/leaderboards/weekly", "/leaderboards/monthly"] {
        assert_eq!(board(&app, &me, path).await.body["me"]["rank"], 2);
    }
    let gone = app.delete("/me", Some(&leaver.access)).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    for path in ["/leaderboards/weekly", "/leaderboards/monthly"] {
        let res = board(&app, &me, path).await;
        assert_eq!(res.body["me"]["rank"], 1, "{}", res.text);
        assert_eq!(res.body["me"]["xp"], 50);
    }
    // The counts hold exactly the remaining user, in both periods.
    for (table, column) in [
        ("leaderboard_xp_counts", "xp"),
        ("leaderboard_xp_buckets", "bucket"),
    ] {
        use sea_orm::ConnectionTrait;
        let db = app.state.db.read();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT CAST(SUM(users) AS BIGINT) FROM {table} WHERE {column} >= 0"),
            ))
            .await
            .expect("counts")
            .expect("a row");
        let users: i64 = row.try_get_by_index(0).expect("sum");
        assert_eq!(users, 2, "{table}: one user in each of two periods");
    }
});

db_test!(
    ties_share_a_rank_and_my_rank_shows_outside_the_top_100,
    |app| {
        app.set_time(at(2026, 11, 25, 12, 0, 0));
        let me = app.student().await;
        let mut others = Vec::new();
        for i in 0..101 {
            let id = bare_user(&app, &format!("Racer {i:03}")).await;
            // Two at the top tie; everyone else has 100 + i XP.
            let amount = if i < 2 { 1000 } else { 100 + i };
            award_xp(&app, id, amount).await;
            others.push(id);
        }
        award_xp(&app, uid(&me), 50).await;
        let res = board(&app, &me, "/leaderboards/weekly").await;
        let entries = lines(&res);
        assert_eq!(entries.len(), 100);
        assert_eq!(entries[0].0, 1);
        assert_eq!(entries[1].0, 1);
        assert_eq!(entries[2].0, 3);
        assert_eq!(entries[2].2, 200);
        assert!(entries.iter().all(|e| e.1 != me.id));
        assert_eq!(res.body["me"]["rank"], 102);
        assert_eq!(res.body["me"]["xp"], 50);
        assert_eq!(res.body["me"]["user_id"], me.id.as_str());

        // 100 more XP, 150 in all, ties me with "Racer 050" (100 + 50): ahead of us are the two
        // at 1000 and racers 051 to 100, so we share rank 53.
        award_xp(&app, uid(&me), 100).await;
        let res = board(&app, &me, "/leaderboards/weekly?scope=global").await;
        assert_eq!(res.body["me"]["xp"], 150);
        assert_eq!(res.body["me"]["rank"], 53);
        leaderboard::refresh_all(&app.state).await.expect("refresh");
        let res = board(&app, &me, "/leaderboards/weekly").await;
        let entries = lines(&res);
        let me_line = entries
            .iter()
            .find(|e| e.1 == me.id)
            .expect("me in the top 100");
        let racer = entries
            .iter()
            .find(|e| e.1 == others[50].to_string())
            .expect("racer 050");
        assert_eq!((me_line.0, me_line.2), (53, 150));
        assert_eq!((racer.0, racer.2), (53, 150));
        assert_eq!(entries[54].0, 55);
    }
);

db_test!(the_friends_board_never_shows_a_non_friend, |app| {
    app.set_time(at(2026, 11, 25, 12, 0, 0));
    let a = app.student().await;
    let b = app.student().await;
    let c = app.student().await;
    let pending = app.student().await;
    befriend(&app, &a, &b).await;
    assert_eq!(ask(&app, &pending, &a).await.status, StatusCode::CREATED);
    award_xp(&app, uid(&a), 30).await;
    award_xp(&app, uid(&b), 30).await;
    award_xp(&app, uid(&c), 500).await;
    award_xp(&app, uid(&pending), 400).await;

    let res = board(&app, &a, "/leaderboards/weekly?scope=friends").await;
    let mut got = lines(&res);
    got.sort();
    let mut expected = vec![(1, a.id.clone(), 30), (1, b.id.clone(), 30)];
    expected.sort();
    assert_eq!(got, expected, "{}", res.text);
    assert_eq!(res.body["me"]["rank"], 1);
    let res = board(&app, &c, "/leaderboards/monthly?scope=friends").await;
    assert_eq!(lines(&res), vec![(1, c.id.clone(), 500)]);
    // From the other side of the friendship, the same two.
    let res = board(&app, &b, "/leaderboards/weekly?scope=friends").await;
    let mut got = lines(&res);
    got.sort();
    assert_eq!(got, expected, "{}", res.text);
    // A friend without XP this period comes last, with 0 and their name.
    let d = app.student().await;
    befriend(&app, &d, &a).await;
    let res = board(&app, &a, "/leaderboards/weekly?scope=friends").await;
    assert_eq!(lines(&res).len(), 3, "{}", res.text);
    assert_eq!(lines(&res)[2], (3, d.id.clone(), 0));
    assert_eq!(res.body["entries"][2]["full_name"], "Ada Student");
    let res = board(&app, &d, "/leaderboards/weekly?scope=friends").await;
    assert_eq!(res.body["me"]["rank"], 2, "{}", res.text);
    assert_eq!(res.body["me"]["xp"], 0);
    assert_eq!(res.body["me"]["full_name"], "Ada Student");
    // Unfriended, gone from the board.
    let res = app
        .delete(&format!("/friends/{}", b.id), Some(&a.access))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let res = board(&app, &a, "/leaderboards/weekly?scope=friends").await;
    assert_eq!(
        lines(&res),
        vec![(1, a.id.clone(), 30), (2, d.id.clone(), 0)]
    );
    // Globally, everyone with XP; A and B tie behind C and the pending requester.
    let res = board(&app, &a, "/leaderboards/weekly").await;
    assert_eq!(lines(&res).len(), 4);
    assert_eq!(res.body["me"]["rank"], 3);
});

db_test!(
    the_refresh_job_runs_once_per_interval_and_the_cache_says_how_fresh_it_is,
    |app| {
        let t0 = at(2026, 11, 25, 12, 0, 0);
        app.set_time(t0);
        let a = app.student().await;
        award_xp(&app, uid(&a), 10).await;
        // The first read fills the cache.
        let first = board(&app, &a, "/leaderboards/weekly").await;
        assert_eq!(lines(&first), vec![(1, a.id.clone(), 10)]);
        let generated: DateTime<Utc> = first.body["generated_at"]
            .as_str()
            .expect("generated_at")
            .parse()
            .expect("time");
        assert_eq!(generated, t0);

        // Later XP shows in my own line as soon as the instance knows of it (at once for a
        // request's award, within a poll for an award made elsewhere), in the global top after
        // the refresh.
        app.set_time(at(2026, 11, 25, 12, 1, 0));
        award_xp(&app, uid(&a), 5).await;
        let stale = board(&app, &a, "/leaderboards/weekly").await;
        assert_eq!(lines(&stale), vec![(1, a.id.clone(), 10)]);
        assert_eq!(stale.body["me"]["xp"], 15);

        let every = std::time::Duration::from_secs(300);
        let queued = leaderboard::queue_refresh(&app.state, every)
            .await
            .expect("queue");
        assert!(matches!(queued, Enqueued::Queued(_)));
        let second_instance = app.second_instance().await;
        let again = leaderboard::queue_refresh(&second_instance.app.state, every)
            .await
            .expect("queue");
        assert_eq!(again, Enqueued::Duplicate);
        // The background worker runs it.
        let mut fresh = None;
        for _ in 0..200 {
            let row = leaderboard_cache::Entity::find()
                .filter(leaderboard_cache::Column::PeriodType.eq("weekly"))
                .one(app.state.db.read())
                .await
                .expect("cache");
            if let Some(row) = row
                && row.generated_at > t0
            {
                fresh = Some(row);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let fresh = fresh.expect("the refresh job ran");
        assert_eq!(fresh.generated_at, at(2026, 11, 25, 12, 1, 0));
        // Either instance's worker may have run it: this one shows it at once if it did, else
        // within `TOP_CONFIRMED_FOR`.
        let read = board_showing(&app, &a, |read| {
            read.body["generated_at"] == json!(fresh.generated_at)
        })
        .await;
        assert_eq!(lines(&read), vec![(1, a.id.clone(), 15)]);
        // Each instance keeps its parsed copy of the top by the cache row's version, not by its
        // time: a refresh in the same instant (the clock stands still here), made by the other
        // instance, still shows here.
        award_xp(&app, uid(&a), 5).await;
        leaderboard::refresh(
            second_instance.app.state.db.write(),
            Period::Weekly,
            app.state.clock.now(),
        )
        .await
        .expect("refresh");
        let same_instant = board_showing(&app, &a, |read| lines(read)[0].2 == 20).await;
        assert_eq!(lines(&same_instant), vec![(1, a.id.clone(), 20)]);
        assert_eq!(same_instant.body["generated_at"], json!(fresh.generated_at));
        // One cache row per period, however often refreshed.
        let rows = leaderboard_cache::Entity::find()
            .filter(leaderboard_cache::Column::PeriodType.eq("weekly"))
            .count(app.state.db.read())
            .await
            .expect("count");
        assert_eq!(rows, 1);
    }
);

db_test!(lesson_xp_reaches_the_leaderboard, |app| {
    let admin = app.admin().await;
    let a = app.student().await;
    let topic = crate::gamification::topic_with_lessons(&app, &admin, 1).await;
    crate::gamification::complete_lesson(&app, &a, topic.lessons[0]).await;
    let res = board(&app, &a, "/leaderboards/weekly?scope=friends").await;
    assert_eq!(res.body["me"]["xp"], 10, "{}", res.text);
});

db_test!(
    ranks_stay_right_after_many_concurrent_awards_across_xp_buckets,
    |app| {
        use std::collections::BTreeMap;
        use studium::entity::{leaderboard_xp_buckets, leaderboard_xp_counts};
        use studium::social::leaderboard::XP_BUCKET_WIDTH;

        app.set_time(at(2026, 11, 25, 12, 0, 0));
        // Three who read their rank through the API, among thirty.
        let readers = [
            app.student().await,
            app.student().await,
            app.student().await,
        ];
        let mut field: Vec<Uuid> = readers.iter().map(uid).collect();
        for i in 0..27 {
            field.push(bare_user(&app, &format!("Climber {i:02}")).await);
        }
        // Amounts around the bucket width, so awards land inside a bucket, on its edges and
        // across one or two; every round's awards run at once.
        let amounts = [1, 5, 13, 31, 50, 63, 64, 65, 97, 130];
        let mut totals: BTreeMap<Uuid, i64> = field.iter().map(|id| (*id, 0)).collect();
        for round in 0..8 {
            let awards: Vec<(Uuid, i32)> = field
                .iter()
                .enumerate()
                .map(|(i, id)| (*id, amounts[(i * 7 + round * 3) % amounts.len()]))
                .collect();
            futures::future::join_all(
                awards
                    .iter()
                    .map(|(id, amount)| award_xp(&app, *id, *amount)),
            )
            .await;
            for (id, amount) in &awards {
                *totals.get_mut(id).expect("in the field") += i64::from(*amount);
            }

            for reader in &readers {
                let mine = totals[&uid(reader)];
                let above = totals.values().filter(|xp| **xp > mine).count() as i64;
                for path in ["/leaderboards/weekly", "/leaderboards/monthly"] {
                    let res = board(&app, reader, path).await;
                    assert_eq!(res.body["me"]["xp"], mine, "round {round}: {}", res.text);
                    assert_eq!(
                        res.body["me"]["rank"],
                        above + 1,
                        "round {round}, {path}: {}",
                        res.text
                    );
                }
            }
            // Both tables hold exactly the users of each XP value and of each bucket.
            let week = Period::Weekly.start(app.clock.now());
            let counts: BTreeMap<i64, i64> = leaderboard_xp_counts::Entity::find()
                .filter(leaderboard_xp_counts::Column::PeriodType.eq("weekly"))
                .filter(leaderboard_xp_counts::Column::PeriodStart.eq(week))
                .all(app.state.db.read())
                .await
                .expect("counts")
                .into_iter()
                .filter(|c| c.users != 0)
                .map(|c| (c.xp, c.users))
                .collect();
            let buckets: BTreeMap<i64, i64> = leaderboard_xp_buckets::Entity::find()
                .filter(leaderboard_xp_buckets::Column::PeriodType.eq("weekly"))
                .filter(leaderboard_xp_buckets::Column::PeriodStart.eq(week))
                .all(app.state.db.read())
                .await
                .expect("buckets")
                .into_iter()
                .filter(|b| b.users != 0)
                .map(|b| (b.bucket, b.users))
                .collect();
            let mut want_counts = BTreeMap::new();
            let mut want_buckets = BTreeMap::new();
            for xp in totals.values() {
                *want_counts.entry(*xp).or_insert(0) += 1;
                *want_buckets.entry(*xp / XP_BUCKET_WIDTH).or_insert(0) += 1;
            }
            assert_eq!(counts, want_counts, "round {round}");
            assert_eq!(buckets, want_buckets, "round {round}");
        }
    }
);

db_test!(
    the_global_board_answers_from_memory_and_sees_every_change,
    |app| {
        app.set_time(at(2026, 11, 25, 12, 0, 0));
        let week = Period::Weekly.start(app.clock.now());
        let admin = app.admin().await;
        let me = named(&app, "Me Before").await;
        let rival = named(&app, "Rival").await;
        award_xp(&app, uid(&me), 50).await;
        award_xp(&app, uid(&rival), 45).await;
        let rank = |res: &Resp| (res.body["me"]["rank"].clone(), res.body["me"]["xp"].clone());

        // The first read asks the database and has the period read into memory in the
        // background; soon reads are answered from it.
        let kept = from_memory(&app, &me, week).await;
        assert_eq!((kept.xp, kept.above), (50, 0));

        // A request's XP counts at once: the rival completes a lesson here (10 XP, 55 in all).
        let topic = crate::gamification::topic_with_lessons(&app, &admin, 1).await;
        crate::gamification::complete_lesson(&app, &rival, topic.lessons[0]).await;
        assert_eq!(
            app.state.standings.mine(Period::Weekly, week, uid(&me)),
            None
        );
        let res = board(&app, &me, "/leaderboards/weekly").await;
        assert_eq!(rank(&res), (json!(2), json!(50)));
        let kept = from_memory(&app, &me, week).await;
        assert_eq!((kept.xp, kept.above), (50, 1));

        // My own rename shows in my line at once.
        let renamed = app
            .patch(
                "/me/profile",
                Some(&me.access),
                json!({"full_name": "Me After"}),
            )
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        let res = board(&app, &me, "/leaderboards/weekly").await;
        assert_eq!(res.body["me"]["full_name"], "Me After");
        // Too many stale users to read one by one (a bulk change): everything kept is read
        // again, my name included.
        let renamed = app
            .patch(
                "/me/profile",
                Some(&me.access),
                json!({"full_name": "Me Again"}),
            )
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        app.feed_told().await;
        for _ in 0..1_001 {
            app.state.standings.member_changed(Uuid::now_v7());
        }
        from_memory(&app, &me, week).await;
        let res = board(&app, &me, "/leaderboards/weekly").await;
        assert_eq!(res.body["me"]["full_name"], "Me Again");

        // XP earned through another instance reaches this one with the feed, and this one's
        // requests reach the other the same way.
        let other = app.second_instance().await;
        let res = board(&other.app, &me, "/leaderboards/weekly").await;
        assert_eq!(rank(&res), (json!(2), json!(50)));
        crate::gamification::complete_lesson(&other.app, &me, topic.lessons[0]).await;
        app.feed_told().await;
        let res = board(&app, &me, "/leaderboards/weekly").await;
        assert_eq!(rank(&res), (json!(1), json!(60)));
        let res = board(&app, &rival, "/leaderboards/weekly").await;
        assert_eq!(rank(&res), (json!(2), json!(55)));
        award_xp(&app, uid(&rival), 5).await;
        other.app.feed_told().await;
        for (instance, user) in [(&app, &me), (&other.app, &me), (&app, &rival)] {
            let res = board(instance, user, "/leaderboards/weekly").await;
            assert_eq!(res.body["me"]["rank"], 1, "{}", res.text);
        }
        // An account gone no longer counts above anyone, here or there.
        let gone = other.app.delete("/me", Some(&rival.access)).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
        app.feed_told().await;
        let res = board(&app, &me, "/leaderboards/weekly").await;
        assert_eq!(rank(&res), (json!(1), json!(60)));
        let kept = from_memory(&app, &me, week).await;
        assert_eq!((kept.xp, kept.above), (60, 0));
    }
);

/// My weekly line as this instance keeps it in memory, once it does (reads the board until
/// then: a read brings the memory up to date), checked against what the board shows.
async fn from_memory(
    app: &TestApp,
    user: &TestUser,
    week: chrono::NaiveDate,
) -> studium::social::standings::Mine {
    for _ in 0..500 {
        let res = board(app, user, "/leaderboards/weekly").await;
        if let Some(mine) = app.state.standings.mine(Period::Weekly, week, uid(user)) {
            assert_eq!(res.body["me"]["xp"], mine.xp, "{}", res.text);
            assert_eq!(res.body["me"]["rank"], mine.above + 1, "{}", res.text);
            return mine;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the period was never kept in memory");
}
