//! Quizzes (SPEC §3 Quizzes, XP; §4 quizzes): reading without answers, server-side scoring,
//! attempts only on the quiz's own questions, private generated quizzes, XP exactly once under
//! concurrency, achievements, mastery, admin-written quizzes and item statistics.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db_test;
use crate::gamification::{topic_with_lessons, uid};
use crate::helpers::*;

fn id_in(v: &Value) -> Uuid {
    v["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {v}"))
}

/// A question as the admin writes it: `key` is the correct option.
fn question(text: &str, options: &[&str], key: &str) -> Value {
    json!({
        "question_text": text,
        "options": options,
        "correct_answer": key,
        "explanation": format!("Because {key}."),
    })
}

/// Three questions whose keys are "A1", "B2", "C3".
fn three_questions() -> Vec<Value> {
    vec![
        question("First?", &["A1", "A2", "A3"], "A1"),
        question("Second?", &["B1", "B2"], "B2"),
        question("Third?", &["C1", "C2", "C3", "C4"], "C3"),
    ]
}

/// A shared quiz written by the admin; returns the created quiz (with its keys).
async fn admin_quiz(app: &TestApp, admin: &TestUser, topic: Uuid, questions: Vec<Value>) -> Value {
    let res = app
        .post(
            "/admin/quizzes",
            Some(&admin.access),
            json!({"topic_id": topic, "title": "Check yourself", "difficulty": "beginner", "questions": questions}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    res.body
}

/// The question ids of a quiz as a student reads it, in order.
async fn question_ids(app: &TestApp, user: &TestUser, quiz: Uuid) -> Vec<Uuid> {
    let res = app
        .get(&format!("/quizzes/{quiz}"), Some(&user.access))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(id_in)
        .collect()
}

async fn submit(app: &TestApp, user: &TestUser, quiz: Uuid, answers: Value) -> Resp {
    app.post(
        &format!("/quizzes/{quiz}/attempts"),
        Some(&user.access),
        json!({ "answers": answers }),
    )
    .await
}

/// Answers the three-question quiz with the first `correct` answers right and the rest wrong.
fn answers(ids: &[Uuid], correct: usize) -> Value {
    let right = ["A1", "B2", "C3"];
    let wrong = ["A2", "B1", "C1"];
    Value::Array(
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let a = if i < correct { right[i] } else { wrong[i] };
                json!({"question_id": id, "answer": a})
            })
            .collect(),
    )
}

async fn total_xp(app: &TestApp, user: &TestUser) -> i64 {
    let res = app.get("/me/xp", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["total_xp"].as_i64().expect("total_xp")
}

fn fields(res: &Resp) -> Vec<String> {
    res.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

db_test!(reading_a_quiz_hides_answers_and_explanations, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 0).await;
    let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);

    let res = app
        .get(&format!("/quizzes/{quiz}"), Some(&student.access))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let questions = res.body["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 3);
    assert_eq!(questions[1]["options"], json!(["B1", "B2"]));
    for q in questions {
        assert!(q.get("correct_answer").is_none(), "{q}");
        assert!(q.get("explanation").is_none(), "{q}");
    }
    assert!(!res.text.contains("Because"), "{}", res.text);

    let list = app
        .get(
            &format!("/topics/{}/quizzes", topic.id),
            Some(&student.access),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["question_count"], 3);
    assert_eq!(items[0]["best_score"], Value::Null);
    assert!(!list.text.contains("correct_answer"));

    let missing = app
        .get(
            &format!("/topics/{}/quizzes", Uuid::now_v7()),
            Some(&student.access),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
});

db_test!(
    an_attempt_is_scored_on_the_server_with_results_after_submission,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let other = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let ids = question_ids(&app, &student, quiz).await;

        // Right (written in another case), wrong, and the third left out.
        let res = submit(
            &app,
            &student,
            quiz,
            json!([
                {"question_id": ids[0], "answer": " a1 "},
                {"question_id": ids[1], "answer": "B1"},
            ]),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let attempt = &res.body["attempt"];
        assert_eq!(attempt["correct_count"], 1);
        assert_eq!(attempt["total_questions"], 3);
        assert_eq!(attempt["score_percentage"].as_f64(), Some(33.33));
        let results = res.body["results"].as_array().expect("results");
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["answer"], "A1");
        assert_eq!(results[0]["correct"], true);
        assert_eq!(results[1]["correct"], false);
        assert_eq!(results[1]["correct_answer"], "B2");
        assert_eq!(results[1]["explanation"], "Because B2.");
        assert_eq!(results[2]["answer"], Value::Null);
        assert_eq!(results[2]["correct"], false);
        assert_eq!(results[2]["correct_answer"], "C3");
        let attempt_id = id_in(attempt);

        // My attempts list it, newest first, and it can be read again.
        let second = submit(&app, &student, quiz, answers(&ids, 3)).await;
        assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
        let mine = app
            .get(
                &format!("/me/quiz-attempts?quiz_id={quiz}"),
                Some(&student.access),
            )
            .await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
        let items = mine.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!(id_in(&items[0]), id_in(&second.body["attempt"]));
        assert_eq!(id_in(&items[1]), attempt_id);
        let page = app
            .get("/me/quiz-attempts?limit=1", Some(&student.access))
            .await;
        assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
        let cursor = page.body["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_string();
        let next = app
            .get(
                &format!("/me/quiz-attempts?limit=1&cursor={cursor}"),
                Some(&student.access),
            )
            .await;
        assert_eq!(id_in(&next.body["items"][0]), attempt_id);
        let detail = app
            .get(
                &format!("/quiz-attempts/{attempt_id}"),
                Some(&student.access),
            )
            .await;
        assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
        assert_eq!(detail.body["results"][0]["correct"], true);
        assert_eq!(detail.body["results"][2]["answer"], Value::Null);

        // The topic's list shows my best score.
        let list = app
            .get(
                &format!("/topics/{}/quizzes", topic.id),
                Some(&student.access),
            )
            .await;
        assert_eq!(list.body["items"][0]["best_score"].as_f64(), Some(100.0));
        assert_eq!(list.body["items"][0]["attempt_count"], 2);

        // Another student sees none of it.
        let theirs = app
            .get(&format!("/quiz-attempts/{attempt_id}"), Some(&other.access))
            .await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        let their_list = app.get("/me/quiz-attempts", Some(&other.access)).await;
        assert_eq!(their_list.body["items"], json!([]));
    }
);

db_test!(
    answers_must_belong_to_the_quiz_once_and_be_an_option,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let other_quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let ids = question_ids(&app, &student, quiz).await;
        let foreign = question_ids(&app, &student, other_quiz).await;

        let res = submit(
            &app,
            &student,
            quiz,
            json!([
                {"question_id": ids[0], "answer": "A1"},
                {"question_id": foreign[1], "answer": "B2"},
            ]),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert!(res.is_problem());
        assert_eq!(fields(&res), vec!["answers[1].question_id"]);

        let unknown = submit(
            &app,
            &student,
            quiz,
            json!([{"question_id": Uuid::now_v7(), "answer": "A1"}]),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&unknown), vec!["answers[0].question_id"]);

        let twice = submit(
            &app,
            &student,
            quiz,
            json!([
                {"question_id": ids[0], "answer": "A2"},
                {"question_id": ids[0], "answer": "A1"},
            ]),
        )
        .await;
        assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&twice), vec!["answers[1].question_id"]);

        let not_an_option = submit(
            &app,
            &student,
            quiz,
            json!([{"question_id": ids[1], "answer": "B7"}]),
        )
        .await;
        assert_eq!(not_an_option.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&not_an_option), vec!["answers[0].answer"]);

        // Nothing was stored or awarded by the rejected submissions.
        let mine = app.get("/me/quiz-attempts", Some(&student.access)).await;
        assert_eq!(mine.body["items"], json!([]));
        assert_eq!(total_xp(&app, &student).await, 0);
    }
);

db_test!(another_students_own_quiz_is_not_found, |app| {
    let admin = app.admin().await;
    let owner = app.student().await;
    let other = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 0).await;
    let drafts = vec![studium::quizzes::validate::QuestionDraft {
        question_text: "Mine?".into(),
        options: vec!["Yes".into(), "No".into()],
        correct_answer: "Yes".into(),
        explanation: None,
    }];
    let quiz = studium::quizzes::service::store_quiz(
        app.state.db.write(),
        topic.id,
        Some(uid(&owner)),
        Some(uid(&owner)),
        "Generated for me",
        None,
        None,
        "lessons",
        true,
        drafts,
        app.clock.now(),
    )
    .await
    .expect("store");

    let ids = question_ids(&app, &owner, quiz.id).await;
    let listed = app
        .get(
            &format!("/topics/{}/quizzes", topic.id),
            Some(&owner.access),
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let res = app
        .get(&format!("/quizzes/{}", quiz.id), Some(&other.access))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let attempt = submit(
        &app,
        &other,
        quiz.id,
        json!([{"question_id": ids[0], "answer": "Yes"}]),
    )
    .await;
    assert_eq!(attempt.status, StatusCode::NOT_FOUND);
    let listed = app
        .get(
            &format!("/topics/{}/quizzes", topic.id),
            Some(&other.access),
        )
        .await;
    assert_eq!(listed.body["items"], json!([]));

    // The owner's attempt works, and the tutor's guard stops hiding its key afterwards.
    let keys = studium::quizzes::service::unsubmitted_answers(
        app.state.db.read(),
        uid(&owner),
        Some(topic.id),
    )
    .await
    .expect("keys");
    assert_eq!(keys, vec!["Yes".to_string()]);
    let theirs =
        studium::quizzes::service::unsubmitted_answers(app.state.db.read(), uid(&other), None)
            .await
            .expect("keys");
    assert!(theirs.is_empty(), "{theirs:?}");
    let mine = submit(
        &app,
        &owner,
        quiz.id,
        json!([{"question_id": ids[0], "answer": "No"}]),
    )
    .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.text);
    let keys = studium::quizzes::service::unsubmitted_answers(
        app.state.db.read(),
        uid(&owner),
        Some(topic.id),
    )
    .await
    .expect("keys");
    assert!(keys.is_empty(), "{keys:?}");
});

db_test!(
    xp_counts_only_correct_answers_beyond_the_best_and_the_first_perfect_score,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let ids = question_ids(&app, &student, quiz).await;

        let xp_of = |res: &Resp| {
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            assert_eq!(res.body["xp_awarded"], res.body["attempt"]["xp_awarded"]);
            res.body["xp_awarded"].as_i64().expect("xp_awarded")
        };
        // First attempt: 10 per correct answer.
        assert_eq!(
            xp_of(&submit(&app, &student, quiz, answers(&ids, 2)).await),
            20
        );
        // Worse or equal: nothing.
        assert_eq!(
            xp_of(&submit(&app, &student, quiz, answers(&ids, 1)).await),
            0
        );
        assert_eq!(
            xp_of(&submit(&app, &student, quiz, answers(&ids, 2)).await),
            0
        );
        // Better: only the difference, plus 20 for the first 100 %.
        assert_eq!(
            xp_of(&submit(&app, &student, quiz, answers(&ids, 3)).await),
            10 + 20
        );
        // A second 100 %: nothing more.
        assert_eq!(
            xp_of(&submit(&app, &student, quiz, answers(&ids, 3)).await),
            0
        );
        assert_eq!(total_xp(&app, &student).await, 50);

        // Submitting a quiz attempt is a study day.
        let streak = app.get("/me/streak", Some(&student.access)).await;
        assert_eq!(streak.body["current_streak"], 1, "{}", streak.text);
    }
);

db_test!(
    identical_attempts_submitted_at_once_award_xp_exactly_once,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let ids = question_ids(&app, &student, quiz).await;
        let body = answers(&ids, 3);

        let all =
            futures::future::join_all((0..10).map(|_| submit(&app, &student, quiz, body.clone())))
                .await;
        let mut awarded = Vec::new();
        for res in &all {
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            awarded.push(res.body["xp_awarded"].as_i64().unwrap());
        }
        awarded.sort_unstable();
        // One submission earns 3 × 10 + 20; the nine others, nothing.
        assert_eq!(awarded, [vec![0; 9], vec![50]].concat());
        assert_eq!(total_xp(&app, &student).await, 50);
        let mine = app
            .get("/me/quiz-attempts?limit=100", Some(&student.access))
            .await;
        assert_eq!(mine.body["items"].as_array().unwrap().len(), 10);
    }
);

db_test!(
    quiz_achievements_unlock_and_mastery_moves_through_attempts,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let mut achievement = HashMap::new();
        for (criteria, value) in [("quizzes_completed", 1), ("perfect_quizzes", 1)] {
            let res = app
                .post(
                    "/admin/achievements",
                    Some(&admin.access),
                    json!({
                        "title": format!("{criteria} {}", Uuid::now_v7().simple()),
                        "description": "Quiz work",
                        "criteria_type": criteria,
                        "criteria_value": value,
                        "xp_reward": 5,
                    }),
                )
                .await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            achievement.insert(criteria, id_in(&res.body));
        }
        let ids = question_ids(&app, &student, quiz).await;
        let mastery = |res: Resp| {
            res.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["topic_id"] == topic.id.to_string())
                .map(|t| t["mastery"].as_f64().unwrap())
        };
        assert_eq!(
            mastery(app.get("/me/mastery", Some(&student.access)).await),
            None
        );

        let first = submit(&app, &student, quiz, answers(&ids, 1)).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        assert_eq!(
            first.body["achievements_unlocked"],
            json!([achievement["quizzes_completed"]])
        );
        let after_first =
            mastery(app.get("/me/mastery", Some(&student.access)).await).expect("mastery");
        assert!(after_first > 0.0);

        let perfect = submit(&app, &student, quiz, answers(&ids, 3)).await;
        assert_eq!(
            perfect.body["achievements_unlocked"],
            json!([achievement["perfect_quizzes"]])
        );
        let after_perfect = mastery(app.get("/me/mastery", Some(&student.access)).await).unwrap();
        assert!(
            after_perfect > after_first,
            "{after_perfect} > {after_first}"
        );
        let again = submit(&app, &student, quiz, answers(&ids, 0)).await;
        assert_eq!(again.body["achievements_unlocked"], json!([]));
        let after_bad = mastery(app.get("/me/mastery", Some(&student.access)).await).unwrap();
        assert!(after_bad < after_perfect, "{after_bad} < {after_perfect}");
        // Quiz XP 10 + (20 + 20), and the two rewards of 5.
        assert_eq!(total_xp(&app, &student).await, 30 + 20 + 10);
    }
);

db_test!(
    admin_quizzes_are_validated_and_students_are_refused,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let post = |questions: Vec<Value>, token: String| {
            let app = &app;
            async move {
                app.post(
                    "/admin/quizzes",
                    Some(&token),
                    json!({"topic_id": topic.id, "title": "T", "questions": questions}),
                )
                .await
            }
        };
        let seven = ["1", "2", "3", "4", "5", "6", "7"];
        for (q, field) in [
            (
                question("Dup?", &["Paris", " paris ", "Rome"], "Rome"),
                "questions[1].options",
            ),
            (
                question("Key?", &["Paris", "Rome"], "Berlin"),
                "questions[1].correct_answer",
            ),
            (
                question("One?", &["Paris"], "Paris"),
                "questions[1].options",
            ),
            (question("Seven?", &seven, "1"), "questions[1].options"),
            (
                question("  ", &["Paris", "Rome"], "Rome"),
                "questions[1].question_text",
            ),
        ] {
            let good = question("Fine?", &["Yes", "No"], "Yes");
            let res = post(vec![good, q.clone()], admin.access.clone()).await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{q}: {}",
                res.text
            );
            assert_eq!(fields(&res), vec![field], "{q}");
        }
        let none = post(vec![], admin.access.clone()).await;
        assert_eq!(
            none.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            none.text
        );
        let unknown_topic = app
        .post(
            "/admin/quizzes",
            Some(&admin.access),
            json!({"topic_id": Uuid::now_v7(), "title": "T", "questions": [question("Q?", &["a", "b"], "a")]}),
        )
        .await;
        assert_eq!(unknown_topic.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&unknown_topic), vec!["topic_id"]);

        // A key that differs from its option only in case and spaces is stored as the option.
        let ok = post(
            vec![question(
                "Capital?",
                &["Paris", "Rome", "Madrid", "Lisbon", "Oslo", "Bern"],
                "  rome",
            )],
            admin.access.clone(),
        )
        .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        assert_eq!(ok.body["questions"][0]["correct_answer"], "Rome");
        assert_eq!(ok.body["source"], "manual");
        assert_eq!(ok.body["generated_by_ai"], false);

        let refused = post(
            vec![question("Q?", &["a", "b"], "a")],
            student.access.clone(),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let stats = app
            .get(
                &format!("/admin/quizzes/{}/stats", id_in(&ok.body)),
                Some(&student.access),
            )
            .await;
        assert_eq!(stats.status, StatusCode::FORBIDDEN);
    }
);

db_test!(
    item_statistics_flag_a_too_easy_item_once_twenty_students_answered,
    config = |c| {
        c.rate_limit_register_per_ip = 1000;
    },
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let quiz = id_in(&admin_quiz(&app, &admin, topic.id, three_questions()).await);
        let stats = || async {
            let res = app
                .get(&format!("/admin/quizzes/{quiz}/stats"), Some(&admin.access))
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            res.body
        };
        let mut students = Vec::new();
        for i in 0..20 {
            let student = app.student().await;
            let ids = question_ids(&app, &student, quiz).await;
            // Everyone gets the first question; the second and third go together, for half.
            let body = if i % 2 == 0 {
                answers(&ids, 3)
            } else {
                json!([{"question_id": ids[0], "answer": "A1"}, {"question_id": ids[1], "answer": "B1"}])
            };
            let res = submit(&app, &student, quiz, body).await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            students.push((student, ids));
            if i == 18 {
                let s = stats().await;
                assert_eq!(s["counted_attempts"], 19);
                assert_eq!(s["questions"][0]["flagged"], false, "{s}");
            }
        }
        // A retake is not counted: the results page showed the keys.
        let (retaker, ids) = &students[1];
        let res = submit(&app, retaker, quiz, answers(ids, 3)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);

        let s = stats().await;
        assert_eq!(s["attempt_count"], 21);
        assert_eq!(s["counted_attempts"], 20);
        let q = s["questions"].as_array().unwrap();
        assert_eq!(q[0]["facility"].as_f64(), Some(1.0));
        assert_eq!(q[0]["flags"], json!(["too_easy"]));
        assert_eq!(q[0]["flagged"], true);
        assert_eq!(q[1]["facility"].as_f64(), Some(0.5));
        assert_eq!(q[2]["facility"].as_f64(), Some(0.5));
        let d = q[1]["discrimination"].as_f64().expect("discrimination");
        assert!((d - 1.0).abs() < 1e-9, "{d}");
        assert_eq!(q[1]["flagged"], false);

        let missing = app
            .get(
                &format!("/admin/quizzes/{}/stats", Uuid::now_v7()),
                Some(&admin.access),
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
);

db_test!(demo_quizzes_can_be_read_and_taken, |app| {
    let student = app.student().await;
    let data = studium::demo::DemoData::load().expect("the demo data is valid");
    studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding");
    let keys: HashMap<String, String> = data
        .subjects
        .iter()
        .flat_map(|s| &s.topics)
        .filter_map(|t| t.quiz.as_ref())
        .flat_map(|q| &q.questions)
        .map(|q| (q.question_text.clone(), q.correct_answer.clone()))
        .collect();

    let subjects = app.get("/subjects?limit=100", Some(&student.access)).await;
    let subject = id_in(&subjects.body["items"][0]);
    let topics = app
        .get(
            &format!("/subjects/{subject}/topics?limit=100"),
            Some(&student.access),
        )
        .await;
    let topic = id_in(&topics.body["items"][0]);
    let list = app
        .get(&format!("/topics/{topic}/quizzes"), Some(&student.access))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let summary = &list.body["items"][0];
    assert!(
        summary["question_count"].as_i64().unwrap() >= 2,
        "{summary}"
    );
    let quiz = id_in(summary);

    let read = app
        .get(&format!("/quizzes/{quiz}"), Some(&student.access))
        .await;
    assert!(!read.text.contains("correct_answer"), "{}", read.text);
    let questions = read.body["questions"].as_array().unwrap();
    let body: Vec<Value> = questions
        .iter()
        .map(|q| {
            let key = &keys[q["question_text"].as_str().unwrap()];
            json!({"question_id": q["id"], "answer": key})
        })
        .collect();
    let res = submit(&app, &student, quiz, Value::Array(body)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(
        res.body["attempt"]["score_percentage"].as_f64(),
        Some(100.0)
    );
    let n = i64::try_from(questions.len()).unwrap();
    assert_eq!(res.body["xp_awarded"].as_i64(), Some(n * 10 + 20));
    // The demo achievements "Quiz starter" and "Flawless" unlock.
    assert!(
        res.body["achievements_unlocked"].as_array().unwrap().len() >= 2,
        "{}",
        res.text
    );
});
