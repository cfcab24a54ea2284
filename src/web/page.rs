//! What every page shares: the layout's data (who is signed in, the CSRF token, the page
//! title), rendering a template into a response, and errors shown beside their fields.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::accounts::CurrentUser;
use crate::entity::user_profiles;
use crate::http::error::{AppError, FieldError};
use crate::state::AppState;

use super::session::Csrf;

/// The signed-in user as the navigation shows them.
#[derive(Debug, Clone)]
pub struct NavUser {
    pub name: String,
    pub is_admin: bool,
}

/// The base layout's data.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub csrf: String,
    pub user: Option<NavUser>,
    /// The navigation entry to mark as the current page.
    pub section: &'static str,
}

impl Layout {
    /// For a page seen signed out.
    pub fn public(title: impl Into<String>, csrf: Csrf) -> Self {
        Self {
            title: title.into(),
            csrf: csrf.0,
            user: None,
            section: "",
        }
    }

    /// For a signed-in page: reads the user's name for the navigation.
    pub async fn signed_in(
        state: &AppState,
        user: &CurrentUser,
        csrf: Csrf,
        title: impl Into<String>,
        section: &'static str,
    ) -> Result<Self, AppError> {
        let name = user_profiles::Entity::find()
            .filter(user_profiles::Column::UserId.eq(user.id))
            .one(state.db.read())
            .await?
            .map(|p| p.full_name)
            .unwrap_or_default();
        Ok(Self {
            title: title.into(),
            csrf: csrf.0,
            user: Some(NavUser {
                name,
                is_admin: user.is_admin(),
            }),
            section,
        })
    }

    /// `aria-current="page"` for the current section's link.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// Renders a template as an HTML response.
pub fn render(template: &impl Template) -> Response {
    render_status(StatusCode::OK, template)
}

pub fn render_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// Errors of a submitted form: one message per field, and one for the form as a whole.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub fields: Vec<FieldError>,
    pub general: Option<String>,
}

impl FormErrors {
    /// The form's errors from a service's answer: validation errors go beside their fields,
    /// anything else above the form.
    pub fn from_error(err: &AppError) -> Self {
        match err {
            AppError::Validation(fields) => Self {
                fields: fields.clone(),
                general: None,
            },
            other => Self {
                fields: Vec::new(),
                general: Some(message(other)),
            },
        }
    }

    pub fn general(message: impl Into<String>) -> Self {
        Self {
            fields: Vec::new(),
            general: Some(message.into()),
        }
    }

    /// The message for one field (its name as the API's JSON names it).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.message.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }
}

/// A sentence for a person: the problem's detail, or its title.
pub fn message(err: &AppError) -> String {
    let problem = err.to_problem();
    problem.detail.unwrap_or(problem.title)
}

/// The status to answer a form that failed with `err` (a re-rendered form keeps the API's
/// status, so a browser test or a script sees the same 4xx).
pub fn status_of(err: &AppError) -> StatusCode {
    err.status()
}

/// Checks a form's request the way the JSON routes check theirs.
pub use crate::http::extract::valid;

/// A URL-encoded form body, without its CSRF field; a body that does not parse is a 400.
pub struct WebForm<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for WebForm<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Response> {
        let bytes = axum::body::to_bytes(req.into_body(), 1024 * 1024)
            .await
            .map_err(|_| {
                (StatusCode::PAYLOAD_TOO_LARGE, "This form is too large.").into_response()
            })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            (StatusCode::BAD_REQUEST, "This form could not be read.").into_response()
        })?;
        let kept: Vec<_> = pairs
            .into_iter()
            .filter(|(k, _)| k != super::session::CSRF_FIELD)
            .collect();
        let encoded = serde_urlencoded::to_string(&kept).unwrap_or_default();
        serde_urlencoded::from_str(&encoded)
            .map(WebForm)
            .map_err(|err| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("This form could not be read: {err}"),
                )
                    .into_response()
            })
    }
}
