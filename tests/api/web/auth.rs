//! The web app in a browser: signing up, in and out; the session cookie and the CSRF guard.

use fantoccini::key::Key;
use reqwest::StatusCode;

use super::browser::Browser;
use crate::db_test;
use crate::helpers::PASSWORD;

db_test!(sign_up_sign_out_and_sign_in_again, |app| {
    let b = Browser::open(&app).await;
    b.goto("/").await;
    b.wait_for_path("/signin").await;
    b.check("signin").await;

    // A password that is too short is shown beside its field, and nothing is created.
    let email = app.unique_email("web");
    b.goto("/signup").await;
    b.fill("full_name", "Ada Web").await;
    b.fill("email", &email).await;
    b.fill("password", "short").await;
    b.click("form[action='/signup'] button[type=submit]").await;
    let error = b.text("#password-error").await;
    assert!(!error.is_empty(), "the password error is shown");
    let invalid = b
        .find("#password")
        .await
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    b.check("signup-error").await;
    assert_eq!(
        app.login(&email, "short").await.status,
        StatusCode::UNAUTHORIZED
    );

    b.sign_up("Ada Web", &email, PASSWORD).await;
    assert_eq!(b.text("#total-xp").await, "0");
    assert!(b.text("h1").await.contains("Ada Web"));
    b.check("dashboard").await;

    b.click(".signout button").await;
    b.wait_for_path("/signin").await;
    b.goto("/").await;
    b.wait_for_path("/signin").await;

    // A wrong password says so above the form.
    b.fill("email", &email).await;
    b.fill("password", "not-the-password-at-all").await;
    b.click("form[action='/signin'] button[type=submit]").await;
    b.find(".alert-error").await;

    b.sign_in(&email, PASSWORD).await;
    assert!(b.text("h1").await.contains("Ada Web"));
});

db_test!(session_cookie_and_csrf_guard, |app| {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/signup", app.address))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form carries a CSRF token")
        .to_string();
    let email = app.unique_email("csrf");
    let form = [
        ("full_name", "Csrf Tester"),
        ("email", email.as_str()),
        ("password", PASSWORD),
    ];

    // Without the token (or with another one): 403, and no account is created.
    let refused = client
        .post(format!("{}/signup", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let forged = client
        .post(format!("{}/signup", app.address))
        .header("x-csrf-token", "a".repeat(43))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.login(&email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut with_token = form.to_vec();
    with_token.push(("csrf_token", token.as_str()));
    let signed_up = client
        .post(format!("{}/signup", app.address))
        .form(&with_token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), StatusCode::SEE_OTHER);
    let cookie = signed_up
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("studium_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "plain http in tests: no Secure flag"
    );
    assert_eq!(app.login(&email, PASSWORD).await.status, StatusCode::OK);

    // Signing out ends the session row, so the old cookie no longer signs anyone in.
    let session_value = cookie.split(';').next().unwrap().to_string();
    let out = client
        .post(format!("{}/signout", app.address))
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/", app.address))
        .header("cookie", session_value)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert_eq!(replay.headers()["location"], "/signin");
});

db_test!(
    signing_in_works_from_the_keyboard_alone_with_a_visible_focus,
    |app| {
        let student = app.student().await;
        let b = Browser::open(&app).await;
        b.goto("/signin").await;
        // The first Tab reaches the skip link, and the focused element is outlined.
        let skip = b.tab_to(".skip-link", 1).await;
        assert_ne!(skip.css_value("outline-style").await.unwrap(), "none");
        let email = b.tab_to("#email", 10).await;
        assert_ne!(email.css_value("outline-style").await.unwrap(), "none");
        email.send_keys(&student.email).await.unwrap();
        b.press(Key::Tab).await;
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&student.password)
            .await
            .unwrap();
        b.press(Key::Enter).await;
        b.wait_for_path("/").await;
        b.find("#total-xp").await;
    }
);
