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
