//! The web app in a browser: the admin area.

use reqwest::StatusCode;
use serde_json::Value;

use super::browser::Browser;
use crate::db_test;
use crate::helpers::PASSWORD;

db_test!(
    admin_area_runs_users_content_usage_jobs_and_item_statistics,
    |app| {
        studium::demo::seed(&app.state.db, app.clock.now())
            .await
            .expect("demo content");
        let admin = app.admin().await;
        let student = app.student().await;
        let b = Browser::open(&app).await;
        b.sign_in(&admin.email, PASSWORD).await;

        b.click("a[href='/admin']").await;
        b.wait_for_path("/admin").await;
        let users_total: u64 = b.text("#stat-users-total").await.parse().unwrap();
        assert!(users_total >= 2);
        b.check("admin-overview").await;

        // Users: find the student and deactivate them; their sessions end at once.
        b.goto(&format!("/admin/users?q={}", student.email)).await;
        b.wait_for_text("table", &student.email).await;
        b.check("admin-users").await;
        b.click("button[value=deactivate]").await;
        b.wait_for_text("table", "deactivated").await;
        assert_eq!(
            app.get("/me", Some(&student.access)).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Content: an empty name is refused beside the field; then subject → topic → lesson.
        b.goto("/admin/content").await;
        b.click("form[action='/admin/content'] button[type=submit]")
            .await;
        assert!(!b.text("#name-error").await.is_empty());
        b.check("admin-content").await;
        b.fill("name", "Astronomy").await;
        b.click("form[action='/admin/content'] button[type=submit]")
            .await;
        b.wait_for_text("h1", "Astronomy").await;
        b.fill("name", "The Moon").await;
        b.click("form[action^='/admin/content/subjects/'] button[type=submit]")
            .await;
        b.wait_for_text("h1", "The Moon").await;
        b.fill("title", "Phases of the Moon").await;
        b.fill("content", "The **Moon** has phases.").await;
        b.click("form[action^='/admin/content/topics/'] button[type=submit]")
            .await;
        b.wait_for_text("#lessons-h + ol", "Phases of the Moon")
            .await;
        b.check("admin-topic").await;
        let subjects = app.get("/subjects?limit=100", Some(&admin.access)).await;
        assert!(
            subjects.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == "Astronomy")
        );

        // Item statistics of a demo quiz, reached from its topic's page.
        let topic_with_quiz = demo_topic_with_quiz(&app, &admin.access).await;
        b.goto(&format!("/admin/content/topics/{topic_with_quiz}"))
            .await;
        b.click("a[href$='/stats']").await;
        b.wait_for_text("h1", "Item statistics").await;
        b.find("table tbody tr").await;
        b.check("admin-item-statistics").await;

        // A topic that does not exist: a readable page, not a JSON document.
        b.goto(&format!("/admin/content/topics/{}", uuid::Uuid::now_v7()))
            .await;
        b.wait_for_text("h1", "Not found").await;
        b.check("error-not-found").await;

        b.goto("/admin/usage?group_by=feature").await;
        b.find("table").await;
        b.check("admin-usage").await;
        b.goto("/admin/jobs").await;
        b.wait_for_text("table", "email.send").await;
        b.check("admin-jobs").await;
    }
);

db_test!(students_get_a_forbidden_page_in_the_admin_area, |app| {
    let b = Browser::open(&app).await;
    b.sign_up("Sam Student", &app.unique_email("sam"), PASSWORD)
        .await;
    assert!(
        b.client
            .find(fantoccini::Locator::Css("a[href='/admin']"))
            .await
            .is_err()
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookies = b.client.get_all_cookies().await.unwrap();
    let header = cookies
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    for path in ["/admin", "/admin/users", "/admin/jobs", "/admin/content"] {
        let res = client
            .get(format!("{}{path}", app.address))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    b.goto("/admin").await;
    b.wait_for_text("h1", "Admins only").await;
    b.check("admin-forbidden").await;
});

async fn demo_topic_with_quiz(app: &crate::helpers::TestApp, token: &str) -> String {
    let subjects = app.get("/subjects?limit=100", Some(token)).await;
    for s in subjects.body["items"].as_array().unwrap() {
        let topics = app
            .get(
                &format!("/subjects/{}/topics?limit=100", s["id"].as_str().unwrap()),
                Some(token),
            )
            .await;
        for t in topics.body["items"].as_array().unwrap() {
            let id = t["id"].as_str().unwrap();
            let quizzes = app.get(&format!("/topics/{id}/quizzes"), Some(token)).await;
            if quizzes.body["items"]
                .as_array()
                .is_some_and(|q: &Vec<Value>| !q.is_empty())
            {
                return id.to_string();
            }
        }
    }
    panic!("the demo content has a topic with a quiz");
}
