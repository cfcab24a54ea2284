//! The operator's statistics (`GET /admin/stats`).

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::db_test;
use crate::gamification::{complete_lesson, topic_with_lessons};

db_test!(
    admin_stats_count_users_study_lessons_materials_and_jobs,
    |app| {
        // Noon UTC, so "today" and "this week" hold the same events.
        let noon =
            Utc.from_utc_datetime(&app.clock.now().date_naive().and_hms_opt(12, 0, 0).unwrap());
        app.set_time(noon);
        let admin = app.admin().await;
        let ada = app.student().await;
        let bob = app.student().await;

        let res = app.get("/admin/stats", Some(&ada.access)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        assert_eq!(
            app.get("/admin/stats", None).await.status,
            StatusCode::UNAUTHORIZED
        );

        let topic = topic_with_lessons(&app, &admin, 2).await;
        complete_lesson(&app, &ada, topic.lessons[0]).await;
        complete_lesson(&app, &bob, topic.lessons[1]).await;
        let res = app
        .post(
            "/study-sessions",
            Some(&ada.access),
            json!({"started_at": noon - Duration::minutes(45), "ended_at": noon - Duration::minutes(15)}),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let file = vec![b'x'; 1234];
        let res = crate::materials::upload(&app, &ada, "notes.txt", &file).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);

        let res = app.get("/admin/stats", Some(&admin.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let s = &res.body;
        assert_eq!(s["users"]["total"], 3, "{}", res.text);
        assert_eq!(s["users"]["new_this_week"], 3);
        assert_eq!(s["users"]["active_today"], 3);
        assert_eq!(s["users"]["active_this_week"], 3);
        assert_eq!(s["study"]["minutes_today"], 30);
        assert_eq!(s["study"]["minutes_this_week"], 30);
        assert_eq!(s["study"]["lessons_completed_today"], 2);
        assert_eq!(s["study"]["lessons_completed_this_week"], 2);
        assert_eq!(s["materials"]["count"], 1);
        assert_eq!(s["materials"]["bytes_stored"], 1234);
        assert!(s["ai"]["requests_today"].as_i64().is_some());
        assert!(s["ai"]["cost_this_month_usd"].is_string());
        assert!(s["jobs"]["waiting"].as_u64().is_some());
        assert_eq!(s["jobs"]["failed"], 0);

        // A week later the week's figures are empty, the totals are not.
        app.set_time(noon + Duration::days(8));
        let admin = app.admin().await;
        let res = app.get("/admin/stats", Some(&admin.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["users"]["total"], 4);
        assert_eq!(res.body["users"]["new_this_week"], 1);
        assert_eq!(res.body["users"]["active_this_week"], 1);
        assert_eq!(res.body["study"]["minutes_this_week"], 0);
        assert_eq!(res.body["study"]["lessons_completed_this_week"], 0);
        assert_eq!(res.body["materials"]["count"], 1);
    }
);
