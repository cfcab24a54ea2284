//! What several instances behind a load balancer share (SPEC §1: no state only in one
//! process's memory). Each test starts a second instance — its own pool, state and HTTP
//! server — over the first one's database.

use reqwest::StatusCode;

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
    logging_out_on_one_instance_ends_the_token_on_the_other,
    |app| {
        let user = app.student().await;
        let second = app.second_instance().await;
        let me = second.app.get("/me", Some(&user.access)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        let out = app
            .post("/auth/logout", Some(&user.access), serde_json::json!({}))
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
        let after = second.app.get("/me", Some(&user.access)).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.text);
        assert!(after.is_problem());
    }
);
