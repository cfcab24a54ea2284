//! Tests of the study area.
