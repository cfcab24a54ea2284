//! Friends (SPEC §3 Friends): requests, accept / decline / cancel, unfriend, the friend list
//! and user search.
//!
//! One `friends` row per unordered pair (the `friends_pair_key` index). Every write locks both
//! users' rows in id order first, so two requests between the same pair — A→B and B→A at the
//! same moment — run one after the other: the second finds the first's row and accepts it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use uuid::Uuid;

use super::model::*;
use crate::accounts::CurrentUser;
use crate::accounts::service::normalize_email;
use crate::entity::{friends, user_profiles, user_streaks, users, xp_logs};
use crate::gamification::achievements::{self, Criteria};
use crate::gamification::xp;
use crate::http::Page;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::{PageParams, encode_cursor, next_page};
use crate::state::AppState;
use crate::{db, ratelimit, study};

/// `friends.status` of a request not yet answered.
pub const PENDING: &str = "pending";
/// `friends.status` of a friendship.
pub const ACCEPTED: &str = "accepted";

/// The most users one search returns.
const SEARCH_DEFAULT_LIMIT: u64 = 20;

/// `GET /users/search?q=`: active users (not me) whose name starts with `q`, or whose email is
/// exactly `q`. Only ids and names are revealed; searches are rate-limited per user, so the
/// endpoint cannot be used to harvest the user base.
pub async fn search_users(
    state: &AppState,
    me: &CurrentUser,
    query: UserSearchQuery,
) -> AppResult<Page<PublicUser>> {
    ratelimit::check(
        state,
        &format!("user-search:user:{}", me.id),
        state.config.rate_limit_user_search_per_user,
    )
    .await?;
    let q = query.q.trim();
    if q.chars().count() < 2 {
        return Err(AppError::invalid("q", "at least 2 characters"));
    }
    let limit = query.limit.unwrap_or(SEARCH_DEFAULT_LIMIT);
    let by_email = users::Column::Email.eq(normalize_email(q));
    let escaped: String = q
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let by_name = Func::lower(Expr::col((
        user_profiles::Entity,
        user_profiles::Column::FullName,
    )))
    .like(LikeExpr::new(format!("{escaped}%")).escape('\\'));
    let rows: Vec<(Uuid, String)> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(user_profiles::Column::FullName)
        .inner_join(user_profiles::Entity)
        .filter(users::Column::IsActive.eq(true))
        .filter(users::Column::Id.ne(me.id))
        .filter(Condition::any().add(by_email).add(by_name))
        .order_by_asc(user_profiles::Column::FullName)
        .order_by_asc(users::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(state.db.read())
        .await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(id, full_name)| PublicUser { id, full_name })
            .collect(),
        next_cursor: None,
    })
}

/// The row of the pair `a`–`b`, in either direction.
async fn pair(
    conn: &impl ConnectionTrait,
    a: Uuid,
    b: Uuid,
) -> Result<Option<friends::Model>, DbErr> {
    friends::Entity::find()
        .filter(friendship_of(a, b))
        .one(conn)
        .await
}

/// Locks both users of a pair, lower id first (no deadlock between A→B and B→A).
async fn lock_pair(conn: &impl ConnectionTrait, a: Uuid, b: Uuid) -> Result<(), DbErr> {
    db::lock_user(conn, Ord::min(a, b)).await?;
    db::lock_user(conn, Ord::max(a, b)).await
}

/// A user's name, for views of the pair.
async fn public_user(conn: &impl ConnectionTrait, id: Uuid) -> Result<PublicUser, DbErr> {
    let name = user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.eq(id))
        .one(conn)
        .await?
        .map(|p| p.full_name)
        .unwrap_or_default();
    Ok(PublicUser {
        id,
        full_name: name,
    })
}

fn view(row: friends::Model, other_user: PublicUser) -> FriendRequestView {
    FriendRequestView {
        id: row.id,
        requester_id: row.requester_id,
        addressee_id: row.addressee_id,
        status: row.status,
        created_at: row.created_at,
        updated_at: row.updated_at,
        other_user,
    }
}

/// Accepts `row` and fires both users' `friends` achievements (in the caller's transaction).
async fn accept_row(
    conn: &impl ConnectionTrait,
    row: friends::Model,
    now: DateTime<Utc>,
) -> Result<friends::Model, DbErr> {
    let (requester, addressee) = (row.requester_id, row.addressee_id);
    let mut active: friends::ActiveModel = row.into();
    active.status = Set(ACCEPTED.into());
    active.updated_at = Set(now);
    let row = active.update(conn).await?;
    achievements::evaluate(conn, requester, &[Criteria::Friends], now).await?;
    achievements::evaluate(conn, addressee, &[Criteria::Friends], now).await?;
    Ok(row)
}

/// Whether the friend request was created (201) or accepted the other's request (200).
pub enum SendOutcome {
    Created(FriendRequestView),
    Accepted(FriendRequestView),
}

/// `POST /friends/requests` (SPEC §3 Friends): a request to an active user by id or exact
/// email; a request to someone who already asked me accepts theirs. No self-requests; a second
/// request of mine, or one to a friend, is a conflict.
pub async fn send_request(
    state: &AppState,
    me: &CurrentUser,
    body: FriendRequestBody,
) -> AppResult<SendOutcome> {
    ratelimit::check(
        state,
        &format!("friend-request:user:{}", me.id),
        state.config.rate_limit_friend_requests_per_user,
    )
    .await?;
    let target = match (body.addressee_id, body.email.as_deref()) {
        (Some(id), None) => {
            users::Entity::find_by_id(id)
                .filter(users::Column::IsActive.eq(true))
                .one(state.db.read())
                .await?
        }
        (None, Some(email)) => {
            users::Entity::find()
                .filter(users::Column::Email.eq(normalize_email(email)))
                .filter(users::Column::IsActive.eq(true))
                .one(state.db.read())
                .await?
        }
        _ => {
            return Err(AppError::invalid(
                "addressee_id",
                "give exactly one of addressee_id and email",
            ));
        }
    }
    .ok_or(AppError::NotFound("user"))?;
    if target.id == me.id {
        return Err(AppError::invalid(
            "addressee_id",
            "you cannot befriend yourself",
        ));
    }
    let now = state.clock.now();
    let tx = state.db.begin_write().await?;
    lock_pair(&tx, me.id, target.id).await?;
    let outcome = match pair(&tx, me.id, target.id).await? {
        Some(row) if row.status == ACCEPTED => {
            return Err(AppError::conflict(
                "already-friends",
                "you are already friends",
            ));
        }
        Some(row) if row.requester_id == me.id => {
            return Err(AppError::conflict(
                "request-exists",
                "you already asked this user",
            ));
        }
        Some(theirs) => {
            let row = accept_row(&tx, theirs, now).await?;
            SendOutcome::Accepted(view(row, public_user(&tx, target.id).await?))
        }
        None => {
            let row = friends::ActiveModel {
                id: Set(Uuid::now_v7()),
                requester_id: Set(me.id),
                addressee_id: Set(target.id),
                status: Set(PENDING.into()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&tx)
            .await?;
            SendOutcome::Created(view(row, public_user(&tx, target.id).await?))
        }
    };
    tx.commit().await?;
    if matches!(outcome, SendOutcome::Accepted(_)) {
        friendship_changed(state, me.id, target.id);
    }
    Ok(outcome)
}

/// After a commit that began or ended the friendship of `a` and `b`: both friends leaderboards
/// change, and this instance forgets them at once (others hear of it through the feed).
fn friendship_changed(state: &AppState, a: Uuid, b: Uuid) {
    state.friend_boards.friendship_changed(a);
    state.friend_boards.friendship_changed(b);
    // Befriending can award either side XP (`friends` achievements).
    state.standings.member_changed(a);
    state.standings.member_changed(b);
}

/// `GET /friends/requests?direction=`: my pending requests, incoming or outgoing, oldest first.
pub async fn list_requests(
    state: &AppState,
    me: &CurrentUser,
    query: FriendRequestListQuery,
) -> AppResult<Page<FriendRequestView>> {
    let direction = query.direction.unwrap_or_default();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let mine = match direction {
        Direction::Incoming => friends::Column::AddresseeId,
        Direction::Outgoing => friends::Column::RequesterId,
    };
    let select = friends::Entity::find()
        .filter(mine.eq(me.id))
        .filter(friends::Column::Status.eq(PENDING));
    let db = state.db.read();
    let (rows, next_cursor) = page_of(db, select, &page).await?;
    let others: Vec<Uuid> = rows.iter().map(|r| other_of(r, me.id)).collect::<Vec<_>>();
    let names = names_of(db, &others).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let other = other_of(&r, me.id);
            let full_name = names.get(&other).cloned().unwrap_or_default();
            view(
                r,
                PublicUser {
                    id: other,
                    full_name,
                },
            )
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// One keyset page of the `friends` rows `select` finds, in id order, and the next page's
/// cursor.
async fn page_of(
    conn: &impl ConnectionTrait,
    select: Select<friends::Entity>,
    page: &PageParams,
) -> AppResult<(Vec<friends::Model>, Option<String>)> {
    let limit = page.limit();
    let mut select = select.order_by_asc(friends::Column::Id);
    if let Some(after) = page.after_id()? {
        select = select.filter(friends::Column::Id.gt(after));
    }
    let mut rows = select.limit(limit + 1).all(conn).await?;
    let next_cursor = next_page(&mut rows, limit, |r| encode_cursor(r.id));
    Ok((rows, next_cursor))
}

fn other_of(row: &friends::Model, me: Uuid) -> Uuid {
    if row.requester_id == me {
        row.addressee_id
    } else {
        row.requester_id
    }
}

/// The names of `ids`, by id.
async fn names_of(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(user_profiles::Entity::find()
        .filter(user_profiles::Column::UserId.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p.full_name))
        .collect())
}

/// A pending request that involves me, or 404 (a stranger's request is invisible).
async fn my_pending_request(
    conn: &impl ConnectionTrait,
    me: Uuid,
    id: Uuid,
) -> Result<friends::Model, AppError> {
    friends::Entity::find_by_id(id)
        .filter(friends::Column::Status.eq(PENDING))
        .filter(
            Condition::any()
                .add(friends::Column::RequesterId.eq(me))
                .add(friends::Column::AddresseeId.eq(me)),
        )
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("friend request"))
}

/// `POST /friends/requests/{id}/accept`: only the addressee accepts.
pub async fn accept_request(
    state: &AppState,
    me: &CurrentUser,
    id: Uuid,
) -> AppResult<FriendRequestView> {
    let now = state.clock.now();
    let row = my_pending_request(state.db.read(), me.id, id).await?;
    if row.addressee_id != me.id {
        return Err(AppError::Forbidden(
            "only the addressee may accept a friend request",
        ));
    }
    let tx = state.db.begin_write().await?;
    lock_pair(&tx, row.requester_id, row.addressee_id).await?;
    // Read again under the locks: it may have been cancelled meanwhile.
    let row = my_pending_request(&tx, me.id, id).await?;
    let requester = row.requester_id;
    let row = accept_row(&tx, row, now).await?;
    let other = public_user(&tx, requester).await?;
    tx.commit().await?;
    friendship_changed(state, requester, me.id);
    Ok(view(row, other))
}

/// `DELETE /friends/requests/{id}`: the addressee declines, or the requester cancels.
pub async fn delete_request(state: &AppState, me: &CurrentUser, id: Uuid) -> AppResult<()> {
    let res = friends::Entity::delete_many()
        .filter(friends::Column::Id.eq(id))
        .filter(friends::Column::Status.eq(PENDING))
        .filter(
            Condition::any()
                .add(friends::Column::RequesterId.eq(me.id))
                .add(friends::Column::AddresseeId.eq(me.id)),
        )
        .exec(state.db.write())
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::NotFound("friend request"));
    }
    Ok(())
}

/// `DELETE /friends/{user_id}`: either friend ends the friendship.
pub async fn unfriend(state: &AppState, me: &CurrentUser, other: Uuid) -> AppResult<()> {
    let res = friends::Entity::delete_many()
        .filter(friends::Column::Status.eq(ACCEPTED))
        .filter(friendship_of(me.id, other))
        .exec(state.db.write())
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::NotFound("friend"));
    }
    friendship_changed(state, me.id, other);
    Ok(())
}

/// The row of the pair `a`–`b`, whichever of them asked.
fn friendship_of(a: Uuid, b: Uuid) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(friends::Column::RequesterId.eq(a))
                .add(friends::Column::AddresseeId.eq(b)),
        )
        .add(
            Condition::all()
                .add(friends::Column::RequesterId.eq(b))
                .add(friends::Column::AddresseeId.eq(a)),
        )
}

/// `GET /friends`: my friends with their XP, level and streak as shown today.
pub async fn list_friends(
    state: &AppState,
    me: &CurrentUser,
    page: PageParams,
) -> AppResult<Page<FriendView>> {
    let select = friends::Entity::find()
        .filter(friends::Column::Status.eq(ACCEPTED))
        .filter(
            Condition::any()
                .add(friends::Column::RequesterId.eq(me.id))
                .add(friends::Column::AddresseeId.eq(me.id)),
        );
    let db = state.db.read();
    let (rows, next_cursor) = page_of(db, select, &page).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| other_of(r, me.id)).collect();
    let profiles = rows_of_users(db, &ids, user_profiles::Column::UserId, |p| p.user_id).await?;
    let streaks = rows_of_users(db, &ids, user_streaks::Column::UserId, |s| s.user_id).await?;
    let xp_totals = xp_totals(db, &ids).await?;
    let now = state.clock.now();
    let items = rows
        .iter()
        .map(|r| {
            let id = other_of(r, me.id);
            let profile = profiles.get(&id);
            let tz = profile
                .and_then(|p| p.timezone.parse().ok())
                .unwrap_or(chrono_tz::UTC);
            let total_xp = xp_totals.get(&id).copied().unwrap_or(0);
            FriendView {
                user_id: id,
                full_name: profile.map(|p| p.full_name.clone()).unwrap_or_default(),
                total_xp,
                level: xp::level_for(total_xp),
                current_streak: study::streaks::displayed_current(streaks.get(&id), tz, now),
                friends_since: r.updated_at,
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// The rows of the users `ids` in a table with one row per user, by user id: `user_id` is its
/// user column, `user_of` reads it from a row.
async fn rows_of_users<C>(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    user_id: C,
    user_of: impl Fn(&Row<C>) -> Uuid,
) -> Result<HashMap<Uuid, Row<C>>, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait,
{
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(C::EntityName::find()
        .filter(user_id.is_in(ids.iter().copied()))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (user_of(&row), row))
        .collect())
}

/// A row of the table `C` is a column of.
type Row<C> = <<C as ColumnTrait>::EntityName as EntityTrait>::Model;

/// The XP totals of `ids` in one grouped query.
async fn xp_totals(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, i64>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = xp_logs::Entity::find()
        .select_only()
        .column(xp_logs::Column::UserId)
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(xp_logs.xp_amount), 0) AS BIGINT)"),
            "total",
        )
        .filter(xp_logs::Column::UserId.is_in(ids.iter().copied()))
        .group_by(xp_logs::Column::UserId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}
