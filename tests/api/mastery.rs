//! Tests of the mastery area.
