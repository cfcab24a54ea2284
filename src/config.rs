//! Configuration: `STUDIUM_*` environment variables over an optional TOML file over defaults,
//! validated once at start so that every bad value is reported, each in one clear line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Everything the server reads from its environment. Field names are the lower-cased
/// environment variable names without the `STUDIUM_` prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database_url: String,
    pub bind: String,
    pub jwt_secret: Option<String>,
    /// Where uploads are stored: a local directory, or `s3://bucket[/prefix]`.
    pub storage_url: String,
    /// The S3-compatible service of an `s3://` storage URL: its endpoint (unset for AWS
    /// itself), region and credentials. A plain `http://` endpoint is allowed.
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<String>,
    /// The largest file `POST /materials` accepts, in bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// Public base URL of the web app, used in the links of emails.
    pub public_url: String,
    pub ai_base_url: Option<String>,
    pub ai_api_key: Option<String>,
    pub ai_chat_model: String,
    pub ai_embedding_model: String,
    /// Seconds to wait for the AI provider to start answering (and between two streamed chunks).
    pub ai_timeout_secs: u64,
    /// Retries after a 429, a 5xx or a connection error, with exponential backoff and jitter.
    pub ai_max_retries: u32,
    /// US dollars per million tokens, per model: the `estimated_cost` of every AI call.
    pub ai_prices: BTreeMap<String, AiPrice>,
    pub google_client_id: Option<String>,
    pub google_jwks_url: String,
    /// Google's OpenID Connect authorization endpoint, where the web app's "Sign in with
    /// Google" sends the browser.
    pub google_auth_url: String,
    /// The least time between two JWKS downloads caused by an unknown key id.
    pub google_jwks_min_refresh_secs: u64,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// The signing secret of the payment provider's webhooks (`STUDIUM_STRIPE_WEBHOOK_SECRET`
    /// is read as well; this one wins when both are set). Webhooks answer 503
    /// `billing-unavailable` while neither is.
    pub payments_webhook_secret: Option<String>,
    /// The Stripe-compatible payment provider: its API base URL (e.g. `https://api.stripe.com`),
    /// secret key, and the price id of the pro plan. Checkout answers 503 `billing-unavailable`
    /// until all three are set.
    pub stripe_api_base: Option<String>,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_price_pro: Option<String>,
    /// The pro plan's price as shown in `GET /billing/plans`, in the currency's smallest unit
    /// per month (the provider's price is what is charged).
    pub plan_pro_price_cents: u64,
    /// ISO 4217 code of the plan prices, lower case.
    pub plan_currency: String,
    /// Comma-separated origins allowed by CORS; empty means no cross-origin access, `*` any.
    pub cors_origins: String,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub email_token_ttl_hours: i64,
    pub log_format: String,
    /// Seed demo content on the first start of an empty database.
    pub seed_demo: bool,
    pub db_max_connections: u32,
    /// Length of every rate-limit window, in seconds.
    pub rate_limit_window_secs: i64,
    pub rate_limit_login_per_ip: i64,
    pub rate_limit_login_per_account: i64,
    pub rate_limit_register_per_ip: i64,
    pub rate_limit_register_per_account: i64,
    pub rate_limit_refresh_per_ip: i64,
    pub rate_limit_refresh_per_account: i64,
    pub rate_limit_password_reset_per_ip: i64,
    pub rate_limit_password_reset_per_account: i64,
    pub rate_limit_verify_resend_per_ip: i64,
    pub rate_limit_verify_resend_per_account: i64,
    /// Password changes per account; each one runs argon2.
    pub rate_limit_password_change_per_account: i64,
    /// Google sign-ins per Google account (`sub`), beside the per-IP sign-in limit.
    pub rate_limit_google_per_account: i64,
    /// Email-verification attempts per IP (guessing tokens).
    pub rate_limit_verify_email_per_ip: i64,
    /// Password-reset confirmations per IP (guessing tokens).
    pub rate_limit_password_reset_confirm_per_ip: i64,
    /// `GET /users/search` calls per user per window (no address-book scraping).
    pub rate_limit_user_search_per_user: i64,
    /// `POST /friends/requests` per user per window.
    pub rate_limit_friend_requests_per_user: i64,
    /// Trust the first address of `X-Forwarded-For` as the client (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// Seconds between two runs of the periodic maintenance (`maintenance::run_once`).
    pub maintenance_interval_secs: u64,
    /// How often the global leaderboards are recomputed into `leaderboard_cache`.
    pub leaderboard_refresh_secs: u64,
    /// AI allowances of the free plan (SPEC §3 "AI usage control"): tutor replies, generated
    /// quizzes and material embedding calls per UTC day, and the AI cost per calendar month in
    /// US dollars (an exact decimal: a string such as "1.00", or a number).
    pub plan_free_doubt_per_day: u32,
    pub plan_free_quiz_per_day: u32,
    pub plan_free_material_per_day: u32,
    pub plan_free_monthly_cost_cap_usd: Decimal,
    /// The same for the pro plan.
    pub plan_pro_doubt_per_day: u32,
    pub plan_pro_quiz_per_day: u32,
    pub plan_pro_material_per_day: u32,
    pub plan_pro_monthly_cost_cap_usd: Decimal,
    /// Storage for uploaded materials per plan: the most the sizes of a user's files may add
    /// up to, in bytes.
    pub plan_free_storage_bytes: u64,
    pub plan_pro_storage_bytes: u64,
    /// How long a reservation of AI allowance lives when nothing settles or releases it (a
    /// crashed process); the maintenance then gives the unit back.
    pub ai_reservation_ttl_secs: u64,
    /// Run the background-job worker inside `serve` (`STUDIUM_WORKER=off` leaves the jobs to
    /// `studium worker` processes). On/off, true/false, yes/no or 1/0.
    #[serde(deserialize_with = "switch")]
    pub worker: bool,
    /// Milliseconds a worker waits between two looks at the queue when it found nothing to do.
    pub job_poll_ms: u64,
    /// Seconds a claimed job is leased to its worker; the worker renews the lease while the job
    /// runs, and a job whose lease has passed (its worker died) is claimed again.
    pub job_lease_secs: u64,
    /// Jobs one worker runs at the same time.
    pub job_concurrency: u32,
    /// Tries before a failing job is `dead` (a job may ask for another number).
    pub job_max_attempts: u32,
    /// The first retry's delay in seconds; each later one doubles it (capped at an hour), with
    /// jitter.
    pub job_retry_base_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://studium.db".into(),
            bind: "127.0.0.1:8080".into(),
            jwt_secret: None,
            storage_url: "data/uploads".into(),
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            max_upload_bytes: 20 * 1024 * 1024,
            public_url: "http://127.0.0.1:8080".into(),
            ai_base_url: None,
            ai_api_key: None,
            ai_chat_model: "gpt-4o-mini".into(),
            ai_embedding_model: "text-embedding-3-small".into(),
            ai_timeout_secs: 25,
            ai_max_retries: 3,
            ai_prices: default_ai_prices(),
            google_client_id: None,
            google_jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            google_auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            google_jwks_min_refresh_secs: 10,
            smtp_url: None,
            mail_from: "Studium <no-reply@studium.local>".into(),
            payments_webhook_secret: None,
            stripe_api_base: None,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_price_pro: None,
            plan_pro_price_cents: 900,
            plan_currency: "usd".into(),
            cors_origins: String::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            email_token_ttl_hours: 24,
            log_format: "text".into(),
            seed_demo: true,
            db_max_connections: 16,
            rate_limit_window_secs: 15 * 60,
            rate_limit_login_per_ip: 50,
            rate_limit_login_per_account: 10,
            rate_limit_register_per_ip: 20,
            rate_limit_register_per_account: 5,
            rate_limit_refresh_per_ip: 120,
            rate_limit_refresh_per_account: 60,
            rate_limit_password_reset_per_ip: 20,
            rate_limit_password_reset_per_account: 5,
            rate_limit_verify_resend_per_ip: 20,
            rate_limit_verify_resend_per_account: 5,
            rate_limit_password_change_per_account: 10,
            rate_limit_google_per_account: 10,
            rate_limit_verify_email_per_ip: 30,
            rate_limit_password_reset_confirm_per_ip: 30,
            rate_limit_user_search_per_user: 30,
            rate_limit_friend_requests_per_user: 30,
            trust_forwarded_for: false,
            maintenance_interval_secs: 300,
            leaderboard_refresh_secs: 120,
            plan_free_doubt_per_day: 20,
            plan_free_quiz_per_day: 5,
            plan_free_material_per_day: 200,
            plan_free_monthly_cost_cap_usd: Decimal::new(100, 2),
            plan_pro_doubt_per_day: 200,
            plan_pro_quiz_per_day: 50,
            plan_pro_material_per_day: 2000,
            plan_pro_monthly_cost_cap_usd: Decimal::new(2000, 2),
            plan_free_storage_bytes: 100 * 1024 * 1024,
            plan_pro_storage_bytes: 2 * 1024 * 1024 * 1024,
            ai_reservation_ttl_secs: 300,
            worker: true,
            job_poll_ms: 1000,
            job_lease_secs: 60,
            job_concurrency: 4,
            job_max_attempts: 5,
            job_retry_base_secs: 10,
        }
    }
}

/// A switch written as on/off, true/false, yes/no or 1/0.
fn switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Number(u64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Bool(b) => return Ok(b),
        Raw::Number(n) => n.to_string(),
        Raw::Text(t) => t.trim().to_ascii_lowercase(),
    };
    match text.as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected on or off, got {other:?}"
        ))),
    }
}

/// The price of one model, in US dollars per million tokens (exact decimals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiPrice {
    pub input_per_million: Decimal,
    pub output_per_million: Decimal,
}

/// The published prices of the default models (and their larger siblings), so that a server
/// pointed at OpenAI counts cost without configuration. Any other model costs what
/// `STUDIUM_AI_PRICES` says, or nothing.
fn default_ai_prices() -> BTreeMap<String, AiPrice> {
    let price = |input: i64, output: i64| AiPrice {
        // Hundredths of a dollar per million tokens.
        input_per_million: Decimal::new(input, 2),
        output_per_million: Decimal::new(output, 2),
    };
    BTreeMap::from([
        ("gpt-4o-mini".to_string(), price(15, 60)),
        ("gpt-4o".to_string(), price(250, 1000)),
        ("text-embedding-3-small".to_string(), price(2, 0)),
        ("text-embedding-3-large".to_string(), price(13, 0)),
    ])
}

/// A configuration that could not be used, with one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// The webhook signing secret, under either of its names.
    pub fn webhook_secret(&self) -> Option<&str> {
        self.payments_webhook_secret
            .as_deref()
            .or(self.stripe_webhook_secret.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// Defaults, then the TOML file (when given), then `STUDIUM_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(vec![format!(
                    "config file {} does not exist",
                    path.display()
                )]));
            }
            figment = figment.merge(Toml::file(path));
        }
        // Variables the binary itself reads (not configuration) are left out.
        figment = figment.merge(
            Env::prefixed("STUDIUM_")
                .ignore(&[
                    "config",
                    "admin_password",
                    "test_pg",
                    "test_pg_url",
                    "bench_pg_url",
                ])
                .lowercase(true),
        );
        // A value of the wrong type stops extraction; report it, put the default in its
        // place, and carry on so that every other bad value is reported in the same run.
        let mut errors = Vec::new();
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let config = loop {
            match figment.extract::<Config>() {
                Ok(config) => break config,
                Err(e) => {
                    let before = errors.len();
                    for err in e {
                        let key = err.path.first().cloned();
                        errors.push(format!(
                            "{}{}",
                            key.as_ref()
                                .map(|k| format!("STUDIUM_{}: ", k.to_uppercase()))
                                .unwrap_or_default(),
                            err.kind
                        ));
                        match key.and_then(|k| defaults.get(&k).cloned().map(|v| (k, v))) {
                            Some((k, v)) => figment = figment.merge(Serialized::default(&k, v)),
                            None => return Err(ConfigError(errors)),
                        }
                    }
                    if errors.len() == before {
                        return Err(ConfigError(errors));
                    }
                }
            }
        };
        if let Err(ConfigError(more)) = config.validate() {
            errors.extend(more);
        }
        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(config)
    }

    /// Checks every value, collecting all problems rather than stopping at the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            errors.push(format!(
                "STUDIUM_DATABASE_URL: must start with sqlite:, postgres:// or postgresql://, got {:?}",
                self.database_url
            ));
        }
        if self.bind.parse::<SocketAddr>().is_err() {
            errors.push(format!(
                "STUDIUM_BIND: must be an address and port such as 127.0.0.1:8080, got {:?}",
                self.bind
            ));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < 32
        {
            errors.push("STUDIUM_JWT_SECRET: must be at least 32 characters long".into());
        }
        for (name, value) in [
            ("STUDIUM_PUBLIC_URL", Some(&self.public_url)),
            ("STUDIUM_GOOGLE_JWKS_URL", Some(&self.google_jwks_url)),
            ("STUDIUM_GOOGLE_AUTH_URL", Some(&self.google_auth_url)),
            ("STUDIUM_AI_BASE_URL", self.ai_base_url.as_ref()),
            ("STUDIUM_STRIPE_API_BASE", self.stripe_api_base.as_ref()),
        ] {
            if let Some(v) = value
                && reqwest::Url::parse(v).is_err()
            {
                errors.push(format!("{name}: not a valid URL: {v:?}"));
            }
        }
        if let Some(rest) = self.storage_url.strip_prefix("s3://") {
            if rest.split('/').next().is_none_or(str::is_empty) {
                errors.push(format!(
                    "STUDIUM_STORAGE_URL: an s3:// URL must name a bucket (s3://bucket/prefix), got {:?}",
                    self.storage_url
                ));
            }
        } else if self.storage_url.contains("://") {
            errors.push(format!(
                "STUDIUM_STORAGE_URL: must be a local directory or s3://bucket/prefix, got {:?}",
                self.storage_url
            ));
        } else if self.storage_url.trim().is_empty() {
            errors.push("STUDIUM_STORAGE_URL: must not be empty".into());
        }
        if let Some(endpoint) = &self.s3_endpoint
            && reqwest::Url::parse(endpoint).is_err()
        {
            errors.push(format!(
                "STUDIUM_S3_ENDPOINT: not a valid URL: {endpoint:?}"
            ));
        }
        if self.max_upload_bytes == 0 {
            errors.push("STUDIUM_MAX_UPLOAD_BYTES: must be positive".into());
        }
        if let Some(smtp) = &self.smtp_url
            && !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://"))
        {
            errors.push(format!(
                "STUDIUM_SMTP_URL: must start with smtp:// or smtps://, got {smtp:?}"
            ));
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            errors.push(format!(
                "STUDIUM_MAIL_FROM: not a valid mailbox: {:?}",
                self.mail_from
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            errors.push(format!(
                "STUDIUM_LOG_FORMAT: must be text or json, got {:?}",
                self.log_format
            ));
        }
        for (model, price) in &self.ai_prices {
            if price.input_per_million.is_sign_negative()
                || price.output_per_million.is_sign_negative()
            {
                errors.push(format!(
                    "STUDIUM_AI_PRICES: the prices of {model:?} must not be negative"
                ));
            }
        }
        if self.ai_max_retries > 10 {
            errors.push(format!(
                "STUDIUM_AI_MAX_RETRIES: must be at most 10, got {}",
                self.ai_max_retries
            ));
        }
        let positive = [
            ("STUDIUM_BODY_LIMIT_BYTES", self.body_limit_bytes as i64),
            (
                "STUDIUM_REQUEST_TIMEOUT_SECS",
                self.request_timeout_secs as i64,
            ),
            ("STUDIUM_ACCESS_TOKEN_TTL_SECS", self.access_token_ttl_secs),
            (
                "STUDIUM_REFRESH_TOKEN_TTL_DAYS",
                self.refresh_token_ttl_days,
            ),
            ("STUDIUM_EMAIL_TOKEN_TTL_HOURS", self.email_token_ttl_hours),
            ("STUDIUM_DB_MAX_CONNECTIONS", self.db_max_connections as i64),
            (
                "STUDIUM_AI_TIMEOUT_SECS",
                i64::try_from(self.ai_timeout_secs).unwrap_or(i64::MAX),
            ),
            (
                "STUDIUM_RATE_LIMIT_WINDOW_SECS",
                self.rate_limit_window_secs,
            ),
            (
                "STUDIUM_RATE_LIMIT_LOGIN_PER_IP",
                self.rate_limit_login_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_LOGIN_PER_ACCOUNT",
                self.rate_limit_login_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_REGISTER_PER_IP",
                self.rate_limit_register_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_REGISTER_PER_ACCOUNT",
                self.rate_limit_register_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_REFRESH_PER_IP",
                self.rate_limit_refresh_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_REFRESH_PER_ACCOUNT",
                self.rate_limit_refresh_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_VERIFY_RESEND_PER_IP",
                self.rate_limit_verify_resend_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_PASSWORD_RESET_PER_IP",
                self.rate_limit_password_reset_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_PASSWORD_RESET_PER_ACCOUNT",
                self.rate_limit_password_reset_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_VERIFY_RESEND_PER_ACCOUNT",
                self.rate_limit_verify_resend_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_PASSWORD_CHANGE_PER_ACCOUNT",
                self.rate_limit_password_change_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_GOOGLE_PER_ACCOUNT",
                self.rate_limit_google_per_account,
            ),
            (
                "STUDIUM_RATE_LIMIT_VERIFY_EMAIL_PER_IP",
                self.rate_limit_verify_email_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_PASSWORD_RESET_CONFIRM_PER_IP",
                self.rate_limit_password_reset_confirm_per_ip,
            ),
            (
                "STUDIUM_RATE_LIMIT_USER_SEARCH_PER_USER",
                self.rate_limit_user_search_per_user,
            ),
            (
                "STUDIUM_RATE_LIMIT_FRIEND_REQUESTS_PER_USER",
                self.rate_limit_friend_requests_per_user,
            ),
            (
                "STUDIUM_MAINTENANCE_INTERVAL_SECS",
                i64::try_from(self.maintenance_interval_secs).unwrap_or(i64::MAX),
            ),
            (
                "STUDIUM_LEADERBOARD_REFRESH_SECS",
                i64::try_from(self.leaderboard_refresh_secs).unwrap_or(i64::MAX),
            ),
            (
                "STUDIUM_JOB_POLL_MS",
                self.job_poll_ms.min(i64::MAX as u64) as i64,
            ),
            (
                "STUDIUM_JOB_LEASE_SECS",
                self.job_lease_secs.min(i64::MAX as u64) as i64,
            ),
            ("STUDIUM_JOB_CONCURRENCY", i64::from(self.job_concurrency)),
            ("STUDIUM_JOB_MAX_ATTEMPTS", i64::from(self.job_max_attempts)),
            (
                "STUDIUM_JOB_RETRY_BASE_SECS",
                self.job_retry_base_secs.min(i64::MAX as u64) as i64,
            ),
        ];
        for (name, value) in positive {
            if value <= 0 {
                errors.push(format!("{name}: must be greater than zero, got {value}"));
            }
        }
        if self.ai_reservation_ttl_secs == 0 || self.ai_reservation_ttl_secs > 86_400 {
            errors.push(format!(
                "STUDIUM_AI_RESERVATION_TTL_SECS: must be between 1 and 86400, got {}",
                self.ai_reservation_ttl_secs
            ));
        }
        for (name, cap) in [
            (
                "STUDIUM_PLAN_FREE_MONTHLY_COST_CAP_USD",
                self.plan_free_monthly_cost_cap_usd,
            ),
            (
                "STUDIUM_PLAN_PRO_MONTHLY_COST_CAP_USD",
                self.plan_pro_monthly_cost_cap_usd,
            ),
        ] {
            // The costs are stored with 6 decimal places (NUMERIC(14,6)).
            if cap.is_sign_negative() || cap.scale() > 6 || cap >= Decimal::new(100_000_000, 0) {
                errors.push(format!(
                    "{name}: must be a dollar amount from 0 to 99999999.999999, got {cap}"
                ));
            }
        }
        if self.job_lease_secs > 86_400 || self.job_max_attempts > 100 || self.job_concurrency > 256
        {
            errors.push(format!(
                "STUDIUM_JOB_LEASE_SECS (at most 86400), STUDIUM_JOB_MAX_ATTEMPTS (at most 100) \
                 and STUDIUM_JOB_CONCURRENCY (at most 256) must be in range, got {}, {} and {}",
                self.job_lease_secs, self.job_max_attempts, self.job_concurrency
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn bind_addr(&self) -> SocketAddr {
        // Validated in `validate`.
        self.bind
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let config = Config {
            bind: "nowhere".into(),
            database_url: "mysql://x".into(),
            log_format: "xml".into(),
            rate_limit_login_per_ip: 0,
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        assert!(err.to_string().contains("STUDIUM_BIND"));
        assert!(err.to_string().contains("STUDIUM_RATE_LIMIT_LOGIN_PER_IP"));
    }

    #[test]
    fn a_config_file_is_read_and_each_bad_value_named() {
        let dir = std::env::temp_dir().join(format!("studium-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "bind = \"0.0.0.0:9000\"\nrate_limit_login_per_ip = 7\n",
        )
        .unwrap();
        let config = Config::load(Some(&good)).unwrap();
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert_eq!(config.rate_limit_login_per_ip, 7);

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "bind = \"here\"\nbody_limit_bytes = \"lots\"\n").unwrap();
        let err = Config::load(Some(&bad)).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.to_string().contains("STUDIUM_BODY_LIMIT_BYTES"),
            "{err}"
        );
        assert!(err.to_string().contains("STUDIUM_BIND"), "{err}");

        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "bnd = \"127.0.0.1:1\"\n").unwrap();
        assert!(Config::load(Some(&typo)).is_err());
        assert!(Config::load(Some(&dir.join("missing.toml"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ai_prices_are_read_from_the_config_file_as_exact_decimals() {
        let dir = std::env::temp_dir().join(format!("studium-prices-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("prices.toml");
        std::fs::write(
            &file,
            "ai_timeout_secs = 5\n[ai_prices.\"llama3\"]\ninput_per_million = \"0.1\"\noutput_per_million = 0.3\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.ai_timeout_secs, 5);
        let llama = &config.ai_prices["llama3"];
        assert_eq!(llama.input_per_million, Decimal::new(1, 1));
        assert_eq!(llama.output_per_million, Decimal::new(3, 1));

        let bad = Config {
            ai_timeout_secs: 0,
            ai_prices: BTreeMap::from([(
                "m".to_string(),
                AiPrice {
                    input_per_million: Decimal::new(-1, 0),
                    output_per_million: Decimal::ZERO,
                },
            )]),
            ..Config::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("STUDIUM_AI_PRICES"), "{err}");
        assert!(err.to_string().contains("STUDIUM_AI_TIMEOUT_SECS"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cost_caps_are_exact_decimals_from_text_or_numbers() {
        let config: Config = serde_json::from_str(
            r#"{"plan_free_monthly_cost_cap_usd": "0.10", "plan_pro_monthly_cost_cap_usd": 12.5}"#,
        )
        .unwrap();
        assert_eq!(config.plan_free_monthly_cost_cap_usd, Decimal::new(10, 2));
        assert_eq!(config.plan_pro_monthly_cost_cap_usd, Decimal::new(125, 1));
        let bad = Config {
            plan_free_monthly_cost_cap_usd: Decimal::new(-1, 0),
            ai_reservation_ttl_secs: 0,
            ..Config::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("STUDIUM_PLAN_FREE_MONTHLY_COST_CAP_USD"),
            "{err}"
        );
        assert!(err.contains("STUDIUM_AI_RESERVATION_TTL_SECS"), "{err}");
    }

    #[test]
    fn storage_must_be_a_directory_or_an_s3_bucket() {
        for good in [
            "data/uploads",
            "/srv/studium",
            "s3://bucket",
            "s3://bucket/prefix/",
        ] {
            let config = Config {
                storage_url: good.into(),
                ..Config::default()
            };
            assert!(config.validate().is_ok(), "{good}");
        }
        for bad in ["s3://", "s3:///prefix", "gs://bucket", ""] {
            let config = Config {
                storage_url: bad.into(),
                ..Config::default()
            };
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("STUDIUM_STORAGE_URL"), "{bad}: {err}");
        }
        let config = Config {
            s3_endpoint: Some("not a url".into()),
            max_upload_bytes: 0,
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("STUDIUM_S3_ENDPOINT"), "{err}");
        assert!(err.contains("STUDIUM_MAX_UPLOAD_BYTES"), "{err}");
    }

    #[test]
    fn the_worker_switch_reads_on_and_off() {
        for (text, on) in [("off", false), ("on", true), ("false", false), ("1", true)] {
            let config: Config =
                serde_json::from_value(serde_json::json!({ "worker": text })).unwrap();
            assert_eq!(config.worker, on, "{text}");
        }
        let config: Config = serde_json::from_str(r#"{"worker": false}"#).unwrap();
        assert!(!config.worker);
        assert!(serde_json::from_str::<Config>(r#"{"worker": "maybe"}"#).is_err());
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }
}
