//! The tutor's retrieval (issue 8 item 2): passages follow their lessons through create,
//! update and delete; search ranks and filters on both backends; and the retrieval
//! evaluation over the demo lessons meets its goals, so a regression fails here.

use reqwest::StatusCode;
use serde_json::json;
use studium::tutor::eval::{self, QuestionSet};
use studium::tutor::retrieval::{answerable, search};
use uuid::Uuid;

use crate::db_test;
use crate::helpers::*;

async fn created(app: &TestApp, admin: &TestUser, path: &str, body: serde_json::Value) -> Uuid {
    let res = app.post(path, Some(&admin.access), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    res.body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id")
}

db_test!(the_retrieval_evaluation_meets_its_goals, |app| {
    studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding");
    let set = QuestionSet::parse(eval::QUESTIONS).expect("the question set parses");
    assert!(set.answerable.len() >= 40, "{}", set.answerable.len());
    assert!(set.unanswerable.len() >= 10, "{}", set.unanswerable.len());
    let report = eval::run(app.state.db.read(), &set)
        .await
        .expect("the evaluation runs");
    assert!(report.meets_goals(), "{:?}\n{report}", app.backend);
});

db_test!(the_retrieval_goals_hold_on_the_held_out_questions, |app| {
    studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding");
    let set = QuestionSet::parse(eval::HELDOUT).expect("the held-out set parses");
    assert!(set.answerable.len() >= 30, "{}", set.answerable.len());
    assert!(set.unanswerable.len() >= 20, "{}", set.unanswerable.len());
    let report = eval::run(app.state.db.read(), &set)
        .await
        .expect("the evaluation runs");
    assert!(report.meets_goals(), "{:?}\n{report}", app.backend);
});

db_test!(
    off_topic_questions_sharing_words_with_the_lessons_are_declined,
    |app| {
        studium::demo::seed(&app.state.db, app.clock.now())
            .await
            .expect("seeding");
        let db = app.state.db.read();
        for question in [
            "how do I solve a differential equation",
            "what caused the French Revolution",
            "what are the causes of climate change",
            "what caused World War One",
        ] {
            let hits = search(db, question, None, 5).await.expect("search");
            assert!(!answerable(&hits), "{question:?}: {hits:?}");
        }
        // While the lessons' own compounds and names are answered.
        for question in [
            "what was the Pax Romana",
            "why did the industrial revolution begin in Britain",
            "how does the sodium potassium pump work",
        ] {
            let hits = search(db, question, None, 5).await.expect("search");
            assert!(answerable(&hits), "{question:?}: {hits:?}");
        }
    }
);

db_test!(
    passages_follow_their_lesson_and_search_filters_by_topic,
    |app| {
        let admin = app.admin().await;
        let subject = created(&app, &admin, "/subjects", json!({"name": "Astronomy"})).await;
        let planets = created(
            &app,
            &admin,
            &format!("/subjects/{subject}/topics"),
            json!({"name": "Planets"}),
        )
        .await;
        let stars = created(
            &app,
            &admin,
            &format!("/subjects/{subject}/topics"),
            json!({"name": "Stars"}),
        )
        .await;
        let jupiter = created(
        &app,
        &admin,
        &format!("/topics/{planets}/lessons"),
        json!({"title": "Jupiter", "content": "## Moons\n\nJupiter has dozens of moons; the four largest are the Galilean moons."}),
    )
    .await;
        let sun = created(
        &app,
        &admin,
        &format!("/topics/{stars}/lessons"),
        json!({"title": "The Sun", "content": "## Fusion\n\nThe Sun shines by fusing hydrogen into helium; it also has no moons."}),
    )
    .await;
        let db = app.state.db.read();

        let hits = search(db, "How many moons does Jupiter have?", None, 5)
            .await
            .expect("search");
        assert_eq!(hits[0].lesson_id, jupiter, "{hits:?}");
        assert_eq!(hits[0].heading.as_deref(), Some("Moons"));
        assert!(answerable(&hits), "{hits:?}");
        let in_stars = search(db, "moons", Some(stars), 5).await.expect("search");
        assert!(in_stars.iter().all(|h| h.lesson_id == sun), "{in_stars:?}");
        assert!(!in_stars.is_empty());
        let unrelated = search(db, "how do I center a div in CSS", None, 5)
            .await
            .expect("search");
        assert!(!answerable(&unrelated), "{unrelated:?}");

        // An edit replaces the lesson's passages in the same request.
        let res = app
            .patch(
                &format!("/lessons/{jupiter}"),
                Some(&admin.access),
                json!({"content": "## Storms\n\nThe Great Red Spot is a storm larger than Earth."}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let hits = search(db, "Great Red Spot storm", None, 5)
            .await
            .expect("search");
        assert_eq!(hits.first().map(|h| h.lesson_id), Some(jupiter), "{hits:?}");
        let old = search(db, "Galilean", None, 5).await.expect("search");
        assert!(old.is_empty(), "{old:?}");

        // Deleting the lesson, or its topic with everything under it, takes its passages along.
        let res = app
            .delete(&format!("/lessons/{jupiter}"), Some(&admin.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert!(
            search(db, "storm", None, 5)
                .await
                .expect("search")
                .is_empty()
        );
        let res = app
            .delete(
                &format!("/topics/{stars}?cascade=true"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert!(
            search(db, "hydrogen helium", None, 5)
                .await
                .expect("search")
                .is_empty()
        );
    }
);

db_test!(
    lessons_written_before_passages_existed_are_indexed_once,
    |app| {
        studium::demo::seed(&app.state.db, app.clock.now())
            .await
            .expect("seeding");
        // Seeding indexed every lesson already, so nothing is missing.
        let n = studium::tutor::retrieval::index_missing_in(&app.state.db, app.clock.now())
            .await
            .expect("indexing");
        assert_eq!(n, 0);
        // A database from before: passages gone, lessons still there.
        use sea_orm::EntityTrait;
        studium::entity::lesson_passages::Entity::delete_many()
            .exec(app.state.db.write())
            .await
            .expect("clearing");
        let n = studium::tutor::retrieval::index_missing_in(&app.state.db, app.clock.now())
            .await
            .expect("indexing");
        assert!(n >= 36, "{n}");
        let hits = search(app.state.db.read(), "what is the Pax Romana", None, 3)
            .await
            .expect("search");
        assert!(answerable(&hits), "{hits:?}");
    }
);
