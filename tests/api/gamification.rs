//! Tests of the gamification area.
