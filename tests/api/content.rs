//! Content through HTTP (SPEC §4 content): the catalogue (admins write, everyone signed in
//! reads), lesson completion with its XP, progress, and the demo content.

use std::collections::HashSet;

use chrono::Duration;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use studium::entity::{
    achievements, lesson_progress, quiz_attempts, quiz_questions, quizzes, topics,
};

use crate::db_test;
use crate::helpers::*;

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn subject(app: &TestApp, admin: &TestUser, name: &str) -> String {
    let res = app
        .post(
            "/subjects",
            Some(&admin.access),
            json!({"name": name, "description": "About it", "icon": "book", "color": "#4F46E5"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    id_of(&res.body)
}

async fn topic(app: &TestApp, admin: &TestUser, subject_id: &str, name: &str) -> String {
    let res = app
        .post(
            &format!("/subjects/{subject_id}/topics"),
            Some(&admin.access),
            json!({"name": name, "difficulty_level": 1}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    id_of(&res.body)
}

async fn lesson(app: &TestApp, admin: &TestUser, topic_id: &str, title: &str) -> String {
    let res = app
        .post(
            &format!("/topics/{topic_id}/lessons"),
            Some(&admin.access),
            json!({"title": title, "content": "# Heading\n\nSome *Markdown*.", "estimated_duration_minutes": 10}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    id_of(&res.body)
}

/// Follows `next_cursor` through a list and returns every item, checking no page is oversized.
async fn all_pages(app: &TestApp, user: &TestUser, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let res = app.get(&url, Some(&user.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let page = res.body["items"].as_array().expect("items").clone();
        assert!(page.len() <= limit);
        items.extend(page);
        match res.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    items
}

db_test!(an_admin_builds_the_catalogue_and_students_read_it, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let subject_id = subject(&app, &admin, "Chemistry").await;
    let topic_id = topic(&app, &admin, &subject_id, "Atoms").await;
    let video = app
        .post(
            &format!("/topics/{topic_id}/lessons"),
            Some(&admin.access),
            json!({"title": "Inside the atom", "content_type": "video",
                   "content_url": "https://videos.example.com/atom.mp4", "estimated_duration_minutes": 12}),
        )
        .await;
    assert_eq!(video.status, StatusCode::CREATED, "{}", video.text);
    assert_eq!(video.body["content_type"], "video");
    let lesson_id = id_of(&video.body);

    // Students read everything.
    let subjects = app.get("/subjects", Some(&student.access)).await;
    assert_eq!(subjects.status, StatusCode::OK, "{}", subjects.text);
    assert_eq!(subjects.body["items"][0]["name"], "Chemistry");
    assert_eq!(subjects.body["items"][0]["color"], "#4F46E5");
    let got = app
        .get(&format!("/topics/{topic_id}"), Some(&student.access))
        .await;
    assert_eq!(got.body["subject_id"], subject_id.as_str());
    let lessons = app
        .get(
            &format!("/topics/{topic_id}/lessons"),
            Some(&student.access),
        )
        .await;
    assert_eq!(lessons.body["items"][0]["id"], lesson_id.as_str());
    assert_eq!(
        lessons.body["items"][0]["content_url"],
        "https://videos.example.com/atom.mp4"
    );

    // Students never write; signed-out callers do not even read.
    let writes = [
        app.post("/subjects", Some(&student.access), json!({"name": "Mine"}))
            .await,
        app.patch(
            &format!("/subjects/{subject_id}"),
            Some(&student.access),
            json!({"name": "Renamed"}),
        )
        .await,
        app.delete(&format!("/subjects/{subject_id}"), Some(&student.access))
            .await,
        app.post(
            &format!("/subjects/{subject_id}/topics"),
            Some(&student.access),
            json!({"name": "Mine"}),
        )
        .await,
        app.patch(
            &format!("/topics/{topic_id}"),
            Some(&student.access),
            json!({"name": "Mine"}),
        )
        .await,
        app.delete(&format!("/topics/{topic_id}"), Some(&student.access))
            .await,
        app.post(
            &format!("/topics/{topic_id}/lessons"),
            Some(&student.access),
            json!({"title": "Mine", "content": "x"}),
        )
        .await,
        app.patch(
            &format!("/lessons/{lesson_id}"),
            Some(&student.access),
            json!({"title": "Mine"}),
        )
        .await,
        app.delete(&format!("/lessons/{lesson_id}"), Some(&student.access))
            .await,
    ];
    for res in writes {
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        assert!(res.is_problem());
    }
    assert_eq!(
        app.get("/subjects", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/lessons/{lesson_id}"), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Admin edits: fields left out stay.
    let patched = app
        .patch(
            &format!("/subjects/{subject_id}"),
            Some(&admin.access),
            json!({"name": "Chemistry 101"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["name"], "Chemistry 101");
    assert_eq!(patched.body["icon"], "book");
    let patched = app
        .patch(
            &format!("/lessons/{lesson_id}"),
            Some(&admin.access),
            json!({"title": "The atom, inside", "estimated_duration_minutes": 15}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["estimated_duration_minutes"], 15);
    assert_eq!(patched.body["content_type"], "video");
    let got = app
        .get(&format!("/lessons/{lesson_id}"), Some(&student.access))
        .await;
    assert_eq!(got.body["title"], "The atom, inside");

    // Deleting a lesson: gone for everyone.
    let deleted = app
        .delete(&format!("/lessons/{lesson_id}"), Some(&admin.access))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(
        app.get(&format!("/lessons/{lesson_id}"), Some(&student.access))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
});

db_test!(names_are_unique_per_subject_and_per_catalogue, |app| {
    let admin = app.admin().await;
    let algebra = subject(&app, &admin, "Algebra").await;
    let geometry = subject(&app, &admin, "Geometry").await;
    let again = app
        .post("/subjects", Some(&admin.access), json!({"name": "Algebra"}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.problem_slug(), "subject-name-taken");
    let rename = app
        .patch(
            &format!("/subjects/{geometry}"),
            Some(&admin.access),
            json!({"name": "Algebra"}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::CONFLICT, "{}", rename.text);

    let basics = topic(&app, &admin, &algebra, "Basics").await;
    let twice = app
        .post(
            &format!("/subjects/{algebra}/topics"),
            Some(&admin.access),
            json!({"name": "Basics"}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text);
    assert_eq!(twice.problem_slug(), "topic-name-taken");
    // The same topic name in another subject is fine.
    topic(&app, &admin, &geometry, "Basics").await;
    // Moving a topic into a subject that has one of that name collides too.
    let moved = app
        .patch(
            &format!("/topics/{basics}"),
            Some(&admin.access),
            json!({"subject_id": geometry}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT, "{}", moved.text);
});

db_test!(invalid_content_is_a_422_and_a_missing_parent_a_404, |app| {
    let admin = app.admin().await;
    let subject_id = subject(&app, &admin, "Physics").await;
    let topic_id = topic(&app, &admin, &subject_id, "Motion").await;

    let bad_subjects = [
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "Ok", "order_index": -1}), "order_index"),
        (json!({"name": "Ok", "color": "blue"}), "color"),
        (json!({"name": "Ok", "colour": "#fff"}), "body"),
    ];
    for (body, field) in bad_subjects {
        let res = app.post("/subjects", Some(&admin.access), body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert!(res.is_problem());
        if field != "body" {
            assert_eq!(res.body["errors"][0]["field"], field, "{}", res.text);
        }
    }
    let bad_topic = app
        .post(
            &format!("/subjects/{subject_id}/topics"),
            Some(&admin.access),
            json!({"name": "Waves", "difficulty_level": 6}),
        )
        .await;
    assert_eq!(bad_topic.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_topic.body["errors"][0]["field"], "difficulty_level");

    let lessons_url = format!("/topics/{topic_id}/lessons");
    let bad_lessons = [
        (json!({"title": "", "content": "x"}), "title"),
        (
            json!({"title": "T", "content": "x", "estimated_duration_minutes": 0}),
            "estimated_duration_minutes",
        ),
        (
            json!({"title": "T", "content": "x", "estimated_duration_minutes": 601}),
            "estimated_duration_minutes",
        ),
        (
            json!({"title": "T", "content": "x", "order_index": -3}),
            "order_index",
        ),
        (
            json!({"title": "T", "content": "x", "content_type": "podcast"}),
            "content_type",
        ),
        (
            json!({"title": "T", "content_type": "video"}),
            "content_url",
        ),
        (
            json!({"title": "T", "content_type": "pdf", "content_url": "ftp://files.example.com/a.pdf"}),
            "content_url",
        ),
        (json!({"title": "T", "content": "   "}), "content"),
    ];
    for (body, field) in bad_lessons {
        let res = app.post(&lessons_url, Some(&admin.access), body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert_eq!(res.body["errors"][0]["field"], field, "{}", res.text);
    }
    // The rule holds for the lesson as patched, too.
    let lesson_id = lesson(&app, &admin, &topic_id, "Speed").await;
    let to_video = app
        .patch(
            &format!("/lessons/{lesson_id}"),
            Some(&admin.access),
            json!({"content_type": "video"}),
        )
        .await;
    assert_eq!(to_video.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(to_video.body["errors"][0]["field"], "content_url");

    let missing = uuid::Uuid::now_v7();
    let checks = [
        app.post(
            &format!("/subjects/{missing}/topics"),
            Some(&admin.access),
            json!({"name": "Orphan"}),
        )
        .await,
        app.post(
            &format!("/topics/{missing}/lessons"),
            Some(&admin.access),
            json!({"title": "Orphan", "content": "x"}),
        )
        .await,
        app.get(&format!("/subjects/{missing}/topics"), Some(&admin.access))
            .await,
        app.get(&format!("/topics/{missing}/lessons"), Some(&admin.access))
            .await,
        app.get(&format!("/subjects/{missing}"), Some(&admin.access))
            .await,
        app.get(&format!("/lessons/{missing}"), Some(&admin.access))
            .await,
        app.post(
            &format!("/lessons/{missing}/complete"),
            Some(&admin.access),
            json!({}),
        )
        .await,
        app.delete(&format!("/topics/{missing}"), Some(&admin.access))
            .await,
    ];
    for res in checks {
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert!(res.is_problem());
    }
    let bad_id = app.get("/subjects/not-a-uuid", Some(&admin.access)).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
});

db_test!(lists_page_through_in_catalogue_order, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let subject_id = subject(&app, &admin, "History").await;
    // Order indexes with ties, created out of order.
    for (name, order) in [
        ("E", 3),
        ("A", 0),
        ("C", 1),
        ("B", 0),
        ("D", 1),
        ("F", 7),
        ("G", 3),
    ] {
        let res = app
            .post(
                &format!("/subjects/{subject_id}/topics"),
                Some(&admin.access),
                json!({"name": name, "order_index": order}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    }
    let path = format!("/subjects/{subject_id}/topics");
    let items = all_pages(&app, &student, &path, 2).await;
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "B", "C", "D", "E", "G", "F"]);
    let ids: HashSet<&str> = items.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 7, "no item twice");
    // One page holding everything has no next page.
    let whole = app
        .get(&format!("{path}?limit=7"), Some(&student.access))
        .await;
    assert_eq!(whole.body["items"].as_array().unwrap().len(), 7);
    assert!(whole.body["next_cursor"].is_null());

    // A new item without an order index goes after the last one.
    let last = app
        .post(&path, Some(&admin.access), json!({"name": "Z"}))
        .await;
    assert_eq!(last.body["order_index"], 8);

    let bad = app
        .get(&format!("{path}?cursor=bm9wZQ"), Some(&student.access))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let too_many = app
        .get(&format!("{path}?limit=101"), Some(&student.access))
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Subjects and lessons page the same way.
    for i in 0..5 {
        subject(&app, &admin, &format!("Extra {i}")).await;
    }
    assert_eq!(all_pages(&app, &student, "/subjects", 2).await.len(), 6);
    let topic_id = id_of(&items[0]);
    for i in 0..3 {
        lesson(&app, &admin, &topic_id, &format!("Lesson {i}")).await;
    }
    let lessons = all_pages(&app, &student, &format!("/topics/{topic_id}/lessons"), 2).await;
    let titles: Vec<&str> = lessons
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Lesson 0", "Lesson 1", "Lesson 2"]);
});

db_test!(
    deleting_a_topic_or_subject_with_lessons_needs_cascade,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let subject_id = subject(&app, &admin, "Biology").await;
        let cells = topic(&app, &admin, &subject_id, "Cells").await;
        let genes = topic(&app, &admin, &subject_id, "Genes").await;
        let cell_lesson = lesson(&app, &admin, &cells, "The cell").await;
        let gene_lesson = lesson(&app, &admin, &genes, "DNA").await;
        for id in [&cell_lesson, &gene_lesson] {
            let done = app
                .post(
                    &format!("/lessons/{id}/complete"),
                    Some(&student.access),
                    json!({}),
                )
                .await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.text);
        }

        let refused = app
            .delete(&format!("/topics/{cells}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert_eq!(refused.problem_slug(), "has-lessons");
        let refused = app
            .delete(&format!("/subjects/{subject_id}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert_eq!(refused.problem_slug(), "has-lessons");
        // Nothing was deleted by the refusals.
        assert_eq!(
            app.get(&format!("/lessons/{cell_lesson}"), Some(&student.access))
                .await
                .status,
            StatusCode::OK
        );

        let cascaded = app
            .delete(
                &format!("/topics/{cells}?cascade=true"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(cascaded.status, StatusCode::NO_CONTENT, "{}", cascaded.text);
        assert_eq!(
            app.get(&format!("/topics/{cells}"), Some(&student.access))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("/lessons/{cell_lesson}"), Some(&student.access))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let progress_left = lesson_progress::Entity::find()
            .filter(
                lesson_progress::Column::LessonId.eq(uuid::Uuid::parse_str(&cell_lesson).unwrap()),
            )
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(progress_left, 0);

        // A subject whose topics have no lessons is still kept without cascade.
        let empty = subject(&app, &admin, "Empty-ish").await;
        topic(&app, &admin, &empty, "Nothing yet").await;
        let refused = app
            .delete(&format!("/subjects/{empty}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(refused.problem_slug(), "has-topics");
        let bare = subject(&app, &admin, "Bare").await;
        assert_eq!(
            app.delete(&format!("/subjects/{bare}"), Some(&admin.access))
                .await
                .status,
            StatusCode::NO_CONTENT
        );

        let cascaded = app
            .delete(
                &format!("/subjects/{subject_id}?cascade=true"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(cascaded.status, StatusCode::NO_CONTENT, "{}", cascaded.text);
        for path in [
            format!("/subjects/{subject_id}"),
            format!("/topics/{genes}"),
            format!("/lessons/{gene_lesson}"),
        ] {
            assert_eq!(
                app.get(&path, Some(&student.access)).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let topics_left = topics::Entity::find()
            .filter(topics::Column::SubjectId.eq(uuid::Uuid::parse_str(&subject_id).unwrap()))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(topics_left, 0);
        // The student's progress no longer lists the subject.
        let progress = app.get("/me/progress", Some(&student.access)).await;
        assert!(!progress.text.contains(&subject_id));
    }
);

/// A one-question quiz on the topic, written by `admin`, and one attempt on it by `student`,
/// through the quiz endpoints. Returns (quiz, question, attempt).
async fn quiz_with_attempt(
    app: &TestApp,
    admin: &TestUser,
    topic_id: &str,
    student: &TestUser,
) -> (uuid::Uuid, uuid::Uuid, uuid::Uuid) {
    let id = |v: &serde_json::Value| -> uuid::Uuid { v.as_str().unwrap().parse().unwrap() };
    let res = app
        .post(
            "/admin/quizzes",
            Some(&admin.access),
            json!({"topic_id": topic_id, "title": "Check", "questions": [
                {"question_text": "What is a cell?", "options": ["a unit of life", "a rock"],
                 "correct_answer": "a unit of life"}]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let quiz = id(&res.body["id"]);
    let question = id(&res.body["questions"][0]["id"]);
    let res = app
        .post(
            &format!("/quizzes/{quiz}/attempts"),
            Some(&student.access),
            json!({"answers": [{"question_id": question, "answer": "a unit of life"}]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    (quiz, question, id(&res.body["attempt"]["id"]))
}

async fn quiz_rows_left(app: &TestApp, quiz: uuid::Uuid) -> (u64, u64, u64) {
    let db = app.state.db.read();
    (
        quizzes::Entity::find_by_id(quiz).count(db).await.unwrap(),
        quiz_questions::Entity::find()
            .filter(quiz_questions::Column::QuizId.eq(quiz))
            .count(db)
            .await
            .unwrap(),
        quiz_attempts::Entity::find()
            .filter(quiz_attempts::Column::QuizId.eq(quiz))
            .count(db)
            .await
            .unwrap(),
    )
}

db_test!(
    deleting_a_topic_or_subject_with_quizzes_needs_cascade_and_then_takes_their_attempts,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let subject_id = subject(&app, &admin, "Chemistry").await;
        // A topic with a quiz but no lessons: no longer deleted (with its attempts) unasked.
        let atoms = topic(&app, &admin, &subject_id, "Atoms").await;
        let (atoms_quiz, _, _) = quiz_with_attempt(&app, &admin, &atoms, &student).await;
        let refused = app
            .delete(&format!("/topics/{atoms}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert!(refused.is_problem());
        assert_eq!(refused.problem_slug(), "has-quizzes");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("1 quiz with 1 attempt by"),
            "{}",
            refused.text
        );
        assert_eq!(quiz_rows_left(&app, atoms_quiz).await, (1, 1, 1));

        // A topic with lessons and a quiz: the quiz is named first.
        let bonds = topic(&app, &admin, &subject_id, "Bonds").await;
        let bond_lesson = lesson(&app, &admin, &bonds, "Covalent bonds").await;
        let (bonds_quiz, _, _) = quiz_with_attempt(&app, &admin, &bonds, &student).await;
        let refused = app
            .delete(&format!("/topics/{bonds}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(refused.problem_slug(), "has-quizzes");
        let refused = app
            .delete(&format!("/subjects/{subject_id}"), Some(&admin.access))
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
        assert_eq!(refused.problem_slug(), "has-quizzes");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("2 quizzes with 2 attempts"),
            "{}",
            refused.text
        );
        assert_eq!(quiz_rows_left(&app, bonds_quiz).await, (1, 1, 1));

        // ?cascade=true deletes the quizzes, their questions and attempts with the lessons.
        let cascaded = app
            .delete(
                &format!("/topics/{bonds}?cascade=true"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(cascaded.status, StatusCode::NO_CONTENT, "{}", cascaded.text);
        assert_eq!(quiz_rows_left(&app, bonds_quiz).await, (0, 0, 0));
        assert_eq!(
            app.get(&format!("/lessons/{bond_lesson}"), Some(&student.access))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // The subject still refuses: Atoms keeps its quiz.
        let refused = app
            .delete(&format!("/subjects/{subject_id}"), Some(&admin.access))
            .await;
        assert_eq!(refused.problem_slug(), "has-quizzes");
        let cascaded = app
            .delete(
                &format!("/subjects/{subject_id}?cascade=true"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(cascaded.status, StatusCode::NO_CONTENT, "{}", cascaded.text);
        assert_eq!(quiz_rows_left(&app, atoms_quiz).await, (0, 0, 0));
        assert_eq!(
            app.get(&format!("/topics/{atoms}"), Some(&student.access))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
);

db_test!(
    values_the_database_also_refuses_are_422_problems_on_every_write_path,
    |app| {
        // The schema's CHECKs (migration 8) are the last line; the API refuses these first.
        let admin = app.admin().await;
        let subject_id = subject(&app, &admin, "Physics").await;
        let topic_id = topic(&app, &admin, &subject_id, "Optics").await;
        let lesson_id = lesson(&app, &admin, &topic_id, "Lenses").await;
        let cases = [
            (
                format!("/subjects/{subject_id}/topics"),
                reqwest::Method::POST,
                json!({"name": "Waves", "difficulty_level": 0}),
                "difficulty_level",
            ),
            (
                format!("/topics/{topic_id}"),
                reqwest::Method::PATCH,
                json!({"difficulty_level": 6}),
                "difficulty_level",
            ),
            (
                format!("/topics/{topic_id}/lessons"),
                reqwest::Method::POST,
                json!({"title": "T", "content": "x", "content_type": "audio"}),
                "content_type",
            ),
            (
                format!("/lessons/{lesson_id}"),
                reqwest::Method::PATCH,
                json!({"content_type": "audio"}),
                "content_type",
            ),
        ];
        for (path, method, body, field) in cases {
            let res = app
                .request(method.clone(), &path, Some(&admin.access), Some(body))
                .await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path}: {}",
                res.text
            );
            assert!(res.is_problem());
            assert_eq!(res.body["errors"][0]["field"], field, "{}", res.text);
        }
        let achievement = app
            .post(
                "/admin/achievements",
                Some(&admin.access),
                json!({"title": "Fine", "description": "d", "criteria_type": "total_xp", "criteria_value": 5}),
            )
            .await;
        assert_eq!(
            achievement.status,
            StatusCode::CREATED,
            "{}",
            achievement.text
        );
        for (field, value) in [("criteria_value", json!(0)), ("xp_reward", json!(1001))] {
            let res = app
                .patch(
                    &format!("/admin/achievements/{}", id_of(&achievement.body)),
                    Some(&admin.access),
                    json!({field: value}),
                )
                .await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}: {}",
                res.text
            );
            assert_eq!(res.body["errors"][0]["field"], field, "{}", res.text);
        }
    }
);

db_test!(a_lesson_says_whether_i_completed_it, |app| {
    let admin = app.admin().await;
    let ada = app.student().await;
    let bob = app.student().await;
    let subject_id = subject(&app, &admin, "Music").await;
    let topic_id = topic(&app, &admin, &subject_id, "Rhythm").await;
    let lesson_id = lesson(&app, &admin, &topic_id, "Beats").await;

    let before = app
        .get(&format!("/lessons/{lesson_id}"), Some(&ada.access))
        .await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["completed"], false);
    assert!(before.body["completed_at"].is_null());
    assert_eq!(before.body["content"], "# Heading\n\nSome *Markdown*.");

    let done = app
        .post(
            &format!("/lessons/{lesson_id}/complete"),
            Some(&ada.access),
            json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["lesson_progress"]["completed"], true);
    assert_eq!(
        done.body["lesson_progress"]["lesson_id"],
        lesson_id.as_str()
    );

    let after = app
        .get(&format!("/lessons/{lesson_id}"), Some(&ada.access))
        .await;
    assert_eq!(after.body["completed"], true);
    let completed_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(after.body["completed_at"].clone()).unwrap();
    assert_eq!(completed_at, app.clock.now());
    let listed = app
        .get(&format!("/topics/{topic_id}/lessons"), Some(&ada.access))
        .await;
    assert_eq!(listed.body["items"][0]["completed"], true);
    assert!(listed.body["items"][0].get("content").is_none());

    // Someone else's completion is theirs alone.
    let other = app
        .get(&format!("/lessons/{lesson_id}"), Some(&bob.access))
        .await;
    assert_eq!(other.body["completed"], false);
    let listed = app
        .get(&format!("/topics/{topic_id}/lessons"), Some(&bob.access))
        .await;
    assert_eq!(listed.body["items"][0]["completed"], false);
});

db_test!(completing_a_lesson_twice_awards_xp_once, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let subject_id = subject(&app, &admin, "Art").await;
    let topic_id = topic(&app, &admin, &subject_id, "Colour").await;
    let lesson_id = lesson(&app, &admin, &topic_id, "Hue").await;
    let path = format!("/lessons/{lesson_id}/complete");

    let first = app.post(&path, Some(&student.access), json!({})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["xp_awarded"], 10);
    let first_at = first.body["lesson_progress"]["completed_at"].clone();

    app.clock.advance(Duration::minutes(5));
    let second = app.post(&path, Some(&student.access), json!({})).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["xp_awarded"], 0);
    assert_eq!(second.body["lesson_progress"]["completed_at"], first_at);
    assert_eq!(
        second.body["lesson_progress"]["id"],
        first.body["lesson_progress"]["id"]
    );

    let me = app.get("/me", Some(&student.access)).await;
    assert_eq!(me.body["total_xp"], 10, "{}", me.text);
    // A completed lesson is a study day.
    assert_eq!(me.body["current_streak"], 1, "{}", me.text);
});

db_test!(
    fifty_parallel_completions_of_one_lesson_award_xp_once,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let subject_id = subject(&app, &admin, "Geography").await;
        let topic_id = topic(&app, &admin, &subject_id, "Rivers").await;
        let lesson_id = lesson(&app, &admin, &topic_id, "Deltas").await;
        let path = format!("/lessons/{lesson_id}/complete");

        let requests = (0..50).map(|_| {
            let app = app.clone();
            let path = path.clone();
            let token = student.access.clone();
            async move { app.post(&path, Some(&token), json!({})).await }
        });
        let responses = futures::future::join_all(requests).await;
        let mut awarded = 0;
        for res in &responses {
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            awarded += res.body["xp_awarded"].as_i64().unwrap();
        }
        assert_eq!(awarded, 10);

        let rows = lesson_progress::Entity::find()
            .filter(
                lesson_progress::Column::LessonId.eq(uuid::Uuid::parse_str(&lesson_id).unwrap()),
            )
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let me = app.get("/me", Some(&student.access)).await;
        assert_eq!(me.body["total_xp"], 10, "{}", me.text);
    }
);

db_test!(my_progress_counts_lessons_per_topic_and_subject, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let maths = subject(&app, &admin, "Maths").await;
    let art = subject(&app, &admin, "Drawing").await;
    let numbers = topic(&app, &admin, &maths, "Numbers").await;
    let shapes = topic(&app, &admin, &maths, "Shapes").await;
    let n1 = lesson(&app, &admin, &numbers, "Counting").await;
    let n2 = lesson(&app, &admin, &numbers, "Adding").await;
    lesson(&app, &admin, &numbers, "Taking away").await;
    let s1 = lesson(&app, &admin, &shapes, "Circles").await;
    for id in [&n1, &n2, &s1] {
        let res = app
            .post(
                &format!("/lessons/{id}/complete"),
                Some(&student.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    }
    // Another student's completions count for them only.
    let other = app.student().await;
    app.post(
        &format!("/lessons/{n1}/complete"),
        Some(&other.access),
        json!({}),
    )
    .await;

    let res = app.get("/me/progress", Some(&student.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let subjects = res.body["subjects"].as_array().unwrap();
    let find = |id: &str| {
        subjects
            .iter()
            .find(|s| s["subject_id"] == id)
            .unwrap_or_else(|| panic!("subject {id} in {}", res.text))
    };
    let m = find(&maths);
    assert_eq!(m["lessons_total"], 4);
    assert_eq!(m["lessons_completed"], 3);
    let topic_of = |id: &str| {
        m["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic_id"] == id)
            .unwrap()
            .clone()
    };
    let n = topic_of(&numbers);
    assert_eq!(
        (n["lessons_total"].as_i64(), n["lessons_completed"].as_i64()),
        (Some(3), Some(2))
    );
    let s = topic_of(&shapes);
    assert_eq!(
        (s["lessons_total"].as_i64(), s["lessons_completed"].as_i64()),
        (Some(1), Some(1))
    );
    for t in [&n, &s] {
        let mastery = t["mastery"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&mastery), "{mastery}");
    }
    let a = find(&art);
    assert_eq!(a["lessons_total"], 0);
    assert_eq!(a["lessons_completed"], 0);
    assert_eq!(a["mastery"].as_f64(), Some(0.0));

    let fresh = app.student().await;
    let res = app.get("/me/progress", Some(&fresh.access)).await;
    for s in res.body["subjects"].as_array().unwrap() {
        assert_eq!(s["lessons_completed"], 0);
        assert_eq!(s["mastery"].as_f64(), Some(0.0));
    }
    assert_eq!(
        app.get("/me/progress", None).await.status,
        StatusCode::UNAUTHORIZED
    );
});

db_test!(demo_content_seeds_once_and_is_listed, |app| {
    let student = app.student().await;
    let data = studium::demo::DemoData::load().expect("the demo data is valid");
    let report = studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding");
    assert_eq!(report.subjects, data.subjects.len(), "{report:?}");
    let topic_count: usize = data.subjects.iter().map(|s| s.topics.len()).sum();
    assert_eq!(report.topics, topic_count, "{report:?}");
    assert_eq!(report.quizzes, topic_count, "{report:?}");
    assert!(report.lessons >= 30, "{report:?}");
    assert_eq!(report.achievements, data.achievements.len(), "{report:?}");

    let listed = all_pages(&app, &student, "/subjects", 100).await;
    let names: HashSet<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let expected: HashSet<&str> = data
        .subjects
        .iter()
        .map(|s| s.subject.name.as_str())
        .collect();
    assert_eq!(names, expected);
    let first = id_of(&listed[0]);
    let topics = all_pages(&app, &student, &format!("/subjects/{first}/topics"), 100).await;
    assert!(!topics.is_empty());
    let lessons = all_pages(
        &app,
        &student,
        &format!("/topics/{}/lessons", id_of(&topics[0])),
        100,
    )
    .await;
    let lesson = app
        .get(
            &format!("/lessons/{}", id_of(&lessons[0])),
            Some(&student.access),
        )
        .await;
    assert!(lesson.body["content"].as_str().unwrap().len() > 200);
    // The demo lessons can be completed like any other.
    let done = app
        .post(
            &format!("/lessons/{}/complete", id_of(&lessons[0])),
            Some(&student.access),
            json!({}),
        )
        .await;
    assert_eq!(done.body["xp_awarded"], 10, "{}", done.text);

    let db = app.state.db.read();
    let questions = quiz_questions::Entity::find().all(db).await.unwrap();
    assert_eq!(questions.len(), report.questions);
    for q in &questions {
        let options: Vec<String> = serde_json::from_value(q.options.clone()).unwrap();
        assert!((2..=6).contains(&options.len()));
        assert!(options.contains(&q.correct_answer));
        assert_eq!(q.question_type, "multiple_choice");
    }
    let quiz_rows = quizzes::Entity::find().all(db).await.unwrap();
    assert!(
        quiz_rows
            .iter()
            .all(|q| q.source == "manual" && !q.generated_by_ai && q.created_by.is_none())
    );

    // Seeding again adds nothing.
    let again = studium::demo::seed(&app.state.db, app.clock.now())
        .await
        .expect("seeding again");
    assert_eq!(again.subjects, 0, "{again:?}");
    assert_eq!(again.subjects_skipped, report.subjects);
    assert_eq!(again.achievements, 0);
    assert_eq!(
        all_pages(&app, &student, "/subjects", 100).await.len(),
        report.subjects
    );
    assert_eq!(
        quizzes::Entity::find().count(db).await.unwrap() as usize,
        report.quizzes
    );
    assert_eq!(
        achievements::Entity::find().count(db).await.unwrap() as usize,
        report.achievements
    );
});

db_test!(
    patching_null_clears_optional_fields_and_keeps_lessons_valid,
    |app| {
        let admin = app.admin().await;
        let subject = app
        .post(
            "/subjects",
            Some(&admin.access),
            json!({"name": "Optics", "description": "Light", "icon": "sun", "color": "#ffcc00"}),
        )
        .await;
        assert_eq!(subject.status, StatusCode::CREATED, "{}", subject.text);
        let id = subject.body["id"].as_str().unwrap();
        let patched = app
            .patch(
                &format!("/subjects/{id}"),
                Some(&admin.access),
                json!({"icon": null, "color": null}),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
        assert!(patched.body["icon"].is_null());
        assert!(patched.body["color"].is_null());
        assert_eq!(patched.body["description"], "Light");

        let topic = app
            .post(
                &format!("/subjects/{id}/topics"),
                Some(&admin.access),
                json!({"name": "Lenses"}),
            )
            .await;
        let topic_id = topic.body["id"].as_str().unwrap();
        let video = app
            .post(
                &format!("/topics/{topic_id}/lessons"),
                Some(&admin.access),
                json!({"title": "Focal length", "content_type": "video",
                   "content_url": "https://video.example.com/focal", "estimated_duration_minutes": 12}),
            )
            .await;
        assert_eq!(video.status, StatusCode::CREATED, "{}", video.text);
        let lesson_id = video.body["id"].as_str().unwrap();
        // A video lesson cannot lose its URL; its duration can be cleared.
        let no_url = app
            .patch(
                &format!("/lessons/{lesson_id}"),
                Some(&admin.access),
                json!({"content_url": null}),
            )
            .await;
        assert_eq!(
            no_url.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            no_url.text
        );
        let no_duration = app
            .patch(
                &format!("/lessons/{lesson_id}"),
                Some(&admin.access),
                json!({"estimated_duration_minutes": null}),
            )
            .await;
        assert_eq!(no_duration.status, StatusCode::OK, "{}", no_duration.text);
        assert!(no_duration.body["estimated_duration_minutes"].is_null());
        assert_eq!(
            no_duration.body["content_url"],
            "https://video.example.com/focal"
        );
    }
);

db_test!(
    a_completion_waits_for_another_process_writing_the_same_database,
    |app| {
        use sea_orm::sea_query::Expr;
        let admin = app.admin().await;
        let student = app.student().await;
        let subject_id = subject(&app, &admin, "Chemistry").await;
        let topic_id = topic(&app, &admin, &subject_id, "Acids").await;
        let lesson_id = lesson(&app, &admin, &topic_id, "pH").await;

        // A second process (its own pool on the same database) is in the middle of a write
        // transaction touching this student when the completion arrives.
        let other = studium::db::Db::connect_url(&app.state.config.database_url, 1)
            .await
            .unwrap();
        let txn = other.begin_write().await.unwrap();
        studium::entity::users::Entity::update_many()
            .col_expr(
                studium::entity::users::Column::UpdatedAt,
                Expr::value(app.clock.now()),
            )
            .filter(
                studium::entity::users::Column::Id.eq(uuid::Uuid::parse_str(&student.id).unwrap()),
            )
            .exec(&txn)
            .await
            .unwrap();
        let request = {
            let app = app.clone();
            let token = student.access.clone();
            tokio::spawn(async move {
                app.post(
                    &format!("/lessons/{lesson_id}/complete"),
                    Some(&token),
                    json!({}),
                )
                .await
            })
        };
        // Commit only once the request is provably waiting for that transaction.
        wait_until_blocked(&app).await;
        assert!(
            !request.is_finished(),
            "the request should wait for the other writer"
        );
        txn.commit().await.unwrap();

        // The request waited its turn rather than failing with "database is locked".
        let res = request.await.unwrap();
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["xp_awarded"], 10);
        other.close().await;
    }
);

/// Returns once a request of `app` is waiting for another connection's write lock: on
/// PostgreSQL a backend of its database waits on a lock; on SQLite the app's single writer
/// connection is taken (by the request, blocked at `BEGIN IMMEDIATE`). Polls a condition the
/// database reports, at most for 10 s.
async fn wait_until_blocked(app: &TestApp) {
    use sea_orm::{ConnectionTrait, Statement};
    for _ in 0..1000 {
        let blocked = match app.backend {
            Backend::Postgres => {
                let db = app.state.db.read();
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT COUNT(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<i64>(0).unwrap() > 0
            }
            Backend::Sqlite => app.state.db.write().get_sqlite_connection_pool().num_idle() == 0,
        };
        if blocked {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the request never reached the other writer's lock");
}
