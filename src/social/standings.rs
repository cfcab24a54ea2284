//! Every user's XP in the current leaderboard periods, kept in memory by each instance, so
//! that the global board's `me` line (my XP and rank) needs no database round trip while
//! nothing changed.
//!
//! Per period (weekly or monthly, and its start) an instance keeps each user's XP and the
//! number of users per XP value and per [`XP_BUCKET_WIDTH`]-wide bucket, the same counts the
//! database keeps (`leaderboard_xp_counts`, `leaderboard_xp_buckets`): my rank is 1 + the users
//! of the buckets above mine + those of the XP values above mine inside my bucket. A period is
//! read whole in the background after its first global read here (one statement; 100k users
//! take 0.1–0.3 s), and again after [`FIELD_TTL`]; meanwhile its reads ask the database. Each
//! reader's name is read on their first read from memory.
//!
//! Changes arrive as in the other per-instance caches: the change feed (`crate::changes`)
//! names every user whose data any writer changed, within a poll, and this instance's own
//! writing requests name their writer at once (`AppState::forget_user_data`). A named user is
//! *stale*. A read serves from memory only while no user is stale; otherwise it first reads
//! the stale users again — their name and XP in every period kept, one statement — under a
//! lock that one read at a time holds (readers that find it taken go to the database, as does
//! every read while the feed is not followed). So a read sees every change the feed has told,
//! in every user's line, as the database statement would.
//!
//! A read that began before a reset (the feed lost, or too many changes to name) stores
//! nothing: every reset bumps a generation. A stale mark is cleared only by a read of the user
//! that began after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::leaderboard::{Period, XP_BUCKET_WIDTH, members_now};
use crate::changes::UserCache;
use crate::entity::leaderboard_scores;

/// More users than this in one period and it is not kept (a bound on memory: ~100 bytes a
/// user); its reads go to the database.
const MAX_USERS: usize = 1_000_000;
/// More stale users than this and everything kept is read again.
const MAX_STALE: usize = 1_000;
/// More readers' names than this and the names start over.
const MAX_NAMES: usize = 100_000;
/// A period is read whole again after this long: the bound for a change the feed does not
/// name (`leaderboard_scores` written without `xp_logs`, by hand).
const FIELD_TTL: Duration = Duration::from_secs(10 * 60);

/// My line of the global board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mine {
    pub full_name: String,
    pub xp: i64,
    /// How many users have more XP than I (my rank is one more).
    pub above: i64,
}

/// One period's XP: per user, and how many users hold each value and each bucket.
#[derive(Debug, Default)]
struct Field {
    /// When it was read whole.
    read_at: Option<Instant>,
    xp: HashMap<Uuid, i64>,
    counts: BTreeMap<i64, i64>,
    buckets: BTreeMap<i64, i64>,
}

fn add(map: &mut BTreeMap<i64, i64>, key: i64, delta: i64) {
    let n = map.entry(key).or_insert(0);
    *n += delta;
    if *n == 0 {
        map.remove(&key);
    }
}

impl Field {
    /// Sets `user`'s XP (0: no score in the period).
    fn set(&mut self, user: Uuid, xp: i64) {
        let old = if xp > 0 {
            self.xp.insert(user, xp)
        } else {
            self.xp.remove(&user)
        };
        if let Some(old) = old {
            add(&mut self.counts, old, -1);
            add(&mut self.buckets, old / XP_BUCKET_WIDTH, -1);
        }
        if xp > 0 {
            add(&mut self.counts, xp, 1);
            add(&mut self.buckets, xp / XP_BUCKET_WIDTH, 1);
        }
    }

    fn expired(&self) -> bool {
        self.read_at.is_none_or(|at| at.elapsed() >= FIELD_TTL)
    }

    fn xp(&self, user: Uuid) -> i64 {
        self.xp.get(&user).copied().unwrap_or(0)
    }

    /// How many users have more than `xp`.
    fn above(&self, xp: i64) -> i64 {
        let bucket = xp / XP_BUCKET_WIDTH;
        let in_buckets_above: i64 = self.buckets.range(bucket + 1..).map(|(_, n)| n).sum();
        let in_my_bucket: i64 = self
            .counts
            .range(xp + 1..(bucket + 1) * XP_BUCKET_WIDTH)
            .map(|(_, n)| n)
            .sum();
        in_buckets_above + in_my_bucket
    }
}

#[derive(Default)]
struct Inner {
    on: bool,
    generation: u64,
    fields: HashMap<(Period, NaiveDate), Field>,
    /// Stale users, each with the number of the mark that made them so.
    stale: HashMap<Uuid, u64>,
    marks: u64,
    /// The names of the users who read their standing here.
    names: HashMap<Uuid, String>,
    /// The periods being read whole in the background.
    loading: std::collections::HashSet<(Period, NaiveDate)>,
}

impl Inner {
    /// Forgets everything (a read begun before stores nothing), and is on or off.
    fn start_over(&mut self, on: bool) {
        *self = Inner {
            on,
            generation: self.generation + 1,
            ..Inner::default()
        };
    }

    fn mine(&self, period: Period, start: NaiveDate, me: Uuid) -> Option<Mine> {
        let field = self.fields.get(&(period, start)).filter(|f| !f.expired())?;
        let full_name = self.names.get(&me)?.clone();
        let xp = field.xp(me);
        Some(Mine {
            full_name,
            xp,
            above: field.above(xp),
        })
    }
}

/// The current periods' XP of every user (see the module documentation).
#[derive(Default)]
pub struct Standings {
    inner: Mutex<Inner>,
    catching_up: tokio::sync::Mutex<()>,
}

impl Standings {
    /// Off until the change feed is followed.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// My line from memory, if the period is kept, my name known and no user stale.
    pub fn mine(&self, period: Period, start: NaiveDate, me: Uuid) -> Option<Mine> {
        let inner = self.inner();
        if !inner.on || !inner.stale.is_empty() {
            return None;
        }
        inner.mine(period, start, me)
    }

    /// Marks `user` stale: their XP or name may have changed.
    pub fn member_changed(&self, user: Uuid) {
        let mut inner = self.inner();
        if inner.on {
            inner.marks += 1;
            let mark = inner.marks;
            inner.stale.insert(user, mark);
        }
    }

    /// Brings what is kept up to date for my read — the stale users, and me if my name is not
    /// known, read again in every period kept — and gives my line. `None` when another read is
    /// doing so, the feed is not followed, a reset came meanwhile, or the period is not kept
    /// yet (or was kept too long): it is then read whole in the background, and meanwhile the
    /// caller asks the database.
    pub async fn catch_up(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        period: Period,
        start: NaiveDate,
        me: Uuid,
    ) -> Result<Option<Mine>, DbErr> {
        let Ok(one_at_a_time) = self.catching_up.try_lock() else {
            return Ok(None);
        };
        {
            let mut inner = self.inner();
            if !inner.on {
                return Ok(None);
            }
            if inner.stale.len() > MAX_STALE {
                // Names go too: some of the stale users may have been renamed.
                inner.start_over(true);
            }
            let load = inner
                .fields
                .get(&(period, start))
                .is_none_or(Field::expired);
            if load {
                drop((inner, one_at_a_time));
                self.load_in_background(db, period, start);
                return Ok(None);
            }
            if inner.stale.is_empty() && inner.names.contains_key(&me) {
                return Ok(inner.mine(period, start, me));
            }
        }
        if !self.update(db, None, Some(me)).await? {
            return Ok(None);
        }
        // `None` if my account is gone meanwhile: the database read answers for it.
        Ok(self.inner().mine(period, start, me))
    }

    /// Reads the period whole in a task of its own, unless one is doing so already.
    fn load_in_background(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        period: Period,
        start: NaiveDate,
    ) {
        if !self.inner().loading.insert((period, start)) {
            return;
        }
        let (this, db) = (Arc::clone(self), db.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let result = {
                let _one_at_a_time = this.catching_up.lock().await;
                this.update(&db, Some((period, start)), None).await
            };
            this.inner().loading.remove(&(period, start));
            match result {
                Ok(kept) => tracing::info!(
                    period = period.as_str(),
                    %start,
                    kept,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "leaderboard period read into memory"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "reading a leaderboard period into memory failed")
                }
            }
        });
    }

    /// Reads `load` whole (if given), then the stale users and `me` (if given) in every period
    /// kept, and stores what it read unless a reset came meanwhile. Run it holding
    /// `catching_up`. Whether it stored anything.
    async fn update(
        &self,
        conn: &impl ConnectionTrait,
        load: Option<(Period, NaiveDate)>,
        me: Option<Uuid>,
    ) -> Result<bool, DbErr> {
        let (generation, stale, mut kept) = {
            let inner = self.inner();
            if !inner.on {
                return Ok(false);
            }
            let kept: Vec<(Period, NaiveDate)> = inner
                .fields
                .keys()
                .copied()
                .filter(|&key| Some(key) != load)
                .collect();
            let stale: Vec<(Uuid, u64)> = inner.stale.iter().map(|(&u, &m)| (u, m)).collect();
            (inner.generation, stale, kept)
        };
        let loaded = match load {
            Some((period, start)) => {
                let field = read_field(conn, period, start).await?;
                if field.xp.len() > MAX_USERS {
                    return Ok(false);
                }
                kept.push((period, start));
                Some(field)
            }
            None => None,
        };
        let mut ids: Vec<Uuid> = stale.iter().map(|&(u, _)| u).collect();
        if let Some(me) = me
            && !ids.contains(&me)
        {
            ids.push(me);
        }
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            members_now(conn, &kept, &ids).await?
        };

        let mut inner = self.inner();
        if !inner.on || inner.generation != generation {
            return Ok(false);
        }
        let Inner {
            fields,
            names,
            stale: marked,
            ..
        } = &mut *inner;
        if let (Some(field), Some((period, start))) = (loaded, load) {
            // Only the current periods are read: older starts can go.
            fields.retain(|&(p, s), _| p != period || s >= start);
            fields.insert((period, start), field);
        }
        let by_id: HashMap<Uuid, &(Uuid, String, Vec<i64>)> =
            rows.iter().map(|row| (row.0, row)).collect();
        for (i, key) in kept.iter().enumerate() {
            let Some(field) = fields.get_mut(key) else {
                continue;
            };
            for id in &ids {
                // No row: the account is gone, and its scores with it.
                field.set(*id, by_id.get(id).map_or(0, |row| row.2[i]));
            }
        }
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        for id in &ids {
            match by_id.get(id) {
                Some(row) if Some(*id) == me || names.contains_key(id) => {
                    names.insert(*id, row.1.clone());
                }
                Some(_) => {}
                None => {
                    names.remove(id);
                }
            }
        }
        for (user, mark) in stale {
            if marked.get(&user) == Some(&mark) {
                marked.remove(&user);
            }
        }
        Ok(true)
    }
}

/// Every user's XP in the period (those with any).
async fn read_field(
    conn: &impl ConnectionTrait,
    period: Period,
    start: NaiveDate,
) -> Result<Field, DbErr> {
    use leaderboard_scores::{Column, Entity};
    let rows: Vec<(Uuid, i64)> = Entity::find()
        .select_only()
        .column(Column::UserId)
        .column(Column::Xp)
        .filter(Column::PeriodType.eq(period.as_str()))
        .filter(Column::PeriodStart.eq(start))
        .filter(Column::Xp.gt(0))
        .into_tuple()
        .all(conn)
        .await?;
    let mut field = Field {
        read_at: Some(Instant::now()),
        ..Field::default()
    };
    field.xp.reserve(rows.len());
    for (user, xp) in rows {
        field.set(user, xp);
    }
    Ok(field)
}

impl UserCache for Standings {
    fn forget_user(&self, user_id: Uuid) {
        self.member_changed(user_id);
    }

    fn reset(&self, on: bool) {
        self.inner().start_over(on);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// The rank the database statement gives: 1 + the users with more XP.
    fn naive_above(xps: &HashMap<Uuid, i64>, xp: i64) -> i64 {
        xps.values().filter(|&&x| x > xp).count() as i64
    }

    #[test]
    fn ranks_count_the_users_above_across_buckets_and_inside_mine() {
        let mut field = Field::default();
        let mut truth = HashMap::new();
        // Values on both sides of bucket boundaries, ties, and moves up and down.
        let moves = [
            (1, 10),
            (2, 63),
            (3, 64),
            (4, 64),
            (5, 130),
            (6, 1),
            (2, 65),
            (6, 0),
            (7, 128),
            (1, 200),
            (3, 0),
            (8, 127),
        ];
        for (user, xp) in moves {
            field.set(u(user), xp);
            if xp > 0 {
                truth.insert(u(user), xp);
            } else {
                truth.remove(&u(user));
            }
            for probe in [0, 1, 10, 62, 63, 64, 65, 127, 128, 129, 130, 200, 201] {
                assert_eq!(field.above(probe), naive_above(&truth, probe), "xp {probe}");
            }
        }
        assert_eq!(field.xp.len(), truth.len());
        assert_eq!(field.counts.values().sum::<i64>(), truth.len() as i64);
        assert_eq!(field.buckets.values().sum::<i64>(), truth.len() as i64);
        assert!(field.counts.values().all(|&n| n > 0));
    }

    fn kept(on: bool) -> Standings {
        let standings = Standings::default();
        standings.reset(on);
        let mut inner = standings.inner();
        let mut field = Field {
            read_at: Some(Instant::now()),
            ..Field::default()
        };
        field.set(u(1), 50);
        field.set(u(2), 70);
        let start = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        inner.fields.insert((Period::Weekly, start), field);
        inner.names.insert(u(1), "Ada".into());
        drop(inner);
        standings
    }

    #[test]
    fn a_stale_user_anywhere_sends_reads_to_the_database_until_read_again() {
        let start = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let standings = kept(true);
        let mine = standings.mine(Period::Weekly, start, u(1)).expect("kept");
        assert_eq!((mine.xp, mine.above), (50, 1));
        assert_eq!(mine.full_name, "Ada");
        // Another user's change counts too: it may move them past me.
        standings.member_changed(u(2));
        assert_eq!(standings.mine(Period::Weekly, start, u(1)), None);
        // Not kept: another period, an unknown reader, or the feed not followed.
        let standings = kept(true);
        assert!(standings.mine(Period::Monthly, start, u(1)).is_none());
        assert!(standings.mine(Period::Weekly, start, u(2)).is_none());
        assert!(kept(false).mine(Period::Weekly, start, u(1)).is_none());
    }

    #[test]
    fn a_reset_forgets_everything_and_marks_made_while_off_are_not_kept() {
        let start = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let standings = kept(true);
        standings.reset(false);
        standings.member_changed(u(1));
        assert!(standings.inner().stale.is_empty());
        standings.reset(true);
        assert!(standings.mine(Period::Weekly, start, u(1)).is_none());
        assert!(standings.inner().fields.is_empty());
    }
}
