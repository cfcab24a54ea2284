//! `POST /billing/webhook`: the provider's signed events into `subscriptions` and `payments`.
//! Each event id is recorded in `processed_webhook_events` by `INSERT … ON CONFLICT DO
//! NOTHING` in the same transaction as its effect, so a redelivery (even ten at once) has one
//! effect. An event older than the one that last set a subscription changes nothing.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::model::{WebhookAck, WebhookEvent};
use super::service::{CURRENT_STATUSES, PROVIDER_STRIPE, end_current};
use super::stripe;
use crate::entity::{payments, processed_webhook_events, subscriptions, users};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;

/// Verifies and applies one delivery.
pub async fn handle(
    state: &AppState,
    signature: Option<&str>,
    payload: &[u8],
) -> AppResult<WebhookAck> {
    let secret = state
        .config
        .webhook_secret()
        .ok_or(AppError::BillingUnavailable(
            "payments are not set up on this server",
        ))?;
    let now = state.clock.now();
    stripe::verify_signature(secret, signature, payload, now.timestamp())?;
    let event: WebhookEvent = serde_json::from_slice(payload)
        .map_err(|e| AppError::BadRequest(format!("not a provider event: {e}")))?;
    let event_at = Utc
        .timestamp_opt(event.created, 0)
        .single()
        .ok_or_else(|| AppError::BadRequest("the event's `created` is out of range".into()))?;

    let txn = state.db.begin_write().await?;
    let inserted =
        processed_webhook_events::Entity::insert(processed_webhook_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            provider: Set(PROVIDER_STRIPE.into()),
            event_id: Set(event.id.clone()),
            event_type: Set(event.type_.clone()),
            processed_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                processed_webhook_events::Column::Provider,
                processed_webhook_events::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(WebhookAck { processed: false });
    }
    let object = &event.data.object;
    match event.type_.as_str() {
        "checkout.session.completed" => checkout_completed(&txn, object, event_at, now).await?,
        "customer.subscription.created" | "customer.subscription.updated" => {
            subscription_changed(&txn, object, event_at, now, false).await?
        }
        "customer.subscription.deleted" => {
            subscription_changed(&txn, object, event_at, now, true).await?
        }
        "invoice.paid" | "invoice.payment_succeeded" => {
            invoice(&txn, object, event_at, "paid").await?
        }
        "invoice.payment_failed" => invoice(&txn, object, event_at, "failed").await?,
        other => {
            tracing::info!(event_type = %other, event_id = %event.id, "webhook event type not handled")
        }
    }
    txn.commit().await?;
    Ok(WebhookAck { processed: true })
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn unix(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    let secs = v.get(key).and_then(Value::as_i64).or_else(|| {
        // Newer API versions keep the period on the subscription's items.
        v.pointer("/items/data/0")
            .and_then(|item| item.get(key))
            .and_then(Value::as_i64)
    })?;
    Utc.timestamp_opt(secs, 0).single()
}

/// The user an object names in its metadata, when that user still exists.
async fn user_named(
    txn: &DatabaseTransaction,
    candidates: &[Option<&str>],
) -> Result<Option<Uuid>, sea_orm::DbErr> {
    for id in candidates.iter().flatten() {
        if let Ok(id) = Uuid::parse_str(id)
            && users::Entity::find_by_id(id).one(txn).await?.is_some()
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

async fn by_provider_id(
    txn: &impl ConnectionTrait,
    provider_subscription_id: &str,
) -> Result<Option<subscriptions::Model>, sea_orm::DbErr> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::ProviderSubscriptionId.eq(provider_subscription_id))
        .one(txn)
        .await
}

/// Writes the state an event gives a subscription, unless a newer event has set it already.
#[allow(clippy::too_many_arguments)]
async fn upsert_subscription(
    txn: &DatabaseTransaction,
    existing: Option<subscriptions::Model>,
    user_id: Uuid,
    provider_subscription_id: &str,
    customer: Option<&str>,
    plan: &str,
    status: &str,
    period: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    event_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    if let Some(row) = &existing
        && row.provider_event_at.is_some_and(|last| last > event_at)
    {
        tracing::info!(subscription = %provider_subscription_id, "older webhook event ignored");
        return Ok(());
    }
    if CURRENT_STATUSES.contains(&status) {
        end_current(txn, user_id, existing.as_ref().map(|r| r.id), now).await?;
    }
    match existing {
        Some(row) => {
            let mut active: subscriptions::ActiveModel = row.clone().into();
            active.plan = Set(plan.into());
            active.status = Set(status.into());
            if row.provider_customer_id.is_none() {
                active.provider_customer_id = Set(customer.map(String::from));
            }
            if period.0.is_some() {
                active.current_period_start = Set(period.0);
            }
            if period.1.is_some() {
                active.current_period_end = Set(period.1);
            }
            active.provider_event_at = Set(Some(event_at));
            active.updated_at = Set(now);
            active.update(txn).await?;
        }
        None => {
            subscriptions::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user_id),
                plan: Set(plan.into()),
                status: Set(status.into()),
                provider: Set(PROVIDER_STRIPE.into()),
                provider_customer_id: Set(customer.map(String::from)),
                provider_subscription_id: Set(Some(provider_subscription_id.into())),
                current_period_start: Set(period.0),
                current_period_end: Set(period.1),
                provider_event_at: Set(Some(event_at)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}

/// A paid checkout: the subscription it started is active (unless a newer event said otherwise).
async fn checkout_completed(
    txn: &DatabaseTransaction,
    session: &Value,
    event_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let Some(sub_id) = text(session, &["subscription"]) else {
        tracing::warn!("checkout completed without a subscription; ignored");
        return Ok(());
    };
    let existing = by_provider_id(txn, sub_id).await?;
    if existing.is_some() {
        // The subscription's own events are the authority on its state.
        return Ok(());
    }
    let Some(user_id) = user_named(
        txn,
        &[
            text(session, &["client_reference_id"]),
            text(session, &["metadata", "user_id"]),
        ],
    )
    .await?
    else {
        tracing::warn!(subscription = %sub_id, "checkout for an unknown user; ignored");
        return Ok(());
    };
    let plan = text(session, &["metadata", "plan"]).unwrap_or("pro");
    upsert_subscription(
        txn,
        None,
        user_id,
        sub_id,
        text(session, &["customer"]),
        plan,
        "active",
        (None, None),
        event_at,
        now,
    )
    .await
}

async fn subscription_changed(
    txn: &DatabaseTransaction,
    sub: &Value,
    event_at: DateTime<Utc>,
    now: DateTime<Utc>,
    deleted: bool,
) -> Result<(), sea_orm::DbErr> {
    let Some(sub_id) = text(sub, &["id"]) else {
        tracing::warn!("subscription event without an id; ignored");
        return Ok(());
    };
    let existing = by_provider_id(txn, sub_id).await?;
    let user_id = match &existing {
        Some(row) => Some(row.user_id),
        None => user_named(txn, &[text(sub, &["metadata", "user_id"])]).await?,
    };
    let Some(user_id) = user_id else {
        tracing::warn!(subscription = %sub_id, "subscription of an unknown user; ignored");
        return Ok(());
    };
    let status = if deleted {
        "canceled"
    } else {
        text(sub, &["status"]).unwrap_or("active")
    };
    let plan = text(sub, &["metadata", "plan"])
        .or(existing.as_ref().map(|r| r.plan.as_str()))
        .unwrap_or("pro")
        .to_string();
    upsert_subscription(
        txn,
        existing,
        user_id,
        sub_id,
        text(sub, &["customer"]),
        &plan,
        status,
        (
            unix(sub, "current_period_start"),
            unix(sub, "current_period_end"),
        ),
        event_at,
        now,
    )
    .await
}

/// An invoice paid or failed becomes a payment of its subscription's user. A payment once
/// `paid` stays paid (a late failure notice of an earlier attempt changes nothing).
async fn invoice(
    txn: &DatabaseTransaction,
    inv: &Value,
    event_at: DateTime<Utc>,
    status: &str,
) -> Result<(), sea_orm::DbErr> {
    let Some(invoice_id) = text(inv, &["id"]) else {
        tracing::warn!("invoice event without an id; ignored");
        return Ok(());
    };
    let sub_id = text(inv, &["subscription"])
        .or_else(|| text(inv, &["parent", "subscription_details", "subscription"]));
    let subscription = match sub_id {
        Some(id) => by_provider_id(txn, id).await?,
        None => None,
    };
    let user_id = match &subscription {
        Some(row) => Some(row.user_id),
        None => {
            user_named(
                txn,
                &[
                    text(inv, &["subscription_details", "metadata", "user_id"]),
                    text(
                        inv,
                        &["parent", "subscription_details", "metadata", "user_id"],
                    ),
                    text(inv, &["metadata", "user_id"]),
                ],
            )
            .await?
        }
    };
    let Some(user_id) = user_id else {
        tracing::warn!(invoice = %invoice_id, "invoice of an unknown user; ignored");
        return Ok(());
    };
    let amount_key = if status == "paid" {
        "amount_paid"
    } else {
        "amount_due"
    };
    let amount = inv.get(amount_key).and_then(Value::as_i64).unwrap_or(0);
    let currency = text(inv, &["currency"]).unwrap_or("usd").to_lowercase();
    let existing = payments::Entity::find()
        .filter(payments::Column::ProviderPaymentId.eq(invoice_id))
        .one(txn)
        .await?;
    match existing {
        Some(row) if row.status == "paid" => {}
        Some(row) => {
            let mut active: payments::ActiveModel = row.into();
            active.status = Set(status.into());
            active.amount = Set(amount);
            active.update(txn).await?;
        }
        None => {
            payments::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(user_id),
                subscription_id: Set(subscription.map(|s| s.id)),
                amount: Set(amount),
                currency: Set(currency),
                status: Set(status.into()),
                provider_payment_id: Set(invoice_id.into()),
                created_at: Set(event_at),
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(())
}
