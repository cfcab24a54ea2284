//! The mastery model's quiz memory (SPEC §3 Mastery).
//!
//! - `topic_progress.quiz_score_avg`: the exponentially weighted moving average of the user's
//!   quiz scores on the topic (0–100), NULL until the first quiz. The model in
//!   `src/mastery/service.rs` blends it with lesson coverage; `mastery_score` alone cannot hold
//!   it, because the stored score mixes both signals and a later bad quiz must pull down the
//!   quiz part only. Recomputing it from `quiz_attempts` on every event would tie mastery to
//!   the order in which the quiz area writes its rows; one column keeps the model's state whole.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::double_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("topic_progress")
                    .add_column(double_null("quiz_score_avg"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("topic_progress")
                    .drop_column("quiz_score_avg")
                    .take(),
            )
            .await
    }
}
