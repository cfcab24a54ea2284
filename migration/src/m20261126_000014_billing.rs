//! Out-of-order webhooks: the payment provider may deliver a subscription's events in any
//! order, so each subscription remembers the creation time of the provider event that last set
//! its state (`provider_event_at`); an event older than that is recorded but changes nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .add_column(timestamp_with_time_zone_null("provider_event_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .drop_column("provider_event_at")
                    .take(),
            )
            .await
    }
}
