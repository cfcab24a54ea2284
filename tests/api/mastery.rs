//! Mastery per topic (SPEC §3 Mastery; §4 `GET /me/mastery`).
//!
//! Lessons are completed and quizzes taken through the API.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::Value;
use studium::entity::topic_progress;
use studium::mastery::service::{DECAY_FLOOR, HALF_LIFE_DAYS, on_quiz_scored};
use uuid::Uuid;

use crate::db_test;
use crate::gamification::{complete_lesson, quiz, take_quiz, topic_with_lessons, uid};
use crate::helpers::*;

/// My mastery entry for `topic`, or `None` when I have no progress there.
async fn entry(app: &TestApp, user: &TestUser, topic: Uuid) -> Option<Value> {
    let res = app.get("/me/mastery?limit=100", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["topic_id"] == topic.to_string())
        .cloned()
}

async fn mastery(app: &TestApp, user: &TestUser, topic: Uuid) -> (f64, Value) {
    let e = entry(app, user, topic)
        .await
        .unwrap_or_else(|| panic!("no mastery entry for {topic}"));
    (e["mastery"].as_f64().expect("mastery"), e)
}

/// Signs the user in again: moving the clock by days outlives their 15-minute access token.
async fn sign_in_again(app: &TestApp, user: &TestUser) -> TestUser {
    let res = app.login(&user.email, &user.password).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    user_from(&res, &user.email)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

db_test!(
    mastery_rises_with_lessons_but_lessons_alone_do_not_prove_it,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 4).await;
        assert!(entry(&app, &student, topic.id).await.is_none());

        complete_lesson(&app, &student, topic.lessons[0]).await;
        let (one, e) = mastery(&app, &student, topic.id).await;
        assert!(one > 0.0, "{e}");
        assert_eq!(e["lessons_completed"], 1);
        assert_eq!(e["lessons_total"], 4);
        assert_eq!(e["quizzes_taken"], 0);
        assert!(e["quiz_average"].is_null());
        assert_eq!(e["topic_name"], topic.name.as_str());
        assert_eq!(e["subject_id"], topic.subject_id.to_string());
        assert!(
            close(one, e["stored_mastery"].as_f64().unwrap()),
            "no decay yet: {e}"
        );
        let practiced: DateTime<Utc> = e["last_practiced_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(practiced, app.clock.now());

        // Completing the same lesson again is not new evidence.
        complete_lesson(&app, &student, topic.lessons[0]).await;
        assert!(close(mastery(&app, &student, topic.id).await.0, one));

        let mut previous = one;
        for lesson in &topic.lessons[1..] {
            complete_lesson(&app, &student, *lesson).await;
            let (now, e) = mastery(&app, &student, topic.id).await;
            assert!(now > previous, "{now} > {previous}: {e}");
            previous = now;
        }
        let (all, e) = mastery(&app, &student, topic.id).await;
        assert_eq!(e["lessons_completed"], 4);
        // Every lesson read but no quiz taken: still short of proficient.
        assert!(all <= 50.0, "{e}");
        assert!(
            matches!(e["level"].as_str(), Some("new" | "learning")),
            "{e}"
        );
    }
);

db_test!(
    a_good_quiz_raises_mastery_and_a_later_bad_one_lowers_it,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 2).await;
        for lesson in &topic.lessons {
            complete_lesson(&app, &student, *lesson).await;
        }
        let quiz_id = quiz(&app, topic.id).await;
        let (lessons_only, _) = mastery(&app, &student, topic.id).await;

        take_quiz(&app, &student, quiz_id, topic.id, 95).await;
        let (good, e) = mastery(&app, &student, topic.id).await;
        assert!(good > lessons_only, "{good} > {lessons_only}: {e}");
        assert_eq!(e["quizzes_taken"], 1);
        assert_eq!(e["level"], "mastered", "{e}");

        take_quiz(&app, &student, quiz_id, topic.id, 20).await;
        let (bad, e) = mastery(&app, &student, topic.id).await;
        assert!(bad < good, "{bad} < {good}: {e}");
        assert!(bad > 0.0);
        assert_eq!(e["quizzes_taken"], 2);
        let average = e["quiz_average"].as_f64().unwrap();
        assert!(
            average < 95.0 && average > 20.0,
            "one bad quiz moves the average part way: {e}"
        );

        take_quiz(&app, &student, quiz_id, topic.id, 100).await;
        let (recovered, _) = mastery(&app, &student, topic.id).await;
        assert!(recovered > bad);
    }
);

db_test!(
    a_first_bad_quiz_lowers_what_lessons_alone_suggested,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 1).await;
        complete_lesson(&app, &student, topic.lessons[0]).await;
        let (lessons_only, _) = mastery(&app, &student, topic.id).await;
        take_quiz(&app, &student, quiz(&app, topic.id).await, topic.id, 0).await;
        let (after, e) = mastery(&app, &student, topic.id).await;
        assert!(after < lessons_only, "{after} < {lessons_only}: {e}");
    }
);

db_test!(a_topic_without_lessons_is_judged_by_its_quizzes, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 0).await;
    take_quiz(&app, &student, quiz(&app, topic.id).await, topic.id, 80).await;
    let (score, e) = mastery(&app, &student, topic.id).await;
    assert!(close(score, 80.0), "{e}");
    assert_eq!(e["lessons_total"], 0);
    assert_eq!(e["level"], "proficient");
});

db_test!(mastery_fades_with_time_but_never_below_the_floor, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 2).await;
    complete_lesson(&app, &student, topic.lessons[0]).await;
    take_quiz(&app, &student, quiz(&app, topic.id).await, topic.id, 90).await;
    let (fresh, e) = mastery(&app, &student, topic.id).await;
    let stored = e["stored_mastery"].as_f64().unwrap();
    assert!(close(fresh, stored));

    app.clock.advance(Duration::days(HALF_LIFE_DAYS as i64 / 2));
    let student = sign_in_again(&app, &student).await;
    let (half_way, e) = mastery(&app, &student, topic.id).await;
    assert!(half_way < stored, "{e}");
    assert!(half_way > stored * DECAY_FLOOR, "{e}");
    assert!(
        close(half_way, stored * 0.5_f64.sqrt()),
        "half a half-life: {e}"
    );
    assert!(close(e["stored_mastery"].as_f64().unwrap(), stored));

    app.clock.advance(Duration::days(60));
    let student = sign_in_again(&app, &student).await;
    let (later, e) = mastery(&app, &student, topic.id).await;
    assert!(later < half_way);
    assert!(later >= stored * DECAY_FLOOR - 1e-9, "{e}");

    app.clock.advance(Duration::days(3650));
    let student = sign_in_again(&app, &student).await;
    let (much_later, e) = mastery(&app, &student, topic.id).await;
    assert!(close(much_later, stored * DECAY_FLOOR), "{e}");
    assert_ne!(e["level"], "mastered");

    // Practising again refreshes the topic: nothing has faded right after.
    complete_lesson(&app, &student, topic.lessons[1]).await;
    let (refreshed, e) = mastery(&app, &student, topic.id).await;
    assert!(
        close(refreshed, e["stored_mastery"].as_f64().unwrap()),
        "{e}"
    );
    assert!(refreshed > much_later, "{e}");
    let practiced: DateTime<Utc> = e["last_practiced_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(practiced, app.clock.now());
});

db_test!(my_mastery_lists_only_my_topics, |app| {
    let admin = app.admin().await;
    let me = app.student().await;
    let other = app.student().await;
    let mine = topic_with_lessons(&app, &admin, 1).await;
    let also_mine = topic_with_lessons(&app, &admin, 0).await;
    let theirs = topic_with_lessons(&app, &admin, 1).await;
    complete_lesson(&app, &me, mine.lessons[0]).await;
    take_quiz(&app, &me, quiz(&app, also_mine.id).await, also_mine.id, 50).await;
    complete_lesson(&app, &other, theirs.lessons[0]).await;

    let list = app.get("/me/mastery", Some(&me.access)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let topics: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_id"].as_str().unwrap())
        .collect();
    assert_eq!(topics.len(), 2, "{}", list.text);
    assert!(topics.contains(&mine.id.to_string().as_str()));
    assert!(topics.contains(&also_mine.id.to_string().as_str()));
    assert!(!list.text.contains(&theirs.id.to_string()));

    let theirs_list = app.get("/me/mastery", Some(&other.access)).await;
    assert_eq!(theirs_list.body["items"].as_array().unwrap().len(), 1);
    assert!(!theirs_list.text.contains(&mine.id.to_string()));

    let newcomer = app.student().await;
    let empty = app.get("/me/mastery", Some(&newcomer.access)).await;
    assert_eq!(empty.body["items"].as_array().unwrap().len(), 0);
    assert!(empty.body["next_cursor"].is_null());

    // Pages.
    let first = app.get("/me/mastery?limit=1", Some(&me.access)).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 1);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let second = app
        .get(
            &format!("/me/mastery?limit=1&cursor={cursor}"),
            Some(&me.access),
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(
        first.body["items"][0]["topic_id"],
        second.body["items"][0]["topic_id"]
    );
    assert_eq!(
        app.get("/me/mastery", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/me/mastery?cursor=nonsense", Some(&me.access))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
});

db_test!(
    racing_first_quizzes_on_a_topic_keep_one_progress_row,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 0).await;
        let user_id = uid(&student);
        let now = app.clock.now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let db = app.state.db.clone();
                let topic_id = topic.id;
                tokio::spawn(async move {
                    let txn = db.write().begin().await.expect("begin");
                    studium::db::lock_user(&txn, user_id).await.expect("lock");
                    on_quiz_scored(&txn, user_id, topic_id, 70.0, now)
                        .await
                        .expect("quiz scored");
                    txn.commit().await.expect("commit");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let rows = topic_progress::Entity::find()
            .filter(topic_progress::Column::UserId.eq(user_id))
            .filter(topic_progress::Column::TopicId.eq(topic.id))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let (score, e) = mastery(&app, &student, topic.id).await;
        assert_eq!(e["quizzes_taken"], 8);
        assert!(close(score, 70.0), "{e}");
    }
);
