//! SeaORM entities, one file per table and named as the table (docs/DATA_MODEL.md).
//! Only the mapping lives here; behaviour goes in the area modules.
//!
//! A table declares only the relations some query follows (`find_also_related`,
//! `inner_join`), with [`relations!`]; the foreign keys themselves, with their
//! `ON DELETE` rules, are the migrations' (`migration/src`), not the entities'.

/// A table's `Relation` enum and its `Related` impls, one per foreign key a query
/// follows: `Variant: Column -> table` says that this table's `Column` holds an
/// `id` of `table`. The other side of such a link, where a query needs it, is that
/// relation reversed (`super::table::Relation::Variant.def().rev()`).
macro_rules! relations {
    ($($variant:ident: $column:ident -> $table:ident),+ $(,)?) => {
        #[derive(Copy, Clone, Debug, EnumIter)]
        pub enum Relation {
            $($variant,)+
        }

        impl RelationTrait for Relation {
            fn def(&self) -> RelationDef {
                match *self {
                    $(Self::$variant => Entity::belongs_to(super::$table::Entity)
                        .from(Column::$column)
                        .to(super::$table::Column::Id)
                        .into(),)+
                }
            }
        }

        $(impl Related<super::$table::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::$variant.def()
            }
        })+
    };
}

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
pub mod leaderboard_xp_buckets;
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
