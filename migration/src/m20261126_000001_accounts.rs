//! Accounts: who may sign in and how (SPEC §2, docs/DATA_MODEL.md).
//!
//! - `users`, `user_profiles`: the seed tables. E-mail is unique case-insensitively, so it is
//!   stored lower-cased and a CHECK keeps it so; `user_profiles.timezone` (IANA, default UTC)
//!   is added because streaks and "today" are counted in the user's own day.
//! - `auth_sessions`: one sign-in. Access tokens carry its id, so logging out ends them at once.
//! - `refresh_tokens`: hashed, rotated on use; a used token presented again revokes its
//!   session (the refresh family), which is how a stolen token is detected.
//! - `email_tokens`: single-use, hashed, expiring tokens for e-mail verification and password reset.
//! - `rate_limit_buckets`: rate-limit counters every instance shares, keyed by (key, window).
//! - `server_settings`: values all instances must agree on, such as the generated JWT secret.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{drop_tables, fk, id, index, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(id())
                    .col(string("email"))
                    .col(string_null("password_hash"))
                    .col(string("full_name"))
                    .col(string("role").default("student"))
                    .col(boolean("is_active").default(true))
                    .col(boolean("email_verified").default(false))
                    .col(string_null("google_id"))
                    .col(timestamp_with_time_zone_null("last_login_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("users_email_key", &["email"]))
                    .index(&mut unique("users_google_id_key", &["google_id"]))
                    .check((
                        "users_email_lower_check",
                        Expr::col("email").eq(Func::lower(Expr::col("email"))),
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("user_profiles")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(string_null("avatar_url"))
                    .col(text_null("bio"))
                    .col(string_null("grade_level"))
                    .col(string_null("school"))
                    .col(text_null("learning_goals"))
                    .col(json_binary_null("preferred_subjects"))
                    .col(integer("daily_goal_minutes").default(30))
                    .col(string("timezone").default("UTC"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .index(&mut unique("user_profiles_user_id_key", &["user_id"]))
                    .foreign_key(&mut fk(
                        "user_profiles",
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
                    .table("auth_sessions")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(text_null("user_agent"))
                    .col(string_null("ip"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .col(string_null("revoked_reason"))
                    .foreign_key(&mut fk(
                        "auth_sessions",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "auth_sessions_user_id_idx",
            "auth_sessions",
            &["user_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .col(id())
                    .col(uuid("session_id"))
                    .col(uuid("user_id"))
                    .col(string("token_hash"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique(
                        "refresh_tokens_token_hash_key",
                        &["token_hash"],
                    ))
                    .foreign_key(&mut fk(
                        "refresh_tokens",
                        "session_id",
                        "auth_sessions",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "refresh_tokens",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "refresh_tokens_session_id_idx",
            "refresh_tokens",
            &["session_id"],
        )
        .await?;
        index(
            manager,
            "refresh_tokens_user_id_idx",
            "refresh_tokens",
            &["user_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("email_tokens")
                    .col(id())
                    .col(uuid("user_id"))
                    .col(string("purpose"))
                    .col(string("token_hash"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .index(&mut unique("email_tokens_token_hash_key", &["token_hash"]))
                    .foreign_key(&mut fk(
                        "email_tokens",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "email_tokens_user_id_idx",
            "email_tokens",
            &["user_id"],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("rate_limit_buckets")
                    .col(string("key"))
                    .col(timestamp_with_time_zone("window_start"))
                    .col(big_integer("hits"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .primary_key(Index::create().col("key").col("window_start"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("server_settings")
                    .col(string("key").primary_key())
                    .col(text("value"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "server_settings",
                "rate_limit_buckets",
                "email_tokens",
                "refresh_tokens",
                "auth_sessions",
                "user_profiles",
                "users",
            ],
        )
        .await
    }
}
