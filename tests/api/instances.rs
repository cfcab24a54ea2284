//! What several instances behind a load balancer share (SPEC §1: no state only in one
//! process's memory). Each test starts a second instance — its own pool, state and HTTP
//! server — over the first one's database.

use reqwest::StatusCode;
use serde_json::json;
use studium::accounts::session_cache;

use crate::db_test;
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
