//! Plans, a user's subscription and payments, checkout, and the admin's grant of a plan.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::model::*;
use super::stripe;
use crate::accounts::CurrentUser;
use crate::ai::usage::{Limits, Plan, plan_of};
use crate::config::Config;
use crate::entity::{payments, subscriptions, users};
use crate::http::error::{AppError, AppResult};
use crate::materials::service::storage_quota;
use crate::state::AppState;

/// Statuses of a current subscription; at most one per user (`subscriptions_one_current_key`).
pub const CURRENT_STATUSES: [&str; 3] = ["active", "trialing", "past_due"];
pub const PROVIDER_STRIPE: &str = "stripe";
pub const PROVIDER_MANUAL: &str = "manual";

/// The plans with their prices and allowances, from the configuration.
pub fn plans(config: &Config) -> PlansResponse {
    let view = |plan: Plan, price_cents: u64| {
        let limits = Limits::of(config, plan);
        PlanView {
            id: plan,
            price_cents,
            currency: config.plan_currency.clone(),
            interval: "month",
            doubt_per_day: limits.doubt_per_day,
            quiz_per_day: limits.quiz_per_day,
            material_per_day: limits.material_per_day,
            monthly_ai_cost_cap_usd: limits.monthly_cost_cap.to_string(),
            storage_bytes: storage_quota(config, plan),
        }
    };
    PlansResponse {
        plans: vec![
            view(Plan::Free, 0),
            view(Plan::Pro, config.plan_pro_price_cents),
        ],
    }
}

/// The user's plan now and their current subscription (or, when none is current, the latest).
pub async fn my_subscription(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<MySubscription> {
    let plan = plan_of(conn, user_id, now).await?;
    let current = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user_id))
        .filter(subscriptions::Column::Status.is_in(CURRENT_STATUSES))
        .one(conn)
        .await?;
    let subscription = match current {
        Some(s) => Some(s),
        None => {
            subscriptions::Entity::find()
                .filter(subscriptions::Column::UserId.eq(user_id))
                .order_by_desc(subscriptions::Column::UpdatedAt)
                .order_by_desc(subscriptions::Column::Id)
                .one(conn)
                .await?
        }
    };
    Ok(MySubscription {
        plan,
        subscription: subscription.map(Into::into),
    })
}

/// The user's payments, newest first.
pub async fn my_payments(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> AppResult<PaymentsResponse> {
    let rows = payments::Entity::find()
        .filter(payments::Column::UserId.eq(user_id))
        .order_by_desc(payments::Column::CreatedAt)
        .order_by_desc(payments::Column::Id)
        .all(conn)
        .await?;
    Ok(PaymentsResponse {
        payments: rows.into_iter().map(Into::into).collect(),
    })
}

/// SPEC §3 "Payments": a hosted checkout session at the provider for the pro plan. 503
/// `billing-unavailable` when no provider is configured; 409 `already-subscribed` on pro.
pub async fn checkout(
    state: &AppState,
    user: &CurrentUser,
    req: CheckoutRequest,
) -> AppResult<CheckoutSession> {
    let config = &state.config;
    let (Some(api_base), Some(secret_key), Some(price_id)) = (
        config.stripe_api_base.as_deref(),
        config.stripe_secret_key.as_deref(),
        config.stripe_price_pro.as_deref(),
    ) else {
        return Err(AppError::BillingUnavailable(
            "payments are not set up on this server",
        ));
    };
    let now = state.clock.now();
    if plan_of(state.db.read(), user.id, now).await? == Plan::Pro {
        return Err(AppError::conflict(
            "already-subscribed",
            "you are on the pro plan already",
        ));
    }
    let account = users::Entity::find_by_id(user.id)
        .one(state.db.read())
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let base = config.public_url.trim_end_matches('/');
    let success_url = format!("{base}/?checkout=success");
    let cancel_url = format!("{base}/?checkout=cancelled");
    let user_id = user.id.to_string();
    stripe::create_checkout_session(stripe::CheckoutParams {
        api_base,
        secret_key,
        price_id,
        plan: &req.plan,
        user_id: &user_id,
        email: &account.email,
        success_url: &success_url,
        cancel_url: &cancel_url,
    })
    .await
}

/// Ends every current subscription of `user_id` except `keep` (so a new one can become
/// current: at most one is, by a partial unique index).
pub async fn end_current(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let mut update = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::Status, Expr::value("canceled"))
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now))
        .filter(subscriptions::Column::UserId.eq(user_id))
        .filter(subscriptions::Column::Status.is_in(CURRENT_STATUSES));
    if let Some(keep) = keep {
        update = update.filter(subscriptions::Column::Id.ne(keep));
    }
    update.exec(conn).await?;
    Ok(())
}

/// An admin grants a plan by hand: `pro` ends any current subscription and starts a manual one
/// (until `current_period_end`, or open-ended); `free` ends the current one. Takes effect on
/// the user's next request; logged with the admin's id.
pub async fn grant_plan(
    state: &AppState,
    admin: &CurrentUser,
    user_id: Uuid,
    req: GrantPlanRequest,
) -> AppResult<MySubscription> {
    let now = state.clock.now();
    if let Some(end) = req.current_period_end
        && end <= now
    {
        return Err(AppError::invalid(
            "current_period_end",
            "must be in the future",
        ));
    }
    let txn = state.db.begin_write().await?;
    users::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    end_current(&txn, user_id, None, now).await?;
    if req.plan == "pro" {
        subscriptions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            plan: Set("pro".into()),
            status: Set("active".into()),
            provider: Set(PROVIDER_MANUAL.into()),
            provider_customer_id: Set(None),
            provider_subscription_id: Set(None),
            current_period_start: Set(Some(now)),
            current_period_end: Set(req.current_period_end),
            provider_event_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
    }
    let view = my_subscription(&txn, user_id, now).await?;
    txn.commit().await?;
    tracing::info!(
        admin_id = %admin.id,
        user_id = %user_id,
        plan = %req.plan,
        until = ?req.current_period_end,
        "plan granted by an admin"
    );
    Ok(view)
}
