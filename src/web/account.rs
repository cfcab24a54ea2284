//! Account pages over the accounts, me, billing and AI-usage services: the account page
//! (profile, password, plan, AI use, payments, data export, deletion), email verification,
//! password reset, and Google sign-in by the OpenID Connect implicit flow.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use sea_orm::EntityTrait;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::auth::client;
use super::page::{FormErrors, Layout, WebForm, message, render, render_status, status_of, valid};
use super::session::{self, Csrf, MaybeWebUser, WebUser};
use crate::accounts::CurrentUser;
use crate::accounts::model::{
    GoogleSignInRequest, PasswordChangeRequest, PasswordResetConfirm, PasswordResetRequest,
    TokenRequest, UpdateProfileRequest,
};
use crate::accounts::service;
use crate::accounts::tokens;
use crate::ai::usage::Plan;
use crate::ai::usage_model::MyAiUsage;
use crate::billing::model::CheckoutRequest;
use crate::http::error::{AppError, AppResult, FieldError};
use crate::http::extract::ClientIp;
use crate::me::model::MeResponse;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/profile", post(save_profile))
        .route("/account/password", post(change_password))
        .route("/account/verify-email/resend", post(resend_verification))
        .route("/account/upgrade", post(upgrade))
        .route("/account/export", get(export))
        .route("/account/delete", post(delete_account))
        .route("/goodbye", get(goodbye))
        .route("/verify-email", get(verify_page).post(verify_email))
        .route("/password-reset", get(reset_page).post(request_reset))
        .route(
            "/password-reset/confirm",
            get(reset_confirm_page).post(confirm_reset),
        )
        .route("/reset-password", get(reset_link))
        .route("/password-changed", get(password_changed))
        .route("/signin/google", get(google_start))
        .route("/signin/google/callback", post(google_callback))
}

// ---------------------------------------------------------------------------------------
// Google sign-in: a nonce the server signs itself, so the callback needs no cookie.

/// The path Google posts the ID token back to. It is the one unsafe request the CSRF guard
/// must let through without the CSRF cookie: it checks the token's nonce instead.
pub const GOOGLE_CALLBACK_PATH: &str = "/signin/google/callback";
const NONCE_PURPOSE: &str = "web-google-nonce";
/// How long a started Google sign-in may take.
const NONCE_TTL_SECS: i64 = 10 * 60;
/// Clock skew between instances tolerated for a nonce issued "in the future".
const NONCE_SKEW_SECS: i64 = 60;

/// A fresh nonce: `{unix_ts}.{random}.{hmac}`, the HMAC keyed by the JWT secret.
pub fn new_nonce(state: &AppState) -> String {
    let body = format!(
        "{}.{}",
        state.clock.now().timestamp(),
        tokens::random_token()
    );
    let mac = state.jwt.mac(NONCE_PURPOSE, &body);
    format!("{body}.{mac}")
}

/// Whether `nonce` is one this server made less than ten minutes ago.
pub fn nonce_is_valid(state: &AppState, nonce: &str) -> bool {
    let mut parts = nonce.splitn(3, '.');
    let (Some(ts), Some(random), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(issued) = ts.parse::<i64>() else {
        return false;
    };
    let expected = state.jwt.mac(NONCE_PURPOSE, &format!("{ts}.{random}"));
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
        return false;
    }
    let age = state.clock.now().timestamp() - issued;
    (-NONCE_SKEW_SECS..=NONCE_TTL_SECS).contains(&age)
}

#[derive(Template)]
#[template(path = "account/google.html")]
struct GooglePage {
    layout: Layout,
    message: String,
}

async fn google_start(State(state): State<AppState>, csrf: Csrf) -> Response {
    let Some(client_id) = state.config.google_client_id.as_deref() else {
        return render_status(
            StatusCode::NOT_FOUND,
            &GooglePage {
                layout: Layout::public("Google sign-in", csrf),
                message: "Google sign-in is not set up on this server. Sign in with your email \
                          and password instead."
                    .into(),
            },
        );
    };
    let Ok(mut url) = reqwest::Url::parse(&state.config.google_auth_url) else {
        return AppError::Unavailable("the Google sign-in address is not valid").into_response();
    };
    let redirect_uri = format!(
        "{}{GOOGLE_CALLBACK_PATH}",
        state.config.public_url.trim_end_matches('/')
    );
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_type", "id_token")
        .append_pair("response_mode", "form_post")
        .append_pair("scope", "openid email profile")
        .append_pair("nonce", &new_nonce(&state))
        .append_pair("prompt", "select_account");
    Redirect::to(url.as_str()).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GoogleCallbackForm {
    id_token: String,
    error: Option<String>,
}

async fn google_callback(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    csrf: Csrf,
    WebForm(form): WebForm<GoogleCallbackForm>,
) -> Response {
    let result = async {
        if form.error.is_some() || form.id_token.is_empty() {
            return Err(AppError::Unauthorized("Google did not sign you in"));
        }
        let req = valid(GoogleSignInRequest {
            id_token: form.id_token,
        })?;
        let claims = state.google.verify(&req.id_token).await?;
        if !claims
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_is_valid(&state, n))
        {
            return Err(AppError::Unauthorized(
                "this sign-in was not started here, or took too long; try again",
            ));
        }
        let auth = service::google_sign_in(&state, req, &client(ip, &headers)).await?;
        session::session_cookie(&state, &auth)
    }
    .await;
    match result {
        Ok(cookie) => (jar.add(cookie), Redirect::to("/")).into_response(),
        Err(err) => render_status(
            status_of(&err),
            &GooglePage {
                layout: Layout::public("Google sign-in", csrf),
                message: format!("Google sign-in failed: {}", message(&err)),
            },
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Email verification.

#[derive(Template)]
#[template(path = "account/verify.html")]
struct VerifyPage {
    layout: Layout,
    errors: FormErrors,
    token: String,
    verified: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

async fn layout_for(
    state: &AppState,
    user: Option<&CurrentUser>,
    csrf: Csrf,
    title: &str,
) -> AppResult<Layout> {
    match user {
        Some(user) => Layout::signed_in(state, user, csrf, title, "account").await,
        None => Ok(Layout::public(title, csrf)),
    }
}

async fn verify_page(
    State(state): State<AppState>,
    MaybeWebUser(user): MaybeWebUser,
    csrf: Csrf,
    Query(q): Query<TokenQuery>,
) -> AppResult<Response> {
    let layout = layout_for(&state, user.as_ref(), csrf, "Confirm your email").await?;
    Ok(render(&VerifyPage {
        layout,
        errors: FormErrors::default(),
        token: q.token,
        verified: false,
    }))
}

async fn verify_email(
    State(state): State<AppState>,
    MaybeWebUser(user): MaybeWebUser,
    ip: ClientIp,
    headers: HeaderMap,
    csrf: Csrf,
    WebForm(form): WebForm<TokenQuery>,
) -> AppResult<Response> {
    let token = form.token.trim().to_string();
    let req = TokenRequest {
        token: token.clone(),
    };
    let result =
        async { service::verify_email(&state, valid(req)?, &client(ip, &headers)).await }.await;
    let title = if result.is_ok() {
        "Email confirmed"
    } else {
        "Confirm your email"
    };
    let layout = layout_for(&state, user.as_ref(), csrf, title).await?;
    Ok(match result {
        Ok(()) => render(&VerifyPage {
            layout,
            errors: FormErrors::default(),
            token: String::new(),
            verified: true,
        }),
        Err(err) => render_status(
            status_of(&err),
            &VerifyPage {
                layout,
                errors: FormErrors::from_error(&err),
                token,
                verified: false,
            },
        ),
    })
}

async fn resend_verification(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    ip: ClientIp,
    headers: HeaderMap,
    csrf: Csrf,
) -> AppResult<Response> {
    match service::resend_verification(&state, &user, &client(ip, &headers)).await {
        Ok(()) => Ok(session::redirect(
            &headers,
            "/account?notice=verification-sent",
        )),
        Err(err) => {
            let mut page = AccountPage::load(&state, &user, csrf, None).await?;
            page.verify_error = Some(message(&err));
            Ok(render_status(status_of(&err), &page))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Password reset.

#[derive(Template)]
#[template(path = "account/reset_request.html")]
struct ResetRequestPage {
    layout: Layout,
    errors: FormErrors,
    email: String,
    sent: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmailForm {
    email: String,
}

fn public_layout(title: &str, csrf: Csrf) -> Layout {
    Layout {
        section: "signin",
        ..Layout::public(title, csrf)
    }
}

async fn reset_page(csrf: Csrf) -> Response {
    render(&ResetRequestPage {
        layout: public_layout("Reset your password", csrf),
        errors: FormErrors::default(),
        email: String::new(),
        sent: false,
    })
}

async fn request_reset(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    csrf: Csrf,
    WebForm(form): WebForm<EmailForm>,
) -> Response {
    let req = PasswordResetRequest {
        email: form.email.clone(),
    };
    let result =
        async { service::request_password_reset(&state, valid(req)?, &client(ip, &headers)).await }
            .await;
    let layout = public_layout("Reset your password", csrf);
    match result {
        Ok(()) => render(&ResetRequestPage {
            layout,
            errors: FormErrors::default(),
            email: form.email,
            sent: true,
        }),
        Err(err) => render_status(
            status_of(&err),
            &ResetRequestPage {
                layout,
                errors: FormErrors::from_error(&err),
                email: form.email,
                sent: false,
            },
        ),
    }
}

/// The link of the reset email lands here.
async fn reset_link(Query(q): Query<TokenQuery>) -> Response {
    let query = serde_urlencoded::to_string([("token", q.token.as_str())]).unwrap_or_default();
    Redirect::to(&format!("/password-reset/confirm?{query}")).into_response()
}

#[derive(Template)]
#[template(path = "account/reset_confirm.html")]
struct ResetConfirmPage {
    layout: Layout,
    errors: FormErrors,
    token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResetConfirmForm {
    token: String,
    new_password: String,
}

async fn reset_confirm_page(csrf: Csrf, Query(q): Query<TokenQuery>) -> Response {
    render(&ResetConfirmPage {
        layout: public_layout("Choose a new password", csrf),
        errors: FormErrors::default(),
        token: q.token,
    })
}

async fn confirm_reset(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    csrf: Csrf,
    WebForm(form): WebForm<ResetConfirmForm>,
) -> Response {
    let req = PasswordResetConfirm {
        token: form.token.clone(),
        new_password: form.new_password,
    };
    let result =
        async { service::confirm_password_reset(&state, valid(req)?, &client(ip, &headers)).await }
            .await;
    match result {
        Ok(()) => session::redirect(&headers, "/password-changed"),
        Err(err) => {
            let mut errors = FormErrors::from_error(&err);
            // The token is not a field the person can correct: say so above the form.
            if let Some(msg) = errors.field("token").map(String::from) {
                errors.fields.retain(|f| f.field != "token");
                errors.general = Some(format!("{msg}. Ask for a new link below."));
            }
            render_status(
                status_of(&err),
                &ResetConfirmPage {
                    layout: public_layout("Choose a new password", csrf),
                    errors,
                    token: form.token,
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "account/password_changed.html")]
struct PasswordChangedPage {
    layout: Layout,
    errors: FormErrors,
}

/// After a reset or a change: every session has ended, so sign in again with the new password.
async fn password_changed(csrf: Csrf) -> Response {
    render(&PasswordChangedPage {
        layout: public_layout("Password changed", csrf),
        errors: FormErrors::default(),
    })
}

// ---------------------------------------------------------------------------------------
// The account page.

/// The profile form's values as shown (what was saved, or what was just submitted).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProfileForm {
    full_name: String,
    timezone: String,
    daily_goal_minutes: String,
    learning_goals: String,
}

struct PlanRow {
    name: &'static str,
    price: String,
    doubt_per_day: u32,
    quiz_per_day: u32,
    material_per_day: u32,
    cost_cap: String,
    storage: String,
    current: bool,
}

struct PaymentRow {
    date: String,
    amount: String,
    status: String,
}

#[derive(Template)]
#[template(path = "account/index.html")]
struct AccountPage {
    layout: Layout,
    notice: Option<&'static str>,
    me: MeResponse,
    profile: ProfileForm,
    profile_errors: FormErrors,
    password_errors: FormErrors,
    delete_errors: FormErrors,
    verify_error: Option<String>,
    billing_error: Option<String>,
    plan: &'static str,
    on_pro: bool,
    subscription_status: Option<String>,
    period_end: Option<String>,
    plans: Vec<PlanRow>,
    usage: MyAiUsage,
    payments: Vec<PaymentRow>,
    has_password: bool,
}

fn plan_name(plan: Plan) -> &'static str {
    match plan {
        Plan::Free => "Free",
        Plan::Pro => "Pro",
    }
}

fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        cents / 100,
        cents % 100,
        currency.to_uppercase()
    )
}

fn bytes(n: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if n >= 1024 * MB {
        format!("{:.1} GB", n as f64 / (1024 * MB) as f64)
    } else {
        format!("{} MB", n / MB)
    }
}

fn notice_text(notice: Option<&str>) -> Option<&'static str> {
    match notice? {
        "profile-saved" => Some("Your profile is saved."),
        "verification-sent" => Some("A new verification email is on its way."),
        _ => None,
    }
}

impl AccountPage {
    async fn load(
        state: &AppState,
        user: &CurrentUser,
        csrf: Csrf,
        notice: Option<&str>,
    ) -> AppResult<Self> {
        let layout = Layout::signed_in(state, user, csrf, "Your account", "account").await?;
        let me = crate::me::service::me(state, user).await?;
        let now = state.clock.now();
        let subscription =
            crate::billing::service::my_subscription(state.db.read(), user.id, now).await?;
        let plans = crate::billing::service::plans(&state.config)
            .plans
            .into_iter()
            .map(|p| PlanRow {
                name: plan_name(p.id),
                price: if p.price_cents == 0 {
                    "Free".into()
                } else {
                    format!(
                        "{} a month",
                        money(
                            i64::try_from(p.price_cents).unwrap_or(i64::MAX),
                            &p.currency
                        )
                    )
                },
                doubt_per_day: p.doubt_per_day,
                quiz_per_day: p.quiz_per_day,
                material_per_day: p.material_per_day,
                cost_cap: format!("${}", p.monthly_ai_cost_cap_usd),
                storage: bytes(p.storage_bytes),
                current: p.id == subscription.plan,
            })
            .collect();
        let usage = crate::ai::usage_report::my_usage(state, user).await?;
        let payments = crate::billing::service::my_payments(state.db.read(), user.id)
            .await?
            .payments
            .into_iter()
            .map(|p| PaymentRow {
                date: p.created_at.format("%Y-%m-%d").to_string(),
                amount: money(p.amount, &p.currency),
                status: p.status,
            })
            .collect();
        let has_password = crate::entity::users::Entity::find_by_id(user.id)
            .one(state.db.read())
            .await?
            .is_some_and(|u| u.password_hash.is_some());
        let profile = ProfileForm {
            full_name: me.profile.full_name.clone(),
            timezone: me.profile.timezone.clone(),
            daily_goal_minutes: me.profile.daily_goal_minutes.to_string(),
            learning_goals: me.profile.learning_goals.clone().unwrap_or_default(),
        };
        Ok(Self {
            layout,
            notice: notice_text(notice),
            me,
            profile,
            profile_errors: FormErrors::default(),
            password_errors: FormErrors::default(),
            delete_errors: FormErrors::default(),
            verify_error: None,
            billing_error: None,
            plan: plan_name(subscription.plan),
            on_pro: subscription.plan == Plan::Pro,
            subscription_status: subscription.subscription.as_ref().map(|s| s.status.clone()),
            period_end: subscription
                .subscription
                .as_ref()
                .and_then(|s| s.current_period_end)
                .map(|d| d.format("%Y-%m-%d").to_string()),
            plans,
            usage,
            payments,
            has_password,
        })
    }

    /// Every IANA time zone, and whether it is the one in the form.
    fn timezones(&self) -> Vec<(&'static str, bool)> {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| {
                let name = tz.name();
                (name, name == self.profile.timezone)
            })
            .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let page = AccountPage::load(&state, &user, csrf, q.notice.as_deref()).await?;
    Ok(render(&page))
}

/// The profile form as the service's request; a goal that is not a number is an error of its
/// field, reported with the service's own checks.
fn profile_request(form: &ProfileForm) -> AppResult<UpdateProfileRequest> {
    let goal = form.daily_goal_minutes.trim();
    let parsed = goal.parse::<i32>();
    let learning_goals = form.learning_goals.trim();
    let req = UpdateProfileRequest {
        full_name: Some(form.full_name.clone()),
        timezone: Some(form.timezone.clone()),
        daily_goal_minutes: parsed.as_ref().ok().copied(),
        learning_goals: Some((!learning_goals.is_empty()).then(|| learning_goals.to_string())),
        ..Default::default()
    };
    match (valid(req), parsed) {
        (Ok(req), Ok(_)) => Ok(req),
        (Ok(_), Err(_)) => Err(AppError::invalid(
            "daily_goal_minutes",
            "enter a whole number of minutes",
        )),
        (Err(AppError::Validation(mut fields)), Err(_)) => {
            fields.push(FieldError::new(
                "daily_goal_minutes",
                "enter a whole number of minutes",
            ));
            Err(AppError::Validation(fields))
        }
        (Err(err), _) => Err(err),
    }
}

async fn save_profile(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    csrf: Csrf,
    WebForm(form): WebForm<ProfileForm>,
) -> AppResult<Response> {
    let result = match profile_request(&form) {
        Ok(req) => crate::me::service::update_profile(&state, &user, req)
            .await
            .map(|_| ()),
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => Ok(session::redirect(&headers, "/account?notice=profile-saved")),
        Err(err) => {
            let mut page = AccountPage::load(&state, &user, csrf, None).await?;
            page.profile = form;
            page.profile_errors = FormErrors::from_error(&err);
            Ok(render_status(status_of(&err), &page))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    jar: CookieJar,
    csrf: Csrf,
    WebForm(form): WebForm<PasswordForm>,
) -> AppResult<Response> {
    let req = PasswordChangeRequest {
        current_password: form.current_password,
        new_password: form.new_password,
    };
    let result = async { service::change_password(&state, &user, valid(req)?).await }.await;
    match result {
        // Every session ends with a password change, this one included.
        Ok(()) => Ok((
            session::clear_session(jar),
            session::redirect(&headers, "/password-changed"),
        )
            .into_response()),
        Err(err) => {
            let mut page = AccountPage::load(&state, &user, csrf, None).await?;
            page.password_errors = FormErrors::from_error(&err);
            Ok(render_status(status_of(&err), &page))
        }
    }
}

#[derive(Template)]
#[template(path = "account/upgrade_partial.html")]
struct UpgradePartial {
    message: String,
}

async fn upgrade(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    csrf: Csrf,
) -> AppResult<Response> {
    let req = CheckoutRequest { plan: "pro".into() };
    match crate::billing::service::checkout(&state, &user, req).await {
        Ok(session) => Ok(session::redirect(&headers, &session.url)),
        Err(err) if headers.contains_key("hx-request") => {
            // Answered 200 so that htmx shows it in place.
            Ok(render(&UpgradePartial {
                message: upgrade_message(&err),
            }))
        }
        Err(err) => {
            let mut page = AccountPage::load(&state, &user, csrf, None).await?;
            page.billing_error = Some(upgrade_message(&err));
            Ok(render_status(status_of(&err), &page))
        }
    }
}

fn upgrade_message(err: &AppError) -> String {
    match err {
        AppError::BillingUnavailable(_) => {
            "Upgrading is not possible right now: payments are not available on this server. \
             Please try again later."
                .into()
        }
        other => message(other),
    }
}

/// "Download my data": the same export as `GET /me/export`, for the signed-in browser.
async fn export(State(state): State<AppState>, WebUser(user): WebUser) -> Response {
    let rx = crate::me::export::start(
        state.db.read().clone(),
        user.id,
        state.clock.now(),
        crate::app::API_PREFIX,
    );
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"studium-export.json\"",
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DeleteForm {
    confirm: String,
}

/// The word to type to delete the account.
const DELETE_WORD: &str = "DELETE";

async fn delete_account(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    headers: HeaderMap,
    jar: CookieJar,
    csrf: Csrf,
    WebForm(form): WebForm<DeleteForm>,
) -> AppResult<Response> {
    if form.confirm.trim() != DELETE_WORD {
        let mut page = AccountPage::load(&state, &user, csrf, None).await?;
        page.delete_errors = FormErrors {
            fields: vec![FieldError::new(
                "confirm",
                "type DELETE in capital letters to delete your account",
            )],
            general: None,
        };
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    service::delete_account(&state, &user).await?;
    Ok((
        session::clear_session(jar),
        session::redirect(&headers, "/goodbye"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "account/goodbye.html")]
struct GoodbyePage {
    layout: Layout,
}

async fn goodbye(csrf: Csrf) -> Response {
    render(&GoodbyePage {
        layout: Layout::public("Goodbye", csrf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_a_price() {
        assert_eq!(money(900, "usd"), "9.00 USD");
        assert_eq!(money(-1205, "eur"), "-12.05 EUR");
    }

    #[test]
    fn a_goal_that_is_not_a_number_is_its_fields_error() {
        let form = ProfileForm {
            full_name: "Ada".into(),
            timezone: "Europe/Berlin".into(),
            daily_goal_minutes: "lots".into(),
            learning_goals: String::new(),
        };
        let Err(AppError::Validation(fields)) = profile_request(&form) else {
            panic!("refused");
        };
        assert!(fields.iter().any(|f| f.field == "daily_goal_minutes"));
        let form = ProfileForm {
            daily_goal_minutes: "5000".into(),
            ..form
        };
        let Err(AppError::Validation(fields)) = profile_request(&form) else {
            panic!("refused");
        };
        assert_eq!(fields[0].field, "daily_goal_minutes");
    }
}
