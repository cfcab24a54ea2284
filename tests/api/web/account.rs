//! The web app in a browser: account pages — email verification, password reset, the account
//! page (profile, plan, export, deletion) and Google sign-in's callback.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::browser::Browser;
use crate::helpers::*;
use crate::support::*;
use crate::{backend_test, db_test};

/// A reqwest client that keeps cookies and does not follow redirects, and the CSRF token of
/// the form on `path` (the cookie is kept by the client).
async fn form_client(app: &TestApp, path: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page carries a CSRF token")
        .to_string();
    (client, token)
}

fn session_cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("studium_session=") && !c.starts_with("studium_session=;"))
        .map(String::from)
}

async fn verify_and_reset_in_the_browser(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            let b = Browser::open(&app).await;
            let email = app.unique_email("webreset");
            b.sign_up("Rita Reset", &email, PASSWORD).await;

            // The verification link lands on a page that confirms with one press.
            let mail = sink.wait_for(&email, "Confirm your email").await;
            assert!(mail.contains("/verify-email?token="), "{mail}");
            let token = token_in(&mail);
            b.goto("/account").await;
            assert_eq!(b.text("#email-status").await, "not confirmed yet");
            b.goto(&format!("/verify-email?token={token}")).await;
            b.check("account-verify").await;
            b.click("form[action='/verify-email'] button[type=submit]")
                .await;
            b.wait_for_text("#verify-result", "confirmed").await;
            b.check("account-verify-result").await;
            b.goto("/account").await;
            assert_eq!(b.text("#email-status").await, "confirmed");
            // Used once: the same link again says so beside the code.
            b.goto(&format!("/verify-email?token={token}")).await;
            b.click("form[action='/verify-email'] button[type=submit]")
                .await;
            assert!(b.text("#token-error").await.contains("invalid"));

            // Reset: asked for signed out; the answer is the same for any address.
            b.click(".signout button").await;
            b.wait_for_path("/signin").await;
            b.click("a[href='/password-reset']").await;
            b.wait_for_path("/password-reset").await;
            b.check("account-reset-request").await;
            b.fill("email", &email).await;
            b.click("form[action='/password-reset'] button[type=submit]")
                .await;
            b.wait_for_text("#reset-sent", "If an account exists").await;
            let mail = sink.wait_for(&email, "Reset your Studium password").await;
            assert!(mail.contains("/reset-password?token"), "{mail}");
            let token = token_in(&mail);
            b.goto(&format!("/reset-password?token={token}")).await;
            b.wait_for_path("/password-reset/confirm").await;
            b.check("account-reset-confirm").await;

            // A weak password is refused beside its field; the link still works after.
            b.fill("new_password", "password1").await;
            b.click("form[action='/password-reset/confirm'] button[type=submit]")
                .await;
            assert!(!b.text("#new_password-error").await.is_empty());
            let invalid = b
                .find("#new_password")
                .await
                .attr("aria-invalid")
                .await
                .unwrap();
            assert_eq!(invalid.as_deref(), Some("true"));
            b.check("account-reset-confirm-error").await;

            let new_password = "a-brand-new-strong-one-61";
            b.fill("new_password", new_password).await;
            b.click("form[action='/password-reset/confirm'] button[type=submit]")
                .await;
            b.wait_for_path("/password-changed").await;
            b.wait_for_text("#password-notice", "changed").await;
            b.check("account-password-changed").await;
            b.fill("email", &email).await;
            b.fill("password", new_password).await;
            b.click("form[action='/signin'] button[type=submit]").await;
            b.wait_for_path("/").await;
            b.find("#total-xp").await;
            assert_eq!(
                app.login(&email, PASSWORD).await.status,
                StatusCode::UNAUTHORIZED
            );
        },
    )
    .await;
}
backend_test!(
    verification_and_password_reset_in_the_browser,
    verify_and_reset_in_the_browser
);

db_test!(profile_plan_and_export_on_the_account_page, |app| {
    let other = app.student().await;
    let b = Browser::open(&app).await;
    let email = app.unique_email("webacct");
    b.sign_up("Paula Profile", &email, PASSWORD).await;
    b.click("a[href='/account']").await;
    b.wait_for_path("/account").await;
    assert_eq!(b.text("#current-plan").await, "Free");
    b.check("account").await;

    // A goal out of range is shown beside its field, and nothing is saved.
    b.fill("full_name", "Paula Planner").await;
    b.find("#timezone")
        .await
        .select_by_value("Asia/Kolkata")
        .await
        .unwrap();
    b.fill("daily_goal_minutes", "5000").await;
    b.click("#profile-form button[type=submit]").await;
    assert!(!b.text("#daily_goal_minutes-error").await.is_empty());
    let invalid = b
        .find("#daily_goal_minutes")
        .await
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    // What was typed is kept.
    let tz = b
        .js("return document.getElementById('timezone').value")
        .await;
    assert_eq!(tz, json!("Asia/Kolkata"));
    b.check("account-profile-error").await;
    let api = user_from(&app.login(&email, PASSWORD).await, &email);
    let me = app.get("/me", Some(&api.access)).await;
    assert_eq!(me.body["profile"]["timezone"], "UTC");

    b.fill("daily_goal_minutes", "45").await;
    b.fill("learning_goals", "Pass my finals").await;
    b.click("#profile-form button[type=submit]").await;
    b.wait_for_text("#account-notice", "saved").await;
    let me = app.get("/me", Some(&api.access)).await;
    assert_eq!(me.body["profile"]["timezone"], "Asia/Kolkata");
    assert_eq!(me.body["profile"]["daily_goal_minutes"], 45);
    assert_eq!(me.body["profile"]["full_name"], "Paula Planner");
    assert_eq!(me.body["profile"]["learning_goals"], "Pass my finals");
    let tz = b
        .js("return document.getElementById('timezone').value")
        .await;
    assert_eq!(tz, json!("Asia/Kolkata"));

    // No payment provider here: upgrading says so in words, in place.
    b.click("#upgrade").await;
    b.wait_for_text("#upgrade-error", "not available").await;
    assert_eq!(b.path().await.split('?').next(), Some("/account"));

    // The export link downloads the cookie user's data, and only theirs.
    let href = b
        .find("#export-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let cookie = b
        .client
        .get_named_cookie("studium_session")
        .await
        .expect("the session cookie");
    let res = reqwest::Client::new()
        .get(format!("{}{href}", app.address))
        .header("cookie", format!("studium_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let doc: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(doc["user_id"], api.id);
    assert_eq!(doc["account"][0]["email"], email);
    assert_ne!(doc["user_id"], other.id);
    // Signed out, the export is not handed out.
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{href}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
});

db_test!(a_student_deletes_their_account_in_the_browser, |app| {
    let other = app.student().await;
    let b = Browser::open(&app).await;
    let email = app.unique_email("webdelete");
    b.sign_up("Dora Delete", &email, PASSWORD).await;
    b.goto("/account").await;

    // Anything but the word keeps the account.
    b.fill("confirm", "delete").await;
    b.click("#delete-form button[type=submit]").await;
    assert!(b.text("#confirm-error").await.contains("DELETE"));
    assert_eq!(app.login(&email, PASSWORD).await.status, StatusCode::OK);

    b.fill("confirm", "DELETE").await;
    b.click("#delete-form button[type=submit]").await;
    b.wait_for_path("/goodbye").await;
    b.wait_for_text("#goodbye", "deleted").await;
    b.check("account-goodbye").await;
    assert_eq!(
        app.login(&email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    b.goto("/account").await;
    b.wait_for_path("/signin").await;
    // The other student is untouched.
    let me = app.get("/me", Some(&other.access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["email"], other.email.as_str());
    assert_eq!(
        app.login(&other.email, PASSWORD).await.status,
        StatusCode::OK
    );
});

db_test!(
    changing_the_password_and_resending_the_confirmation,
    |app| {
        let b = Browser::open(&app).await;
        let email = app.unique_email("webpass");
        b.sign_up("Pat Password", &email, PASSWORD).await;
        b.goto("/account").await;

        b.click("#resend-verification").await;
        b.wait_for_text("#account-notice", "on its way").await;

        // A wrong current password is an error beside that field.
        b.fill("current_password", "not-my-password-at-all").await;
        b.fill("new_password", "a-fresh-strong-password-93").await;
        b.click("#password-form button[type=submit]").await;
        assert!(
            b.text("#current_password-error")
                .await
                .contains("not correct")
        );
        b.check("account-password-error").await;

        let new_password = "a-fresh-strong-password-93";
        b.fill("current_password", PASSWORD).await;
        b.fill("new_password", new_password).await;
        b.click("#password-form button[type=submit]").await;
        b.wait_for_path("/password-changed").await;
        // Every session ended, this browser's too.
        b.goto("/account").await;
        b.wait_for_path("/signin").await;
        assert_eq!(
            app.login(&email, PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );
        b.sign_in(&email, new_password).await;
    }
);

fn google_claims(nonce: Option<&str>, email: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": "https://accounts.google.com", "aud": "studium-test-client",
        "sub": format!("google-{email}"), "email": email, "email_verified": true,
        "name": "Gina Web", "iat": now, "exp": now + 3600,
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    claims
}

async fn google_callback_checks_the_nonce(backend: Backend) {
    let (key, _) = test_keys();
    let jwks = JwksServer::start(json!({"keys": [key.jwk()]})).await;
    let url = jwks.url.clone();
    run(
        backend,
        move |c| {
            c.google_jwks_url = url;
            c.google_auth_url = "https://accounts.example.test/o/auth".into();
        },
        move |app| async move {
            let (client, csrf) = form_client(&app, "/signin").await;
            // The start sends the browser to the authorization endpoint with a nonce.
            let start = client
                .get(format!("{}/signin/google", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(start.status(), StatusCode::SEE_OTHER);
            let location =
                reqwest::Url::parse(start.headers()["location"].to_str().unwrap()).expect("a URL");
            assert!(
                location
                    .as_str()
                    .starts_with("https://accounts.example.test/o/auth?")
            );
            let query: std::collections::HashMap<String, String> =
                location.query_pairs().into_owned().collect();
            assert_eq!(query["client_id"], "studium-test-client");
            assert_eq!(query["response_type"], "id_token");
            assert_eq!(query["response_mode"], "form_post");
            assert_eq!(query["scope"], "openid email profile");
            assert!(query["redirect_uri"].ends_with("/signin/google/callback"));
            let nonce = query["nonce"].clone();
            assert_eq!(nonce.split('.').count(), 3, "{nonce}");

            let email = app.unique_email("gina");
            // Google posts back cross-site: a browser sends no SameSite=Lax cookie and no CSRF
            // token with it, so this client has neither; the nonce is the protection.
            let _ = csrf;
            let cross = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let callback = |token: String| {
                let (client, app) = (cross.clone(), app.clone());
                async move {
                    client
                        .post(format!("{}/signin/google/callback", app.address))
                        .form(&[("id_token", token.as_str())])
                        .send()
                        .await
                        .unwrap()
                }
            };

            // Refused: no nonce, a forged one, one of another kind.
            let mut forged = nonce.clone();
            forged.replace_range(forged.len() - 4.., "0000");
            for (case, n) in [
                ("no nonce", None),
                ("forged", Some(forged.as_str())),
                ("made up", Some("1.2.3")),
            ] {
                let res = callback(key.sign(&google_claims(n, &email))).await;
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{case}");
                assert!(session_cookie_of(&res).is_none(), "{case}");
                let html = res.text().await.unwrap();
                assert!(html.contains("Google sign-in failed"), "{case}: {html}");
            }
            let made = studium::entity::users::Entity::find()
                .filter(studium::entity::users::Column::Email.eq(email.as_str()))
                .one(app.state.db.read())
                .await
                .unwrap();
            assert!(made.is_none(), "no account was made");

            // The right nonce signs in: the session cookie is set and the dashboard opens.
            let ok = callback(key.sign(&google_claims(Some(&nonce), &email))).await;
            assert_eq!(ok.status(), StatusCode::SEE_OTHER);
            assert_eq!(ok.headers()["location"], "/");
            assert!(session_cookie_of(&ok).is_some());
            let home = cross.get(format!("{}/", app.address)).send().await.unwrap();
            assert_eq!(home.status(), StatusCode::OK);
            assert!(home.text().await.unwrap().contains("Gina Web"));

            // Ten minutes on, the same nonce has expired.
            app.set_time(app.clock.now() + chrono::Duration::minutes(11));
            let late = callback(key.sign(&google_claims(Some(&nonce), &email))).await;
            assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
            assert!(session_cookie_of(&late).is_none());
        },
    )
    .await;
}
backend_test!(
    google_callback_signs_in_only_with_our_nonce,
    google_callback_checks_the_nonce
);

db_test!(
    google_sign_in_says_when_it_is_not_set_up,
    config = |c| {
        c.google_client_id = None;
    },
    |app| {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}/signin/google", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.text().await.unwrap().contains("not set up"));
    }
);
