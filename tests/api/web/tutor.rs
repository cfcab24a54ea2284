//! The web app in a browser: tutor pages.

use std::time::Duration;

use serde_json::Value;

use super::browser::Browser;
use crate::db_test;
use crate::helpers::PASSWORD;

/// Waits until `script` (an expression) is truthy in the page, and gives its value.
pub async fn wait_js(b: &Browser, script: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let value = b.js(&format!("return ({script});")).await;
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(v) => *v,
            Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page never made `{script}` true (at {})",
            b.path().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

db_test!(tutor_streams_a_cited_reply, |app| {
    studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding the demo content");
    let b = Browser::open(&app).await;
    let email = app.unique_email("tutor");
    b.sign_up("Tia Tutor", &email, PASSWORD).await;

    b.goto("/tutor").await;
    assert_eq!(b.text("h1").await, "Tutor");
    b.find("#ask-form select#topic_id").await;
    b.check("tutor-list").await;

    // A blank question is refused beside its field.
    b.click("#ask-form button[type=submit]").await;
    b.find("#message-error").await;
    let invalid = b.find("#message").await.attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));

    // The reply streams in piece by piece, then the stored reply with its sources replaces it.
    b.js("window.tutorDeltas = 0;
          document.body.addEventListener('htmx:sseMessage', function (e) {
            if (e.detail && e.detail.type === 'delta') window.tutorDeltas++;
          });")
        .await;
    b.fill("message", "What does the mitochondria do in a cell?")
        .await;
    b.click("#ask-form button[type=submit]").await;
    b.wait_for_text("#tutor-new .msg-student", "mitochondria")
        .await;
    let thread = b
        .find("#tutor-new a.continue-thread")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link to the thread");
    let deltas = b.js("return window.tutorDeltas;").await;
    assert!(
        deltas.as_u64().unwrap_or(0) >= 2,
        "the reply arrived in pieces: {deltas}"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('.msg-streaming').length;")
            .await,
        Value::from(0)
    );
    assert!(b.text("#tutor-new .msg-tutor .prose").await.contains("[1]"));
    let href = b
        .find("#tutor-new .citation a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.starts_with("/learn/lessons/") && href.contains("#passage-"),
        "{href}"
    );
    // The passage itself opens in place.
    b.click("#tutor-new .citation details summary").await;
    let passage = b.text("#tutor-new .citation details blockquote").await;
    assert!(passage.to_lowercase().contains("mitochondri"), "{passage}");

    // The thread page shows both messages and the citations; a follow-up streams there too.
    b.click("#tutor-new a.continue-thread").await;
    b.wait_for_path(&thread).await;
    assert!(b.text("h1").await.contains("mitochondria"));
    b.find("#messages .citation a[href^='/learn/lessons/']")
        .await;
    b.check("tutor-thread").await;

    b.fill("message", "Who won the football world cup in 1998?")
        .await;
    b.click("#ask-form button[type=submit]").await;
    wait_js(
        &b,
        "document.querySelectorAll('#messages > li.msg-tutor:not(.msg-streaming)').length === 2",
    )
    .await;
    // Not in the lessons: said plainly, with no sources.
    b.find("#messages > li:last-child .not-covered").await;
    assert_eq!(
        b.find("#message")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("")
    );

    // The list has the thread, the newest first.
    b.goto("/tutor").await;
    let list = b.text(".thread-list").await;
    assert!(
        list.contains("What does the mitochondria do in a cell?"),
        "{list}"
    );

    // A thread that is not one of mine is not found.
    let status = b
        .js(&format!(
            "return fetch('{}').then(r => r.status);",
            thread.replace(
                thread.rsplit('/').next().unwrap(),
                &uuid::Uuid::now_v7().to_string()
            )
        ))
        .await;
    assert_eq!(status, Value::from(404));
});

db_test!(
    a_used_up_allowance_is_said_in_words,
    config = |c| {
        c.plan_free_doubt_per_day = 1;
    },
    |app| {
        studium::demo::seed(&app.state.db, app.clock.now())
            .await
            .expect("seeding the demo content");
        let b = Browser::open(&app).await;
        let email = app.unique_email("quota");
        b.sign_up("Quincy Quota", &email, PASSWORD).await;
        b.goto("/tutor").await;
        b.fill("message", "What is a ribosome?").await;
        b.click("#ask-form button[type=submit]").await;
        b.find("#tutor-new a.continue-thread").await;

        // The second question of the day is refused above the form, which keeps the text.
        b.fill("message", "What is a eukaryotic cell?").await;
        b.click("#ask-form button[type=submit]").await;
        let alert = b.text("#ask-form .alert-error").await;
        assert!(alert.contains("used up today's allowance"), "{alert}");
        assert_eq!(
            b.find("#message")
                .await
                .prop("value")
                .await
                .unwrap()
                .as_deref(),
            Some("What is a eukaryotic cell?")
        );
        b.check("tutor-quota").await;
    }
);
