//! The web app in a browser: the dashboard, the learning pages (subjects, topics, lessons with
//! "Mark complete") and the study timer, over the demo content.

use chrono::Duration;

use super::browser::Browser;
use crate::db_test;
use crate::helpers::PASSWORD;

async fn total_xp(b: &Browser) -> i64 {
    b.goto("/").await;
    b.text("#total-xp")
        .await
        .parse()
        .expect("the total XP is a number")
}

db_test!(
    a_student_completes_a_lesson_and_studies_with_the_timer,
    |app| {
        studium::demo::seed(&app.state.db, app.clock.now())
            .await
            .expect("seeding the demo content");
        let b = Browser::open(&app).await;
        let email = app.unique_email("learn");
        b.sign_up("Lena Learner", &email, PASSWORD).await;
        let before = total_xp(&b).await;
        b.find("svg.study-chart[role='img']").await;
        // Today's recommendations link to the web pages of their targets.
        b.find(".recommendations a[href^='/learn/topics/']").await;
        b.check("learn-dashboard").await;

        // "Dismiss" takes a suggestion away, for good on the next visit too.
        let dismissed = b.text(".recommendations li a").await;
        b.click(".recommendations li .dismiss").await;
        b.wait_for_text(".recommendations .dismissed", "Dismissed")
            .await;
        b.goto("/").await;
        let next = b.text("#next-heading + *").await;
        assert!(!next.contains(&dismissed), "{dismissed:?} is back: {next}");

        // Subjects → a subject's topics → a topic's lessons → a lesson.
        b.click("nav a[href='/learn']").await;
        b.wait_for_path("/learn").await;
        b.wait_for_text(".learn-list", "Algebra").await;
        b.check("learn-subjects").await;
        b.click(".learn-list a").await;
        b.wait_for_text("h1", "Algebra").await;
        b.wait_for_text(".learn-list", "Linear equations").await;
        b.check("learn-subject").await;
        b.click(".learn-list a").await;
        b.wait_for_text("h1", "Linear equations").await;
        assert!(b.text("#topic-progress").await.starts_with("0 of "));
        b.check("learn-topic").await;
        b.click(".lesson-list a").await;
        b.wait_for_text("h1", "What an equation says").await;

        // The Markdown is rendered, not shown as source.
        assert_eq!(
            b.text(".lesson-body h2").await,
            "Equations are statements of balance"
        );
        b.find(".lesson-body strong").await;
        assert!(!b.text(".lesson-body").await.contains("**"));
        b.check("learn-lesson").await;

        // Mark complete: +10 XP the first time, nothing the second.
        b.click("#complete-lesson").await;
        b.wait_for_text("#lesson-complete", "+10 XP").await;
        // The total counts the lesson's 10 XP and any achievement the completion unlocked.
        let shown: i64 = b.text("#lesson-total-xp").await.parse().unwrap();
        assert!(shown >= before + 10, "{shown} >= {before} + 10");
        b.click("#complete-lesson").await;
        b.wait_for_text("#lesson-complete", "no XP this time").await;
        let lesson_path = b.path().await;
        b.goto(&lesson_path).await;
        b.wait_for_text("#lesson-complete", "You completed this lesson")
            .await;

        let after_lesson = total_xp(&b).await;
        assert!(after_lesson > before, "{after_lesson} > {before}");
        assert_eq!(after_lesson, shown, "the dashboard shows the same total");
        b.wait_for_text(".mastery-table", "Linear equations").await;
        b.find("#streak-safe").await;

        // The timer: start, reload, still running from the same start; stop after 25 minutes.
        b.goto("/study").await;
        b.find("#start-timer").await;
        b.check("learn-study").await;
        b.click("#start-timer").await;
        b.wait_for_text("#study-status", "Timer started").await;
        let started = b
            .find("#study-clock")
            .await
            .attr("data-started-at")
            .await
            .unwrap()
            .expect("the clock knows the start");
        b.goto("/study").await;
        let clock = b.find("#study-clock").await;
        assert_eq!(
            clock.attr("data-started-at").await.unwrap().as_deref(),
            Some(started.as_str()),
            "the running session survives a reload"
        );
        assert_eq!(
            clock.attr("aria-live").await.unwrap().as_deref(),
            Some("off")
        );
        b.find("#stop-timer").await;
        b.wait_for_text("#study-clock", "0:00:02").await;
        b.check("learn-study-running").await;

        app.clock.advance(Duration::minutes(25));
        b.click("#stop-timer").await;
        b.wait_for_text("#study-result", "You studied 25 minutes and earned 25 XP")
            .await;
        b.wait_for_text("#study-status", "25 minutes").await;
        b.wait_for_text("#study-sessions", "25 minutes").await;
        b.find("#start-timer").await;
        b.goto("/study").await;
        b.wait_for_text("#study-sessions", "25 minutes").await;
        let after_study = total_xp(&b).await;
        b.find("svg.study-chart .chart-bar").await;
        b.check("learn-dashboard-studied").await;
        assert!(
            after_study >= after_lesson + 25,
            "{after_study} >= {after_lesson} + 25"
        );
        assert!(b.text("#study-minutes-30").await.parse::<i64>().unwrap() >= 25);
    }
);

db_test!(pages_need_sign_in_and_unknown_content_is_not_found, |app| {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/learn",
        "/study",
        "/learn/lessons/0191d2c0-0000-7000-8000-000000000000",
    ] {
        let res = client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "{path}");
    }
    let b = Browser::open(&app).await;
    b.sign_up("Nora Nobody", &app.unique_email("learn404"), PASSWORD)
        .await;
    b.goto("/learn").await;
    b.wait_for_text("main", "There are no subjects yet").await;
    let status = b
        .js("return fetch('/learn/lessons/0191d2c0-0000-7000-8000-000000000000').then(r => r.status)")
        .await;
    assert_eq!(status, serde_json::json!(404));
});
