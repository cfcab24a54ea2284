//! What several instances behind a load balancer share (SPEC §1: no state only in one
//! process's memory). Each test starts a second instance — its own pool, state and HTTP
//! server — over the first one's database.

use reqwest::StatusCode;
use serde_json::json;
use studium::accounts::session_cache;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use studium::entity::xp_logs;

use crate::db_test;
use crate::gamification::{complete_lesson, topic_with_lessons};
use crate::helpers::*;

db_test!(
    rate_limits_count_attempts_made_on_every_instance,
    config = |c| {
        c.rate_limit_login_per_account = 3;
    },
    |app| {
        let user = app.student().await;
        let second = app.second_instance().await;
        let wrong = |instance: &TestApp| {
            let instance = instance.clone();
            let email = user.email.clone();
            async move { instance.login(&email, "wrong-password-again-1").await }
        };
        // Two failures on the first instance and one on the second use up the allowance…
        for instance in [&app, &app, &second.app] {
            assert_eq!(wrong(instance).await.status, StatusCode::UNAUTHORIZED);
        }
        // …so both refuse the next attempt, even with the right password.
        for instance in [&second.app, &app] {
            let refused = instance.login(&user.email, PASSWORD).await;
            assert_eq!(
                refused.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                refused.text
            );
            assert!(refused.is_problem());
            assert!(refused.headers.contains_key("retry-after"));
        }
    }
);

db_test!(
    logging_out_ends_the_token_here_at_once_and_on_other_instances,
    |app| {
        let user = app.student().await;
        let second = app.second_instance().await;
        // Both instances have checked the session (and may have cached it).
        for instance in [&app, &second.app] {
            let me = instance.get("/me", Some(&user.access)).await;
            assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        }
        let out = app
            .post("/auth/logout", Some(&user.access), json!({}))
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
        let here = app.get("/me", Some(&user.access)).await;
        assert_eq!(here.status, StatusCode::UNAUTHORIZED, "{}", here.text);
        assert!(here.is_problem());

        match app.backend {
            // PostgreSQL tells the other instance within milliseconds.
            Backend::Postgres => assert!(
                eventually(&second.app, "/me", &user.access, StatusCode::UNAUTHORIZED).await,
                "the other instance still accepts the token"
            ),
            // Two processes on one SQLite file cannot notify each other: the other one trusts what
            // it checked for at most the cache's lifetime.
            Backend::Sqlite => {
                app.clock
                    .advance(chrono::Duration::seconds(session_cache::TTL_SECS));
                let there = second.app.get("/me", Some(&user.access)).await;
                assert_eq!(there.status, StatusCode::UNAUTHORIZED, "{}", there.text);
            }
        }
    }
);

db_test!(role_changes_and_deactivation_reach_other_instances, |app| {
    let admin = app.admin().await;
    let user = app.student().await;
    let second = app.second_instance().await;
    let me = second.app.get("/me", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK);
    let path = format!("/admin/users/{}", user.id);
    let promoted = app
        .patch(&path, Some(&admin.access), json!({"role": "admin"}))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    // The new role holds at once here, and on the other instance once it has heard.
    let here = app.get("/admin/users", Some(&user.access)).await;
    assert_eq!(here.status, StatusCode::OK, "{}", here.text);
    if app.backend == Backend::Postgres {
        assert!(eventually(&second.app, "/admin/users", &user.access, StatusCode::OK).await);
    }
    let off = app
        .patch(&path, Some(&admin.access), json!({"is_active": false}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    let here = app.get("/me", Some(&user.access)).await;
    assert_eq!(here.status, StatusCode::UNAUTHORIZED);
    if app.backend == Backend::Postgres {
        assert!(eventually(&second.app, "/me", &user.access, StatusCode::UNAUTHORIZED).await);
    }
});

db_test!(
    get_me_shows_every_write_at_once_here_and_soon_on_other_instances,
    |app| {
        let admin = app.admin().await;
        let user = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 2).await;
        let second = app.second_instance().await;
        // Both instances have read (and remembered) the user's `GET /me`.
        for instance in [&app, &second.app] {
            assert_eq!(total_xp(instance, &user).await, 0);
        }
        // The writer's own instance shows its write at once…
        complete_lesson(&app, &user, topic.lessons[0]).await;
        assert_eq!(total_xp(&app, &user).await, 10);
        // …and the other one with its next poll of the change feed.
        assert!(eventually_xp(&second.app, &user, 10).await);
        // The same the other way round, for a profile change.
        let renamed = second
            .app
            .patch(
                "/me/profile",
                Some(&user.access),
                json!({"full_name": "Renamed Elsewhere"}),
            )
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        assert_eq!(renamed.body["profile"]["full_name"], "Renamed Elsewhere");
        let name_on = |instance: &TestApp| {
            let instance = instance.clone();
            let access = user.access.clone();
            async move {
                let me = instance.get("/me", Some(&access)).await;
                assert_eq!(me.status, StatusCode::OK, "{}", me.text);
                me.body["profile"]["full_name"].clone()
            }
        };
        assert_eq!(name_on(&second.app).await, "Renamed Elsewhere");
        let mut seen = false;
        for _ in 0..200 {
            if name_on(&app).await == "Renamed Elsewhere" {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(seen, "the other instance never showed the new name");
    }
);

db_test!(
    a_change_made_in_the_database_reaches_get_me_through_its_triggers,
    |app| {
        let user = app.student().await;
        assert!(cached_xp(&app, &user, 0).await, "GET /me was never cached");
        // An award written straight into the database, outside the application (an operator's
        // SQL, another tool): it announces nothing itself.
        let award = |xp: i32| xp_logs::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user.id.parse().expect("user id")),
            xp_amount: Set(xp),
            source_type: Set("lesson".into()),
            reference_id: Set(Some(uuid::Uuid::now_v7())),
            description: Set(None),
            created_at: Set(app.clock.now()),
        };
        award(25)
            .insert(app.state.db.write())
            .await
            .expect("inserting XP by hand");
        assert!(eventually_xp(&app, &user, 25).await);
        if app.backend == Backend::Sqlite {
            // A bulk change, too many rows for a poll to name one by one: the caches start
            // over, so the award made with it shows too.
            assert!(cached_xp(&app, &user, 25).await, "GET /me was never cached");
            let other = app.student().await;
            let txn = app.state.db.write().begin().await.expect("begin");
            award(3)
                .insert(&txn)
                .await
                .expect("an award in a bulk load");
            txn.execute_unprepared(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                 INSERT INTO me_changes (user_id) SELECT x'{}' FROM n",
                other.id.replace('-', "")
            ))
            .await
            .expect("a bulk load");
            txn.commit().await.expect("commit");
            assert!(eventually_xp(&app, &user, 28).await);
        }
        if app.backend == Backend::Postgres {
            // A transaction that polls see running, while later ones commit, is not missed
            // when it commits in its turn.
            let txn = app.state.db.write().begin().await.expect("begin");
            award(7).insert(&txn).await.expect("a slow award");
            app.student().await;
            let polls = app.state.changes.polls();
            while app.state.changes.polls() < polls + 3 {
                tokio::time::sleep(studium::changes::POLL_INTERVAL).await;
            }
            assert!(cached_xp(&app, &user, 25).await, "GET /me was never cached");
            txn.commit().await.expect("commit");
            assert!(eventually_xp(&app, &user, 32).await);

            // With the triggers switched off for one transaction, nothing announces the change:
            // the instance answers from what it read (no round trip) until the entry expires.
            let txn = app.state.db.write().begin().await.expect("begin");
            txn.execute_unprepared("SET LOCAL session_replication_role = replica")
                .await
                .expect("triggers off");
            award(5).insert(&txn).await.expect("a silent award");
            txn.commit().await.expect("commit");
            assert_eq!(total_xp(&app, &user).await, 32);
            app.clock
                .advance(chrono::Duration::seconds(studium::me::cache::TTL_SECS));
            assert_eq!(total_xp(&app, &user).await, 37);
        }
    }
);

db_test!(
    a_friends_board_shows_every_change_here_at_once_and_soon_on_other_instances,
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 1).await;
        let [a, b, c] = [
            app.student().await,
            app.student().await,
            app.student().await,
        ];
        crate::social::befriend(&app, &a, &b).await;
        let second = app.second_instance().await;
        // Both instances have read A's board and kept it.
        for instance in [&app, &second.app] {
            assert_eq!(board_xp(instance, &a, &b).await, Some(0));
            assert!(kept_board(instance, &a).await, "the board was never kept");
        }
        // B earns XP on the second instance: shown there at once, here after a poll.
        complete_lesson(&second.app, &b, topic.lessons[0]).await;
        assert_eq!(board_xp(&second.app, &a, &b).await, Some(10));
        // Here the feed marks B stale on A's kept board, and the next read patches B in: B is
        // now ahead, ranked again, and the patched board is kept.
        assert!(eventually_stale(&app, &a, &b).await, "B never marked stale");
        assert_eq!(board_xp(&app, &a, &b).await, Some(10));
        let res = friends_board(&app, &a).await;
        let ranks: Vec<_> = res.body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                (
                    e["user_id"].as_str().unwrap_or_default(),
                    e["rank"].as_i64(),
                )
            })
            .collect();
        assert_eq!(ranks, [(b.id.as_str(), Some(1)), (a.id.as_str(), Some(2))]);
        assert!(kept_board(&app, &a).await, "the patched board was not kept");
        // B's name changed straight in the database: both instances show it after a poll.
        app.state
            .db
            .write()
            .execute_unprepared(&format!(
                "UPDATE user_profiles SET full_name = 'Renamed By Hand' WHERE user_id = {}",
                match app.backend {
                    Backend::Postgres => format!("'{}'", b.id),
                    Backend::Sqlite => format!("x'{}'", b.id.replace('-', "")),
                }
            ))
            .await
            .expect("renaming by hand");
        for instance in [&app, &second.app] {
            assert!(
                eventually_board(instance, &a, |r| entry_of(r, &b)
                    .map(|e| e["full_name"] == "Renamed By Hand"))
                .await
            );
        }
        // C and A become friends here: C is on A's board here at once, there after a poll.
        crate::social::befriend(&app, &c, &a).await;
        assert_eq!(board_xp(&app, &a, &c).await, Some(0));
        assert!(eventually_board(&second.app, &a, |r| Some(entry_of(r, &c).is_some())).await);
        // B ends the friendship on the second instance: gone there at once, here after a poll.
        let res = second
            .app
            .delete(&format!("/friends/{}", a.id), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert_eq!(board_xp(&second.app, &a, &b).await, None);
        assert!(eventually_board(&app, &a, |r| Some(entry_of(r, &b).is_none())).await);
    }
);

const FRIENDS_BOARD: &str = "/leaderboards/weekly?scope=friends";

async fn friends_board(instance: &TestApp, user: &TestUser) -> Resp {
    let res = instance.get(FRIENDS_BOARD, Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res
}

fn entry_of<'r>(res: &'r Resp, user: &TestUser) -> Option<&'r serde_json::Value> {
    res.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["user_id"] == user.id.as_str())
}

/// `friend`'s XP on `user`'s friends board as `instance` answers it (`None`: not on it).
async fn board_xp(instance: &TestApp, user: &TestUser, friend: &TestUser) -> Option<i64> {
    let res = friends_board(instance, user).await;
    entry_of(&res, friend).map(|e| e["xp"].as_i64().expect("xp"))
}

/// Whether `instance` has kept `user`'s weekly friends board (reading it a few times: a change
/// elsewhere may keep a read from being kept).
async fn kept_board(instance: &TestApp, user: &TestUser) -> bool {
    let id = user.id.parse().expect("user id");
    let now = instance.clock.now();
    let start = studium::social::leaderboard::Period::Weekly.start(now);
    for _ in 0..100 {
        friends_board(instance, user).await;
        let boards = &instance.state.friend_boards;
        if matches!(
            boards.get(id, studium::social::leaderboard::Period::Weekly, start, now),
            Some(studium::social::boards::Cached::Fresh(_))
        ) {
            return true;
        }
    }
    false
}

/// Whether `instance`'s kept weekly friends board of `user` names `member` as stale (changed
/// since read) within two seconds.
async fn eventually_stale(instance: &TestApp, user: &TestUser, member: &TestUser) -> bool {
    let (id, member): (uuid::Uuid, uuid::Uuid) = (
        user.id.parse().expect("user id"),
        member.id.parse().expect("member id"),
    );
    for _ in 0..200 {
        let now = instance.clock.now();
        let start = studium::social::leaderboard::Period::Weekly.start(now);
        let board = instance.state.friend_boards.get(
            id,
            studium::social::leaderboard::Period::Weekly,
            start,
            now,
        );
        if let Some(studium::social::boards::Cached::Stale { members, .. }) = board
            && members.contains(&member)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Whether `instance` answers `user`'s friends board so that `shows` holds within two seconds.
async fn eventually_board(
    instance: &TestApp,
    user: &TestUser,
    shows: impl Fn(&Resp) -> Option<bool>,
) -> bool {
    for _ in 0..200 {
        if shows(&friends_board(instance, user).await) == Some(true) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

async fn total_xp(instance: &TestApp, user: &TestUser) -> i64 {
    let me = instance.get("/me", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    me.body["total_xp"].as_i64().expect("total_xp")
}

/// Whether `GET /me` shows `xp` and the instance has kept the row it read (trying a few times:
/// a change elsewhere may keep a read from being kept).
async fn cached_xp(app: &TestApp, user: &TestUser, xp: i64) -> bool {
    let id = user.id.parse().expect("user id");
    for _ in 0..100 {
        assert_eq!(total_xp(app, user).await, xp);
        if app.state.me.get(id, app.clock.now()).is_some() {
            return true;
        }
    }
    false
}

/// Whether `instance`'s `GET /me` shows `xp` within two seconds (polling it).
async fn eventually_xp(instance: &TestApp, user: &TestUser, xp: i64) -> bool {
    for _ in 0..200 {
        if total_xp(instance, user).await == xp {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Whether `instance` answers `GET path` with `status` within two seconds (polling it).
async fn eventually(instance: &TestApp, path: &str, access: &str, status: StatusCode) -> bool {
    for _ in 0..200 {
        if instance.get(path, Some(access)).await.status == status {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
