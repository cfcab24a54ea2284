//! Friends and leaderboards, recommendations, billing and background jobs (SPEC §2, §3).
//!
//! - `friends`: one row per unordered pair of users, whoever asked first (a unique index on
//!   the pair's smaller and larger id), and nobody befriends themselves (CHECK).
//! - `leaderboard_cache`: the precomputed top entries per period; `period_start` is added so
//!   weekly and monthly boards of different periods can coexist.
//! - `user_recommendations`: rule-based suggestions with a priority and an expiry.
//! - `subscriptions`, `payments`: the seed names them as relations of `users`; defined here with
//!   the provider's ids unique, so a replayed provider event cannot create a second row.
//! - `processed_webhook_events`: webhook idempotency, unique (provider, event_id).
//! - `jobs`: background work claimed with a lease (`locked_until`) and retried up to `max_attempts`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::common::{drop_tables, fk, id, index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The one statement whose text differs per backend: an expression index on the unordered
/// pair. PostgreSQL spells it LEAST/GREATEST, SQLite with its multi-argument min/max.
fn friends_pair_key_sql(backend: DbBackend) -> Result<&'static str, DbErr> {
    match backend {
        DbBackend::Postgres => Ok("CREATE UNIQUE INDEX friends_pair_key ON friends \
             (LEAST(requester_id, addressee_id), GREATEST(requester_id, addressee_id))"),
        DbBackend::Sqlite => Ok("CREATE UNIQUE INDEX friends_pair_key ON friends \
             (min(requester_id, addressee_id), max(requester_id, addressee_id))"),
        other => Err(DbErr::Migration(format!(
            "unsupported database backend {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("friends")
                    .col(id())
                    .col(uuid("requester_id"))
                    .col(uuid("addressee_id"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk(
                        "friends",
                        "requester_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "friends",
                        "addressee_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .check((
                        "friends_not_self_check",
                        Expr::col("requester_id").ne(Expr::col("addressee_id")),
                    ))
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(friends_pair_key_sql(manager.get_database_backend())?)
            .await?;
        // The pair index is on expressions, so it does not serve requester_id lookups.
        index(
            manager,
            "friends_requester_id_idx",
            "friends",
            &["requester_id"],
        )
        .await?;
        index(
            manager,
            "friends_addressee_id_idx",
            "friends",
            &["addressee_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("leaderboard_cache")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(string("period_type"))
                    .col(date("period_start"))
                    .col(big_integer("xp"))
                    .col(integer("rank"))
                    .col(timestamp_with_time_zone("generated_at"))
                    .index(&mut unique(
                        "leaderboard_cache_period_user_key",
                        &["period_type", "period_start", "user_id"],
                    ))
                    .foreign_key(&mut fk(
                        "leaderboard_cache",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "leaderboard_cache_user_id_idx",
            "leaderboard_cache",
            &["user_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("user_recommendations")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(string("recommendation_type"))
                    .col(uuid_null("reference_id"))
                    .col(string("title"))
                    .col(text("reason"))
                    .col(integer("priority"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("dismissed_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "user_recommendations",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "user_recommendations_user_expires_idx",
            "user_recommendations",
            &["user_id", "expires_at"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("subscriptions")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(string("plan"))
                    .col(string("status"))
                    .col(string("provider"))
                    .col(string_null("provider_customer_id"))
                    .col(string_null("provider_subscription_id"))
                    .col(timestamp_with_time_zone_null("current_period_start"))
                    .col(timestamp_with_time_zone_null("current_period_end"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("subscriptions_user_id_key", &["user_id"]))
                    .index(&mut unique(
                        "subscriptions_provider_subscription_id_key",
                        &["provider_subscription_id"],
                    ))
                    .foreign_key(&mut fk(
                        "subscriptions",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("payments")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(uuid_null("subscription_id"))
                    .col(big_integer("amount"))
                    .col(string("currency"))
                    .col(string("status"))
                    .col(string("provider_payment_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique(
                        "payments_provider_payment_id_key",
                        &["provider_payment_id"],
                    ))
                    .foreign_key(&mut fk(
                        "payments",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "payments",
                        "subscription_id",
                        "subscriptions",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "payments_user_id_idx", "payments", &["user_id"]).await?;
        index(
            manager,
            "payments_subscription_id_idx",
            "payments",
            &["subscription_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("processed_webhook_events")
                    .col(id())
                    .col(string("provider"))
                    .col(string("event_id"))
                    .col(string("event_type"))
                    .col(timestamp_with_time_zone("processed_at"))
                    .index(&mut unique(
                        "processed_webhook_events_provider_event_key",
                        &["provider", "event_id"],
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("jobs")
                    .col(id())
                    .col(string("kind"))
                    .col(json_binary("payload"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(integer("max_attempts"))
                    .col(timestamp_with_time_zone("run_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(string_null("locked_by"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await?;
        index(
            manager,
            "jobs_status_run_at_idx",
            "jobs",
            &["status", "run_at"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "jobs",
                "processed_webhook_events",
                "payments",
                "subscriptions",
                "user_recommendations",
                "leaderboard_cache",
                "friends",
            ],
        )
        .await
    }
}
