//! The web app in a browser: quizzes pages.

use serde_json::Value;

use super::browser::Browser;
use super::tutor::wait_js;
use crate::db_test;
use crate::helpers::PASSWORD;

db_test!(generate_take_and_see_results, |app| {
    studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding the demo content");
    let b = Browser::open(&app).await;
    let email = app.unique_email("quizzer");
    b.sign_up("Quinn Quiz", &email, PASSWORD).await;

    b.goto("/quizzes").await;
    assert_eq!(b.text("h1").await, "Quizzes");
    b.check("quizzes-list").await;

    // Generate a quiz on a demo topic.
    let topic = b
        .js("return [...document.querySelectorAll('#topic_id option')]
               .find(o => o.textContent.trim() === 'Cell structure and organelles').value;")
        .await;
    let topic = topic
        .as_str()
        .expect("the demo topic is offered")
        .to_string();
    b.click(&format!("#topic_id option[value='{topic}']")).await;
    b.fill("num_questions", "3").await;
    b.click("form[action='/quizzes/generate'] button[type=submit]")
        .await;
    let quiz_path = wait_js(
        &b,
        "/^\\/quizzes\\/[0-9a-f-]{36}$/.test(location.pathname) && location.pathname",
    )
    .await
    .as_str()
    .unwrap()
    .to_string();

    // Taking it: one fieldset and legend per question, radio answers.
    let questions = b
        .js("return document.querySelectorAll('fieldset.question').length;")
        .await
        .as_u64()
        .unwrap();
    assert!(questions >= 1, "the quiz has questions");
    assert_eq!(
        b.js("return document.querySelectorAll('fieldset.question > legend').length;")
            .await,
        Value::from(questions)
    );
    b.check("quizzes-take").await;

    // Submitting nothing is refused with a message.
    b.click("form.quiz-form button[type=submit]").await;
    b.find(".alert-error").await;
    assert!(b.path().await.starts_with(&quiz_path));

    // Answer every question (its first option) and submit.
    b.js(
        "document.querySelectorAll('fieldset.question').forEach(function (f) {
            f.querySelector('input[type=radio]').click();
          });",
    )
    .await;
    b.click("form.quiz-form button[type=submit]").await;
    let results = wait_js(
        &b,
        "location.pathname.startsWith('/quizzes/attempts/') && location.pathname",
    )
    .await
    .as_str()
    .unwrap()
    .to_string();
    let score = b.text("#score").await;
    assert!(score.ends_with('%'), "{score}");
    assert!(
        b.text(".score")
            .await
            .contains(&format!("of {questions} correct"))
    );
    assert_eq!(
        b.js("return document.querySelectorAll('li.result').length;")
            .await,
        Value::from(questions)
    );
    assert_eq!(
        b.js("return document.querySelectorAll('li.result .explanation').length;")
            .await,
        Value::from(questions)
    );
    let wrong = b
        .js("return document.querySelectorAll('li.result-wrong').length;")
        .await;
    assert_eq!(
        b.js("return document.querySelectorAll('li.result .right-answer').length;")
            .await,
        wrong
    );
    b.check("quizzes-results").await;

    // The list shows the quiz and the attempt.
    b.goto("/quizzes").await;
    b.find(&format!(".quiz-table a[href='{quiz_path}']")).await;
    b.find(&format!(".attempt-table a[href='{results}']")).await;

    // Another student sees neither the attempt nor the quiz generated for the first.
    b.click(".signout button").await;
    b.wait_for_path("/signin").await;
    let other = app.unique_email("other");
    b.sign_up("Otto Other", &other, PASSWORD).await;
    for path in [&results, &quiz_path] {
        let status = b
            .js(&format!("return fetch('{path}').then(r => r.status);"))
            .await;
        assert_eq!(status, Value::from(404), "{path}");
    }
});
