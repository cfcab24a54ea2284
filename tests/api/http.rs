//! The HTTP skeleton: problem documents for bad input, probes, metrics, headers, the OpenAPI
//! document and the docs page.

use reqwest::StatusCode;
use serde_json::json;

use crate::db_test;
use crate::helpers::*;

db_test!(
    malformed_json_wrong_types_and_oversized_bodies_are_4xx_problems,
    |app| {
        let url = app.url("/auth/login");
        let send = |body: String, content_type: &'static str| {
            let app = app.clone();
            let url = url.clone();
            async move {
                read(
                    app.client
                        .post(url)
                        .header("content-type", content_type)
                        .body(body)
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            }
        };
        let malformed = send("{\"email\": ".into(), "application/json").await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert!(malformed.is_problem());
        assert_eq!(malformed.problem_slug(), "malformed-request");

        let wrong_type = send(
            json!({"email": 5, "password": "x"}).to_string(),
            "application/json",
        )
        .await;
        assert_eq!(
            wrong_type.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong_type.text
        );
        assert_eq!(wrong_type.body["errors"][0]["field"], "email");

        let unknown_field = send(
            json!({"email": "a@b.c", "password": "x", "admin": true}).to_string(),
            "application/json",
        )
        .await;
        assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);

        let missing = send(json!({"email": "a@b.c"}).to_string(), "application/json").await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);

        let not_json = send("email=a".into(), "application/x-www-form-urlencoded").await;
        assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(not_json.is_problem());

        let huge = format!(
            "{{\"email\": \"{}\", \"password\": \"x\"}}",
            "a".repeat(2 * 1024 * 1024)
        );
        // On a connection of its own: the server answers before reading the whole body and
        // then closes that connection, which a pooled client might otherwise reuse.
        let too_large = read(
            reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .body(huge)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(too_large.is_problem());

        let not_uuid = app.patch("/admin/users/not-a-uuid", None, json!({})).await;
        assert!(not_uuid.status.is_client_error());
        assert!(not_uuid.is_problem());
    }
);

db_test!(unknown_routes_and_methods_are_problem_documents, |app| {
    let res = app.get("/no-such-thing", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.problem_slug(), "route-not-found");
    let res = app
        .request(reqwest::Method::PUT, "/auth/login", None, Some(json!({})))
        .await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.is_problem());
});

db_test!(probes_metrics_request_ids_and_security_headers, |app| {
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["database"], "ok");

    let res = app.get("/me", None).await;
    assert!(res.headers.contains_key("x-request-id"));
    assert_eq!(res.headers["x-content-type-options"], "nosniff");
    assert_eq!(res.headers["x-frame-options"], "DENY");
    assert_eq!(res.headers["cache-control"], "no-store");

    // A request id sent by the client is kept.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");

    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("route=\"/api/v1/me\""));
});

db_test!(
    cors_allows_only_configured_origins,
    config = |c| {
        c.cors_origins = "https://app.studium.test".into();
    },
    |app| {
        let preflight = |origin: &'static str| {
            let app = app.clone();
            async move {
                app.client
                    .request(reqwest::Method::OPTIONS, app.url("/me"))
                    .header("origin", origin)
                    .header("access-control-request-method", "GET")
                    .header("access-control-request-headers", "authorization")
                    .send()
                    .await
                    .unwrap()
            }
        };
        let allowed = preflight("https://app.studium.test").await;
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://app.studium.test"
        );
        let denied = preflight("https://evil.test").await;
        assert!(!denied.headers().contains_key("access-control-allow-origin"));
    }
);

/// The endpoints of SPEC §4 this build serves; each must be in the OpenAPI document.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/google"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/verify-email/resend"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/me"),
    ("delete", "/api/v1/me"),
    ("patch", "/api/v1/me/profile"),
    ("get", "/api/v1/admin/users"),
    ("patch", "/api/v1/admin/users/{id}"),
    ("get", "/api/v1/subjects"),
    ("post", "/api/v1/subjects"),
    ("get", "/api/v1/subjects/{id}"),
    ("patch", "/api/v1/subjects/{id}"),
    ("delete", "/api/v1/subjects/{id}"),
    ("get", "/api/v1/subjects/{id}/topics"),
    ("post", "/api/v1/subjects/{id}/topics"),
    ("get", "/api/v1/topics/{id}"),
    ("patch", "/api/v1/topics/{id}"),
    ("delete", "/api/v1/topics/{id}"),
    ("get", "/api/v1/topics/{id}/lessons"),
    ("post", "/api/v1/topics/{id}/lessons"),
    ("get", "/api/v1/lessons/{id}"),
    ("patch", "/api/v1/lessons/{id}"),
    ("delete", "/api/v1/lessons/{id}"),
    ("post", "/api/v1/lessons/{id}/complete"),
    ("get", "/api/v1/me/progress"),
    ("post", "/api/v1/study-sessions/start"),
    ("post", "/api/v1/study-sessions/{id}/stop"),
    ("post", "/api/v1/study-sessions"),
    ("get", "/api/v1/study-sessions"),
    ("get", "/api/v1/me/streak"),
    ("get", "/api/v1/me/stats"),
    ("get", "/api/v1/me/xp"),
    ("get", "/api/v1/achievements"),
    ("post", "/api/v1/admin/achievements"),
    ("patch", "/api/v1/admin/achievements/{id}"),
    ("delete", "/api/v1/admin/achievements/{id}"),
    ("get", "/api/v1/me/mastery"),
    ("post", "/api/v1/materials"),
    ("get", "/api/v1/materials"),
    ("get", "/api/v1/materials/{id}"),
    ("get", "/api/v1/materials/{id}/content"),
    ("delete", "/api/v1/materials/{id}"),
    ("post", "/api/v1/materials/{id}/reprocess"),
    ("get", "/api/v1/billing/plans"),
    ("get", "/api/v1/me/subscription"),
    ("get", "/api/v1/me/payments"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/webhook"),
    ("put", "/api/v1/admin/users/{id}/subscription"),
    ("get", "/api/v1/admin/stats"),
    ("get", "/api/v1/me/export"),
];

db_test!(
    every_route_is_in_the_openapi_document_and_every_documented_route_exists,
    |app| {
        let doc = app.get("/api/openapi.json", None).await;
        assert_eq!(doc.status, StatusCode::OK);
        assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc.body["paths"].as_object().expect("paths");
        for (method, path) in SPEC_ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
        // Every documented operation is routed: it never answers "no such route" or 405.
        let mut count = 0;
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                let Ok(m) = method.to_uppercase().parse::<reqwest::Method>() else {
                    continue;
                };
                let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
                let res = app.request(m, &concrete, None, None).await;
                assert_ne!(res.problem_slug(), "route-not-found", "{method} {path}");
                assert_ne!(
                    res.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
                count += 1;
            }
        }
        assert!(count >= SPEC_ROUTES.len());
        // And the served document is the one the code builds.
        assert_eq!(
            doc.body,
            serde_json::to_value(studium::app::openapi()).unwrap()
        );
    }
);

db_test!(the_docs_page_is_served_without_internet, |app| {
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from the internet"
    );
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
});

db_test!(
    google_sign_in_on_a_server_without_it_is_a_404_not_an_outage,
    config = |c| {
        c.google_client_id = None;
    },
    |app| {
        let res = app
            .post("/auth/google", None, json!({"id_token": "a.b.c"}))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert!(res.is_problem());
        assert_eq!(res.problem_slug(), "not-available");
    }
);

db_test!(
    every_error_status_in_the_document_is_a_problem_document,
    |app| {
        let doc = app.get("/api/openapi.json", None).await;
        assert_eq!(doc.status, StatusCode::OK);
        let paths = doc.body["paths"].as_object().expect("paths");
        let mut checked = 0;
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                for status in ["408", "429", "500"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = response["content"].as_object().expect("content");
                        assert_eq!(
                            content.keys().collect::<Vec<_>>(),
                            ["application/problem+json"],
                            "{method} {path} {status}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 200, "only {checked} error responses declared");
    }
);

db_test!(
    a_request_slower_than_the_timeout_answers_a_408_problem,
    config = |c| {
        c.request_timeout_secs = 1;
    },
    |app| {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A client that announces a body and never finishes sending it: the handler waits
        // for the body until the timeout ends the request.
        let addr = app.address.trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: studium\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"",
            )
            .await
            .unwrap();
        let mut received = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            let mut chunk = [0u8; 4096];
            loop {
                let n = stream.read(&mut chunk).await.unwrap();
                received.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&received);
                if n == 0 || text.contains("request-timeout\"") && text.trim_end().ends_with('}') {
                    break;
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&received).to_string();
        assert!(read.is_ok(), "no answer within 10 s: {text}");
        let (head, body) = text.split_once("\r\n\r\n").expect("a response");
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body.trim()).expect(body);
        assert_eq!(problem["type"], "urn:studium:problem:request-timeout");
        assert_eq!(problem["status"], 408);
        assert_eq!(problem["title"], "The request took too long");
    }
);

db_test!(text_with_a_nul_character_is_refused_with_422, |app| {
    let user = app.student().await;
    let res = app
        .patch("/me/profile", Some(&user.access), json!({"bio": "a\u{0}b"}))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    assert!(res.is_problem());
    let me = app.get("/me", Some(&user.access)).await;
    assert!(me.body["profile"]["bio"].is_null());
    let admin = app.admin().await;
    let query = app.get("/admin/users?q=a%00b", Some(&admin.access)).await;
    assert_eq!(
        query.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        query.text
    );
    assert!(query.is_problem());
});
