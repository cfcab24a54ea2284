//! Tests of the content area.
