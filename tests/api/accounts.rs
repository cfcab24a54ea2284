//! Accounts and auth through HTTP (SPEC §3 Accounts, §4 auth/me/admin).

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::support::*;
use crate::{backend_test, db_test};

db_test!(register_then_login_refresh_and_read_me, |app| {
    let email = app.unique_email("Mixed.Case");
    let res = app.register_as(&email, PASSWORD, "Grace Hopper").await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(res.body["user"]["email"], email.to_lowercase());
    assert_eq!(res.body["user"]["role"], "student");
    assert_eq!(res.body["user"]["auth_provider"], "email");
    assert_eq!(res.body["user"]["is_verified"], false);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert!(res.body["user"].get("password_hash").is_none());

    // The email is case-insensitive.
    let login = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let user = user_from(&login, &email);

    let me = app.get("/me", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["profile"]["full_name"], "Grace Hopper");
    assert_eq!(me.body["profile"]["timezone"], "UTC");
    assert_eq!(me.body["total_xp"], 0);
    assert_eq!(me.body["level"], 1);
    assert_eq!(me.body["current_streak"], 0);
    assert!(me.text.find("password").is_none());

    let refreshed = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_ne!(refreshed.body["refresh_token"], user.refresh.as_str());
    let new_access = refreshed.body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/me", Some(new_access)).await.status,
        StatusCode::OK
    );
});

db_test!(registering_an_email_twice_is_a_conflict, |app| {
    let email = app.unique_email("twice");
    assert_eq!(
        app.register_as(&email, PASSWORD, "A").await.status,
        StatusCode::CREATED
    );
    let again = app.register_as(&email.to_uppercase(), PASSWORD, "B").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_slug(), "email-taken");
});

db_test!(common_and_short_passwords_are_refused_with_422, |app| {
    for bad in ["password123", "qwertyuiop", "iloveyou1", "short1"] {
        let res = app
            .register_as(&app.unique_email("weak"), bad, "Weak")
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            res.text
        );
        assert!(res.is_problem());
        assert_eq!(res.body["errors"][0]["field"], "password", "{}", res.text);
    }
    let too_long = "x".repeat(129);
    let res = app
        .register_as(&app.unique_email("long"), &too_long, "Long")
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
});

db_test!(invalid_fields_are_listed_one_by_one, |app| {
    let res = app
        .post(
            "/auth/register",
            None,
            json!({"email": "not-an-email", "password": PASSWORD, "full_name": "  "}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.problem_slug(), "validation-failed");
    let fields: Vec<&str> = res.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"email") && fields.contains(&"full_name"),
        "{fields:?}"
    );
});

db_test!(unknown_email_and_wrong_password_answer_alike, |app| {
    let user = app.student().await;
    let wrong = app.login(&user.email, "not-the-right-password-7").await;
    let unknown = app
        .login(&app.unique_email("nobody"), "not-the-right-password-7")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.problem_slug(), "invalid-credentials");
});

db_test!(refresh_token_reuse_revokes_the_whole_family, |app| {
    let user = app.student().await;
    let first = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let second_refresh = first.body["refresh_token"].as_str().unwrap().to_string();
    let second_access = first.body["access_token"].as_str().unwrap().to_string();

    // The first token again, later than any parallel request could: theft is assumed and the
    // family ends.
    app.clock.advance(Duration::seconds(30));
    let replay = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let after = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.text);
    assert_eq!(
        app.get("/me", Some(&second_access)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Another sign-in of the same user is untouched.
    let other = app.login(&user.email, PASSWORD).await;
    assert_eq!(other.status, StatusCode::OK);
    let token = other.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/me", Some(token)).await.status, StatusCode::OK);
});

db_test!(
    concurrent_refreshes_with_one_token_succeed_once_and_keep_the_session,
    |app| {
        let user = app.student().await;
        let attempts = (0..8).map(|_| {
            let app = app.clone();
            let token = user.refresh.clone();
            async move {
                app.post("/auth/refresh", None, json!({"refresh_token": token}))
                    .await
            }
        });
        let responses = futures::future::join_all(attempts).await;
        let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status).collect();
        let winners: Vec<&Resp> = responses
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "{statuses:?}");
        for loser in responses.iter().filter(|r| r.status != StatusCode::OK) {
            assert_eq!(loser.status, StatusCode::CONFLICT, "{}", loser.text);
            assert_eq!(loser.problem_slug(), "refresh-token-rotated");
        }
        // The race ended nothing: the winner's tokens work, and so does the next rotation.
        let access = winners[0].body["access_token"].as_str().unwrap();
        assert_eq!(app.get("/me", Some(access)).await.status, StatusCode::OK);
        let next = app
            .post(
                "/auth/refresh",
                None,
                json!({"refresh_token": winners[0].body["refresh_token"]}),
            )
            .await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    }
);

db_test!(logout_ends_the_access_token_at_once, |app| {
    let user = app.student().await;
    assert_eq!(
        app.get("/me", Some(&user.access)).await.status,
        StatusCode::OK
    );
    let res = app
        .post("/auth/logout", Some(&user.access), json!({}))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    let me = app.get("/me", Some(&user.access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(me.is_problem());
    let refresh = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
});

db_test!(password_change_ends_every_session, |app| {
    let user = app.student().await;
    let other_device = user_from(&app.login(&user.email, PASSWORD).await, &user.email);
    let new_password = "a-much-better-passphrase-99";

    let wrong = app
        .post(
            "/auth/password",
            Some(&user.access),
            json!({"current_password": "not-it-at-all-123", "new_password": new_password}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);

    let res = app
        .post(
            "/auth/password",
            Some(&user.access),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    for token in [&user.access, &other_device.access] {
        assert_eq!(
            app.get("/me", Some(token)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let refresh = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": other_device.refresh}),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&user.email, new_password).await.status,
        StatusCode::OK
    );
});

db_test!(expired_access_tokens_are_refused, |app| {
    let user = app.student().await;
    app.clock.advance(chrono::Duration::minutes(16));
    let res = app.get("/me", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    // The refresh token still works and gives a fresh access token.
    let refreshed = app
        .post(
            "/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
});

db_test!(tampered_and_missing_tokens_are_401_problems, |app| {
    let user = app.student().await;
    // Change one character well inside the signature (the last one carries padding bits).
    let mut chars: Vec<char> = user.access.chars().collect();
    let at = chars.len() - 10;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for token in [Some(tampered.as_str()), Some("garbage"), None] {
        let res = app.get("/me", token).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert!(res.is_problem());
        assert_eq!(res.headers["www-authenticate"], "Bearer");
    }
});

db_test!(profile_updates_validate_the_time_zone, |app| {
    let user = app.student().await;
    let bad = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"timezone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "timezone");

    let ok = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"timezone": "Asia/Kolkata", "full_name": "Ada L.", "daily_goal_minutes": 45,
                   "preferred_subjects": ["Algebra"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["profile"]["timezone"], "Asia/Kolkata");
    assert_eq!(ok.body["profile"]["daily_goal_minutes"], 45);
    assert_eq!(ok.body["profile"]["full_name"], "Ada L.");
    let me = app.get("/me", Some(&user.access)).await;
    assert_eq!(me.body["profile"]["preferred_subjects"][0], "Algebra");

    let unknown = app
        .patch("/me/profile", Some(&user.access), json!({"is_admin": true}))
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
});

db_test!(deleting_the_account_removes_it, |app| {
    let user = app.student().await;
    let res = app.delete("/me", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", Some(&user.access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&user.email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The address is free again.
    let again = app.register_as(&user.email, PASSWORD, "Back").await;
    assert_eq!(again.status, StatusCode::CREATED);
});

db_test!(students_are_kept_out_of_admin_endpoints, |app| {
    let student = app.student().await;
    let res = app.get("/admin/users", Some(&student.access)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.is_problem());
    let res = app
        .patch(
            &format!("/admin/users/{}", student.id),
            Some(&student.access),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
});

db_test!(admins_list_search_and_deactivate_users, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let list = app.get("/admin/users?limit=1", Some(&admin.access)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let cursor = list.body["next_cursor"].as_str().expect("a second page");
    let page2 = app
        .get(
            &format!("/admin/users?limit=1&cursor={cursor}"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(page2.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(page2.body["items"][0]["id"], list.body["items"][0]["id"]);

    let prefix = student.email.split('@').next().unwrap();
    let found = app
        .get(&format!("/admin/users?q={prefix}"), Some(&admin.access))
        .await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        found.text
    );
    assert_eq!(found.body["items"][0]["id"], student.id.as_str());

    let bad_limit = app
        .get("/admin/users?limit=1000", Some(&admin.access))
        .await;
    assert_eq!(bad_limit.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Deactivation locks the live token out and refuses sign-in.
    let res = app
        .patch(
            &format!("/admin/users/{}", student.id),
            Some(&admin.access),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.body["is_active"], false);
    assert_eq!(
        app.get("/me", Some(&student.access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&student.email, PASSWORD).await.status,
        StatusCode::FORBIDDEN
    );

    let missing = app
        .patch(
            &format!("/admin/users/{}", uuid::Uuid::now_v7()),
            Some(&admin.access),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad_role = app
        .patch(
            &format!("/admin/users/{}", student.id),
            Some(&admin.access),
            json!({"role": "root"}),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
});

db_test!(
    login_is_rate_limited_per_account_with_retry_after,
    config = |c| {
        c.rate_limit_login_per_account = 3;
    },
    |app| {
        let user = app.student().await;
        for _ in 0..3 {
            let res = app.login(&user.email, "wrong-password-again-1").await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        }
        let limited = app.login(&user.email, PASSWORD).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.problem_slug(), "rate-limited");
        let retry: u64 = limited.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        // A new window lets the user in again.
        app.clock.advance(chrono::Duration::seconds(retry as i64));
        assert_eq!(
            app.login(&user.email, PASSWORD).await.status,
            StatusCode::OK
        );
    }
);

db_test!(
    register_is_rate_limited_per_ip,
    config = |c| {
        c.rate_limit_register_per_ip = 2;
    },
    |app| {
        for _ in 0..2 {
            assert_eq!(
                app.register_as(&app.unique_email("rl"), PASSWORD, "R")
                    .await
                    .status,
                StatusCode::CREATED
            );
        }
        let res = app
            .register_as(&app.unique_email("rl"), PASSWORD, "R")
            .await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers.contains_key("retry-after"));
    }
);

db_test!(
    refresh_and_password_reset_are_rate_limited,
    config = |c| {
        c.rate_limit_refresh_per_ip = 2;
        c.rate_limit_password_reset_per_account = 2;
    },
    |app| {
        for _ in 0..2 {
            let res = app
                .post("/auth/refresh", None, json!({"refresh_token": "nope"}))
                .await;
            assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        }
        let res = app
            .post("/auth/refresh", None, json!({"refresh_token": "nope"}))
            .await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);

        let email = app.unique_email("reset");
        for _ in 0..2 {
            let res = app
                .post("/auth/password-reset", None, json!({"email": email}))
                .await;
            assert_eq!(res.status, StatusCode::ACCEPTED);
        }
        let res = app
            .post("/auth/password-reset", None, json!({"email": email}))
            .await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers.contains_key("retry-after"));
    }
);

/// A limited request: 429 problem `rate-limited` with the seconds to wait in `Retry-After`.
fn assert_rate_limited(res: &Resp) -> i64 {
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.text);
    assert!(res.is_problem());
    assert_eq!(res.problem_slug(), "rate-limited");
    let retry: i64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    retry
}

db_test!(
    password_changes_are_rate_limited_per_account,
    config = |c| {
        c.rate_limit_password_change_per_account = 2;
    },
    |app| {
        let user = app.student().await;
        let other_device = user_from(&app.login(&user.email, PASSWORD).await, &user.email);
        let new_password = "a-much-better-passphrase-99";
        for _ in 0..2 {
            let res = app
                .post(
                    "/auth/password",
                    Some(&user.access),
                    json!({"current_password": "not-it-at-all-123", "new_password": new_password}),
                )
                .await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        }
        // Counted per account: another session of the same user is limited too, even with the
        // right password.
        let change = json!({"current_password": PASSWORD, "new_password": new_password});
        let limited = app
            .post("/auth/password", Some(&other_device.access), change.clone())
            .await;
        let retry = assert_rate_limited(&limited);
        // Another account is not.
        let someone_else = app.student().await;
        let theirs = app
            .post("/auth/password", Some(&someone_else.access), change.clone())
            .await;
        assert_eq!(theirs.status, StatusCode::NO_CONTENT, "{}", theirs.text);

        // The next window lets the account in again (with a fresh token: the window is as
        // long as an access token lives).
        app.clock.advance(chrono::Duration::seconds(retry));
        let fresh = user_from(&app.login(&user.email, PASSWORD).await, &user.email);
        let res = app
            .post("/auth/password", Some(&fresh.access), change)
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    }
);

db_test!(
    guessing_verification_and_reset_tokens_is_rate_limited_per_ip,
    config = |c| {
        c.rate_limit_verify_email_per_ip = 2;
        c.rate_limit_password_reset_confirm_per_ip = 3;
    },
    |app| {
        for attempt in 0..2 {
            let res = app
                .post(
                    "/auth/verify-email",
                    None,
                    json!({"token": format!("guess-{attempt}")}),
                )
                .await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        }
        let res = app
            .post("/auth/verify-email", None, json!({"token": "guess-2"}))
            .await;
        assert_rate_limited(&res);

        // Its own counter: three reset guesses are still answered, the fourth is not.
        let guess = |n: i32| json!({"token": format!("guess-{n}"), "new_password": "guessing-is-futile-83"});
        for attempt in 0..3 {
            let res = app
                .post("/auth/password-reset/confirm", None, guess(attempt))
                .await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        }
        let res = app
            .post("/auth/password-reset/confirm", None, guess(3))
            .await;
        assert_rate_limited(&res);
    }
);

async fn email_verification_and_password_reset_by_email(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let user = app.student().await;
            let me = app.get("/me", Some(&user.access)).await;
            assert_eq!(me.body["user"]["is_verified"], false);

            let mail = sink.wait_for(&user.email, "Confirm your email").await;
            let token = token_in(&mail);
            let res = app
                .post("/auth/verify-email", None, json!({"token": token}))
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
            let me = app.get("/me", Some(&user.access)).await;
            assert_eq!(me.body["user"]["is_verified"], true);
            // Single use.
            let again = app
                .post("/auth/verify-email", None, json!({"token": token}))
                .await;
            assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
            let resend = app
                .post("/auth/verify-email/resend", Some(&user.access), json!({}))
                .await;
            assert_eq!(resend.status, StatusCode::CONFLICT);

            // Reset: same answer for a registered and an unknown address; mail only to the first.
            let known = app
                .post("/auth/password-reset", None, json!({"email": user.email}))
                .await;
            let nobody = app.unique_email("nobody");
            let unknown = app
                .post("/auth/password-reset", None, json!({"email": nobody}))
                .await;
            assert_eq!(known.status, StatusCode::ACCEPTED);
            assert_eq!(known.status, unknown.status);
            assert_eq!(known.body, unknown.body);
            let mail = sink
                .wait_for(&user.email, "Reset your Studium password")
                .await;
            let token = token_in(&mail);
            assert_eq!(sink.count_to(&nobody), 0);

            let weak = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": token, "new_password": "password1"}),
                )
                .await;
            assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
            let new_password = "reset-to-something-strong-77";
            let res = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": token, "new_password": new_password}),
                )
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
            // The old session is over, the token is spent, the new password works.
            assert_eq!(
                app.get("/me", Some(&user.access)).await.status,
                StatusCode::UNAUTHORIZED
            );
            let reuse = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": token, "new_password": "another-strong-one-88"}),
                )
                .await;
            assert_eq!(reuse.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(
                app.login(&user.email, new_password).await.status,
                StatusCode::OK
            );
        },
    )
    .await;
}
backend_test!(
    email_tokens_arrive_by_smtp_and_work_once,
    email_verification_and_password_reset_by_email
);

async fn expired_reset_tokens_are_refused(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let user = app.student().await;
            app.post("/auth/password-reset", None, json!({"email": user.email}))
                .await;
            let token = token_in(
                &sink
                    .wait_for(&user.email, "Reset your Studium password")
                    .await,
            );
            app.clock.advance(chrono::Duration::hours(25));
            let res = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": token, "new_password": "too-late-but-strong-55"}),
                )
                .await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(res.body["errors"][0]["field"], "token");
        },
    )
    .await;
}
backend_test!(
    expired_reset_links_do_not_work,
    expired_reset_tokens_are_refused
);

/// Two verification links are out (the first from sign-up, one resent); using the newer one
/// spends the older one too.
async fn verifying_spends_every_older_verification_link(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let user = app.student().await;
            let older = token_in(&sink.wait_for(&user.email, "Confirm your email").await);
            let resend = app
                .post("/auth/verify-email/resend", Some(&user.access), json!({}))
                .await;
            assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
            let newer = sink
                .wait_for_all(&user.email, "Confirm your email", 2)
                .await
                .iter()
                .map(|m| token_in(m))
                .find(|t| *t != older)
                .expect("a second, different link");

            let res = app
                .post("/auth/verify-email", None, json!({"token": newer}))
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
            let old = app
                .post("/auth/verify-email", None, json!({"token": older}))
                .await;
            assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", old.text);
            assert_eq!(old.body["errors"][0]["field"], "token");
        },
    )
    .await;
}
backend_test!(
    verification_spends_older_links,
    verifying_spends_every_older_verification_link
);

/// A reset ends every session — access and refresh tokens alike, on every device — and spends
/// the other reset links still in the mailbox.
async fn a_reset_ends_access_and_refresh_tokens_and_spends_other_links(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let user = app.student().await;
            let other_device = user_from(&app.login(&user.email, PASSWORD).await, &user.email);
            let subject = "Reset your Studium password";
            app.post("/auth/password-reset", None, json!({"email": user.email}))
                .await;
            let older = token_in(&sink.wait_for(&user.email, subject).await);
            app.post("/auth/password-reset", None, json!({"email": user.email}))
                .await;
            let newer = sink
                .wait_for_all(&user.email, subject, 2)
                .await
                .iter()
                .map(|m| token_in(m))
                .find(|t| *t != older)
                .expect("a second, different link");

            let new_password = "reset-to-something-strong-77";
            let res = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": newer, "new_password": new_password}),
                )
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);

            for device in [&user, &other_device] {
                let me = app.get("/me", Some(&device.access)).await;
                assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
                let refresh = app
                    .post(
                        "/auth/refresh",
                        None,
                        json!({"refresh_token": device.refresh}),
                    )
                    .await;
                assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{}", refresh.text);
                assert!(refresh.is_problem());
            }
            let old = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": older, "new_password": "another-strong-one-88"}),
                )
                .await;
            assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", old.text);
            assert_eq!(old.body["errors"][0]["field"], "token");
            assert_eq!(
                app.login(&user.email, new_password).await.status,
                StatusCode::OK
            );
        },
    )
    .await;
}
backend_test!(
    password_reset_ends_every_token_and_spends_other_links,
    a_reset_ends_access_and_refresh_tokens_and_spends_other_links
);

fn google_claims(aud: &str, iss: &str, exp_offset: i64, email: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": iss, "aud": aud, "sub": format!("google-{email}"), "email": email,
        "email_verified": true, "name": "Gia Google", "iat": now, "exp": now + exp_offset,
    })
}

async fn google_sign_in_verifies_tokens_against_jwks(backend: Backend) {
    let (key1, key2) = test_keys();
    let jwks = JwksServer::start(json!({"keys": [key1.jwk()]})).await;
    let url = jwks.url.clone();
    run(
        backend,
        move |c| c.google_jwks_url = url,
        move |app| async move {
            let aud = "studium-test-client";
            let iss = "https://accounts.google.com";
            let email = app.unique_email("gia");
            let google = |token: String| {
                let app = app.clone();
                async move {
                    app.post("/auth/google", None, json!({"id_token": token}))
                        .await
                }
            };

            let ok = google(key1.sign(&google_claims(aud, iss, 3600, &email))).await;
            assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
            assert_eq!(ok.body["user"]["email"], email.as_str());
            assert_eq!(ok.body["user"]["is_verified"], true);
            assert_eq!(ok.body["user"]["auth_provider"], "google");
            let first_id = ok.body["user"]["id"].clone();
            // The same Google account signs in to the same user.
            let again = google(key1.sign(&google_claims(aud, iss, 3600, &email))).await;
            assert_eq!(again.body["user"]["id"], first_id);

            let refused = [
                (
                    "wrong audience",
                    key1.sign(&google_claims("someone-else", iss, 3600, &email)),
                ),
                (
                    "wrong issuer",
                    key1.sign(&google_claims(aud, "https://evil.example", 3600, &email)),
                ),
                (
                    "expired",
                    key1.sign(&google_claims(aud, iss, -3600, &email)),
                ),
                (
                    "hs256 with the public key",
                    key1.sign_hs256_with_public_key(&google_claims(aud, iss, 3600, &email)),
                ),
                ("alg none", {
                    use base64::Engine;
                    let enc = |v: serde_json::Value| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
                    };
                    format!(
                        "{}.{}.",
                        enc(json!({"alg": "none", "kid": key1.kid})),
                        enc(google_claims(aud, iss, 3600, &email))
                    )
                }),
                (
                    "unknown kid",
                    key2.sign(&google_claims(aud, iss, 3600, &email)),
                ),
                ("garbage", "not.a.token".to_string()),
            ];
            for (case, token) in refused {
                let res = google(token).await;
                assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{case}: {}", res.text);
                assert!(res.is_problem(), "{case}");
            }

            // Google rotates in key 2: a token naming it makes the server fetch the set again.
            let fetches = jwks.hits.load(std::sync::atomic::Ordering::SeqCst);
            jwks.publish(json!({"keys": [key1.jwk(), key2.jwk()]}));
            let rotated = google(key2.sign(&google_claims(aud, iss, 3600, &email))).await;
            assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
            assert!(jwks.hits.load(std::sync::atomic::Ordering::SeqCst) > fetches);
            // Cached now: no further fetch for a known key.
            let fetches = jwks.hits.load(std::sync::atomic::Ordering::SeqCst);
            google(key2.sign(&google_claims(aud, iss, 3600, &email))).await;
            assert_eq!(jwks.hits.load(std::sync::atomic::Ordering::SeqCst), fetches);

            // A password account with the same (still unverified) email is taken over, not
            // duplicated.
            let linked_email = app.unique_email("linked");
            let reg = app.register_as(&linked_email, PASSWORD, "Lin").await;
            let linked = google(key1.sign(&google_claims(aud, iss, 3600, &linked_email))).await;
            assert_eq!(linked.status, StatusCode::OK);
            assert_eq!(linked.body["user"]["id"], reg.body["user"]["id"]);
        },
    )
    .await;
}
backend_test!(google_sign_in, google_sign_in_verifies_tokens_against_jwks);

/// Runs `body` on an app whose Google sign-in trusts a loopback JWKS publishing test key 1;
/// `configure` adjusts the rest of the configuration.
async fn run_with_google<B, F>(
    backend: Backend,
    configure: impl FnOnce(&mut studium::config::Config),
    body: B,
) where
    B: FnOnce(TestApp) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let jwks = JwksServer::start(json!({"keys": [test_keys().0.jwk()]})).await;
    run(
        backend,
        move |c| {
            c.google_jwks_url = jwks.url.clone();
            configure(c);
        },
        body,
    )
    .await;
}

/// `POST /auth/google` with these claims, signed by the key the app trusts.
async fn sign_in_with_google(app: &TestApp, claims: &serde_json::Value) -> Resp {
    let token = test_keys().0.sign(claims);
    app.post("/auth/google", None, json!({"id_token": token}))
        .await
}

/// The `users` row, read directly.
async fn user_row(app: &TestApp, id: &str) -> studium::entity::users::Model {
    use sea_orm::EntityTrait;
    studium::entity::users::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap())
        .one(app.state.db.read())
        .await
        .unwrap()
        .expect("the user exists")
}

const GOOGLE_AUD: &str = "studium-test-client";
const GOOGLE_ISS: &str = "https://accounts.google.com";

/// Someone registers the victim's address with a password of their own and never verifies it;
/// when the owner signs in with Google, that person is locked out of the account entirely.
async fn google_sign_in_takes_over_an_unverified_account(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run_with_google(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let email = app.unique_email("victim");
            let squatter = app.register_as(&email, PASSWORD, "Squatter").await;
            assert_eq!(squatter.status, StatusCode::CREATED, "{}", squatter.text);
            let squatter = user_from(&squatter, &email);
            let verify_link = token_in(&sink.wait_for(&email, "Confirm your email").await);
            app.post("/auth/password-reset", None, json!({"email": email}))
                .await;
            let reset_link = token_in(&sink.wait_for(&email, "Reset your Studium password").await);

            let owner =
                sign_in_with_google(&app, &google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &email))
                    .await;
            assert_eq!(owner.status, StatusCode::OK, "{}", owner.text);
            assert_eq!(owner.body["user"]["id"], squatter.id.as_str());
            assert_eq!(owner.body["user"]["is_verified"], true);
            assert_eq!(owner.body["user"]["auth_provider"], "google");
            let owner_access = owner.body["access_token"].as_str().unwrap();
            assert_eq!(
                app.get("/me", Some(owner_access)).await.status,
                StatusCode::OK
            );

            // The squatter's session, refresh token, password and email links are all dead.
            let me = app.get("/me", Some(&squatter.access)).await;
            assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
            let refresh = app
                .post(
                    "/auth/refresh",
                    None,
                    json!({"refresh_token": squatter.refresh}),
                )
                .await;
            assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{}", refresh.text);
            let login = app.login(&email, PASSWORD).await;
            assert_eq!(login.status, StatusCode::UNAUTHORIZED, "{}", login.text);
            assert!(user_row(&app, &squatter.id).await.password_hash.is_none());
            let verify = app
                .post("/auth/verify-email", None, json!({"token": verify_link}))
                .await;
            assert_eq!(
                verify.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                verify.text
            );
            let reset = app
                .post(
                    "/auth/password-reset/confirm",
                    None,
                    json!({"token": reset_link, "new_password": "squatters-new-secret-41"}),
                )
                .await;
            assert_eq!(
                reset.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                reset.text
            );
            assert_eq!(
                app.login(&email, "squatters-new-secret-41").await.status,
                StatusCode::UNAUTHORIZED
            );
            // The owner is still signed in afterwards.
            assert_eq!(
                app.get("/me", Some(owner_access)).await.status,
                StatusCode::OK
            );
        },
    )
    .await;
}
backend_test!(
    google_takes_over_unverified_accounts,
    google_sign_in_takes_over_an_unverified_account
);

/// An account whose owner verified the address is linked: its password and sessions stay.
async fn google_sign_in_links_a_verified_account(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run_with_google(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let user = app.student().await;
            let link = token_in(&sink.wait_for(&user.email, "Confirm your email").await);
            let verified = app
                .post("/auth/verify-email", None, json!({"token": link}))
                .await;
            assert_eq!(verified.status, StatusCode::NO_CONTENT, "{}", verified.text);

            let google = sign_in_with_google(
                &app,
                &google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &user.email),
            )
            .await;
            assert_eq!(google.status, StatusCode::OK, "{}", google.text);
            assert_eq!(google.body["user"]["id"], user.id.as_str());
            assert_eq!(google.body["user"]["auth_provider"], "google");
            assert_eq!(
                app.get("/me", Some(&user.access)).await.status,
                StatusCode::OK
            );
            assert_eq!(
                app.login(&user.email, PASSWORD).await.status,
                StatusCode::OK
            );
            assert!(user_row(&app, &user.id).await.password_hash.is_some());
        },
    )
    .await;
}
backend_test!(
    google_links_verified_accounts,
    google_sign_in_links_a_verified_account
);

/// Eight first sign-ins at once with one Google account (a double-clicked button, a retried
/// request): exactly one account is created and every request signs in to it — no 500.
async fn simultaneous_first_google_sign_ins_make_one_account(backend: Backend) {
    run_with_google(
        backend,
        |_| {},
        |app| async move {
            let email = app.unique_email("twins");
            let claims = google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &email);
            let attempts = (0..8).map(|_| {
                let (app, claims) = (app.clone(), claims.clone());
                async move { sign_in_with_google(&app, &claims).await }
            });
            let results = futures::future::join_all(attempts).await;
            let mut ids = std::collections::HashSet::new();
            for res in &results {
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
                ids.insert(res.body["user"]["id"].as_str().unwrap().to_string());
                let access = res.body["access_token"].as_str().unwrap();
                assert_eq!(app.get("/me", Some(access)).await.status, StatusCode::OK);
            }
            assert_eq!(ids.len(), 1, "{ids:?}");

            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            let rows = studium::entity::users::Entity::find()
                .filter(studium::entity::users::Column::Email.eq(email.as_str()))
                .count(app.state.db.read())
                .await
                .unwrap();
            assert_eq!(rows, 1);
        },
    )
    .await;
}
backend_test!(
    simultaneous_google_sign_ins,
    simultaneous_first_google_sign_ins_make_one_account
);

/// Eight Google sign-ins at once into an account with an unverified email: it is taken over
/// once, so no later takeover ends the sessions an earlier request has just been given.
/// On PostgreSQL the test holds the account's row until all eight have read it as unverified
/// and wait to change it, so the race happens every run; SQLite serialises them anyway.
async fn simultaneous_google_sign_ins_take_over_once(backend: Backend) {
    run_with_google(
        backend,
        |c| c.db_max_connections = 16,
        |app| async move {
            use sea_orm::{ConnectionTrait, TransactionTrait};
            const REQUESTS: i64 = 8;
            let email = app.unique_email("contested");
            let squatter = app.register_as(&email, PASSWORD, "Squatter").await;
            let squatter = user_from(&squatter, &email);
            let claims = google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &email);

            let holder = if app.backend == Backend::Postgres {
                let txn = app.state.db.write().begin().await.unwrap();
                let id = uuid::Uuid::parse_str(&squatter.id).unwrap();
                studium::db::lock_user(&txn, id).await.unwrap();
                Some(txn)
            } else {
                None
            };
            let release = async {
                let Some(txn) = holder else { return };
                let waiting = sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock' AND query LIKE 'UPDATE \"users\"%'",
                );
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                loop {
                    let row = app.state.db.read().query_one_raw(waiting.clone()).await;
                    let n: i64 = row.unwrap().unwrap().try_get_by_index(0).unwrap();
                    if n >= REQUESTS {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "only {n} sign-ins waited for the account"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                txn.commit().await.unwrap();
            };
            let attempts = (0..REQUESTS).map(|_| {
                let (app, claims) = (app.clone(), claims.clone());
                async move { sign_in_with_google(&app, &claims).await }
            });
            let (results, ()) = futures::join!(futures::future::join_all(attempts), release);

            for res in &results {
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
                assert_eq!(res.body["user"]["id"], squatter.id.as_str());
            }
            for res in &results {
                let access = res.body["access_token"].as_str().unwrap();
                let me = app.get("/me", Some(access)).await;
                assert_eq!(me.status, StatusCode::OK, "{}", me.text);
            }
            assert_eq!(
                app.get("/me", Some(&squatter.access)).await.status,
                StatusCode::UNAUTHORIZED
            );
        },
    )
    .await;
}
backend_test!(
    simultaneous_google_takeovers,
    simultaneous_google_sign_ins_take_over_once
);

/// Google sign-in is limited per Google account as well as per IP: the same Google account
/// is refused after the limit, another one from the same address is not.
async fn google_sign_in_is_rate_limited_per_google_account(backend: Backend) {
    run_with_google(
        backend,
        |c| c.rate_limit_google_per_account = 2,
        |app| async move {
            let email = app.unique_email("eager");
            let claims = google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &email);
            for _ in 0..2 {
                let res = sign_in_with_google(&app, &claims).await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            }
            let retry = assert_rate_limited(&sign_in_with_google(&app, &claims).await);
            let other = app.unique_email("other");
            let res =
                sign_in_with_google(&app, &google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, &other))
                    .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);

            app.clock.advance(chrono::Duration::seconds(retry));
            let res = sign_in_with_google(&app, &claims).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        },
    )
    .await;
}
backend_test!(
    google_sign_in_rate_limit,
    google_sign_in_is_rate_limited_per_google_account
);

/// A token whose email Google has not verified proves nothing: 401, and no account is created,
/// linked or taken over.
async fn google_tokens_without_a_verified_email_are_refused(backend: Backend) {
    run_with_google(
        backend,
        |_| {},
        |app| async move {
            let squatted = app.unique_email("squatted");
            let squatter = app.register_as(&squatted, PASSWORD, "Squatter").await;
            let squatter = user_from(&squatter, &squatted);
            let fresh = app.unique_email("fresh");
            for email in [&squatted, &fresh] {
                let mut unverified = google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, email);
                unverified["email_verified"] = json!(false);
                let mut flag_missing = unverified.clone();
                flag_missing
                    .as_object_mut()
                    .unwrap()
                    .remove("email_verified");
                let mut no_email = google_claims(GOOGLE_AUD, GOOGLE_ISS, 3600, email);
                no_email.as_object_mut().unwrap().remove("email");
                for (case, claims) in [
                    ("email_verified false", unverified),
                    ("email_verified missing", flag_missing),
                    ("no email", no_email),
                ] {
                    let res = sign_in_with_google(&app, &claims).await;
                    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{case}: {}", res.text);
                    assert!(res.is_problem(), "{case}");
                    assert_eq!(res.problem_slug(), "unauthorized", "{case}");
                }
            }
            // Nothing happened to the squatted account, and no account exists for the fresh one.
            assert_eq!(
                app.get("/me", Some(&squatter.access)).await.status,
                StatusCode::OK
            );
            let row = user_row(&app, &squatter.id).await;
            assert!(!row.is_verified && row.google_id.is_none());
            assert_eq!(app.login(&squatted, PASSWORD).await.status, StatusCode::OK);
            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            let fresh_rows = studium::entity::users::Entity::find()
                .filter(studium::entity::users::Column::Email.eq(fresh.as_str()))
                .count(app.state.db.read())
                .await
                .unwrap();
            assert_eq!(fresh_rows, 0);
        },
    )
    .await;
}
backend_test!(
    google_refuses_unverified_emails,
    google_tokens_without_a_verified_email_are_refused
);

db_test!(
    verification_resend_is_rate_limited_per_account,
    config = |c| {
        c.rate_limit_verify_resend_per_account = 2;
    },
    |app| {
        let user = app.student().await;
        for _ in 0..2 {
            let res = app
                .post("/auth/verify-email/resend", Some(&user.access), json!({}))
                .await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        }
        let res = app
            .post("/auth/verify-email/resend", Some(&user.access), json!({}))
            .await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers.contains_key("retry-after"));
    }
);

db_test!(
    registering_one_address_over_and_over_is_rate_limited,
    config = |c| {
        c.rate_limit_register_per_account = 2;
    },
    |app| {
        let email = app.unique_email("again");
        assert_eq!(
            app.register_as(&email, PASSWORD, "A").await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            app.register_as(&email, PASSWORD, "A").await.status,
            StatusCode::CONFLICT
        );
        let res = app.register_as(&email, PASSWORD, "A").await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    }
);

db_test!(profile_fields_left_out_stay_and_null_clears_them, |app| {
    let user = app.student().await;
    let set = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"bio": "Loves algebra", "school": "Hilltop High",
                   "avatar_url": "https://img.example.com/a.png"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let kept = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"grade_level": "10"}),
        )
        .await;
    assert_eq!(kept.body["profile"]["bio"], "Loves algebra");
    assert_eq!(kept.body["profile"]["grade_level"], "10");

    let cleared = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"bio": null, "avatar_url": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert!(cleared.body["profile"]["bio"].is_null());
    assert!(cleared.body["profile"]["avatar_url"].is_null());
    assert_eq!(cleared.body["profile"]["school"], "Hilltop High");

    let bad_url = app
        .patch(
            "/me/profile",
            Some(&user.access),
            json!({"avatar_url": "javascript:alert(1)"}),
        )
        .await;
    assert_eq!(bad_url.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_url.body["errors"][0]["field"], "avatar_url");
    // A profile field that is not optional cannot be nulled.
    let null_tz = app
        .patch("/me/profile", Some(&user.access), json!({"timezone": null}))
        .await;
    assert_eq!(null_tz.status, StatusCode::OK);
    assert_eq!(null_tz.body["profile"]["timezone"], "UTC");
});

db_test!(
    onboarding_completes_once_goal_and_preference_are_set,
    |app| {
        let user = app.student().await;
        let me = app.get("/me", Some(&user.access)).await;
        assert_eq!(me.body["profile"]["onboarding_completed"], false);
        assert!(me.body["profile"]["primary_goal"].is_null());

        let goal = app
            .patch(
                "/me/profile",
                Some(&user.access),
                json!({"primary_goal": "Pass the algebra final"}),
            )
            .await;
        assert_eq!(goal.status, StatusCode::OK, "{}", goal.text);
        assert_eq!(
            goal.body["profile"]["primary_goal"],
            "Pass the algebra final"
        );
        assert_eq!(goal.body["profile"]["onboarding_completed"], false);

        let both = app
            .patch(
                "/me/profile",
                Some(&user.access),
                json!({"study_preference": "Short daily sessions"}),
            )
            .await;
        assert_eq!(both.status, StatusCode::OK, "{}", both.text);
        assert_eq!(
            both.body["profile"]["study_preference"],
            "Short daily sessions"
        );
        assert_eq!(both.body["profile"]["onboarding_completed"], true);
        let me = app.get("/me", Some(&user.access)).await;
        assert_eq!(me.body["profile"]["onboarding_completed"], true);

        // A student may also finish (or reopen) onboarding by saying so.
        let other = app.student().await;
        let skipped = app
            .patch(
                "/me/profile",
                Some(&other.access),
                json!({"onboarding_completed": true}),
            )
            .await;
        assert_eq!(skipped.body["profile"]["onboarding_completed"], true);
        let too_long = app
            .patch(
                "/me/profile",
                Some(&other.access),
                json!({"primary_goal": "x".repeat(201)}),
            )
            .await;
        assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(too_long.body["errors"][0]["field"], "primary_goal");
    }
);
