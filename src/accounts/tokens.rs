//! Token material (SPEC §3 Accounts): short-lived HS256 access tokens that name their sign-in
//! session, opaque random refresh and email tokens stored only as SHA-256 hashes, and the JWT
//! secret that is generated once and shared by every instance through the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::Db;
use crate::entity::server_settings;

const ISSUER: &str = "studium";
const JWT_SECRET_KEY: &str = "jwt_secret";

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The secret itself, for [`JwtKeys::mac`].
    secret: Vec<u8>,
}

/// Claims of an access token. `sid` is the sign-in session (refresh-token family): revoking it
/// ends the access tokens issued under it at once.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        // Expiry is checked against the application's clock, not the system's (STYLE rule 7).
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            secret: secret.to_vec(),
        }
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        role: &str,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            role: role.to_string(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl_secs,
            iss: ISSUER.into(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// HMAC-SHA256 of `message` under the JWT secret, hex-encoded, for values the server
    /// hands out and later checks itself. `purpose` separates the uses of the one secret.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The claims of a well-signed, unexpired token; `None` for anything else.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<AccessClaims> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.exp > now.timestamp()).then_some(data.claims)
    }
}

/// A new opaque token (256 random bits, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How an opaque token is stored: its SHA-256, hex-encoded.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configured secret, or the one stored in the database, created on first start.
pub async fn jwt_secret(
    db: &Db,
    configured: Option<&str>,
    clock: &Clock,
) -> anyhow::Result<String> {
    if let Some(secret) = configured {
        return Ok(secret.to_string());
    }
    if let Some(row) = server_settings::Entity::find_by_id(JWT_SECRET_KEY.to_string())
        .one(db.read())
        .await?
    {
        return Ok(row.value);
    }
    // Two instances starting together race here; the loser's row is dropped and both read the winner's.
    server_settings::Entity::insert(server_settings::ActiveModel {
        key: Set(JWT_SECRET_KEY.into()),
        value: Set(random_token()),
        created_at: Set(clock.now()),
    })
    .on_conflict_do_nothing_on([server_settings::Column::Key])
    .exec_without_returning(db.write())
    .await?;
    let row = server_settings::Entity::find_by_id(JWT_SECRET_KEY.to_string())
        .one(db.write())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the JWT secret was not stored"))?;
    tracing::info!("generated a JWT secret and stored it in the database");
    Ok(row.value)
}
