//! The content rules: admin-only writes, student reads, lesson completion.
