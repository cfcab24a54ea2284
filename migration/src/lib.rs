//! The Studium schema, one migration per step (docs/DATA_MODEL.md is the contract).
//! Each migration's first lines say why it adds what it adds.

pub use sea_orm_migration::prelude::*;

mod common;
mod m20261126_000001_accounts;
mod m20261126_000002_content;
mod m20261126_000003_study_gamification;
mod m20261126_000004_ai;
mod m20261126_000005_social_billing_jobs;
mod m20261126_000006_mastery;
mod m20261126_000007_seed_names;
mod m20261126_000008_checks;
mod m20261126_000009_lesson_passages;
mod m20261126_000010_ai_usage_control;
mod m20261126_000011_job_queue;
mod m20261126_000012_material_search;
mod m20261126_000013_social;
mod m20261126_000014_billing;
mod m20261127_000015_leaderboard_xp_buckets;
mod m20261127_000016_leaderboard_friends_indexes;
mod m20261127_000017_me_changes;
mod m20261127_000018_leaderboard_forget_deleted_scores;
mod m20261127_000019_change_feed;
mod m20261127_000020_change_kinds;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_accounts::Migration),
            Box::new(m20261126_000002_content::Migration),
            Box::new(m20261126_000003_study_gamification::Migration),
            Box::new(m20261126_000004_ai::Migration),
            Box::new(m20261126_000005_social_billing_jobs::Migration),
            Box::new(m20261126_000006_mastery::Migration),
            Box::new(m20261126_000007_seed_names::Migration),
            Box::new(m20261126_000008_checks::Migration),
            Box::new(m20261126_000009_lesson_passages::Migration),
            Box::new(m20261126_000010_ai_usage_control::Migration),
            Box::new(m20261126_000011_job_queue::Migration),
            Box::new(m20261126_000012_material_search::Migration),
            Box::new(m20261126_000013_social::Migration),
            Box::new(m20261126_000014_billing::Migration),
            Box::new(m20261127_000015_leaderboard_xp_buckets::Migration),
            Box::new(m20261127_000016_leaderboard_friends_indexes::Migration),
            Box::new(m20261127_000017_me_changes::Migration),
            Box::new(m20261127_000018_leaderboard_forget_deleted_scores::Migration),
            Box::new(m20261127_000019_change_feed::Migration),
            Box::new(m20261127_000020_change_kinds::Migration),
        ]
    }
}
