//! XP totals and the level curve (SPEC §3 XP): level n starts at 50·n·(n−1) XP.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::entity::xp_logs::{Column, Entity};

/// A user's XP: the sum of their `xp_logs`.
pub async fn total_xp(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<i64, DbErr> {
    let stmt = Query::select()
        // The cast keeps the type BIGINT on PostgreSQL, where SUM may widen to NUMERIC.
        .expr(Expr::cust("CAST(COALESCE(SUM(xp_amount), 0) AS BIGINT)"))
        .from(Entity)
        .and_where(Column::UserId.eq(user_id))
        .to_owned();
    match conn.query_one(&stmt).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Ok(0),
    }
}

/// XP at which level `n` starts.
pub fn level_start(level: i32) -> i64 {
    let n = i64::from(level.max(1));
    50 * n * (n - 1)
}

/// The level reached with `xp` points: the largest n with 50·n·(n−1) ≤ xp.
pub fn level_for(xp: i64) -> i32 {
    let xp = xp.max(0);
    // Solve 50n² − 50n − xp = 0, then correct for floating-point rounding.
    let mut n = ((1.0 + (1.0 + 4.0 * xp as f64 / 50.0).sqrt()) / 2.0).floor() as i32;
    while level_start(n + 1) <= xp {
        n += 1;
    }
    while n > 1 && level_start(n) > xp {
        n -= 1;
    }
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_spec_curve() {
        assert_eq!(level_for(0), 1);
        assert_eq!(level_for(99), 1);
        assert_eq!(level_for(100), 2);
        assert_eq!(level_for(299), 2);
        assert_eq!(level_for(300), 3);
        assert_eq!(level_for(600), 4);
        assert_eq!(level_for(599), 3);
        assert_eq!(level_start(10), 4500);
        assert_eq!(level_for(4500), 10);
    }
}
