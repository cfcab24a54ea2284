//! XP, levels and achievements (SPEC §3 XP, Achievements; §4 gamification).
//!
//! Content is built through the API and quizzes are taken through it. Doubt messages and
//! friendships have no endpoint yet, so their rows are written directly and the hooks are
//! called inside a transaction, as the future endpoints will.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use studium::entity::{
    achievements, doubt_messages, doubt_sessions, friends, study_sessions, user_achievements,
    xp_logs,
};
use studium::gamification::achievements::{Criteria, evaluate};
use studium::gamification::xp::{self, XpSource};
use uuid::Uuid;

use crate::db_test;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Helpers shared with the mastery tests

pub fn uid(user: &TestUser) -> Uuid {
    user.id.parse().expect("user id")
}

fn id_of(res: &Resp) -> Uuid {
    res.body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {}", res.text))
}

/// A topic with `lessons` lessons, built by an admin through the content API.
pub struct Topic {
    pub subject_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub lessons: Vec<Uuid>,
}

pub async fn topic_with_lessons(app: &TestApp, admin: &TestUser, lessons: usize) -> Topic {
    let tag = Uuid::now_v7().simple().to_string();
    let subject = app
        .post(
            "/subjects",
            Some(&admin.access),
            json!({"name": format!("Subject {}", &tag[20..])}),
        )
        .await;
    assert_eq!(subject.status, StatusCode::CREATED, "{}", subject.text);
    let subject_id = id_of(&subject);
    let name = format!("Topic {}", &tag[20..]);
    let topic = app
        .post(
            &format!("/subjects/{subject_id}/topics"),
            Some(&admin.access),
            json!({"name": name}),
        )
        .await;
    assert_eq!(topic.status, StatusCode::CREATED, "{}", topic.text);
    let id = id_of(&topic);
    let mut ids = Vec::new();
    for i in 0..lessons {
        let lesson = app
            .post(
                &format!("/topics/{id}/lessons"),
                Some(&admin.access),
                json!({"title": format!("Lesson {i}"), "content": format!("The text of lesson {i}.")}),
            )
            .await;
        assert_eq!(lesson.status, StatusCode::CREATED, "{}", lesson.text);
        ids.push(id_of(&lesson));
    }
    Topic {
        subject_id,
        id,
        name,
        lessons: ids,
    }
}

pub async fn complete_lesson(app: &TestApp, user: &TestUser, lesson: Uuid) {
    let res = app
        .post(
            &format!("/lessons/{lesson}/complete"),
            Some(&user.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

/// Questions of the quiz `quiz` writes: scores in steps of 5 %.
const QUIZ_QUESTIONS: i32 = 20;

/// A shared hand-written quiz on the topic with `QUIZ_QUESTIONS` two-option questions whose
/// key is "right", stored as `POST /admin/quizzes` stores it.
pub async fn quiz(app: &TestApp, topic_id: Uuid) -> Uuid {
    let questions = (1..=QUIZ_QUESTIONS)
        .map(|i| studium::quizzes::validate::QuestionDraft {
            question_text: format!("Question {i}?"),
            options: vec!["right".into(), "wrong".into()],
            correct_answer: "right".into(),
            explanation: None,
        })
        .collect();
    studium::quizzes::service::store_quiz(
        app.state.db.write(),
        topic_id,
        None,
        None,
        "Check yourself",
        None,
        None,
        studium::quizzes::service::SOURCE_MANUAL,
        false,
        questions,
        app.clock.now(),
    )
    .await
    .expect("quiz")
    .id
}

/// Submits an attempt on a `quiz` scoring `score` % (a multiple of 5) through
/// `POST /quizzes/{id}/attempts`. Returns the achievements it unlocked.
pub async fn take_quiz(
    app: &TestApp,
    user: &TestUser,
    quiz_id: Uuid,
    _topic_id: Uuid,
    score: i32,
) -> Vec<Uuid> {
    assert_eq!(score % 5, 0, "a quiz of 20 questions scores in steps of 5");
    let read = app
        .get(&format!("/quizzes/{quiz_id}"), Some(&user.access))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let correct = usize::try_from(score / 5).expect("score");
    let answers: Vec<Value> = read.body["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .enumerate()
        .map(|(i, q)| json!({"question_id": q["id"], "answer": if i < correct { "right" } else { "wrong" }}))
        .collect();
    let res = app
        .post(
            &format!("/quizzes/{quiz_id}/attempts"),
            Some(&user.access),
            json!({ "answers": answers }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    serde_json::from_value(res.body["achievements_unlocked"].clone()).expect("achievements")
}

/// Runs an evaluation the way an event does: in a write transaction, under the user's lock.
async fn evaluate_now(app: &TestApp, user: &TestUser) -> Vec<Uuid> {
    let txn = app.state.db.write().begin().await.expect("begin");
    studium::db::lock_user(&txn, uid(user)).await.expect("lock");
    let unlocked = evaluate(&txn, uid(user), &Criteria::ALL, app.clock.now())
        .await
        .expect("evaluate");
    txn.commit().await.expect("commit");
    unlocked
}

async fn award(app: &TestApp, user: &TestUser, source: XpSource, amount: i32) -> i32 {
    xp::award(
        app.state.db.write(),
        uid(user),
        source,
        Uuid::now_v7(),
        amount,
        "test award",
        app.clock.now(),
    )
    .await
    .expect("award")
}

pub async fn create_achievement(
    app: &TestApp,
    admin: &TestUser,
    criteria_type: &str,
    criteria_value: i32,
    xp_reward: i32,
) -> Uuid {
    let name = format!(
        "{criteria_type} {criteria_value} {}",
        Uuid::now_v7().simple()
    );
    let res = app
        .post(
            "/admin/achievements",
            Some(&admin.access),
            json!({
                "title": name,
                "description": format!("Reach {criteria_value} {criteria_type}"),
                "criteria_type": criteria_type,
                "criteria_value": criteria_value,
                "xp_reward": xp_reward,
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    id_of(&res)
}

/// My view of one achievement in `GET /achievements`.
async fn my_achievement(app: &TestApp, user: &TestUser, id: Uuid) -> Value {
    let res = app.get("/achievements?limit=100", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["id"] == id.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("achievement {id} not listed: {}", res.text))
}

/// Evaluates, then asserts from the user's view whether `id` is unlocked and at what progress.
async fn expect_state(app: &TestApp, user: &TestUser, id: Uuid, unlocked: bool, progress: i64) {
    evaluate_now(app, user).await;
    let view = my_achievement(app, user, id).await;
    assert_eq!(
        !view["unlocked_at"].is_null(),
        unlocked,
        "unlocked should be {unlocked}: {view}"
    );
    assert_eq!(view["progress"], progress, "{view}");
}

async fn unlock_rows(app: &TestApp, user: &TestUser, achievement: Uuid) -> u64 {
    user_achievements::Entity::find()
        .filter(user_achievements::Column::UserId.eq(uid(user)))
        .filter(user_achievements::Column::AchievementId.eq(achievement))
        .count(app.state.db.read())
        .await
        .expect("count")
}

async fn reward_rows(app: &TestApp, user: &TestUser, achievement: Uuid) -> Vec<xp_logs::Model> {
    xp_logs::Entity::find()
        .filter(xp_logs::Column::UserId.eq(uid(user)))
        .filter(xp_logs::Column::SourceType.eq(XpSource::Achievement.as_str()))
        .filter(xp_logs::Column::ReferenceId.eq(achievement))
        .all(app.state.db.read())
        .await
        .expect("xp rows")
}

async fn my_xp(app: &TestApp, user: &TestUser) -> Value {
    let res = app.get("/me/xp", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body
}

// ---------------------------------------------------------------------------------------------
// XP

db_test!(
    xp_summary_shows_total_level_and_what_the_next_level_needs,
    |app| {
        let student = app.student().await;
        assert_eq!(
            app.get("/me/xp", None).await.status,
            StatusCode::UNAUTHORIZED
        );

        let fresh = my_xp(&app, &student).await;
        assert_eq!(fresh["total_xp"], 0);
        assert_eq!(fresh["level"], 1);
        assert_eq!(fresh["level_start_xp"], 0);
        assert_eq!(fresh["next_level_xp"], xp::level_start(2));
        assert_eq!(fresh["xp_to_next_level"], xp::level_start(2));
        assert_eq!(fresh["recent"], json!([]));

        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 3).await;
        for lesson in &topic.lessons {
            complete_lesson(&app, &student, *lesson).await;
            app.clock.advance(Duration::seconds(1));
        }
        // A repeated completion earns nothing more.
        complete_lesson(&app, &student, topic.lessons[0]).await;
        app.clock.advance(Duration::seconds(1));
        let bonus = award(&app, &student, XpSource::StudySession, 85).await;
        assert_eq!(bonus, 85);

        let total = 3 * i64::from(xp::LESSON_XP) + 85;
        let summary = my_xp(&app, &student).await;
        assert_eq!(summary["total_xp"], total);
        let level = xp::level_for(total);
        assert!(level >= 2, "{total} XP is past the first level");
        assert_eq!(summary["level"], level);
        assert_eq!(summary["level_start_xp"], xp::level_start(level));
        assert_eq!(summary["next_level_xp"], xp::level_start(level + 1));
        assert_eq!(
            summary["xp_to_next_level"],
            xp::level_start(level + 1) - total
        );
        let recent = summary["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 4, "{summary}");
        // Newest first.
        assert_eq!(recent[0]["source_type"], "study");
        assert_eq!(recent[0]["xp_amount"], 85);
        assert_eq!(recent[1]["source_type"], "lesson");
        assert_eq!(recent[1]["reference_id"], topic.lessons[2].to_string());
        assert_eq!(recent[3]["reference_id"], topic.lessons[0].to_string());
        assert!(
            recent[0]["created_at"].as_str().unwrap() > recent[3]["created_at"].as_str().unwrap()
        );

        // Someone else's XP is not mine.
        let other = app.student().await;
        assert_eq!(my_xp(&app, &other).await["total_xp"], 0);
    }
);

db_test!(recent_xp_lists_the_latest_twenty_awards, |app| {
    let student = app.student().await;
    for _ in 0..25 {
        award(&app, &student, XpSource::Doubt, 2).await;
        app.clock.advance(Duration::seconds(10));
    }
    let last = award(&app, &student, XpSource::StudySession, 7).await;
    assert_eq!(last, 7);
    let summary = my_xp(&app, &student).await;
    assert_eq!(summary["total_xp"], 25 * 2 + 7);
    let recent = summary["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 20);
    assert_eq!(recent[0]["xp_amount"], 7);
    let times: Vec<&str> = recent
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
});

db_test!(
    twenty_concurrent_awards_for_one_reference_write_one_row,
    |app| {
        let student = app.student().await;
        let user_id = uid(&student);
        let reference = Uuid::now_v7();
        let now = app.clock.now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let db = app.state.db.clone();
                tokio::spawn(async move {
                    let txn = db.write().begin().await.expect("begin");
                    let awarded = xp::award(
                        &txn,
                        user_id,
                        XpSource::QuizPerfect,
                        reference,
                        20,
                        "perfect score",
                        now,
                    )
                    .await
                    .expect("award");
                    txn.commit().await.expect("commit");
                    awarded
                })
            })
            .collect();
        let mut awarded = Vec::new();
        for task in tasks {
            awarded.push(task.await.expect("task"));
        }
        assert_eq!(
            awarded.iter().filter(|a| **a == 20).count(),
            1,
            "{awarded:?}"
        );
        assert_eq!(
            awarded.iter().filter(|a| **a == 0).count(),
            19,
            "{awarded:?}"
        );
        let rows = xp_logs::Entity::find()
            .filter(xp_logs::Column::UserId.eq(user_id))
            .filter(xp_logs::Column::ReferenceId.eq(reference))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(rows, 1);
        assert_eq!(my_xp(&app, &student).await["total_xp"], 20);
    }
);

// ---------------------------------------------------------------------------------------------
// Unlocking

db_test!(
    an_achievement_unlocks_once_however_often_it_is_evaluated,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 1).await;
        complete_lesson(&app, &student, topic.lessons[0]).await;
        // Created after the student qualified: it unlocks at their next evaluation.
        let first_lesson = create_achievement(&app, &admin, "lessons_completed", 1, 50).await;
        let before = my_achievement(&app, &student, first_lesson).await;
        assert!(before["unlocked_at"].is_null(), "{before}");
        assert_eq!(before["progress"], 1);

        assert_eq!(evaluate_now(&app, &student).await, vec![first_lesson]);
        assert_eq!(evaluate_now(&app, &student).await, Vec::<Uuid>::new());
        assert_eq!(unlock_rows(&app, &student, first_lesson).await, 1);
        let rewards = reward_rows(&app, &student, first_lesson).await;
        assert_eq!(rewards.len(), 1);
        assert_eq!(rewards[0].xp_amount, 50);
        assert_eq!(
            my_xp(&app, &student).await["total_xp"],
            i64::from(xp::LESSON_XP) + 50
        );
        let after = my_achievement(&app, &student, first_lesson).await;
        let unlocked_at: DateTime<Utc> = after["unlocked_at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unlocked_at: {after}"));
        assert_eq!(unlocked_at, app.clock.now());

        // Someone who has not done it sees it locked, with their own progress.
        let other = app.student().await;
        let theirs = my_achievement(&app, &other, first_lesson).await;
        assert!(theirs["unlocked_at"].is_null());
        assert_eq!(theirs["progress"], 0);
    }
);

db_test!(concurrent_evaluations_unlock_once_and_reward_once, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 1).await;
    complete_lesson(&app, &student, topic.lessons[0]).await;
    let achievement = create_achievement(&app, &admin, "lessons_completed", 1, 40).await;

    // No per-user lock here: the unique constraint alone must keep the unlock single.
    let user_id = uid(&student);
    let now = app.clock.now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let db = app.state.db.clone();
            tokio::spawn(async move {
                let txn = db.write().begin().await.expect("begin");
                let unlocked = evaluate(&txn, user_id, &Criteria::ALL, now)
                    .await
                    .expect("evaluate");
                txn.commit().await.expect("commit");
                unlocked
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        let unlocked = task.await.expect("task");
        if unlocked.contains(&achievement) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(unlock_rows(&app, &student, achievement).await, 1);
    assert_eq!(reward_rows(&app, &student, achievement).await.len(), 1);
    assert_eq!(
        my_xp(&app, &student).await["total_xp"],
        i64::from(xp::LESSON_XP) + 40
    );
});

db_test!(reward_xp_can_unlock_xp_achievements_in_a_chain, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let topic = topic_with_lessons(&app, &admin, 1).await;
    complete_lesson(&app, &student, topic.lessons[0]).await;
    let lesson_xp = i64::from(xp::LESSON_XP);

    let first = create_achievement(&app, &admin, "lessons_completed", 1, 100).await;
    // Reachable only with the first reward, then only with this one's reward.
    let second = create_achievement(&app, &admin, "total_xp", 100, 200).await;
    let third = create_achievement(&app, &admin, "total_xp", 300, 0).await;
    let out_of_reach = create_achievement(&app, &admin, "total_xp", 1000, 0).await;

    let mut unlocked = evaluate_now(&app, &student).await;
    unlocked.sort();
    let mut expected = vec![first, second, third];
    expected.sort();
    assert_eq!(unlocked, expected);
    assert_eq!(my_xp(&app, &student).await["total_xp"], lesson_xp + 300);
    assert!(my_achievement(&app, &student, out_of_reach).await["unlocked_at"].is_null());
    assert_eq!(
        my_achievement(&app, &student, out_of_reach).await["progress"],
        lesson_xp + 300
    );
    assert!(evaluate_now(&app, &student).await.is_empty());
});

db_test!(an_unknown_criteria_type_never_unlocks, |app| {
    let student = app.student().await;
    award(&app, &student, XpSource::StudySession, 50).await;
    // Only a row written past the API can hold one; the API refuses them.
    let id = Uuid::now_v7();
    achievements::ActiveModel {
        id: Set(id),
        title: Set("Moonwalker".into()),
        description: Set("Walk on the moon".into()),
        badge_icon: Set(None),
        criteria_type: Set("moon_landings".into()),
        criteria_value: Set(1),
        xp_reward: Set(10),
        created_at: Set(app.clock.now()),
    }
    .insert(app.state.db.write())
    .await
    .unwrap();
    assert!(evaluate_now(&app, &student).await.is_empty());
    let view = my_achievement(&app, &student, id).await;
    assert!(view["unlocked_at"].is_null());
    assert!(view["progress"].is_null());
});

// ---------------------------------------------------------------------------------------------
// Each criteria type, at its threshold and not below

db_test!(total_xp_unlocks_at_its_threshold, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "total_xp", 100, 0).await;
    award(&app, &student, XpSource::StudySession, 99).await;
    expect_state(&app, &student, id, false, 99).await;
    award(&app, &student, XpSource::Doubt, 1).await;
    expect_state(&app, &student, id, true, 100).await;
});

db_test!(streak_days_unlock_at_the_longest_streak, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "streak_days", 3, 0).await;
    let day: DateTime<Utc> = app.clock.now();
    let record = |at: DateTime<Utc>| {
        let app = app.clone();
        let user_id = uid(&student);
        async move {
            let txn = app.state.db.write().begin().await.unwrap();
            studium::study::streaks::record_study_day(&txn, user_id, chrono_tz::UTC, at, at)
                .await
                .unwrap();
            txn.commit().await.unwrap();
        }
    };
    record(day).await;
    record(day + Duration::days(1)).await;
    expect_state(&app, &student, id, false, 2).await;
    // A broken streak does not take back what the longest one reached.
    record(day + Duration::days(5)).await;
    expect_state(&app, &student, id, false, 2).await;
    record(day + Duration::days(6)).await;
    record(day + Duration::days(7)).await;
    expect_state(&app, &student, id, true, 3).await;
});

db_test!(lessons_completed_unlock_at_their_threshold, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "lessons_completed", 2, 0).await;
    let topic = topic_with_lessons(&app, &admin, 2).await;
    complete_lesson(&app, &student, topic.lessons[0]).await;
    complete_lesson(&app, &student, topic.lessons[0]).await;
    expect_state(&app, &student, id, false, 1).await;
    complete_lesson(&app, &student, topic.lessons[1]).await;
    expect_state(&app, &student, id, true, 2).await;
});

db_test!(quizzes_completed_count_distinct_quizzes, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "quizzes_completed", 2, 0).await;
    let topic = topic_with_lessons(&app, &admin, 0).await;
    let (a, b) = (quiz(&app, topic.id).await, quiz(&app, topic.id).await);
    take_quiz(&app, &student, a, topic.id, 40).await;
    take_quiz(&app, &student, a, topic.id, 70).await;
    // Retaking one quiz is still one quiz.
    expect_state(&app, &student, id, false, 1).await;
    let unlocked = take_quiz(&app, &student, b, topic.id, 10).await;
    assert_eq!(unlocked, vec![id]);
    expect_state(&app, &student, id, true, 2).await;
});

db_test!(perfect_quizzes_count_distinct_quizzes_scored_100, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "perfect_quizzes", 2, 0).await;
    let topic = topic_with_lessons(&app, &admin, 0).await;
    let (a, b) = (quiz(&app, topic.id).await, quiz(&app, topic.id).await);
    take_quiz(&app, &student, b, topic.id, 90).await;
    take_quiz(&app, &student, a, topic.id, 100).await;
    take_quiz(&app, &student, a, topic.id, 100).await;
    expect_state(&app, &student, id, false, 1).await;
    take_quiz(&app, &student, b, topic.id, 100).await;
    expect_state(&app, &student, id, true, 2).await;
});

/// A study session that started `hours_ago` and lasted `seconds` (still open when `None`).
async fn study_session(app: &TestApp, user: &TestUser, hours_ago: i64, seconds: Option<i32>) {
    let now = app.clock.now();
    let started = now - Duration::hours(hours_ago);
    study_sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(uid(user)),
        subject_id: Set(None),
        topic_id: Set(None),
        started_at: Set(started),
        ended_at: Set(seconds.map(|s| started + Duration::seconds(i64::from(s)))),
        duration_seconds: Set(seconds),
        notes: Set(None),
        xp_awarded: Set(seconds.map_or(0, studium::study::service::session_xp)),
        created_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("session");
}

db_test!(study_minutes_sum_ended_sessions, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "study_minutes", 5, 0).await;
    study_session(&app, &student, 10, Some(4 * 60 + 30)).await;
    // An open session has not been studied yet.
    study_session(&app, &student, 1, None).await;
    expect_state(&app, &student, id, false, 4).await;
    // Half minutes add up across sessions.
    study_session(&app, &student, 5, Some(30)).await;
    expect_state(&app, &student, id, true, 5).await;
});

async fn doubt_thread(app: &TestApp, user: &TestUser, roles: &[&str]) {
    let now = app.clock.now();
    let session = Uuid::now_v7();
    doubt_sessions::ActiveModel {
        id: Set(session),
        user_id: Set(uid(user)),
        topic_id: Set(None),
        title: Set("Why?".into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("doubt session");
    for role in roles {
        doubt_messages::ActiveModel {
            id: Set(Uuid::now_v7()),
            doubt_session_id: Set(session),
            role: Set((*role).into()),
            message_text: Set("a message".into()),
            citations: Set(None),
            tokens_used: Set(None),
            created_at: Set(now),
        }
        .insert(app.state.db.write())
        .await
        .expect("doubt message");
    }
}

db_test!(doubts_asked_count_my_own_questions, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let other = app.student().await;
    let id = create_achievement(&app, &admin, "doubts_asked", 2, 0).await;
    doubt_thread(&app, &student, &["user", "assistant"]).await;
    doubt_thread(&app, &other, &["user", "user", "user"]).await;
    expect_state(&app, &student, id, false, 1).await;
    doubt_thread(&app, &student, &["user", "assistant"]).await;
    expect_state(&app, &student, id, true, 2).await;
    expect_state(&app, &other, id, true, 3).await;
});

async fn friendship(app: &TestApp, requester: &TestUser, addressee: &TestUser, status: &str) {
    let now = app.clock.now();
    friends::ActiveModel {
        id: Set(Uuid::now_v7()),
        requester_id: Set(uid(requester)),
        addressee_id: Set(uid(addressee)),
        status: Set(status.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(app.state.db.write())
    .await
    .expect("friendship");
}

db_test!(friends_count_accepted_friendships_either_way, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let (a, b, c) = (
        app.student().await,
        app.student().await,
        app.student().await,
    );
    let id = create_achievement(&app, &admin, "friends", 2, 0).await;
    friendship(&app, &student, &a, "accepted").await;
    friendship(&app, &student, &b, "pending").await;
    expect_state(&app, &student, id, false, 1).await;
    friendship(&app, &c, &student, "accepted").await;
    expect_state(&app, &student, id, true, 2).await;
});

// ---------------------------------------------------------------------------------------------
// Admin management

db_test!(admins_create_update_and_delete_achievements, |app| {
    let admin = app.admin().await;
    let created = app
        .post(
            "/admin/achievements",
            Some(&admin.access),
            json!({
                "title": "Bookworm",
                "description": "Complete 10 lessons",
                "badge_icon": "book",
                "criteria_type": "lessons_completed",
                "criteria_value": 10,
                "xp_reward": 25,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["title"], "Bookworm");
    assert_eq!(created.body["badge_icon"], "book");
    assert_eq!(created.body["criteria_type"], "lessons_completed");
    assert_eq!(created.body["criteria_value"], 10);
    assert_eq!(created.body["xp_reward"], 25);
    let id = id_of(&created);

    let updated = app
        .patch(
            &format!("/admin/achievements/{id}"),
            Some(&admin.access),
            json!({"criteria_value": 12, "badge_icon": null, "description": "Complete 12 lessons"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["criteria_value"], 12);
    assert_eq!(updated.body["description"], "Complete 12 lessons");
    assert!(updated.body["badge_icon"].is_null());
    assert_eq!(updated.body["title"], "Bookworm");
    assert_eq!(updated.body["xp_reward"], 25);

    let listed = my_achievement(&app, &admin, id).await;
    assert_eq!(listed["criteria_value"], 12);
    assert_eq!(listed["progress"], 0);

    let deleted = app
        .delete(&format!("/admin/achievements/{id}"), Some(&admin.access))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let again = app
        .delete(&format!("/admin/achievements/{id}"), Some(&admin.access))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let missing = app
        .patch(
            &format!("/admin/achievements/{id}"),
            Some(&admin.access),
            json!({"xp_reward": 1}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let list = app.get("/achievements", Some(&admin.access)).await;
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
});

db_test!(students_may_not_manage_achievements, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let id = create_achievement(&app, &admin, "total_xp", 10, 0).await;
    let body = json!({"title": "Mine", "description": "x", "criteria_type": "total_xp", "criteria_value": 1});
    let create = app
        .post("/admin/achievements", Some(&student.access), body)
        .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    assert!(create.is_problem());
    let patch = app
        .patch(
            &format!("/admin/achievements/{id}"),
            Some(&student.access),
            json!({"xp_reward": 1000}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    let delete = app
        .delete(&format!("/admin/achievements/{id}"), Some(&student.access))
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post("/admin/achievements", None, json!({}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Nothing changed.
    let view = my_achievement(&app, &student, id).await;
    assert_eq!(view["xp_reward"], 0);
});

db_test!(achievement_names_are_unique, |app| {
    let admin = app.admin().await;
    let body = |name: &str| json!({"title": name, "description": "d", "criteria_type": "friends", "criteria_value": 1});
    let first = app
        .post("/admin/achievements", Some(&admin.access), body("Social"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let dup = app
        .post("/admin/achievements", Some(&admin.access), body("Social"))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.text);
    assert!(dup.is_problem());
    assert_eq!(dup.problem_slug(), "achievement-title-taken");

    let other = app
        .post("/admin/achievements", Some(&admin.access), body("Loner"))
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let rename = app
        .patch(
            &format!("/admin/achievements/{}", id_of(&other)),
            Some(&admin.access),
            json!({"title": "Social"}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::CONFLICT, "{}", rename.text);
    assert_eq!(rename.problem_slug(), "achievement-title-taken");
});

db_test!(
    invalid_achievement_definitions_are_refused_with_422,
    |app| {
        let admin = app.admin().await;
        let valid = json!({"title": "Fine", "description": "d", "criteria_type": "total_xp", "criteria_value": 5, "xp_reward": 10});
        let cases = [
            ("criteria_type", json!("moon_landings")),
            ("criteria_value", json!(0)),
            ("criteria_value", json!(-3)),
            ("xp_reward", json!(1001)),
            ("xp_reward", json!(-1)),
            ("title", json!("   ")),
            ("description", json!("")),
        ];
        for (field, value) in cases {
            let mut body = valid.clone();
            body[field] = value.clone();
            let res = app
                .post("/admin/achievements", Some(&admin.access), body)
                .await;
            assert_eq!(
                res.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={value}: {}",
                res.text
            );
            assert!(res.is_problem());
            assert_eq!(res.body["errors"][0]["field"], field, "{}", res.text);
        }
        let mut unknown_field = valid.clone();
        unknown_field["secret"] = json!(true);
        let res = app
            .post("/admin/achievements", Some(&admin.access), unknown_field)
            .await;
        assert!(res.status.is_client_error(), "{}", res.text);

        let ok = app
            .post("/admin/achievements", Some(&admin.access), valid)
            .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        let res = app
            .patch(
                &format!("/admin/achievements/{}", id_of(&ok)),
                Some(&admin.access),
                json!({"criteria_type": "moon_landings"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert_eq!(res.body["errors"][0]["field"], "criteria_type");
    }
);

db_test!(achievements_are_listed_in_pages, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    let mut ids = Vec::new();
    for value in 1..=3 {
        ids.push(create_achievement(&app, &admin, "total_xp", value * 10, 0).await);
    }
    let first = app
        .get("/achievements?limit=2", Some(&student.access))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().expect("cursor");
    let second = app
        .get(
            &format!("/achievements?limit=2&cursor={cursor}"),
            Some(&student.access),
        )
        .await;
    let mut seen: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(second.body["next_cursor"].is_null());
    seen.sort();
    let mut expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(
        app.get("/achievements?limit=0", Some(&student.access))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get("/achievements", None).await.status,
        StatusCode::UNAUTHORIZED
    );
});

// ---------------------------------------------------------------------------------------------
// End to end: events through HTTP unlock achievements, with nothing evaluated by hand.

db_test!(
    completing_lessons_and_studying_unlock_achievements_through_the_api,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let topic = topic_with_lessons(&app, &admin, 2).await;
        let two_lessons = create_achievement(&app, &admin, "lessons_completed", 2, 15).await;
        let half_hour = create_achievement(&app, &admin, "study_minutes", 30, 0).await;

        let complete = |lesson: Uuid| {
            let app = app.clone();
            let access = student.access.clone();
            async move {
                let res = app
                    .post(
                        &format!("/lessons/{lesson}/complete"),
                        Some(&access),
                        json!({}),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
                res
            }
        };
        let first = complete(topic.lessons[0]).await;
        assert_eq!(first.body["achievements_unlocked"], json!([]));
        assert!(my_achievement(&app, &student, two_lessons).await["unlocked_at"].is_null());

        let second = complete(topic.lessons[1]).await;
        assert_eq!(
            second.body["achievements_unlocked"],
            json!([two_lessons.to_string()]),
            "{}",
            second.text
        );
        let view = my_achievement(&app, &student, two_lessons).await;
        assert!(!view["unlocked_at"].is_null(), "{view}");
        assert_eq!(view["progress"], 2);
        // The reward is XP like any other: two lessons (20) plus the reward (15).
        let xp = app.get("/me/xp", Some(&student.access)).await;
        assert_eq!(xp.body["total_xp"], 35, "{}", xp.text);
        // Completing again unlocks nothing twice.
        let again = complete(topic.lessons[1]).await;
        assert_eq!(again.body["achievements_unlocked"], json!([]));

        // 29 minutes of logged study time is not yet half an hour; one more session is.
        let now = app.clock.now();
        let log = |from_min: i64, to_min: i64| {
            let app = app.clone();
            let access = student.access.clone();
            async move {
                let res = app
                    .post(
                        "/study-sessions",
                        Some(&access),
                        json!({
                            "started_at": now - Duration::minutes(from_min),
                            "ended_at": now - Duration::minutes(to_min),
                        }),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
            }
        };
        log(120, 91).await;
        let view = my_achievement(&app, &student, half_hour).await;
        assert!(view["unlocked_at"].is_null(), "{view}");
        assert_eq!(view["progress"], 29);
        log(60, 59).await;
        let view = my_achievement(&app, &student, half_hour).await;
        assert!(!view["unlocked_at"].is_null(), "{view}");
        assert_eq!(view["progress"], 30);
    }
);
