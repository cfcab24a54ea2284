//! Plans and payments: the plans, checkout at a fake Stripe-compatible server on loopback, the
//! signed webhooks (signature, tolerance, idempotency under concurrent redelivery, order), and
//! the admin's grant — each taking effect on the user's next request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use studium::billing::stripe::sign;
use studium::entity::{payments, processed_webhook_events, subscriptions};
use uuid::Uuid;

use crate::db_test;
use crate::helpers::{Backend, Resp, TestApp, TestUser, read, run};

const SECRET: &str = "whsec_test_secret";

// ---------------------------------------------------------------------------------------------
// The fake provider

/// Path, `Authorization` header and form body of a request the fake provider received.
type Received = (String, Option<String>, String);

#[derive(Clone, Default)]
struct FakeStripe {
    replies: Arc<Mutex<VecDeque<(u16, Value)>>>,
    requests: Arc<Mutex<Vec<Received>>>,
}

async fn answer(
    State(fake): State<FakeStripe>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    fake.requests.lock().unwrap().push((
        uri.path().to_string(),
        auth,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    match fake.replies.lock().unwrap().pop_front() {
        Some((status, value)) => {
            (AxumStatus::from_u16(status).unwrap(), axum::Json(value)).into_response()
        }
        None => (AxumStatus::INTERNAL_SERVER_ERROR, "no reply queued").into_response(),
    }
}

async fn start_stripe(replies: Vec<(u16, Value)>) -> (FakeStripe, String) {
    let fake = FakeStripe::default();
    fake.replies.lock().unwrap().extend(replies);
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}"))
}

/// Runs `body` on an app whose payment provider is the fake one, with `replies` queued.
async fn with_stripe<F, Fut>(backend: Backend, replies: Vec<(u16, Value)>, body: F)
where
    F: FnOnce(TestApp, FakeStripe) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (fake, base) = start_stripe(replies).await;
    run(
        backend,
        move |c| {
            c.stripe_api_base = Some(base);
            c.stripe_secret_key = Some("sk_test_123".into());
            c.stripe_price_pro = Some("price_pro_monthly".into());
            c.stripe_webhook_secret = Some(SECRET.into());
        },
        move |app| body(app, fake),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Webhook helpers

/// Posts `payload` with this `Stripe-Signature` header (none when `None`).
async fn deliver_raw(app: &TestApp, payload: &str, signature: Option<String>) -> Resp {
    let mut req = app
        .client
        .post(app.url("/billing/webhook"))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(sig) = signature {
        req = req.header("stripe-signature", sig);
    }
    read(req.send().await.expect("webhook")).await
}

/// Posts `event`, signed now with the webhook secret.
async fn deliver(app: &TestApp, event: &Value) -> Resp {
    let payload = event.to_string();
    let t = app.clock.now().timestamp();
    let sig = sign(SECRET, t, payload.as_bytes());
    deliver_raw(app, &payload, Some(format!("t={t},v1={sig}"))).await
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": created,
           "data": {"object": object}})
}

fn subscription_object(user: &TestUser, status: &str, period_end: i64) -> Value {
    json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "current_period_start": period_end - 30 * 86_400, "current_period_end": period_end,
        "metadata": {"user_id": user.id, "plan": "pro"}
    })
}

async fn plan_of(app: &TestApp, user: &TestUser) -> String {
    let res = app.get("/me/subscription", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["plan"].as_str().unwrap().to_string()
}

async fn doubt_limit(app: &TestApp, user: &TestUser) -> u64 {
    let res = app.get("/me/ai-usage", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["limits"]["doubt_per_day"].as_u64().unwrap()
}

async fn count_events(app: &TestApp) -> u64 {
    processed_webhook_events::Entity::find()
        .count(app.state.db.read())
        .await
        .unwrap()
}

async fn subscriptions_of(app: &TestApp, user: &TestUser) -> Vec<subscriptions::Model> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user.id.parse::<Uuid>().unwrap()))
        .all(app.state.db.read())
        .await
        .unwrap()
}

fn with_secret(c: &mut studium::config::Config) {
    c.stripe_webhook_secret = Some(SECRET.into());
}

// ---------------------------------------------------------------------------------------------
// Plans, subscription, payments

db_test!(
    plans_are_listed_with_their_prices_and_allowances,
    config = |c| {
        c.plan_pro_price_cents = 1200;
        c.plan_pro_doubt_per_day = 321;
    },
    |app| {
        let res = app.get("/billing/plans", None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let plans = res.body["plans"].as_array().unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0]["id"], "free");
        assert_eq!(plans[0]["price_cents"], 0);
        assert_eq!(plans[1]["id"], "pro");
        assert_eq!(plans[1]["price_cents"], 1200);
        assert_eq!(plans[1]["currency"], "usd");
        assert_eq!(plans[1]["doubt_per_day"], 321);
        assert_eq!(
            plans[1]["storage_bytes"].as_u64(),
            Some(app.state.config.plan_pro_storage_bytes)
        );

        let ada = app.student().await;
        let res = app.get("/me/subscription", Some(&ada.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["plan"], "free");
        assert!(res.body["subscription"].is_null());
        let res = app.get("/me/payments", Some(&ada.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["payments"], json!([]));
        assert_eq!(
            app.get("/me/payments", None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
);

db_test!(
    checkout_and_webhooks_without_a_payment_provider_answer_503,
    |app| {
        let ada = app.student().await;
        let res = app
            .post(
                "/billing/checkout",
                Some(&ada.access),
                json!({"plan": "pro"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
        assert!(res.is_problem());
        assert_eq!(res.problem_slug(), "billing-unavailable");
        let res = deliver_raw(&app, "{}", Some("t=1,v1=00".into())).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
        assert_eq!(res.problem_slug(), "billing-unavailable");
    }
);

async fn checkout_creates_a_hosted_session_at_the_provider(backend: Backend) {
    let replies = vec![
        (
            200,
            json!({"id": "cs_test_1", "object": "checkout.session",
                   "url": "https://checkout.example.com/c/cs_test_1"}),
        ),
        (500, json!({"error": {"message": "down"}})),
    ];
    with_stripe(backend, replies, |app, fake| async move {
        let ada = app.student().await;

        // Only the paid plan is bought; nothing reaches the provider.
        let res = app
            .post(
                "/billing/checkout",
                Some(&ada.access),
                json!({"plan": "free"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert!(res.is_problem());
        assert!(fake.requests.lock().unwrap().is_empty());

        let res = app
            .post(
                "/billing/checkout",
                Some(&ada.access),
                json!({"plan": "pro"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        assert_eq!(res.body["id"], "cs_test_1");
        assert_eq!(res.body["url"], "https://checkout.example.com/c/cs_test_1");
        let requests = fake.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let (path, auth, form) = &requests[0];
        assert_eq!(path, "/v1/checkout/sessions");
        assert_eq!(auth.as_deref(), Some("Bearer sk_test_123"));
        let form: Vec<(String, String)> = serde_urlencoded::from_str(form).unwrap();
        let field = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(field("mode"), "subscription");
        assert_eq!(field("line_items[0][price]"), "price_pro_monthly");
        assert_eq!(field("client_reference_id"), ada.id);
        assert_eq!(field("subscription_data[metadata][user_id]"), ada.id);
        assert_eq!(field("customer_email"), ada.email);
        // Checkout alone changes no plan: payment is confirmed by webhook.
        assert_eq!(plan_of(&app, &ada).await, "free");

        // A provider that fails is a clear 503.
        let res = app
            .post(
                "/billing/checkout",
                Some(&ada.access),
                json!({"plan": "pro"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
        assert_eq!(res.problem_slug(), "billing-unavailable");

        // Once pro, a second checkout is refused.
        let now = app.clock.now().timestamp();
        let res = deliver(
            &app,
            &event(
                "evt_sub",
                "customer.subscription.created",
                now,
                subscription_object(&ada, "active", now + 30 * 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let res = app
            .post(
                "/billing/checkout",
                Some(&ada.access),
                json!({"plan": "pro"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
        assert_eq!(res.problem_slug(), "already-subscribed");
        assert_eq!(fake.requests.lock().unwrap().len(), 2);
    })
    .await;
}

mod checkout_at_the_provider {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::checkout_creates_a_hosted_session_at_the_provider(super::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        studium_pg_off,
        ignore = "PostgreSQL switched off by STUDIUM_TEST_PG=off"
    )]
    async fn postgres() {
        super::checkout_creates_a_hosted_session_at_the_provider(super::Backend::Postgres).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

db_test!(
    a_signed_subscription_and_invoice_make_the_user_pro_and_record_the_payment,
    config = |c| { with_secret(c) },
    |app| {
        let ada = app.student().await;
        let free_limit = doubt_limit(&app, &ada).await;
        let now = app.clock.now().timestamp();
        let checkout = event(
            "evt_checkout",
            "checkout.session.completed",
            now,
            json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": ada.id,
                   "customer": "cus_1", "subscription": "sub_1",
                   "metadata": {"user_id": ada.id, "plan": "pro"}}),
        );
        let res = deliver(&app, &checkout).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["processed"], true);
        assert_eq!(plan_of(&app, &ada).await, "pro");
        assert!(doubt_limit(&app, &ada).await > free_limit);

        let res = deliver(
            &app,
            &event(
                "evt_sub_updated",
                "customer.subscription.updated",
                now + 1,
                subscription_object(&ada, "active", now + 30 * 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let res = app.get("/me/subscription", Some(&ada.access)).await;
        assert_eq!(res.body["subscription"]["status"], "active");
        assert_eq!(res.body["subscription"]["provider"], "stripe");
        assert!(res.body["subscription"]["current_period_end"].is_string());

        let invoice = json!({"id": "in_1", "object": "invoice", "customer": "cus_1",
                             "subscription": "sub_1", "amount_paid": 900, "amount_due": 900,
                             "currency": "usd", "status": "paid"});
        let res = deliver(&app, &event("evt_paid", "invoice.paid", now + 2, invoice)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let res = app.get("/me/payments", Some(&ada.access)).await;
        let list = res.body["payments"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", res.text);
        assert_eq!(list[0]["amount"], 900);
        assert_eq!(list[0]["currency"], "usd");
        assert_eq!(list[0]["status"], "paid");

        let failed = json!({"id": "in_2", "object": "invoice", "subscription": "sub_1",
                            "amount_paid": 0, "amount_due": 900, "currency": "usd"});
        let res = deliver(
            &app,
            &event("evt_failed", "invoice.payment_failed", now + 3, failed),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let res = app.get("/me/payments", Some(&ada.access)).await;
        assert_eq!(res.body["payments"][0]["status"], "failed");
        assert_eq!(res.body["payments"][1]["status"], "paid");

        // Cancelled at the provider: back to free on the next request.
        let res = deliver(
            &app,
            &event(
                "evt_deleted",
                "customer.subscription.deleted",
                now + 4,
                subscription_object(&ada, "canceled", now + 30 * 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "free");
        assert_eq!(doubt_limit(&app, &ada).await, free_limit);
        assert_eq!(subscriptions_of(&app, &ada).await.len(), 1);
    }
);

db_test!(
    a_webhook_with_a_bad_signature_is_400_and_changes_nothing,
    config = |c| { with_secret(c) },
    |app| {
        let ada = app.student().await;
        let now = app.clock.now().timestamp();
        let payload = event(
            "evt_forged",
            "customer.subscription.created",
            now,
            subscription_object(&ada, "active", now + 86_400),
        )
        .to_string();
        let wrong = sign("whsec_someone_else", now, payload.as_bytes());
        for signature in [
            Some(format!("t={now},v1={wrong}")),
            Some(format!("t={now},v1=not-hex")),
            Some("garbage".to_string()),
            Some(format!("t={now}")),
            None,
        ] {
            let res = deliver_raw(&app, &payload, signature.clone()).await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{signature:?}: {}",
                res.text
            );
            assert!(res.is_problem());
            assert_eq!(res.problem_slug(), "invalid-signature");
        }
        // A signature over another body does not cover this one.
        let other = sign(SECRET, now, b"{}");
        let res = deliver_raw(&app, &payload, Some(format!("t={now},v1={other}"))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
        // Random bodies without a signature, as a fuzzer sends them.
        for body in ["", "null", "{\"id\": 1}", "\u{0}\u{1}"] {
            let res = deliver_raw(&app, body, None).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
        }
        // A correctly signed body that is not an event is a 400 too.
        let sig = sign(SECRET, now, b"[1,2]");
        let res = deliver_raw(&app, "[1,2]", Some(format!("t={now},v1={sig}"))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "free");
        assert_eq!(count_events(&app).await, 0);
    }
);

db_test!(
    a_webhook_with_a_stale_timestamp_is_400,
    // The secret under the name SPEC §1 gives it.
    config = |c| { c.payments_webhook_secret = Some(SECRET.into()) },
    |app| {
        let ada = app.student().await;
        let now = app.clock.now().timestamp();
        let payload = event(
            "evt_old",
            "customer.subscription.created",
            now,
            subscription_object(&ada, "active", now + 86_400),
        )
        .to_string();
        for t in [now - 301, now + 301] {
            let sig = sign(SECRET, t, payload.as_bytes());
            let res = deliver_raw(&app, &payload, Some(format!("t={t},v1={sig}"))).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
            assert_eq!(res.problem_slug(), "invalid-signature");
        }
        assert_eq!(plan_of(&app, &ada).await, "free");
        // Within the tolerance it is accepted.
        let t = now - 299;
        let sig = sign(SECRET, t, payload.as_bytes());
        let res = deliver_raw(&app, &payload, Some(format!("t={t},v1={sig}"))).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "pro");
    }
);

db_test!(
    several_signatures_are_accepted_when_one_is_valid,
    config = |c| { with_secret(c) },
    |app| {
        let ada = app.student().await;
        let now = app.clock.now().timestamp();
        let payload = event(
            "evt_rolled",
            "customer.subscription.created",
            now,
            subscription_object(&ada, "active", now + 86_400),
        )
        .to_string();
        let old = sign("whsec_old_secret", now, payload.as_bytes());
        let good = sign(SECRET, now, payload.as_bytes());
        let header = format!("t={now},v1={old},v0=ignored,v1={good}");
        let res = deliver_raw(&app, &payload, Some(header)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "pro");
    }
);

db_test!(
    the_same_event_delivered_ten_times_at_once_has_one_effect,
    config = |c| { with_secret(c) },
    |app| {
        let ada = app.student().await;
        let now = app.clock.now().timestamp();
        let res = deliver(
            &app,
            &event(
                "evt_created",
                "customer.subscription.created",
                now,
                subscription_object(&ada, "active", now + 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let paid = event(
            "evt_paid_once",
            "invoice.paid",
            now,
            json!({"id": "in_once", "subscription": "sub_1", "amount_paid": 900,
                   "currency": "usd"}),
        );
        let deliveries = (0..10).map(|_| {
            let app = app.clone();
            let paid = paid.clone();
            tokio::spawn(async move { deliver(&app, &paid).await })
        });
        let results = futures::future::join_all(deliveries).await;
        let mut processed = 0;
        for res in results {
            let res = res.unwrap();
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            if res.body["processed"] == true {
                processed += 1;
            }
        }
        assert_eq!(processed, 1);
        assert_eq!(count_events(&app).await, 2);
        let rows = payments::Entity::find()
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(rows, 1);
        assert_eq!(subscriptions_of(&app, &ada).await.len(), 1);
    }
);

db_test!(
    an_older_event_never_overwrites_newer_state,
    config = |c| { with_secret(c) },
    |app| {
        let ada = app.student().await;
        let now = app.clock.now().timestamp();
        // The cancellation (newer) arrives first, the activation (older) after it.
        let res = deliver(
            &app,
            &event(
                "evt_newer",
                "customer.subscription.updated",
                now,
                subscription_object(&ada, "canceled", now + 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let res = deliver(
            &app,
            &event(
                "evt_older",
                "customer.subscription.created",
                now - 60,
                subscription_object(&ada, "active", now + 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "free");
        let rows = subscriptions_of(&app, &ada).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, "canceled");
        // A newer one still applies.
        let res = deliver(
            &app,
            &event(
                "evt_newest",
                "customer.subscription.updated",
                now + 60,
                subscription_object(&ada, "active", now + 86_400),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "pro");
    }
);

db_test!(
    an_unknown_event_type_is_acknowledged_and_ignored,
    config = |c| { with_secret(c) },
    |app| {
        let now = app.clock.now().timestamp();
        let res = deliver(
            &app,
            &event(
                "evt_other",
                "customer.tax_id.created",
                now,
                json!({"id": "txi_1"}),
            ),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["processed"], true);
        assert_eq!(
            subscriptions::Entity::find()
                .count(app.state.db.read())
                .await
                .unwrap(),
            0
        );
    }
);

// ---------------------------------------------------------------------------------------------
// The admin's grant

db_test!(
    an_admin_grant_raises_the_ai_limit_and_the_storage_quota_at_once,
    config = |c| {
        c.plan_free_storage_bytes = 10 * 1024;
        c.plan_pro_storage_bytes = 100 * 1024;
    },
    |app| {
        let admin = app.admin().await;
        let ada = app.student().await;
        let file = vec![b'x'; 20 * 1024];
        let res = crate::materials::upload(&app, &ada, "notes.txt", &file).await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
        let free_limit = doubt_limit(&app, &ada).await;

        let path = format!("/admin/users/{}/subscription", ada.id);
        let res = app
            .request(
                reqwest::Method::PUT,
                &path,
                Some(&admin.access),
                Some(json!({"plan": "pro"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["plan"], "pro");
        assert_eq!(res.body["subscription"]["provider"], "manual");

        // The very next requests see the new plan.
        assert_eq!(
            doubt_limit(&app, &ada).await,
            u64::from(app.state.config.plan_pro_doubt_per_day)
        );
        assert!(doubt_limit(&app, &ada).await > free_limit);
        let res = crate::materials::upload(&app, &ada, "notes.txt", &file).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);

        // Granting pro again leaves one current subscription; free ends it.
        let res = app
            .request(
                reqwest::Method::PUT,
                &path,
                Some(&admin.access),
                Some(json!({"plan": "pro"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let current = subscriptions_of(&app, &ada)
            .await
            .into_iter()
            .filter(|s| s.status == "active")
            .count();
        assert_eq!(current, 1);
        let res = app
            .request(
                reqwest::Method::PUT,
                &path,
                Some(&admin.access),
                Some(json!({"plan": "free"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["plan"], "free");
        assert_eq!(doubt_limit(&app, &ada).await, free_limit);
    }
);

db_test!(
    granting_a_plan_is_for_admins_about_users_that_exist,
    |app| {
        let admin = app.admin().await;
        let ada = app.student().await;
        let path = format!("/admin/users/{}/subscription", ada.id);
        let put = |token: String, path: String, body: Value| {
            let app = app.clone();
            async move {
                app.request(reqwest::Method::PUT, &path, Some(&token), Some(body))
                    .await
            }
        };
        let res = put(ada.access.clone(), path.clone(), json!({"plan": "pro"})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        let missing = format!("/admin/users/{}/subscription", Uuid::now_v7());
        let res = put(admin.access.clone(), missing, json!({"plan": "pro"})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert!(res.is_problem());
        let res = put(admin.access.clone(), path.clone(), json!({"plan": "gold"})).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        let past = (app.clock.now() - chrono::Duration::days(1)).to_rfc3339();
        let res = put(
            admin.access.clone(),
            path.clone(),
            json!({"plan": "pro", "current_period_end": past}),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert_eq!(plan_of(&app, &ada).await, "free");
    }
);
