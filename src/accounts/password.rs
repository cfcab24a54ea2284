//! Passwords (SPEC §3 Accounts): argon2id hashes computed off the async runtime, and the
//! strength rule — 8 to 128 characters, and not a common or easily guessed password
//! (zxcvbn's offline dictionaries of common passwords, names and words).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::http::error::{AppError, FieldError};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Checks length and guessability; `field` names the request field in the error.
pub fn check_strength(field: &str, password: &str, user_inputs: &[&str]) -> Result<(), AppError> {
    let len = password.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(AppError::Validation(vec![FieldError::new(
            field,
            format!("must be between {MIN_LEN} and {MAX_LEN} characters"),
        )]));
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if entropy.score() < zxcvbn::Score::Two {
        let hint = entropy
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(AppError::Validation(vec![FieldError::new(
            field,
            format!(
                "this password is too common or too easy to guess{hint}; choose a longer, less predictable one"
            ),
        )]));
    }
    Ok(())
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// True when `password` matches the stored PHC string; a malformed hash never matches.
pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return Ok(false);
        };
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}
