//! Sign up, sign in and sign out, over the accounts service the JSON routes use.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::page::{FormErrors, Layout, WebForm, render, render_status, status_of, valid};
use super::session::{self, Csrf, MaybeWebUser, WebUser};
use crate::accounts::model::{LoginRequest, RegisterRequest};
use crate::accounts::service::{self, ClientInfo};
use crate::http::extract::ClientIp;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin_page).post(signin))
        .route("/signup", get(signup_page).post(signup))
        .route("/signout", post(signout))
}

pub fn client(ip: ClientIp, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: ip.0,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    }
}

#[derive(Template)]
#[template(path = "auth/signin.html")]
struct SigninPage {
    layout: Layout,
    errors: FormErrors,
    email: String,
    next: String,
    google: bool,
}

#[derive(Template)]
#[template(path = "auth/signup.html")]
struct SignupPage {
    layout: Layout,
    errors: FormErrors,
    full_name: String,
    email: String,
    google: bool,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SigninForm {
    email: String,
    password: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignupForm {
    full_name: String,
    email: String,
    password: String,
}

async fn signin_page(
    State(state): State<AppState>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: Csrf,
    Query(q): Query<NextQuery>,
) -> Response {
    if user.is_some() {
        return axum::response::Redirect::to("/").into_response();
    }
    render(&SigninPage {
        layout: Layout {
            section: "signin",
            ..Layout::public("Sign in", csrf)
        },
        errors: FormErrors::default(),
        email: String::new(),
        next: session::safe_next(q.next.as_deref()),
        google: state.config.google_client_id.is_some(),
    })
}

async fn signin(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    csrf: Csrf,
    WebForm(form): WebForm<SigninForm>,
) -> Response {
    let req = LoginRequest {
        email: form.email.clone(),
        password: form.password,
    };
    let result = async { service::login(&state, valid(req)?, &client(ip, &headers)).await }.await;
    match result.and_then(|auth| session::session_cookie(&state, &auth)) {
        Ok(cookie) => (
            jar.add(cookie),
            session::redirect(&headers, &session::safe_next(Some(&form.next))),
        )
            .into_response(),
        Err(err) => render_status(
            status_of(&err),
            &SigninPage {
                layout: Layout {
                    section: "signin",
                    ..Layout::public("Sign in", csrf)
                },
                errors: FormErrors::from_error(&err),
                email: form.email,
                next: session::safe_next(Some(&form.next)),
                google: state.config.google_client_id.is_some(),
            },
        ),
    }
}

async fn signup_page(
    State(state): State<AppState>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: Csrf,
) -> Response {
    if user.is_some() {
        return axum::response::Redirect::to("/").into_response();
    }
    render(&SignupPage {
        layout: Layout {
            section: "signup",
            ..Layout::public("Sign up", csrf)
        },
        errors: FormErrors::default(),
        full_name: String::new(),
        email: String::new(),
        google: state.config.google_client_id.is_some(),
    })
}

async fn signup(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    csrf: Csrf,
    WebForm(form): WebForm<SignupForm>,
) -> Response {
    let req = RegisterRequest {
        email: form.email.clone(),
        password: form.password,
        full_name: form.full_name.clone(),
    };
    let result =
        async { service::register(&state, valid(req)?, &client(ip, &headers)).await }.await;
    match result.and_then(|auth| session::session_cookie(&state, &auth)) {
        Ok(cookie) => (jar.add(cookie), session::redirect(&headers, "/")).into_response(),
        Err(err) => render_status(
            status_of(&err),
            &SignupPage {
                layout: Layout {
                    section: "signup",
                    ..Layout::public("Sign up", csrf)
                },
                errors: FormErrors::from_error(&err),
                full_name: form.full_name,
                email: form.email,
                google: state.config.google_client_id.is_some(),
            },
        ),
    }
}

async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    WebUser(user): WebUser,
) -> Response {
    if let Err(err) = crate::accounts::signin::logout(&state, &user).await {
        return err.into_response();
    }
    (
        session::clear_session(jar),
        session::redirect(&headers, "/signin"),
    )
        .into_response()
}
