//! Recommendations (SPEC §3 Recommendations; §4 recommendations).

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::gamification::{complete_lesson, quiz, take_quiz, topic_with_lessons};
use crate::helpers::*;
use crate::{db_test, long_session_test};

async fn recs(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let res = app.get("/me/recommendations", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"].as_array().expect("items").clone()
}

fn of_kind<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|r| r["recommendation_type"] == kind)
        .collect()
}

fn refs(items: &[Value], kind: &str) -> Vec<String> {
    of_kind(items, kind)
        .iter()
        .map(|r| {
            r["reference_id"]
                .as_str()
                .expect("reference_id")
                .to_string()
        })
        .collect()
}

db_test!(
    recommendations_follow_the_students_progress_and_never_point_at_done_work,
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 2).await;
        let other = topic_with_lessons(&app, &admin, 1).await;
        let student = app.student().await;
        let subject = app
            .get(
                &format!("/subjects/{}", other.subject_id),
                Some(&student.access),
            )
            .await;
        let preferred = subject.body["name"].as_str().expect("name").to_string();
        let res = app
            .patch(
                "/me/profile",
                Some(&student.access),
                json!({"preferred_subjects": [preferred]}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);

        // Nothing started: a new topic, from the preferred subject, with its reason and link.
        let items = recs(&app, &student).await;
        let new = of_kind(&items, "new_topic");
        assert_eq!(new.len(), 1, "{items:?}");
        assert_eq!(new[0]["reference_id"], other.id.to_string());
        assert_eq!(new[0]["reference_type"], "topic");
        assert_eq!(new[0]["link"], format!("/api/v1/topics/{}", other.id));
        assert!(
            new[0]["reason"]
                .as_str()
                .expect("reason")
                .contains("preferred")
        );
        let expires: chrono::DateTime<Utc> =
            new[0]["expires_at"].as_str().unwrap().parse().unwrap();
        let generated: chrono::DateTime<Utc> =
            new[0]["generated_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(expires - generated, Duration::hours(24));
        // Read again with nothing changed: the same stored recommendation.
        assert_eq!(recs(&app, &student).await[0]["id"], items[0]["id"]);

        // One lesson done: continue with the next one; the started topic is no longer "new".
        complete_lesson(&app, &student, topic.lessons[0]).await;
        let items = recs(&app, &student).await;
        assert_eq!(
            refs(&items, "continue_lesson"),
            vec![topic.lessons[1].to_string()]
        );
        assert_eq!(
            of_kind(&items, "continue_lesson")[0]["link"],
            format!("/api/v1/lessons/{}", topic.lessons[1])
        );
        assert!(!refs(&items, "new_topic").contains(&topic.id.to_string()));

        // All lessons done, no quiz yet: generate one; with a quiz: take it.
        complete_lesson(&app, &student, topic.lessons[1]).await;
        let items = recs(&app, &student).await;
        assert!(refs(&items, "continue_lesson").is_empty(), "{items:?}");
        assert_eq!(refs(&items, "generate_quiz"), vec![topic.id.to_string()]);
        let quiz_id = quiz(&app, topic.id).await;
        let items = recs(&app, &student).await;
        assert_eq!(refs(&items, "take_quiz"), vec![quiz_id.to_string()]);
        assert!(refs(&items, "generate_quiz").is_empty());

        // A bad attempt: the quiz is done, and the topic's low mastery asks for a review.
        take_quiz(&app, &student, quiz_id, topic.id, 10).await;
        let items = recs(&app, &student).await;
        assert!(refs(&items, "take_quiz").is_empty(), "{items:?}");
        let review = of_kind(&items, "review_topic");
        assert_eq!(review.len(), 1, "{items:?}");
        assert_eq!(review[0]["reference_id"], topic.id.to_string());
        assert!(review[0]["reason"].as_str().unwrap().contains("mastery"));
        // No lesson recommendation ever points at a finished lesson.
        for r in &items {
            if r["reference_type"] == "lesson" {
                assert!(
                    !topic
                        .lessons
                        .iter()
                        .any(|l| r["reference_id"] == l.to_string()),
                    "{r}"
                );
            }
        }
        // Priorities come highest first.
        let priorities: Vec<i64> = items
            .iter()
            .map(|r| r["priority_score"].as_i64().unwrap())
            .collect();
        let mut sorted = priorities.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(priorities, sorted);

        // Another student's are their own.
        let fresh = app.student().await;
        let theirs = recs(&app, &fresh).await;
        assert!(of_kind(&theirs, "review_topic").is_empty());
    }
);

db_test!(
    a_streak_at_risk_today_is_recommended_until_the_student_studies,
    config = |c| {
        c.access_token_ttl_secs = 7 * 24 * 3600;
    },
    |app| {
        app.set_time(Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap());
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 3).await;
        let student = app.student().await;
        complete_lesson(&app, &student, topic.lessons[0]).await;
        assert!(of_kind(&recs(&app, &student).await, "streak_at_risk").is_empty());

        // The next day, not studied yet: the streak is at risk; the next lesson saves it.
        app.set_time(Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap());
        let items = recs(&app, &student).await;
        let risk = of_kind(&items, "streak_at_risk");
        assert_eq!(risk.len(), 1, "{items:?}");
        assert_eq!(risk[0]["reference_id"], topic.lessons[1].to_string());
        assert_eq!(items[0]["recommendation_type"], "streak_at_risk");
        complete_lesson(&app, &student, topic.lessons[1]).await;
        let items = recs(&app, &student).await;
        assert!(of_kind(&items, "streak_at_risk").is_empty(), "{items:?}");
        assert_eq!(
            refs(&items, "continue_lesson"),
            vec![topic.lessons[2].to_string()]
        );

        // Two days later the streak is gone, so nothing is at risk.
        app.set_time(Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 0).unwrap());
        assert!(of_kind(&recs(&app, &student).await, "streak_at_risk").is_empty());

        // Refresh regenerates: new ids, generated now.
        let before = recs(&app, &student).await;
        let res = app
            .post(
                "/me/recommendations/refresh",
                Some(&student.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let after = res.body["items"].as_array().unwrap();
        assert_eq!(after.len(), before.len());
        assert_ne!(after[0]["id"], before[0]["id"]);
        let anon = app.get("/me/recommendations", None).await;
        assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    }
);

long_session_test!(
    a_dismissed_recommendation_stays_away_until_it_would_have_expired,
    |app| {
        let admin = app.admin().await;
        let topic = topic_with_lessons(&app, &admin, 2).await;
        topic_with_lessons(&app, &admin, 1).await;
        let student = app.student().await;
        complete_lesson(&app, &student, topic.lessons[0]).await;
        let items = recs(&app, &student).await;
        let next = topic.lessons[1].to_string();
        assert_eq!(refs(&items, "continue_lesson"), vec![next.clone()]);
        let cont = of_kind(&items, "continue_lesson")[0];
        let id = cont["id"].as_str().expect("id").to_string();
        let expires: chrono::DateTime<Utc> = cont["expires_at"].as_str().unwrap().parse().unwrap();
        let others: Vec<Value> = items
            .iter()
            .filter(|r| r["reference_id"] != next.as_str())
            .cloned()
            .collect();
        assert!(!others.is_empty(), "{items:?}");

        // Not mine: not found, and nothing changes for its owner.
        let stranger = app.student().await;
        let path = format!("/me/recommendations/{id}/dismiss");
        let res = app.post(&path, Some(&stranger.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert_eq!(res.problem_slug(), "not-found");
        assert_eq!(recs(&app, &student).await, items);
        let unknown = format!("/me/recommendations/{}/dismiss", uuid::Uuid::now_v7());
        let res = app.post(&unknown, Some(&student.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        let res = app
            .post(
                "/me/recommendations/not-an-id/dismiss",
                Some(&student.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
        assert!(res.is_problem());
        let res = app.post(&path, None, json!({})).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);

        // Dismissed: gone from the list, the others stay as they were; twice is like once.
        let res = app.post(&path, Some(&student.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        let res = app.post(&path, Some(&student.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        assert_eq!(recs(&app, &student).await, others);

        // Neither a refresh nor a later read brings its target back while it would have run.
        let res = app
            .post(
                "/me/recommendations/refresh",
                Some(&student.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let refreshed = res.body["items"].as_array().expect("items").clone();
        assert!(
            refreshed.iter().all(|r| r["reference_id"] != next.as_str()),
            "{refreshed:?}"
        );
        assert_eq!(refreshed.len(), others.len());
        app.set_time(expires - Duration::seconds(1));
        let items = recs(&app, &student).await;
        assert!(
            items.iter().all(|r| r["reference_id"] != next.as_str()),
            "{items:?}"
        );

        // Once it has expired, the lesson is recommended again, under a new id.
        app.set_time(expires + Duration::seconds(1));
        let items = recs(&app, &student).await;
        assert_eq!(refs(&items, "continue_lesson"), vec![next.clone()]);
        assert_ne!(of_kind(&items, "continue_lesson")[0]["id"], id.as_str());
    }
);
