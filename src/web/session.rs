//! Sign-in for the web app: the session cookie, the signed-in user extractor and the CSRF
//! guard.
//!
//! The session cookie holds an access token of the API's own kind, bound to an
//! `auth_sessions` row and living as long as a refresh token would: signing out, a password
//! change or reset, and deactivation revoke that row, so the cookie ends with it, exactly as
//! API tokens do. The cookie is HttpOnly and SameSite=Lax, and Secure when the server's
//! public URL is https.
//!
//! CSRF uses the double-submit pattern: a random token in its own cookie, repeated by every
//! unsafe request in the `X-CSRF-Token` header (htmx sends it from the page's
//! `hx-headers`) or in a `csrf_token` form field (a plain form post).

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::Duration;
use subtle::ConstantTimeEq;

use crate::accounts::CurrentUser;
use crate::accounts::model::AuthResponse;
use crate::accounts::session::authenticate;
use crate::accounts::tokens;
use crate::http::error::AppResult;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "studium_session";
pub const CSRF_COOKIE: &str = "studium_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";
/// The largest form body the CSRF guard reads to find the token field.
const MAX_FORM_BYTES: usize = 256 * 1024;

fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

/// The session cookie for a sign-in the accounts service has just made.
pub fn session_cookie(state: &AppState, auth: &AuthResponse) -> AppResult<Cookie<'static>> {
    let now = state.clock.now();
    let claims = state
        .jwt
        .verify(&auth.access_token, now)
        .ok_or_else(|| anyhow::anyhow!("a token just issued does not verify"))?;
    let ttl = Duration::days(state.config.refresh_token_ttl_days).num_seconds();
    let token = state
        .jwt
        .issue(claims.sub, claims.sid, &claims.role, now, ttl)?;
    Ok(cookie(state, SESSION_COOKIE, token, ttl))
}

/// Removes the session cookie (after signing out or deleting the account).
pub fn clear_session(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(SESSION_COOKIE).path("/").build())
}

/// The signed-in user of a page; without a valid session the browser is sent to sign in.
#[derive(Debug, Clone)]
pub struct WebUser(pub CurrentUser);

/// The signed-in user, if there is one.
#[derive(Debug, Clone)]
pub struct MaybeWebUser(pub Option<CurrentUser>);

async fn user_from_cookie(parts: &Parts, state: &AppState) -> Option<CurrentUser> {
    if let Some(user) = parts.extensions.get::<CurrentUser>() {
        return Some(user.clone());
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let token = jar.get(SESSION_COOKIE)?.value().to_string();
    authenticate(state, &token).await.ok()
}

/// Where to go after signing in: the page asked for (a local path only).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

/// A redirect that htmx follows as a full navigation when the request came from htmx.
pub fn redirect(headers: &HeaderMap, to: &str) -> Response {
    if headers.contains_key("hx-request") {
        (StatusCode::OK, [("hx-redirect", to.to_string())]).into_response()
    } else {
        Redirect::to(to).into_response()
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match user_from_cookie(parts, state).await {
            Some(user) => {
                crate::accounts::session::remember(parts, &user);
                Ok(WebUser(user))
            }
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = if parts.method == Method::GET && here != "/" {
                    format!(
                        "/signin?{}",
                        serde_urlencoded::to_string([("next", here)]).unwrap_or_default()
                    )
                } else {
                    "/signin".to_string()
                };
                Err(redirect(&parts.headers, &target))
            }
        }
    }
}

impl FromRequestParts<AppState> for MaybeWebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeWebUser(user_from_cookie(parts, state).await))
    }
}

/// The CSRF token of this browser, for the page's forms and `hx-headers`.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Csrf>()
            .cloned()
            .unwrap_or_else(|| Csrf(String::new())))
    }
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Gives every browser a CSRF token (set as a cookie on first sight) and refuses an unsafe
/// request whose header or form field does not repeat it, with 403 and nothing changed.
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let existing = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32);
    let token = existing.clone().unwrap_or_else(tokens::random_token);
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(Csrf(token.clone()));
    // Google's `form_post` callback is a cross-site POST that carries no SameSite=Lax cookie;
    // it is protected by its self-verifying nonce instead (`web::account`).
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && parts.uri.path() != crate::web::account::GOOGLE_CALLBACK_PATH;
    let req = if unsafe_method {
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| existing.as_deref().is_some_and(|t| same(v, t)));
        if from_header {
            Request::from_parts(parts, body)
        } else if is_form(&parts.headers) {
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
                return csrf_refused();
            };
            let field = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == CSRF_FIELD))
                .map(|(_, v)| v);
            match (field, existing.as_deref()) {
                (Some(v), Some(t)) if same(&v, t) => Request::from_parts(parts, Body::from(bytes)),
                _ => return csrf_refused(),
            }
        } else {
            return csrf_refused();
        }
    } else {
        Request::from_parts(parts, body)
    };
    let response = next.run(req).await;
    if existing.is_none() {
        let ttl = Duration::days(state.config.refresh_token_ttl_days).num_seconds();
        let jar = CookieJar::new().add(cookie(&state, CSRF_COOKIE, token, ttl));
        return (jar, response).into_response();
    }
    response
}

fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This form has expired or did not come from this site. Reload the page and try again.",
    )
        .into_response()
}
