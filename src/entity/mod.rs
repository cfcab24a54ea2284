//! SeaORM entities, one file per table and named as the table (docs/DATA_MODEL.md).
//! Only the mapping lives here; behaviour goes in the area modules.

pub mod prelude;

pub mod achievements;
pub mod ai_usage_counters;
pub mod ai_usage_logs;
pub mod auth_sessions;
pub mod doubt_messages;
pub mod doubt_sessions;
pub mod email_tokens;
pub mod friends;
pub mod jobs;
pub mod leaderboard_cache;
pub mod leaderboard_scores;
pub mod leaderboard_xp_counts;
pub mod lesson_passages;
pub mod lesson_progress;
pub mod lessons;
pub mod material_chunks;
pub mod materials;
pub mod numeric;
pub mod payments;
pub mod processed_webhook_events;
pub mod quiz_attempts;
pub mod quiz_questions;
pub mod quizzes;
pub mod rate_limit_buckets;
pub mod refresh_tokens;
pub mod server_settings;
pub mod study_sessions;
pub mod subjects;
pub mod subscriptions;
pub mod topic_progress;
pub mod topics;
pub mod user_achievements;
pub mod user_profiles;
pub mod user_recommendations;
pub mod user_streaks;
pub mod users;
pub mod xp_logs;
