//! The one source of "now" for every rule (STYLE rule 7): the system clock in production,
//! a settable clock in tests so they can walk across midnights and time zones.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    fixed: Option<Arc<RwLock<DateTime<Utc>>>>,
}

impl Clock {
    /// The real clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock that stays at `at` until it is set or advanced.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self {
            fixed: Some(Arc::new(RwLock::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.fixed {
            None => Utc::now(),
            Some(t) => *t.read().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a manual clock to `at`; the system clock ignores it.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(t) = &self.fixed {
            *t.write().unwrap_or_else(|e| e.into_inner()) = at;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.fixed {
            let mut guard = t.write().unwrap_or_else(|e| e.into_inner());
            *guard += by;
        }
    }
}
