//! Covering indexes for the friends leaderboard, which reads, for me and each accepted friend,
//! the friend's id, name and XP of the period: one statement over `friends`, `user_profiles`
//! and `leaderboard_scores` (200 friends: ~600 index lookups).
//!
//! Each lookup used to go through an index and then to the table row: `friends` by
//! requester or addressee alone (status and the other id from the row), `user_profiles` by
//! `user_id` (the name from the row), `leaderboard_scores` by its primary key, whose first
//! columns (period type and start) are the same for every friend and compared as text at each
//! step of the search. Each index here holds all a lookup reads, with the column that tells
//! friends apart first, so a lookup is one index search and SQLite reads no table row (on
//! PostgreSQL an index-only scan where the visibility map allows). The single-column indexes
//! on `friends.requester_id`, `friends.addressee_id` and `leaderboard_scores.user_id` begin
//! the new ones, which serve their lookups too (the foreign keys' cascades among them), so
//! they go.

use sea_orm_migration::prelude::*;

use crate::common::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (new index, table, columns, the index it replaces and that index's columns).
type Replacement = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static [&'static str])>,
);

const INDEXES: &[Replacement] = &[
    (
        "friends_requester_status_addressee_idx",
        "friends",
        &["requester_id", "status", "addressee_id"],
        Some(("friends_requester_id_idx", &["requester_id"])),
    ),
    (
        "friends_addressee_status_requester_idx",
        "friends",
        &["addressee_id", "status", "requester_id"],
        Some(("friends_addressee_id_idx", &["addressee_id"])),
    ),
    (
        "user_profiles_user_id_full_name_idx",
        "user_profiles",
        &["user_id", "full_name"],
        None,
    ),
    (
        "leaderboard_scores_user_period_xp_idx",
        "leaderboard_scores",
        &["user_id", "period_type", "period_start", "xp"],
        Some(("leaderboard_scores_user_id_idx", &["user_id"])),
    ),
];

async fn drop_index(
    manager: &SchemaManager<'_>,
    name: &'static str,
    table: &'static str,
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(table).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns, replaces) in INDEXES {
            index(manager, name, table, columns).await?;
            if let Some((old, _)) = replaces {
                drop_index(manager, old, table).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _, replaces) in INDEXES.iter().rev() {
            if let Some((old, old_columns)) = replaces {
                index(manager, old, table, old_columns).await?;
            }
            drop_index(manager, name, table).await?;
        }
        Ok(())
    }
}
