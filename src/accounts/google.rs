//! Google sign-in (SPEC §3 Accounts): an ID token is accepted only when its RS256 signature
//! verifies against Google's JWKS, its `iss` is Google, `aud` is our client id and it has not
//! expired. The key set is cached and fetched again when a token names a key id we do not
//! have (Google rotates keys), at most once per `STUDIUM_GOOGLE_JWKS_MIN_REFRESH_SECS`.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::Config;
use crate::http::error::AppError;

const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

#[derive(Debug, Deserialize)]
pub struct GoogleClaims {
    pub sub: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
    /// The nonce the sign-in request carried (OpenID Connect), when it carried one.
    #[serde(default)]
    pub nonce: Option<String>,
}

pub struct GoogleVerifier {
    client: reqwest::Client,
    jwks_url: String,
    client_id: Option<String>,
    min_refresh: Duration,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

impl GoogleVerifier {
    pub fn new(config: &Config) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            jwks_url: config.google_jwks_url.clone(),
            client_id: config.google_client_id.clone(),
            min_refresh: Duration::from_secs(config.google_jwks_min_refresh_secs),
            cache: Mutex::new(Cache::default()),
        }
    }

    pub async fn verify(&self, id_token: &str) -> Result<GoogleClaims, AppError> {
        let client_id = self.client_id.as_deref().ok_or(AppError::NotAvailable(
            "Google sign-in is not configured on this server",
        ))?;
        // Only RS256, as Google signs; `none`, HS256 and the rest are refused before any key is used.
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid())?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let key = self.key_for(&kid).await?.ok_or_else(invalid)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[client_id]);
        validation.set_issuer(&ISSUERS);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<GoogleClaims>(id_token, &key, &validation)
            .map_err(|_| invalid())?;
        Ok(data.claims)
    }

    async fn key_for(&self, kid: &str) -> Result<Option<DecodingKey>, AppError> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.as_ref().and_then(|set| set.find(kid)) {
            return Ok(DecodingKey::from_jwk(key).ok());
        }
        let may_fetch = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh);
        if !may_fetch {
            return Ok(None);
        }
        let set = self.fetch().await?;
        cache.fetched_at = Some(Instant::now());
        let key = set.find(kid).and_then(|k| DecodingKey::from_jwk(k).ok());
        cache.keys = Some(set);
        Ok(key)
    }

    async fn fetch(&self) -> Result<JwkSet, AppError> {
        let unavailable = |err: reqwest::Error| {
            tracing::warn!(error = %err, url = %self.jwks_url, "fetching Google's JWKS failed");
            AppError::Unavailable("Google's signing keys could not be fetched")
        };
        self.client
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?
            .json::<JwkSet>()
            .await
            .map_err(unavailable)
    }
}

fn invalid() -> AppError {
    AppError::Unauthorized("the Google ID token is not valid")
}
