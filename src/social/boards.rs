//! The friends leaderboards this instance has computed, kept current — so a student who
//! checks how they stand against their friends again and again costs no database round trip,
//! and one whose friend just earned XP costs a lookup of that friend, not the board.
//!
//! A board is keyed by its owner and period, and holds the period's first day (a board of an
//! earlier period is never served). Besides the boards the cache knows, for each user, the
//! owners of the cached boards that name them (an owner is a member of their own board).
//! - When a member's own data changes — their XP, their name, their account — every board
//!   naming them records them as stale ([`member_changed`](FriendsBoards::member_changed)). The
//!   next read of such a board looks up only the stale members' current name and XP, patches
//!   them in and ranks the board again ([`patched`]); more than [`MAX_STALE`] stale members and
//!   it computes the board again instead.
//! - When a friendship begins, changes or ends, who is on the board may change: the boards of
//!   both friends are forgotten ([`friendship_changed`](FriendsBoards::friendship_changed)).
//!
//! Both happen on every instance through the change feed ([`crate::changes`]), whoever wrote,
//! and on this instance at once after a signed-in user's writing request
//! (`me::cache::forget_after_writes`) and after a friendship's change.
//!
//! As with every cache of the feed: a read that began before a change does not store what it
//! read (nor does a patch whose board was marked again meanwhile), the cache is off while polls
//! fail, and a board lives at most [`TTL_SECS`] from its computation, patched or not.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::leaderboard::{LeaderboardEntry, Period, assign_ranks};
use crate::changes::UserCache;
use crate::notified_cache::NotifiedCache;

/// The longest a board is trusted without the feed saying otherwise.
pub const TTL_SECS: i64 = 60;
/// More users named by cached boards than this and the cache starts over (a bound on memory).
const MAX_MEMBERS: usize = 200_000;
/// More stale members than this and a board is computed again rather than patched.
pub const MAX_STALE: usize = 32;

/// A cached board: the period's first day and its entries, ranked.
#[derive(Clone)]
struct Board {
    start: NaiveDate,
    entries: Arc<Vec<LeaderboardEntry>>,
    /// Members whose data changed since their entries were read.
    stale: Vec<Uuid>,
    /// Changes with every change marked on the board, and is never shared by two boards (nor
    /// by one board before and after it was replaced): a patch is stored only over the version
    /// it read.
    version: u64,
}

/// A cached board as a read finds it.
pub enum Cached {
    /// Current: serve it.
    Fresh(Arc<Vec<LeaderboardEntry>>),
    /// These members changed: look them up, [`patched`] them in, and hand the result to
    /// [`FriendsBoards::patch`] with this version.
    Stale {
        entries: Arc<Vec<LeaderboardEntry>>,
        members: Vec<Uuid>,
        version: u64,
    },
}

pub struct FriendsBoards {
    boards: NotifiedCache<(Uuid, Period), Board>,
    /// For each user, the owners of cached boards naming them. A link may outlive its board
    /// (an expired or replaced one): it then only costs a needless forget.
    owners: Mutex<HashMap<Uuid, HashSet<Uuid>>>,
    /// The source of boards' versions.
    versions: AtomicU64,
}

impl FriendsBoards {
    /// Off until the change feed is followed.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            boards: NotifiedCache::new(false, Duration::seconds(TTL_SECS)),
            owners: Mutex::new(HashMap::new()),
            versions: AtomicU64::new(0),
        })
    }

    /// The board of `owner` for the period starting `start`, if cached and not expired, and
    /// whether it needs a patch. `None` also when too many of its members changed.
    pub fn get(
        &self,
        owner: Uuid,
        period: Period,
        start: NaiveDate,
        now: DateTime<Utc>,
    ) -> Option<Cached> {
        let board = self
            .boards
            .get(&(owner, period), now)
            .filter(|b| b.start == start)?;
        match board.stale.len() {
            0 => Some(Cached::Fresh(board.entries)),
            n if n > MAX_STALE => None,
            _ => Some(Cached::Stale {
                entries: board.entries,
                members: board.stale,
                version: board.version,
            }),
        }
    }

    /// Stores a board patched from the one [`get`](Self::get) gave, unless it was marked again
    /// since (`version`) or replaced: the stale members are then current.
    pub fn patch(
        &self,
        owner: Uuid,
        period: Period,
        start: NaiveDate,
        version: u64,
        entries: Arc<Vec<LeaderboardEntry>>,
    ) {
        self.boards.replace(&(owner, period), |b| {
            (b.start == start && b.version == version).then(|| Board {
                start,
                entries,
                stale: Vec::new(),
                version,
            })
        });
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
        let board = Board {
            start,
            entries,
            stale: Vec::new(),
            version: self.new_version(),
        };
        self.boards.put(generation, (owner, period), board, now);
    }

    fn new_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The owners of the boards that may name `member`, with every period: the linked owners
    /// (taken out of the links when `unlink`) and always the member's own boards, so that a
    /// read under way never stores.
    fn keys_naming(&self, member: Uuid, unlink: bool) -> Vec<(Uuid, Period)> {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let mut linked = if unlink {
            owners.remove(&member).unwrap_or_default()
        } else {
            owners.get(&member).cloned().unwrap_or_default()
        };
        drop(owners);
        linked.insert(member);
        linked
            .into_iter()
            .flat_map(|owner| Period::ALL.map(|period| (owner, period)))
            .collect()
    }

    /// The data of `member` (XP, name, account) changed: every board naming them, their own
    /// included, records them as stale.
    pub fn member_changed(&self, member: Uuid) {
        if !self.boards.is_enabled() {
            return;
        }
        let keys = self.keys_naming(member, false);
        self.boards.update_all(&keys, |board| {
            if !board.stale.contains(&member) && board.stale.len() <= MAX_STALE {
                board.stale.push(member);
            }
            board.version = self.new_version();
        });
    }

    /// A friendship of `member` began, changed or ended: forgets every board naming them,
    /// their own included.
    pub fn friendship_changed(&self, member: Uuid) {
        if !self.boards.is_enabled() {
            return;
        }
        let keys = self.keys_naming(member, true);
        self.boards.forget_all(&keys);
    }
}

/// `entries` with the current name and XP of the members in `fresh` (id, name, XP), ranked
/// again: most XP first, then by user id, as the board's statement orders them. Members not on
/// the board are left out (a link can outlive the board that made it).
pub fn patched(
    entries: &[LeaderboardEntry],
    fresh: Vec<(Uuid, String, i64)>,
) -> Vec<LeaderboardEntry> {
    let mut fresh: HashMap<Uuid, (String, i64)> = fresh
        .into_iter()
        .map(|(id, name, xp)| (id, (name, xp)))
        .collect();
    let mut rows: Vec<(Uuid, String, i64)> = entries
        .iter()
        .map(|e| match fresh.remove(&e.user_id) {
            Some((name, xp)) => (e.user_id, name, xp),
            None => (e.user_id, e.full_name.clone(), e.xp),
        })
        .collect();
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    assign_ranks(rows)
}

impl UserCache for FriendsBoards {
    fn forget_user(&self, user_id: Uuid) {
        self.member_changed(user_id);
    }

    fn friendship_changed(&self, user_id: Uuid) {
        FriendsBoards::friendship_changed(self, user_id);
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

    fn is_fresh(cached: Option<Cached>) -> bool {
        matches!(cached, Some(Cached::Fresh(_)))
    }

    #[test]
    fn a_friendship_change_forgets_the_boards_naming_them_and_only_those() {
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
        assert!(is_fresh(boards.get(me, Period::Weekly, start, now)));
        // Not served for another period, nor for another week.
        assert!(boards.get(me, Period::Monthly, start, now).is_none());
        let next_week = start + chrono::Days::new(7);
        assert!(boards.get(me, Period::Weekly, next_week, now).is_none());

        boards.friendship_changed(stranger);
        assert!(is_fresh(boards.get(me, Period::Weekly, start, now)));
        boards.friendship_changed(friend);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
        assert!(is_fresh(boards.get(other, Period::Weekly, start, now)));
    }

    #[test]
    fn a_member_change_makes_the_boards_naming_them_stale_until_patched() {
        let boards = FriendsBoards::new();
        boards.reset(true);
        let now = Utc::now();
        let start = Period::Weekly.start(now);
        let [me, friend, other] = [1, 2, 3].map(Uuid::from_u128);
        let mine = Arc::new(vec![entry(friend, 20), entry(me, 10)]);
        boards.put(boards.generation(), me, Period::Weekly, start, mine, now);
        boards.member_changed(other);
        assert!(is_fresh(boards.get(me, Period::Weekly, start, now)));

        boards.member_changed(friend);
        let Some(Cached::Stale {
            entries,
            members,
            version,
        }) = boards.get(me, Period::Weekly, start, now)
        else {
            panic!("the board should need a patch");
        };
        assert_eq!(members, [friend]);
        let fresh = Arc::new(patched(&entries, vec![(friend, "Friend".into(), 5)]));
        // Marked again meanwhile: the patch is not stored, the board stays stale.
        boards.member_changed(me);
        boards.patch(me, Period::Weekly, start, version, fresh.clone());
        let Some(Cached::Stale {
            members, version, ..
        }) = boards.get(me, Period::Weekly, start, now)
        else {
            panic!("a patch over an older version must not be stored");
        };
        assert_eq!(members, [friend, me]);
        boards.patch(me, Period::Weekly, start, version, fresh.clone());
        match boards.get(me, Period::Weekly, start, now) {
            Some(Cached::Fresh(entries)) => assert_eq!(entries, fresh),
            _ => panic!("the patched board should be current"),
        }
        // Too many stale members: computed again instead.
        for n in 10..10 + MAX_STALE as u128 {
            boards
                .owners
                .lock()
                .unwrap()
                .entry(Uuid::from_u128(n))
                .or_default()
                .insert(me);
            boards.member_changed(Uuid::from_u128(n));
        }
        assert!(matches!(
            boards.get(me, Period::Weekly, start, now),
            Some(Cached::Stale { .. })
        ));
        boards.member_changed(friend);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
    }

    #[test]
    fn a_patch_read_from_a_board_since_replaced_is_not_stored() {
        let boards = FriendsBoards::new();
        boards.reset(true);
        let now = Utc::now();
        let start = Period::Weekly.start(now);
        let [me, friend, newcomer] = [1, 2, 3].map(Uuid::from_u128);
        let old = Arc::new(vec![entry(friend, 20), entry(me, 10)]);
        boards.put(boards.generation(), me, Period::Weekly, start, old, now);
        boards.member_changed(friend);
        let Some(Cached::Stale {
            entries, version, ..
        }) = boards.get(me, Period::Weekly, start, now)
        else {
            panic!("the board should need a patch");
        };
        // Meanwhile a friendship begins: the board is computed again with the newcomer, and
        // a member changes once more.
        boards.friendship_changed(newcomer);
        boards.friendship_changed(me);
        let new = Arc::new(vec![entry(friend, 20), entry(me, 10), entry(newcomer, 5)]);
        boards.put(boards.generation(), me, Period::Weekly, start, new, now);
        boards.member_changed(friend);
        // The patch of the old board must not replace the new one.
        let stale_patch = Arc::new(patched(&entries, vec![(friend, String::new(), 30)]));
        boards.patch(me, Period::Weekly, start, version, stale_patch);
        match boards.get(me, Period::Weekly, start, now) {
            Some(Cached::Stale { entries, .. }) => assert_eq!(entries.len(), 3),
            _ => panic!("the new board should still be there, stale"),
        }
    }

    #[test]
    fn a_patch_ranks_the_board_again_as_the_statement_does() {
        let [a, b, c, d] = [1, 2, 3, 4].map(Uuid::from_u128);
        let board = vec![entry(a, 30), entry(b, 20), entry(c, 20), entry(d, 0)];
        let board = patched(&board, vec![]);
        assert_eq!(
            board.iter().map(|e| e.rank).collect::<Vec<_>>(),
            [1, 2, 2, 4]
        );
        // d overtakes everyone and is renamed; c ties with a; a stranger is not added.
        let stranger = Uuid::from_u128(9);
        let board = patched(
            &board,
            vec![
                (d, "Dee".into(), 40),
                (c, "Cee".into(), 30),
                (stranger, "S".into(), 99),
            ],
        );
        let lines: Vec<_> = board
            .iter()
            .map(|e| (e.rank, e.user_id, e.full_name.as_str(), e.xp))
            .collect();
        assert_eq!(
            lines,
            [
                (1, d, "Dee", 40),
                (2, a, "", 30),
                (2, c, "Cee", 30),
                (4, b, "", 20)
            ]
        );
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
        boards.member_changed(friend);
        let board = Arc::new(vec![entry(friend, 20), entry(me, 10)]);
        boards.put(before, me, Period::Weekly, start, board.clone(), now);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
        boards.put(boards.generation(), me, Period::Weekly, start, board, now);
        assert!(is_fresh(boards.get(me, Period::Weekly, start, now)));
        // Off (the feed is not followed): nothing is served.
        boards.reset(false);
        assert!(boards.get(me, Period::Weekly, start, now).is_none());
    }
}
