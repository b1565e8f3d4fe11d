//! The sync job for one gateway subscription: fetch its current state from the gateway,
//! decide, make the one AURA call needed, record the result.

use chrono::Utc;
use tracing::{info, instrument, warn};

use super::{
    SyncContext,
    decide::{AuraView, Decision, GatewayView, decide},
};
use crate::{
    aura::{AuraError, AuraSubscription, NewSubscription},
    domain::{CustomerId, PlanKind},
    gateway::{GatewayError, GatewaySubscription},
    store::{AuraState, Change, GatewayFacts, NewAction, SubscriptionRow, from_ms, now_ms, to_ms},
};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Worth another attempt later: AURA or the gateway unreachable, or the event cannot be
    /// tied to a customer yet.
    #[error("{0}")]
    Retryable(String),
    /// Needs a person: configuration or data AURA refuses.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Retryable(format!("database: {e}"))
    }
}

impl From<GatewayError> for SyncError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Transient(_) => SyncError::Retryable(format!("gateway: {e}")),
            _ => SyncError::Permanent(format!("gateway: {e}")),
        }
    }
}

impl From<AuraError> for SyncError {
    fn from(e: AuraError) -> Self {
        if e.is_retryable() {
            SyncError::Retryable(format!("AURA: {e}"))
        } else {
            SyncError::Permanent(format!("AURA: {e}"))
        }
    }
}

/// Converges the AURA subscription of one gateway subscription. Safe to run any number of
/// times: with AURA already matching it makes no call.
#[instrument(skip_all, fields(subscription = %gateway_subscription_id))]
pub async fn sync_subscription(
    ctx: &SyncContext,
    gateway_subscription_id: &str,
) -> Result<Decision, SyncError> {
    let started = now_ms();
    let gs = match ctx.gateway.subscription(gateway_subscription_id).await {
        Ok(gs) => gs,
        // An event naming a subscription the gateway never had (and so neither have we):
        // nothing to converge, and nothing an operator could act on.
        Err(GatewayError::NotFound)
            if ctx
                .store
                .subscription(gateway_subscription_id)
                .await?
                .is_none() =>
        {
            warn!(
                "the gateway does not know this subscription, nor does the store: nothing to sync"
            );
            ctx.store
                .mark_events_processed(gateway_subscription_id, started)
                .await?;
            return Ok(Decision::Nothing("no such subscription at the gateway"));
        }
        Err(e) => return Err(e.into()),
    };
    let row = record_gateway_state(ctx, &gs).await?;

    // A refusal the store can put right (a subscription AURA lost, a dependant AURA will not
    // take) is put right and decided again at once, a bounded number of times.
    let mut decision = apply(ctx, &gs, &row).await;
    for _ in 0..DECIDE_AGAIN_LIMIT {
        match &decision {
            Err(SyncError::Retryable(why)) if why.starts_with(DECIDE_AGAIN) => {}
            _ => break,
        }
        let row = ctx
            .store
            .subscription(gateway_subscription_id)
            .await?
            .ok_or_else(|| SyncError::Retryable("row vanished".into()))?;
        decision = apply(ctx, &gs, &row).await;
    }
    let decision = decision?;

    ctx.store
        .mark_events_processed(gateway_subscription_id, started)
        .await?;
    Ok(decision)
}

/// Marks a retryable error whose cause the sync has just put right in the store.
const DECIDE_AGAIN: &str = "decide again: ";
const DECIDE_AGAIN_LIMIT: usize = 8;

fn decide_again(why: &str) -> SyncError {
    SyncError::Retryable(format!("{DECIDE_AGAIN}{why}"))
}

async fn record_gateway_state(
    ctx: &SyncContext,
    gs: &GatewaySubscription,
) -> Result<SubscriptionRow, SyncError> {
    let known = ctx.store.subscription(&gs.id).await?;
    let customer = gs
        .aura_customer_id
        .or(known.as_ref().map(|r| r.customer_id))
        .ok_or_else(|| SyncError::Retryable("not yet tied to an AURA customer".into()))?;
    let plan = plan_of(ctx, gs, known.as_ref());

    ctx.store
        .record_gateway_state(&GatewayFacts {
            gateway_subscription_id: &gs.id,
            customer_id: customer,
            gateway_customer_id: Some(&gs.gateway_customer),
            plan,
            status: gs.status.as_str(),
            paid_through: gs.paid_through.map(to_ms),
            cancel_at_period_end: gs.cancel_at_period_end,
        })
        .await?;
    Ok(ctx.store.subscription(&gs.id).await?.expect("just written"))
}

/// The plan is the one whose price the subscription bills; failing that, what was stored.
fn plan_of(
    ctx: &SyncContext,
    gs: &GatewaySubscription,
    known: Option<&SubscriptionRow>,
) -> PlanKind {
    gs.price_id
        .as_deref()
        .and_then(|price| ctx.plans.iter().find(|p| p.price_id == price))
        .map(|p| p.kind)
        .or(known.map(|r| r.plan))
        .unwrap_or(PlanKind::Single)
}

async fn apply(
    ctx: &SyncContext,
    gs: &GatewaySubscription,
    row: &SubscriptionRow,
) -> Result<Decision, SyncError> {
    let gateway = GatewayView {
        status: gs.status.clone(),
        paid_through: gs.paid_through,
        cancellation_reason: gs.cancellation_reason.clone(),
        operator_reason: row.end_reason.clone(),
    };
    let aura = AuraView {
        state: row.aura_state,
        subscription_id: row.aura_subscription_id,
        valid_to: row.aura_valid_to.map(from_ms),
        dependants: row.aura_dependants.clone(),
    };
    let dependants = desired_dependants(row);
    let decision = decide(
        &gateway,
        &aura,
        &dependants,
        ctx.coverage_margin,
        Utc::now(),
    );
    info!(status = gs.status.as_str(), decision = ?decision, "sync decided");

    match &decision {
        Decision::Nothing(_) => {}
        Decision::Create {
            valid_from,
            valid_to,
        } => create(ctx, row, *valid_from, *valid_to, &dependants).await?,
        Decision::Update {
            subscription_id,
            valid_to,
        } => update(ctx, row, *subscription_id, *valid_to, &dependants).await?,
        Decision::Cancel {
            subscription_id,
            reason,
        } => cancel(ctx, row, *subscription_id, reason).await?,
    }
    Ok(decision)
}

fn desired_dependants(row: &SubscriptionRow) -> Vec<i64> {
    match row.plan {
        PlanKind::Family => row.dependants.clone(),
        PlanKind::Single => Vec::new(),
    }
}

async fn create(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    valid_from: chrono::DateTime<Utc>,
    valid_to: chrono::DateTime<Utc>,
    dependants: &[i64],
) -> Result<(), SyncError> {
    let plan = ctx
        .plans
        .iter()
        .find(|p| p.kind == row.plan)
        .ok_or_else(|| SyncError::Permanent("plan not configured".into()))?;
    let subscription_type = ctx.aura.subscription_type(&plan.aura_type).await?;
    let request = NewSubscription {
        customer_id: row.customer_id.get(),
        subscription_type_id: subscription_type.id,
        valid_from,
        valid_to,
        dependant_customer_ids: dependants.to_vec(),
    };

    let mut result = ctx.aura.create_subscription(&request).await;
    if let Err(e) = &result
        && refused_dependant(e, dependants).is_some()
    {
        // A dependant AURA refuses must not leave the main member uncovered: they are
        // covered alone, and the whole list follows as an update (which drops what AURA
        // refuses). Retrying alone also finds our own create whose answer was lost.
        let alone = NewSubscription {
            dependant_customer_ids: Vec::new(),
            ..request
        };
        result = ctx.aura.create_subscription(&alone).await;
        if let Ok(created) = &result {
            record_active(ctx, row, created, &[]).await?;
            return Err(decide_again("covered alone first; the dependants follow"));
        }
    }

    match result {
        Ok(created) => record_active(ctx, row, &created, dependants).await,
        Err(AuraError::AlreadyExists {
            existing: Some(existing),
            ..
        }) if existing.subscription_type_id == subscription_type.id => {
            adopt(ctx, row, existing, valid_to, dependants).await
        }
        Err(AuraError::AlreadyExists {
            existing: Some(existing),
            ..
        }) => Err(SyncError::Permanent(format!(
            "AURA already holds subscription {} of another type (id {}, not {}) for the customer: \
             it is not ours to extend or end, so an operator must resolve it",
            existing.id, existing.subscription_type_id, plan.aura_type
        ))),
        Err(e) => Err(e.into()),
    }
}

/// AURA already holds a subscription of our type for this customer: most often our own
/// create whose response was lost to a timeout. It is taken as ours and brought up to date.
/// AURA's 409 does not list the dependants it holds, so a family plan always gets its whole
/// list sent.
async fn adopt(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    existing: AuraSubscription,
    valid_to: chrono::DateTime<Utc>,
    dependants: &[i64],
) -> Result<(), SyncError> {
    warn!(
        aura_subscription = existing.id,
        "AURA already had a subscription for the customer: adopted"
    );
    let family = row.plan == PlanKind::Family;
    if existing.valid_to >= valid_to && !family {
        return record_active(ctx, row, &existing, dependants).await;
    }
    let target = existing.valid_to.max(valid_to);
    update(ctx, row, existing.id, target, dependants).await
}

async fn update(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    id: i64,
    valid_to: chrono::DateTime<Utc>,
    dependants: &[i64],
) -> Result<(), SyncError> {
    let deps = (row.plan == PlanKind::Family).then_some(dependants);
    match ctx.aura.update_subscription(id, valid_to, deps).await {
        Ok(updated) => {
            record_active(
                ctx,
                row,
                &AuraSubscription {
                    id,
                    valid_to: updated.valid_to.max(valid_to),
                    ..updated
                },
                dependants,
            )
            .await
        }
        Err(AuraError::SubscriptionNotFound) => {
            ctx.store
                .record_aura_state(
                    &row.gateway_subscription_id,
                    None,
                    None,
                    AuraState::None,
                    &[],
                )
                .await?;
            Err(decide_again(
                "the AURA subscription no longer exists at AURA",
            ))
        }
        Err(e) => match refused_dependant(&e, dependants) {
            Some(refused) => drop_dependant(ctx, row, refused, &e).await,
            None => Err(e.into()),
        },
    }
}

/// The dependant of `dependants` an AURA refusal names: one AURA does not know (a deleted
/// profile, a mistyped id) or one that belongs to another subscription.
fn refused_dependant(e: &AuraError, dependants: &[i64]) -> Option<i64> {
    let named = match e {
        AuraError::DependantNotFound { customer_id }
        | AuraError::DependantTaken { customer_id } => *customer_id,
        _ => None,
    };
    named.filter(|id| dependants.contains(id))
}

/// Takes a dependant AURA refuses off the desired list, recorded in the customer's history,
/// so that the main member's coverage (and the other dependants') is never held up by it.
async fn drop_dependant(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    refused: i64,
    why: &AuraError,
) -> Result<(), SyncError> {
    warn!(dependant = refused, error = %why, "AURA refused a dependant: taken off the list");
    let detail = format!("AURA refused dependant {refused}: {why}");
    let record = NewAction {
        actor: "sync",
        action: "drop_dependant",
        customer_id: Some(row.customer_id.get()),
        target: &row.gateway_subscription_id,
        detail: Some(&detail),
    };
    // Not applied when the list changed meanwhile: the sync decides again with the new one.
    ctx.store
        .act(&record, &Change::DropDependant(refused))
        .await?;
    Err(decide_again(&detail))
}

/// Ends the AURA subscription, unless another gateway subscription that is still paid for
/// holds it too (a re-subscription that adopted it before this one ended): then this one
/// lets go of it and AURA is left alone.
async fn cancel(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    id: i64,
    reason: &str,
) -> Result<(), SyncError> {
    let others = |rows: Vec<SubscriptionRow>| -> Vec<SubscriptionRow> {
        rows.into_iter()
            .filter(|r| r.gateway_subscription_id != row.gateway_subscription_id)
            .collect()
    };
    let sharing = others(ctx.store.subscriptions_on_aura(id).await?);
    if sharing.iter().any(still_paid) {
        info!(
            aura_subscription = id,
            "another paid gateway subscription holds this AURA subscription: let go, not deleted"
        );
        let id = &row.gateway_subscription_id;
        ctx.store
            .record_aura_state(id, None, None, AuraState::None, &[])
            .await?;
        return Ok(());
    }

    match ctx.aura.cancel_subscription(id, reason).await {
        Ok(()) | Err(AuraError::SubscriptionNotFound) => {
            ctx.store
                .record_aura_state(
                    &row.gateway_subscription_id,
                    Some(id),
                    row.aura_valid_to,
                    AuraState::Cancelled,
                    &row.aura_dependants,
                )
                .await?;
        }
        Err(e) => return Err(e.into()),
    }

    // One that adopted it while the DELETE was on its way must create anew: wake its sync.
    for other in others(ctx.store.subscriptions_on_aura(id).await?) {
        let key = &other.gateway_subscription_id;
        ctx.store
            .enqueue_job(crate::store::SYNC_SUBSCRIPTION, key)
            .await?;
    }
    Ok(())
}

/// Statuses under which the customer is still paying (or has paid for the running period).
fn still_paid(row: &SubscriptionRow) -> bool {
    matches!(
        row.gateway_status.as_str(),
        "active" | "trialing" | "past_due"
    )
}

async fn record_active(
    ctx: &SyncContext,
    row: &SubscriptionRow,
    sub: &AuraSubscription,
    dependants: &[i64],
) -> Result<(), SyncError> {
    ctx.store
        .record_aura_state(
            &row.gateway_subscription_id,
            Some(sub.id),
            Some(to_ms(sub.valid_to)),
            AuraState::Active,
            dependants,
        )
        .await?;
    Ok(())
}

/// For callers that only hold a customer id: the subscriptions to resync.
pub async fn subscriptions_of(
    ctx: &SyncContext,
    customer: Option<CustomerId>,
) -> Result<Vec<String>, SyncError> {
    Ok(ctx.store.all_subscription_ids(customer).await?)
}
