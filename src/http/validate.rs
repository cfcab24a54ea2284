//! Field rules shared by the request types of every area (garde custom validators and the
//! serde helper that tells `null` from a missing field).

use serde::{Deserialize, Deserializer};

/// Rejects strings that are empty or only white space.
pub fn not_blank(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() {
        return Err(garde::Error::new("must not be blank"));
    }
    Ok(())
}

/// Accepts only absolute `http` or `https` URLs.
pub fn http_url(value: &str, _: &()) -> garde::Result {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        _ => Err(garde::Error::new("must be an http(s) URL")),
    }
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>` field of a
/// PATCH body: a field left out is `None` (keep), `null` is `Some(None)` (clear), a value is
/// `Some(Some(v))` (set).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
