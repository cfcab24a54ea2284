//! The Stripe-compatible provider: creating a hosted checkout session, and Stripe's webhook
//! signature scheme (`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]` over
//! `<t>.<payload>`).

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::model::CheckoutSession;
use crate::http::error::AppError;

/// How far a signature's timestamp may be from now, either way (Stripe's default).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// Checks a `Stripe-Signature` header against `payload`: the timestamp within
/// [`SIGNATURE_TOLERANCE_SECS`] of `now`, and at least one `v1` signature (there may be
/// several while a secret is rolled) equal, compared in constant time, to the HMAC-SHA256 of
/// `<t>.<payload>` under `secret`.
pub fn verify_signature(
    secret: &str,
    header: Option<&str>,
    payload: &[u8],
    now_unix: i64,
) -> Result<(), AppError> {
    let header = header.ok_or(AppError::InvalidSignature(
        "the Stripe-Signature header is missing",
    ))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(AppError::InvalidSignature(
            "the Stripe-Signature header needs a timestamp and a v1 signature",
        ));
    };
    let at: i64 = t.parse().map_err(|_| {
        AppError::InvalidSignature("the Stripe-Signature timestamp is not a number")
    })?;
    if (now_unix - at).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(AppError::InvalidSignature(
            "the signature's timestamp is outside the 300-second tolerance",
        ));
    }
    for sig in signatures {
        let Ok(sig) = hex::decode(sig) else { continue };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            continue;
        };
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(payload);
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(AppError::InvalidSignature(
        "no v1 signature matches the payload",
    ))
}

/// The `v1` signature of `payload` at `timestamp` (what the provider sends; for tests and tools).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// What a checkout session is created with.
pub struct CheckoutParams<'a> {
    pub api_base: &'a str,
    pub secret_key: &'a str,
    pub price_id: &'a str,
    pub plan: &'a str,
    pub user_id: &'a str,
    pub email: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// `POST /v1/checkout/sessions` (form-encoded, bearer secret key) for a monthly subscription.
/// The user id travels as `client_reference_id` and in the metadata of the session and of the
/// subscription, so every later event names its user.
pub async fn create_checkout_session(p: CheckoutParams<'_>) -> Result<CheckoutSession, AppError> {
    let form = [
        ("mode", "subscription"),
        ("line_items[0][price]", p.price_id),
        ("line_items[0][quantity]", "1"),
        ("success_url", p.success_url),
        ("cancel_url", p.cancel_url),
        ("client_reference_id", p.user_id),
        ("customer_email", p.email),
        ("metadata[user_id]", p.user_id),
        ("metadata[plan]", p.plan),
        ("subscription_data[metadata][user_id]", p.user_id),
        ("subscription_data[metadata][plan]", p.plan),
    ];
    let body = serde_urlencoded::to_string(form).map_err(|e| AppError::Internal(e.into()))?;
    let unavailable =
        || AppError::BillingUnavailable("the payment provider did not answer; try again");
    let client = reqwest::Client::builder()
        .timeout(PROVIDER_TIMEOUT)
        .build()
        .map_err(|e| AppError::Internal(e.into()))?;
    let url = format!("{}/v1/checkout/sessions", p.api_base.trim_end_matches('/'));
    let response = client
        .post(url)
        .bearer_auth(p.secret_key)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "payment provider unreachable");
            unavailable()
        })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        tracing::error!(%status, body = %text.chars().take(500).collect::<String>(), "payment provider refused the checkout session");
        return Err(unavailable());
    }
    response.json::<CheckoutSession>().await.map_err(|e| {
        tracing::error!(error = %e, "payment provider answered an unreadable checkout session");
        unavailable()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_change_does_not() {
        let payload = br#"{"id":"evt_1"}"#;
        let sig = sign("whsec_test", 1_000, payload);
        let header = format!("t=1000,v1={sig}");
        assert!(verify_signature("whsec_test", Some(&header), payload, 1_100).is_ok());
        assert!(verify_signature("whsec_other", Some(&header), payload, 1_100).is_err());
        assert!(verify_signature("whsec_test", Some(&header), b"{}", 1_100).is_err());
        assert!(verify_signature("whsec_test", Some(&header), payload, 1_301).is_err());
        assert!(verify_signature("whsec_test", None, payload, 1_000).is_err());
        assert!(verify_signature("whsec_test", Some("garbage"), payload, 1_000).is_err());
        let two = format!("t=1000,v1=00ff,v1={sig}");
        assert!(verify_signature("whsec_test", Some(&two), payload, 1_000).is_ok());
    }
}
