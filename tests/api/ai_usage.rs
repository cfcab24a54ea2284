//! Exact AI usage control (`studium::ai::usage`): reserve, then settle. No AI endpoint calls it
//! yet, so the tests drive `reserve`, `settle`, `release` and `expire_stale` over the test
//! app's database, and read the outcome through `GET /me/ai-usage`, `GET /admin/ai-usage` and
//! the tables. On SQLite and on PostgreSQL, and across two instances.

use std::time::Duration as StdDuration;

use axum::response::IntoResponse;
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use studium::ai::usage::{self, Reservation};
use studium::ai::{Feature, Usage};
use studium::entity::{ai_usage_counters, ai_usage_logs, subscriptions};
use studium::http::error::AppError;
use studium::maintenance;
use uuid::Uuid;

use crate::db_test;
use crate::gamification::uid;
use crate::helpers::*;

const MODEL: &str = "offline";

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
}

async fn reserve(app: &TestApp, user: Uuid, feature: Feature) -> Result<Reservation, AppError> {
    usage::reserve(
        &app.state.db,
        &app.state.config,
        user,
        feature,
        MODEL,
        app.clock.now(),
    )
    .await
}

fn used(prompt: u32, completion: u32, cost: &str) -> Usage {
    Usage {
        model: "gpt-test".into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost: cost.parse().unwrap(),
    }
}

async fn settle(app: &TestApp, r: Reservation, usage: &Usage) {
    r.settle(&app.state.db, usage, app.clock.now())
        .await
        .expect("settle");
}

/// The counter of `user`'s `feature` on the clock's UTC day (0 without a row).
async fn counter(app: &TestApp, user: Uuid, feature: Feature) -> i32 {
    ai_usage_counters::Entity::find()
        .filter(ai_usage_counters::Column::UserId.eq(user))
        .filter(ai_usage_counters::Column::FeatureType.eq(feature.as_str()))
        .filter(ai_usage_counters::Column::UsageDate.eq(app.clock.now().date_naive()))
        .one(app.state.db.read())
        .await
        .unwrap()
        .map_or(0, |c| c.used)
}

async fn logs(app: &TestApp, user: Uuid, status: &str) -> Vec<ai_usage_logs::Model> {
    ai_usage_logs::Entity::find()
        .filter(ai_usage_logs::Column::UserId.eq(user))
        .filter(ai_usage_logs::Column::RequestStatus.eq(status))
        .all(app.state.db.read())
        .await
        .unwrap()
}

fn retry_after(err: &AppError) -> u64 {
    match err {
        AppError::QuotaExceeded {
            retry_after_secs, ..
        } => *retry_after_secs,
        other => panic!("expected quota-exceeded, got {other:?}"),
    }
}

/// Starts `n` reservations at once, `n / 2` through each of `apps` when there are two.
async fn reserve_in_parallel(
    apps: &[&TestApp],
    user: Uuid,
    feature: Feature,
    n: usize,
) -> (Vec<Reservation>, Vec<AppError>) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()].clone();
        tasks.push(tokio::spawn(
            async move { reserve(&app, user, feature).await },
        ));
    }
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(r) => ok.push(r),
            Err(e) => refused.push(e),
        }
    }
    (ok, refused)
}

db_test!(
    fifty_parallel_requests_with_five_left_succeed_exactly_five_times,
    config = |c| {
        c.plan_free_doubt_per_day = 8;
    },
    |app| {
        let user = uid(&app.student().await);
        for _ in 0..3 {
            let r = reserve(&app, user, Feature::Doubt).await.unwrap();
            settle(&app, r, &used(100, 50, "0")).await;
        }

        let (ok, refused) = reserve_in_parallel(&[&app], user, Feature::Doubt, 50).await;
        assert_eq!(ok.len(), 5);
        assert_eq!(refused.len(), 45);
        for err in &refused {
            assert_eq!(err.slug(), "quota-exceeded");
            // The next reset is midnight UTC; the clock stands at 12:00.
            assert_eq!(retry_after(err), 12 * 3600);
        }
        assert_eq!(counter(&app, user, Feature::Doubt).await, 8);
        assert_eq!(logs(&app, user, "reserved").await.len(), 5);
        assert_eq!(logs(&app, user, "rejected").await.len(), 45);

        for r in ok {
            settle(&app, r, &used(120, 30, "0.000125")).await;
        }
        let success = logs(&app, user, "success").await;
        assert_eq!(success.len(), 8);
        let settled: Vec<_> = success.iter().filter(|l| l.prompt_tokens == 120).collect();
        assert_eq!(settled.len(), 5);
        for l in settled {
            assert_eq!((l.completion_tokens, l.total_tokens), (30, 150));
            assert_eq!(l.estimated_cost.0, "0.000125".parse::<Decimal>().unwrap());
            assert_eq!(l.model_name, "gpt-test");
            assert_eq!(l.reserved_until, None);
        }
        assert!(logs(&app, user, "reserved").await.is_empty());
        // Settling keeps the units used.
        assert_eq!(counter(&app, user, Feature::Doubt).await, 8);
        // Another feature has its own allowance.
        assert!(reserve(&app, user, Feature::Quiz).await.is_ok());
    }
);

db_test!(
    parallel_requests_on_two_instances_share_one_allowance,
    config = |c| {
        c.plan_free_quiz_per_day = 7;
    },
    |app| {
        let user = uid(&app.student().await);
        let second = app.second_instance().await;
        let (ok, refused) =
            reserve_in_parallel(&[&app, &second.app], user, Feature::Quiz, 50).await;
        assert_eq!(ok.len(), 7);
        assert_eq!(refused.len(), 43);
        assert_eq!(counter(&app, user, Feature::Quiz).await, 7);
        for r in ok {
            settle(&app, r, &used(10, 10, "0")).await;
        }
        assert_eq!(logs(&app, user, "success").await.len(), 7);
        assert_eq!(logs(&app, user, "rejected").await.len(), 43);
    }
);

db_test!(
    a_released_or_dropped_reservation_gives_its_unit_back_once,
    config = |c| {
        c.plan_free_doubt_per_day = 2;
    },
    |app| {
        let user = uid(&app.student().await);
        let first = reserve(&app, user, Feature::Doubt).await.unwrap();
        let second = reserve(&app, user, Feature::Doubt).await.unwrap();
        assert!(reserve(&app, user, Feature::Doubt).await.is_err());

        // A provider error: released, the unit comes back.
        first.release(&app.state.db, app.clock.now()).await.unwrap();
        assert_eq!(counter(&app, user, Feature::Doubt).await, 1);
        assert_eq!(logs(&app, user, "error").await.len(), 1);

        // The client went away: the handler's future, and the guard with it, is dropped.
        drop(second);
        let mut waited = 0;
        while counter(&app, user, Feature::Doubt).await != 0 {
            waited += 1;
            assert!(waited < 500, "the dropped reservation was not released");
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        assert_eq!(logs(&app, user, "error").await.len(), 2);
        assert!(logs(&app, user, "reserved").await.is_empty());

        // Both units are free again, and no more than both.
        let a = reserve(&app, user, Feature::Doubt).await.unwrap();
        let b = reserve(&app, user, Feature::Doubt).await.unwrap();
        assert!(reserve(&app, user, Feature::Doubt).await.is_err());
        a.release(&app.state.db, app.clock.now()).await.unwrap();
        settle(&app, b, &used(1, 1, "0")).await;
        assert_eq!(counter(&app, user, Feature::Doubt).await, 1);
    }
);

db_test!(
    the_maintenance_expires_a_crashed_reservation_exactly_once,
    config = |c| {
        c.plan_free_doubt_per_day = 1;
        c.ai_reservation_ttl_secs = 60;
    },
    |app| {
        let user = uid(&app.student().await);
        let start = app.clock.now();
        let crashed = reserve(&app, user, Feature::Doubt).await.unwrap();
        // Not yet past its deadline: left alone.
        app.set_time(start + Duration::seconds(60));
        assert_eq!(
            maintenance::run_once(&app.state)
                .await
                .unwrap()
                .ai_reservations_expired,
            0
        );
        assert_eq!(counter(&app, user, Feature::Doubt).await, 1);

        app.set_time(start + Duration::seconds(61));
        let report = maintenance::run_once(&app.state).await.unwrap();
        assert_eq!(report.ai_reservations_expired, 1);
        assert_eq!(counter(&app, user, Feature::Doubt).await, 0);
        assert_eq!(logs(&app, user, "error").await.len(), 1);
        // A second run, or a second instance's run, gives nothing back again.
        let second = app.second_instance().await;
        assert_eq!(
            maintenance::run_once(&second.app.state)
                .await
                .unwrap()
                .ai_reservations_expired,
            0
        );
        assert_eq!(
            usage::expire_stale(app.state.db.write(), app.clock.now())
                .await
                .unwrap(),
            0
        );
        assert_eq!(counter(&app, user, Feature::Doubt).await, 0);

        // The call did finish after all: settled late, it is logged and its unit taken again.
        settle(&app, crashed, &used(5, 5, "0.000010")).await;
        assert_eq!(counter(&app, user, Feature::Doubt).await, 1);
        assert_eq!(logs(&app, user, "success").await.len(), 1);
        assert!(logs(&app, user, "error").await.is_empty());
    }
);

db_test!(
    a_plan_change_applies_to_the_next_request,
    config = |c| {
        c.plan_free_quiz_per_day = 1;
        c.plan_pro_quiz_per_day = 3;
    },
    |app| {
        let student = app.student().await;
        let user = uid(&student);
        let now = app.clock.now();
        settle(
            &app,
            reserve(&app, user, Feature::Quiz).await.unwrap(),
            &used(1, 1, "0"),
        )
        .await;
        assert!(reserve(&app, user, Feature::Quiz).await.is_err());

        // A pro subscription past due gives no pro allowance…
        let sub = subscriptions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            plan: Set("pro".into()),
            status: Set("past_due".into()),
            provider: Set("manual".into()),
            provider_customer_id: Set(None),
            provider_subscription_id: Set(None),
            current_period_start: Set(Some(now - Duration::days(1))),
            current_period_end: Set(Some(now + Duration::days(29))),
            provider_event_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(app.state.db.write())
        .await
        .unwrap();
        assert!(reserve(&app, user, Feature::Quiz).await.is_err());
        let me = app.get("/me/ai-usage", Some(&student.access)).await;
        assert_eq!(me.body["plan"], "free", "{}", me.text);

        // …an active one does, at once.
        let mut active: subscriptions::ActiveModel = sub.into();
        active.status = Set("active".into());
        active.update(app.state.db.write()).await.unwrap();
        let me = app.get("/me/ai-usage", Some(&student.access)).await;
        assert_eq!(me.body["plan"], "pro", "{}", me.text);
        assert_eq!(me.body["limits"]["quiz_per_day"], 3);
        // (Held: a reservation dropped unsettled gives its unit back.)
        let _second = reserve(&app, user, Feature::Quiz).await.unwrap();
        let _third = reserve(&app, user, Feature::Quiz).await.unwrap();
        assert!(reserve(&app, user, Feature::Quiz).await.is_err());

        // Past the end of its period it no longer counts.
        app.set_time(now + Duration::days(29) + Duration::seconds(1));
        assert_eq!(
            usage::plan_of(app.state.db.read(), user, app.clock.now())
                .await
                .unwrap(),
            usage::Plan::Free
        );
    }
);

db_test!(
    the_next_utc_day_resets_the_daily_allowance,
    config = |c| {
        c.plan_free_doubt_per_day = 1;
    },
    |app| {
        let user = uid(&app.student().await);
        app.set_time(utc(2026, 3, 2, 23, 59, 50));
        settle(
            &app,
            reserve(&app, user, Feature::Doubt).await.unwrap(),
            &used(1, 1, "0"),
        )
        .await;
        let err = reserve(&app, user, Feature::Doubt).await.unwrap_err();
        assert_eq!(retry_after(&err), 10);

        // The refusal as the client sees it: 429 quota-exceeded with Retry-After.
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "10");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "urn:studium:problem:quota-exceeded");
        assert_eq!(problem["status"], 429);

        app.set_time(utc(2026, 3, 3, 0, 0, 0));
        let _today = reserve(&app, user, Feature::Doubt).await.unwrap();
        assert!(reserve(&app, user, Feature::Doubt).await.is_err());
    }
);

db_test!(
    the_monthly_cost_cap_refuses_until_the_first_of_next_month,
    config = |c| {
        c.plan_free_monthly_cost_cap_usd = "0.010000".parse().unwrap();
    },
    |app| {
        let user = uid(&app.student().await);
        // 0.009999 is under the cap: one more call may start, and it costs 0.000002.
        settle(
            &app,
            reserve(&app, user, Feature::Doubt).await.unwrap(),
            &used(1, 1, "0.009999"),
        )
        .await;
        settle(
            &app,
            reserve(&app, user, Feature::Quiz).await.unwrap(),
            &used(1, 1, "0.000002"),
        )
        .await;
        let err = reserve(&app, user, Feature::Material).await.unwrap_err();
        // From 2026-03-02 12:00 to 2026-04-01 00:00.
        assert_eq!(retry_after(&err), (29 * 24 + 12) * 3600);
        assert_eq!(logs(&app, user, "rejected").await.len(), 1);

        app.set_time(utc(2026, 4, 1, 0, 0, 0));
        assert!(reserve(&app, user, Feature::Material).await.is_ok());
    }
);

db_test!(my_ai_usage_shows_the_plan_its_limits_and_exact_use, |app| {
    let student = app.student().await;
    let user = uid(&student);
    let other = uid(&app.student().await);
    settle(
        &app,
        reserve(&app, user, Feature::Doubt).await.unwrap(),
        &used(100, 20, "0.000125"),
    )
    .await;
    settle(
        &app,
        reserve(&app, user, Feature::Doubt).await.unwrap(),
        &used(200, 40, "0.01"),
    )
    .await;
    let failed = reserve(&app, user, Feature::Quiz).await.unwrap();
    failed
        .release(&app.state.db, app.clock.now())
        .await
        .unwrap();
    let _under_way = reserve(&app, user, Feature::Material).await.unwrap();
    settle(
        &app,
        reserve(&app, other, Feature::Doubt).await.unwrap(),
        &used(9, 9, "0.5"),
    )
    .await;
    // Last month's use counts neither today nor this month.
    app.set_time(utc(2026, 2, 27, 9, 0, 0));
    settle(
        &app,
        reserve(&app, user, Feature::Doubt).await.unwrap(),
        &used(7, 7, "0.2"),
    )
    .await;
    app.set_time(utc(2026, 3, 2, 12, 0, 0));

    let res = app.get("/me/ai-usage", Some(&student.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(
        res.body,
        json!({
            "plan": "free",
            "limits": {
                "doubt_per_day": 20,
                "quiz_per_day": 5,
                "material_per_day": 200,
                "monthly_cost_cap_usd": "1.00",
            },
            "used_today": {"doubt": 2, "quiz": 0, "material": 1},
            "used_this_month": {"requests": 3, "tokens": 360, "cost_usd": "0.010125"},
            "resets_at": "2026-03-03T00:00:00Z",
            "cost_cap_resets_at": "2026-04-01T00:00:00Z",
        })
    );
    assert_eq!(
        app.get("/me/ai-usage", None).await.status,
        StatusCode::UNAUTHORIZED
    );
});

db_test!(
    the_admin_report_groups_calls_by_user_model_feature_and_day,
    |app| {
        let admin = app.admin().await;
        let student = app.student().await;
        let (ada, bob) = (uid(&student), uid(&app.student().await));
        app.set_time(utc(2026, 3, 1, 10, 0, 0));
        settle(
            &app,
            reserve(&app, ada, Feature::Doubt).await.unwrap(),
            &used(100, 20, "0.000125"),
        )
        .await;
        let failed = reserve(&app, bob, Feature::Quiz).await.unwrap();
        failed
            .release(&app.state.db, app.clock.now())
            .await
            .unwrap();
        app.set_time(utc(2026, 3, 2, 10, 0, 0));
        settle(
            &app,
            reserve(&app, bob, Feature::Doubt).await.unwrap(),
            &used(10, 5, "0.1"),
        )
        .await;
        let _under_way = reserve(&app, ada, Feature::Material).await.unwrap();
        // Outside the period asked for.
        app.set_time(utc(2026, 1, 15, 10, 0, 0));
        settle(
            &app,
            reserve(&app, ada, Feature::Doubt).await.unwrap(),
            &used(1, 1, "9"),
        )
        .await;
        app.set_time(utc(2026, 3, 2, 12, 0, 0));

        let report = |group_by: &'static str| {
            let app = app.clone();
            let token = admin.access.clone();
            async move {
                let res = app
                    .get(
                        &format!(
                            "/admin/ai-usage?from=2026-03-01&to=2026-03-02&group_by={group_by}"
                        ),
                        Some(&token),
                    )
                    .await;
                assert_eq!(res.status, StatusCode::OK, "{}", res.text);
                res.body
            }
        };
        let keys = |body: &serde_json::Value| -> Vec<String> {
            body["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["key"].as_str().unwrap().to_string())
                .collect()
        };

        let by_day = report("day").await;
        assert_eq!(by_day["from"], "2026-03-01T00:00:00Z");
        assert_eq!(by_day["to"], "2026-03-03T00:00:00Z");
        assert_eq!(by_day["group_by"], "day");
        assert_eq!(
            by_day["rows"],
            json!([
                {"key": "2026-03-01", "requests": 2, "success": 1, "error": 1, "rejected": 0, "reserved": 0,
                 "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cost_usd": "0.000125"},
                {"key": "2026-03-02", "requests": 2, "success": 1, "error": 0, "rejected": 0, "reserved": 1,
                 "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost_usd": "0.10"},
            ])
        );

        let by_feature = report("feature").await;
        assert_eq!(keys(&by_feature), ["doubt", "material", "quiz"]);
        assert_eq!(by_feature["rows"][0]["requests"], 2);
        assert_eq!(by_feature["rows"][0]["cost_usd"], "0.100125");

        let by_model = report("model").await;
        // The failed and the running call keep the model they were reserved for.
        assert_eq!(keys(&by_model), ["gpt-test", MODEL]);
        assert_eq!(by_model["rows"][0]["success"], 2);
        assert_eq!(by_model["rows"][1]["requests"], 2);

        let by_user = report("user").await;
        let mut expected = vec![ada.to_string(), bob.to_string()];
        expected.sort();
        assert_eq!(keys(&by_user), expected);
        let ada_row = &by_user["rows"][usize::from(expected[0] != ada.to_string())];
        assert_eq!(ada_row["cost_usd"], "0.000125");
        assert_eq!(ada_row["reserved"], 1);

        // The default period is the last 30 days, grouped by day: February's call is left out.
        let res = app.get("/admin/ai-usage", Some(&admin.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(keys(&res.body), ["2026-03-01", "2026-03-02"]);

        let res = app
            .get("/admin/ai-usage?group_by=lesson", Some(&admin.access))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert_eq!(res.problem_slug(), "validation-failed");
        let res = app
            .get("/admin/ai-usage?from=last-week", Some(&admin.access))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        let res = app
            .get(
                "/admin/ai-usage?from=2026-03-02&to=2026-03-01",
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        let res = app.get("/admin/ai-usage", Some(&student.access)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    }
);
