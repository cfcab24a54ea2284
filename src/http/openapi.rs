//! The OpenAPI 3.1 document: collected from the handlers' annotations by utoipa-axum, so a
//! route cannot be added without appearing here. Served at `/api/openapi.json`, browsable at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Studium API",
        description = "The backend of Studium, an AI study companion. Errors are RFC 9457 problem documents (`application/problem+json`) whose `type` is `urn:studium:problem:<slug>`.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, sign-in and sessions"),
        (name = "me", description = "The signed-in user"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "content", description = "Subjects, topics, lessons and progress"),
        (name = "study", description = "Study sessions, streaks and statistics"),
        (name = "gamification", description = "XP, levels and achievements"),
        (name = "mastery", description = "Mastery per topic"),
        (name = "quizzes", description = "Quizzes, attempts and item statistics"),
        (name = "materials", description = "Uploaded notes: files, processing, their text and searching them"),
        (name = "billing", description = "Plans, checkout and the payment provider's webhooks"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Declares, on every operation, the problem responses the cross-cutting layers can give, and
/// says that every error answers `application/problem+json` (SPEC §4), so a client can rely on
/// the document for each status it may see:
///
/// - 400 malformed JSON or query, 413 body too large, 415 wrong content type, 422 invalid
///   fields — operations that take a body, a query or a path parameter;
/// - 401 no or ended session, 403 the role or account forbids it — operations that need one;
/// - 404 an id that does not exist or is not yours — operations with path parameters;
/// - 408 the request took too long, 429 a rate limit, 500 an internal error and 503 the
///   database unreachable — every operation.
///
/// Handlers declare their own statuses with a description; this only adds what is missing.
pub fn complete_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    const PROBLEM: &str = "application/problem+json";
    let problem_content = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let params = operation.parameters.as_deref().unwrap_or_default();
            let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
            let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
            let has_body = operation.request_body.is_some();
            let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut wanted: Vec<(&str, &str)> = vec![
                ("408", "The request took too long"),
                ("429", "Too many requests; see `Retry-After`"),
                ("500", "Internal error"),
                ("503", "A service Studium depends on is unavailable"),
            ];
            if has_body || has_query || has_path {
                wanted.push(("400", "Malformed request"));
                wanted.push(("422", "Invalid fields, each named in `errors`"));
            }
            if has_body {
                wanted.push(("413", "The body is too large"));
                wanted.push(("415", "The body is not `application/json`"));
            }
            if signed_in {
                wanted.push(("401", "No valid access token, or the session has ended"));
                wanted.push(("403", "Not allowed for your role"));
            }
            if has_path {
                wanted.push(("404", "Not found, or not yours"));
            }
            let responses = &mut operation.responses.responses;
            for (status, description) in wanted {
                responses.entry(status.to_string()).or_insert_with(|| {
                    RefOr::T(ResponseBuilder::new().description(description).build())
                });
            }
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && status.starts_with(['4', '5'])
                {
                    response.content.clear();
                    response
                        .content
                        .insert(PROBLEM.to_string(), problem_content());
                }
            }
        }
    }
}
