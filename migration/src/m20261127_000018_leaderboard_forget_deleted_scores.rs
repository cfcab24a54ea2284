//! A user's leaderboard scores leave the rank counts with them.
//!
//! `leaderboard_scores` rows go only with their user (`ON DELETE CASCADE` when an account is
//! deleted), and nothing took the user out of `leaderboard_xp_counts` and
//! `leaderboard_xp_buckets`: every deleted account kept counting as a user above the XP it had,
//! so the ranks of everyone below it were too low. A trigger on both backends now takes each
//! deleted score out of its count and its bucket, in the deleting transaction, and the counts
//! are rebuilt once here from the scores that remain.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The two updates, with `OLD` the deleted score (64 is the bucket width of migration 15).
const FORGET: &str = "UPDATE leaderboard_xp_counts SET users = users - 1 \
     WHERE period_type = OLD.period_type AND period_start = OLD.period_start AND xp = OLD.xp; \
     UPDATE leaderboard_xp_buckets SET users = users - 1 \
     WHERE period_type = OLD.period_type AND period_start = OLD.period_start \
       AND bucket = OLD.xp / 64;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(&format!(
                    "CREATE FUNCTION leaderboard_scores_forget() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN {FORGET} RETURN NULL; END $$"
                ))
                .await?;
                conn.execute_unprepared(
                    "CREATE TRIGGER leaderboard_scores_forget AFTER DELETE ON leaderboard_scores \
                     FOR EACH ROW EXECUTE FUNCTION leaderboard_scores_forget()",
                )
                .await?;
            }
            _ => {
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER leaderboard_scores_forget AFTER DELETE ON leaderboard_scores \
                     FOR EACH ROW BEGIN {FORGET} END"
                ))
                .await?;
            }
        }
        // What deleted accounts left behind: rebuild both counts from the scores.
        for sql in [
            "DELETE FROM leaderboard_xp_counts",
            "INSERT INTO leaderboard_xp_counts (period_type, period_start, xp, users) \
             SELECT period_type, period_start, xp, COUNT(*) FROM leaderboard_scores \
             GROUP BY period_type, period_start, xp",
            "DELETE FROM leaderboard_xp_buckets",
            "INSERT INTO leaderboard_xp_buckets (period_type, period_start, bucket, users) \
             SELECT period_type, period_start, xp / 64, COUNT(*) FROM leaderboard_scores \
             GROUP BY period_type, period_start, xp / 64",
        ] {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let drops: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "DROP TRIGGER leaderboard_scores_forget ON leaderboard_scores",
                "DROP FUNCTION leaderboard_scores_forget()",
            ],
            _ => &["DROP TRIGGER leaderboard_scores_forget"],
        };
        for sql in drops {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
