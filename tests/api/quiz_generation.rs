//! `POST /topics/{id}/quizzes` (issue 8 item 6): quizzes generated from a topic's lessons by the
//! offline generator and by a hosted model (through the fake OpenAI-compatible server), each
//! question checked before it is stored, the quiz visible to its student alone, and the daily
//! generation allowance.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use studium::entity::{lesson_passages, lessons, quiz_questions};
use uuid::Uuid;

use crate::doubts::{seed_demo, topic_named};
use crate::fake_openai::{Reply, completion};
use crate::helpers::*;
use crate::{backend_test, db_test};

fn uuid_of(v: &Value) -> Uuid {
    v.as_str().expect("a uuid").parse().expect("a uuid")
}

/// The stored questions of a quiz, answers included (what the student must not see).
async fn stored(app: &TestApp, quiz: Uuid) -> Vec<quiz_questions::Model> {
    quiz_questions::Entity::find()
        .filter(quiz_questions::Column::QuizId.eq(quiz))
        .all(app.state.db.read())
        .await
        .unwrap()
}

db_test!(
    the_offline_generator_builds_a_valid_quiz_only_its_student_sees,
    |app| {
        seed_demo(&app).await;
        let user = app.student().await;
        let other = app.student().await;
        let topic = topic_named(&app, "Cell structure and organelles").await;
        let res = app
            .post(
                &format!("/topics/{topic}/quizzes"),
                Some(&user.access),
                json!({"num_questions": 5}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let quiz = &res.body["quiz"];
        let id = uuid_of(&quiz["id"]);
        let questions = quiz["questions"].as_array().unwrap();
        assert!((1..=5).contains(&questions.len()), "{}", res.text);
        assert_eq!(quiz["generated_by_ai"], true);
        assert_eq!(quiz["owner_id"], json!(user.id));
        // Answers stay hidden until an attempt is submitted.
        for q in questions {
            assert!(
                q.get("correct_answer").is_none() && q.get("explanation").is_none(),
                "{q}"
            );
        }
        // Every stored question keeps the rule: 2–6 distinct options, the key among them,
        // and the key found in the topic's lessons.
        let lesson_text: String = lesson_passages::Entity::find()
            .inner_join(lessons::Entity)
            .filter(lessons::Column::TopicId.eq(topic))
            .all(app.state.db.read())
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.passage_text.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        let rows = stored(&app, id).await;
        assert_eq!(rows.len(), questions.len());
        for q in &rows {
            let options: Vec<String> = serde_json::from_value(q.options.clone()).unwrap();
            assert!((2..=6).contains(&options.len()), "{options:?}");
            let mut distinct: Vec<String> = options.iter().map(|o| o.to_lowercase()).collect();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), options.len(), "{options:?}");
            assert_eq!(
                options.iter().filter(|o| **o == q.correct_answer).count(),
                1
            );
            assert!(
                lesson_text.contains(&q.correct_answer.to_lowercase()),
                "{}",
                q.correct_answer
            );
        }
        // Mine in my list, not in another student's; theirs is a 404.
        let mine = app
            .get(&format!("/topics/{topic}/quizzes"), Some(&user.access))
            .await;
        assert!(
            mine.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["id"] == json!(id))
        );
        let theirs = app
            .get(&format!("/topics/{topic}/quizzes"), Some(&other.access))
            .await;
        assert!(
            !theirs.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["id"] == json!(id))
        );
        let res = app
            .get(&format!("/quizzes/{id}"), Some(&other.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        // Taking it with every correct answer scores 100 %.
        let answers: Vec<Value> = rows
            .iter()
            .map(|q| json!({"question_id": q.id, "answer": q.correct_answer}))
            .collect();
        let res = app
            .post(
                &format!("/quizzes/{id}/attempts"),
                Some(&user.access),
                json!({"answers": answers}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        assert_eq!(res.body["attempt"]["correct_count"], json!(rows.len()));
        // The call was logged as a zero-cost success of the quiz feature.
        let usage = app.get("/me/ai-usage", Some(&user.access)).await;
        assert_eq!(usage.body["used_today"]["quiz"], 1, "{}", usage.text);
    }
);

db_test!(bad_generation_requests_are_refused, |app| {
    seed_demo(&app).await;
    let user = app.student().await;
    let topic = topic_named(&app, "Linear equations").await;
    let path = format!("/topics/{topic}/quizzes");
    for body in [
        json!({"num_questions": 0}),
        json!({"num_questions": 21}),
        json!({"source": "internet"}),
        json!({"num_questions": 3, "extra": true}),
    ] {
        let res = app.post(&path, Some(&user.access), body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.text
        );
    }
    // No uploaded materials on the topic: nothing to build from.
    let res = app
        .post(&path, Some(&user.access), json!({"source": "materials"}))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    let res = app
        .post(
            &format!("/topics/{}/quizzes", Uuid::now_v7()),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
    // A lesson too thin for a multiple-choice question: a clear 422, nothing stored.
    let admin = app.admin().await;
    let res = app
        .post("/subjects", Some(&admin.access), json!({"name": "Tiny"}))
        .await;
    let subject = res.body["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/subjects/{subject}/topics"),
            Some(&admin.access),
            json!({"name": "Stub"}),
        )
        .await;
    let stub = res.body["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/topics/{stub}/lessons"),
            Some(&admin.access),
            json!({"title": "Stub", "content": "Hello there."}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let res = app
        .post(
            &format!("/topics/{stub}/quizzes"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    let list = app
        .get(&format!("/topics/{stub}/quizzes"), Some(&user.access))
        .await;
    assert_eq!(list.body["items"], json!([]));
    // None of the others counted against the allowance (the thin one spent its call).
    let usage = app.get("/me/ai-usage", Some(&user.access)).await;
    assert_eq!(usage.body["used_today"]["quiz"], 1, "{}", usage.text);
});

db_test!(
    the_daily_generation_allowance_holds,
    config = |c| {
        c.plan_free_quiz_per_day = 2;
    },
    |app| {
        seed_demo(&app).await;
        let user = app.student().await;
        let topic = topic_named(&app, "Linear equations").await;
        let path = format!("/topics/{topic}/quizzes");
        let requests = (0..6).map(|_| app.post(&path, Some(&user.access), json!({})));
        let answers = futures::future::join_all(requests).await;
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CREATED)
                .count(),
            2,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            4,
            "{statuses:?}"
        );
    }
);

/// A hosted model's quiz: one good question, one whose key is not among its options, one whose
/// key its passage does not support, and a duplicate. Only the good one is stored.
async fn hosted_quiz_is_checked(backend: Backend) {
    let (fake, base_url) = crate::fake_openai::start(Vec::new()).await;
    run(
        backend,
        move |c| crate::fake_openai::configure_for(c, &base_url),
        move |app| async move {
            seed_demo(&app).await;
            let user = app.student().await;
            let topic = topic_named(&app, "Linear equations").await;
            let good = json!({"question_text": "What is the number in front of a variable called?",
                "options": ["coefficient", "constant", "variable", "term"], "correct_answer": "Coefficient",
                "explanation": "Source 1 defines it.", "source": null});
            let quiz = json!({"title": "Equations", "questions": [
                good,
                {"question_text": "What is 2 + 2?", "options": ["3", "5"], "correct_answer": "4",
                 "explanation": null, "source": null},
                {"question_text": "Who wrote the Iliad?", "options": ["Homer", "Virgil"], "correct_answer": "Homer",
                 "explanation": null, "source": null},
                good,
            ]});
            fake.replies.lock().unwrap().push_back(Reply::Json(completion(&quiz.to_string())));
            let res = app
                .post(&format!("/topics/{topic}/quizzes"), Some(&user.access), json!({"num_questions": 4}))
                .await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            let questions = res.body["quiz"]["questions"].as_array().unwrap();
            assert_eq!(questions.len(), 1, "{}", res.text);
            let rejected = res.body["rejected"].as_array().unwrap();
            assert_eq!(rejected.len(), 3, "{}", res.text);
            let rows = stored(&app, uuid_of(&res.body["quiz"]["id"])).await;
            assert_eq!(rows[0].correct_answer, "coefficient", "repaired to its option");

            // All broken: nothing stored, a clear 503, and the spent tokens still logged.
            let broken = json!({"title": "x", "questions": [
                {"question_text": "What is 2 + 2?", "options": ["3", "5"], "correct_answer": "4",
                 "explanation": null, "source": null}]});
            fake.replies.lock().unwrap().push_back(Reply::Json(completion(&broken.to_string())));
            let before = app.get(&format!("/topics/{topic}/quizzes"), Some(&user.access)).await;
            let res = app
                .post(&format!("/topics/{topic}/quizzes"), Some(&user.access), json!({}))
                .await;
            assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
            assert_eq!(res.problem_slug(), "ai-unavailable");
            let after = app.get(&format!("/topics/{topic}/quizzes"), Some(&user.access)).await;
            assert_eq!(before.body["items"], after.body["items"]);
        },
    )
    .await;
}
backend_test!(
    a_hosted_models_quiz_is_checked_before_it_is_stored,
    hosted_quiz_is_checked
);
