//! The friends leaderboards this instance has computed, kept until one of their members'
//! data changes — so a student who checks how they stand against their friends again and
//! again costs no database round trip.
//!
//! A board is keyed by its owner and period, and holds the period's first day (a board of an
//! earlier period is never served). Besides the boards the cache knows, for each user, the
//! owners of the cached boards that name them. When a user's data changes — their XP, their
//! name, a friendship of theirs, their account — every board naming them is forgotten, their
//! own included (an owner is a member of their own board):
//! - on every instance through the change feed ([`crate::changes`]), whoever wrote;
//! - on this instance at once after a signed-in user's writing request
//!   (`me::cache::forget_after_writes`), and for both friends when a friendship begins or ends.
//!
//! As with every cache of the feed: a read that began before a change does not store what it
//! read, the cache is off while polls fail, and a board lives at most [`TTL_SECS`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::leaderboard::{LeaderboardEntry, Period};
use crate::changes::UserCache;
use crate::notified_cache::NotifiedCache;

/// The longest a board is trusted without the feed saying otherwise.
pub const TTL_SECS: i64 = 60;
/// More users named by cached boards than this and the cache starts over (a bound on memory).
const MAX_MEMBERS: usize = 200_000;

/// A cached board: the period's first day and its entries, ranked.
#[derive(Clone)]
struct Board {
    start: NaiveDate,
    entries: Arc<Vec<LeaderboardEntry>>,
}

pub struct FriendsBoards {
    boards: NotifiedCache<(Uuid, Period), Board>,
    /// For each user, the owners of cached boards naming them. A link may outlive its board
    /// (an expired or replaced one): it then only costs a needless forget.
    owners: Mutex<HashMap<Uuid, HashSet<Uuid>>>,
}

impl FriendsBoards {
    /// Off until the change feed is followed.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            boards: NotifiedCache::new(false, Duration::seconds(TTL_SECS)),
            owners: Mutex::new(HashMap::new()),
        })
    }

    /// The board of `owner` for the period starting `start`, if cached and fresh.
    pub fn get(
        &self,
        owner: Uuid,
        period: Period,
        start: NaiveDate,
        now: DateTime<Utc>,
    ) -> Option<Arc<Vec<LeaderboardEntry>>> {
        self.boards
            .get(&(owner, period), now)
            .filter(|b| b.start == start)
            .map(|b| b.entries)
    }

    /// The generation to pass to [`put`](Self::put) for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.boards.generation()
    }

    /// Stores a board read from the database, unless any user's data was forgotten since
    /// `generation`. Its members are linked to it first, so a forget that comes after the
    /// links finds the board, and one that comes before them refuses it.
    pub fn put(
        &self,
        generation: u64,
        owner: Uuid,
        period: Period,
        start: NaiveDate,
        entries: Arc<Vec<LeaderboardEntry>>,
        now: DateTime<Utc>,
    ) {
        if !self.boards.is_enabled() {
            return;
        }
        {
            let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
            if owners.len() + entries.len() > MAX_MEMBERS {
                // Dropping links would leave boards no forget can find: drop the boards too.
                owners.clear();
                self.boards.forget_where(|_, _| true);
                return;
            }
            for entry in entries.iter() {
                owners.entry(entry.user_id).or_default().insert(owner);
            }
        }
        self.boards
            .put(generation, (owner, period), Board { start, entries }, now);
    }

    /// The data of `member` changed: forgets every board naming them, their own included.
    pub fn forget(&self, member: Uuid) {
        if !self.boards.is_enabled() {
            return;
        }
        let mut stale = self
            .owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&member)
            .unwrap_or_default();
        // Always at least the member's own boards, so that a read under way never stores.
        stale.insert(member);
        let keys: Vec<(Uuid, Period)> = stale
            .into_iter()
            .flat_map(|owner| Period::ALL.map(|period| (owner, period)))
            .collect();
        self.boards.forget_all(&keys);
    }
}

impl UserCache for FriendsBoards {
    fn forget_user(&self, user_id: Uuid) {
        self.forget(user_id);
    }

    fn reset(&self, on: bool) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.clear();
        self.boards.reset(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user_id: Uuid, xp: i64) -> LeaderboardEntry {
        LeaderboardEntry {
            rank: 1,
            user_id,
            full_name: String::new(),
            xp,
        }
    }

    #[test]
    fn a_change_to_any_member_forgets_the_board_and_only_boards_naming_them() {
        let boards = FriendsBoards::new();
        boards.reset(true);
        let now = Utc::now();
        let start = Period::Weekly.start(now);
        let [me, friend, other, stranger] = [1, 2, 3, 4].map(Uuid::from_u128);
        let mine = Arc::new(vec![entry(friend, 20), entry(me, 10)]);
        let theirs = Arc::new(vec![entry(other, 5)]);
        boards.put(boards.generation(), me, Period::Weekly, start, mine, now);
        boards.put(
            boards.generation(),
            other,
            Period::Weekly,
            start,
            theirs,
            now,
        );
        assert!(boards.get(me, Period::Weekly, start, now).is_some());
        // Not served for another period, nor for another week.
        assert!(boards.get(me, Period::Monthly, start, now).is_none());
        let next_week = start + chrono::Days::new(7);
        assert!(boards.get(me, Period::Weekly, next_week, now).is_none());

        boards.forget(stranger);
        assert!(boards.get(me, Period::Weekly, start, now).is_some());
        boards.forget(friend);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
        assert!(boards.get(other, Period::Weekly, start, now).is_some());
    }

    #[test]
    fn a_read_begun_before_a_change_is_not_stored() {
        let boards = FriendsBoards::new();
        boards.reset(true);
        let now = Utc::now();
        let start = Period::Weekly.start(now);
        let [me, friend] = [1, 2].map(Uuid::from_u128);
        let before = boards.generation();
        // The friend's change is seen while my board is being read, before any link exists.
        boards.forget(friend);
        let board = Arc::new(vec![entry(friend, 20), entry(me, 10)]);
        boards.put(before, me, Period::Weekly, start, board.clone(), now);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
        boards.put(boards.generation(), me, Period::Weekly, start, board, now);
        assert!(boards.get(me, Period::Weekly, start, now).is_some());
        // Off (the feed is not followed): nothing is served.
        boards.reset(false);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
    }
}
