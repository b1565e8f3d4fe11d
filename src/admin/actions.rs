//! What an operator (console or API) or a customer (their dependants) can do to one gateway
//! subscription, in one shape: check, change state and record who did it in one
//! transaction (with the follow-up sync enqueued in it), then wake the workers.

use tracing::info;

use crate::{
    app::AppState,
    domain::{CustomerId, PlanKind},
    gateway::{Gateway, GatewayError, sandbox::ClockAction},
    store::{Change, NewAction, SYNC_SUBSCRIPTION, SubscriptionRow},
};

/// The gateway statuses after which the subscription is over and nothing is billed.
const ENDED: [&str; 2] = ["canceled", "incomplete_expired"];

/// The longest reason an operator may give for ending coverage.
pub const REASON_MAX: usize = 200;

#[derive(Debug, Clone)]
pub enum Action {
    /// A dead sync is due again now.
    Retry,
    /// Fetch the gateway's state and converge AURA to it.
    Resync,
    /// Replace the whole dependant list (AURA customer ids) of a family plan.
    SetDependants(Vec<i64>),
    /// Stop the payments at the gateway now; the sync that follows ends the AURA
    /// subscription with the operator's reason. Coverage follows payment, so the payment is
    /// what is ended.
    EndCoverage { reason: String },
    /// Move the sandbox gateway's test clock.
    Sandbox(ClockAction),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Retry => "retry_sync",
            Action::Resync => "resync",
            Action::SetDependants(_) => "set_dependants",
            Action::EndCoverage { .. } => "end_coverage",
            Action::Sandbox(ClockAction::Renew) => "sandbox_renew",
            Action::Sandbox(ClockAction::FailNextRenewal) => "sandbox_fail_next_renewal",
            Action::Sandbox(ClockAction::Cancel) => "sandbox_cancel",
        }
    }
}

/// Why an action was not taken; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    NotFound(String),
    /// The subscription is not in a state the action applies to.
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    /// AURA or the database did not answer; nothing was recorded.
    #[error("{0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for ActionError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "an operator action could not be stored");
        ActionError::Unavailable("the database did not answer; nothing was changed".into())
    }
}

/// What the person who acted is told.
#[derive(Debug, Clone)]
pub struct Done {
    pub customer_id: i64,
    pub message: String,
}

/// Takes `action` on `subscription` for `actor` (`operator:NAME`, `api:NAME`, `customer:ID`).
pub async fn perform(
    state: &AppState,
    actor: &str,
    subscription: &str,
    action: Action,
) -> Result<Done, ActionError> {
    let row = state
        .store
        .subscription(subscription)
        .await?
        .ok_or_else(|| ActionError::NotFound("no such gateway subscription".into()))?;
    let (change, detail, message) = prepare(state, &row, &action).await?;
    let record = NewAction {
        actor,
        action: action.name(),
        customer_id: Some(row.customer_id.get()),
        target: subscription,
        detail: detail.as_deref(),
    };
    if !state.store.act(&record, &change).await? {
        return Err(ActionError::Conflict(
            "the subscription changed meanwhile; nothing was done".into(),
        ));
    }
    state.wake.notify_waiters();
    info!(
        actor,
        action = action.name(),
        subscription,
        "operator action taken"
    );
    Ok(Done {
        customer_id: row.customer_id.get(),
        message,
    })
}

/// The checks, and the part of the action that happens outside our database (the gateway),
/// before the record is written. Nothing here calls AURA: that is the sync's job.
async fn prepare(
    state: &AppState,
    row: &SubscriptionRow,
    action: &Action,
) -> Result<(Change, Option<String>, String), ActionError> {
    let id = &row.gateway_subscription_id;
    match action {
        Action::Retry => {
            let job = state.store.job_for(SYNC_SUBSCRIPTION, id).await?;
            if !job.is_some_and(|j| j.dead) {
                return Err(ActionError::Conflict(
                    "there is no failed sync to retry".into(),
                ));
            }
            Ok((
                Change::ReviveSync,
                None,
                "The sync will run again now.".into(),
            ))
        }
        Action::Resync => Ok((
            Change::Resync,
            None,
            "A sync from the gateway is queued.".into(),
        )),
        Action::SetDependants(ids) => {
            if row.plan != PlanKind::Family {
                return Err(ActionError::Conflict(
                    "only a family plan has dependants".into(),
                ));
            }
            let allowance = state.config.plan(PlanKind::Family).dependants;
            let ids = check_dependants(ids, allowance, row.customer_id)?;
            let detail = serde_json::to_string(&ids).expect("ids serialise");
            let message = format!(
                "{} dependant(s) set; the sync sends them to AURA.",
                ids.len()
            );
            Ok((Change::SetDependants(ids), Some(detail), message))
        }
        Action::EndCoverage { reason } => end_coverage(state, row, reason).await,
        Action::Sandbox(clock) => sandbox(state, row, *clock).await,
    }
}

/// Dependants are whole AURA customer ids, none twice, not the holder, within the allowance.
pub fn check_dependants(
    ids: &[i64],
    allowance: u32,
    holder: CustomerId,
) -> Result<Vec<i64>, ActionError> {
    if ids.len() > allowance as usize {
        return Err(ActionError::Invalid(format!(
            "the plan allows {allowance} dependant(s); {} given",
            ids.len()
        )));
    }
    let mut seen = Vec::with_capacity(ids.len());
    for &id in ids {
        if CustomerId::new(id).is_none() {
            return Err(ActionError::Invalid(format!(
                "{id} is not an AURA customer id"
            )));
        }
        if id == holder.get() {
            return Err(ActionError::Invalid(
                "the plan holder cannot be their own dependant".into(),
            ));
        }
        if seen.contains(&id) {
            return Err(ActionError::Invalid(format!("{id} is listed twice")));
        }
        seen.push(id);
    }
    Ok(seen)
}

/// Ends what pays for the coverage, then the coverage: the gateway subscription is cancelled
/// (unless the gateway already says it is over), and the sync enqueued with the record sends
/// AURA's DELETE with the operator's reason through the durable queue. A gateway that does not
/// answer leaves everything as it was.
async fn end_coverage(
    state: &AppState,
    row: &SubscriptionRow,
    reason: &str,
) -> Result<(Change, Option<String>, String), ActionError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        return Err(ActionError::Invalid(format!(
            "give a reason of 1 to {REASON_MAX} characters"
        )));
    }
    let ended = ENDED.contains(&row.gateway_status.as_str());
    let aura_active = row.aura_state == crate::store::AuraState::Active;
    if ended && !aura_active {
        return Err(ActionError::Conflict(
            "nothing left to end: the gateway subscription is over and AURA holds no active subscription for it".into(),
        ));
    }
    // The reason is claimed before the gateway is asked: the cancellation's own event may
    // start the sync before this action is recorded, and AURA must get this reason. Only one
    // operator's end proceeds; one already under way makes the others a conflict.
    let id = &row.gateway_subscription_id;
    if !state.store.claim_end_reason(id, reason).await? {
        return Err(ActionError::Conflict(
            "the coverage is already being ended, with another reason".into(),
        ));
    }
    if !ended {
        match state.gateway.cancel_subscription(id, reason).await {
            Ok(()) | Err(GatewayError::NotFound) => {}
            Err(e) => {
                state.store.release_end_reason(id, reason).await?;
                return Err(ActionError::Unavailable(format!(
                    "the gateway did not cancel the subscription ({e}); nothing was changed"
                )));
            }
        }
    }
    Ok((
        Change::EndCoverage(reason.to_owned()),
        Some(reason.to_owned()),
        "The payments are stopped at the gateway; the sync ends the AURA subscription with this reason.".into(),
    ))
}

async fn sandbox(
    state: &AppState,
    row: &SubscriptionRow,
    clock: ClockAction,
) -> Result<(Change, Option<String>, String), ActionError> {
    let Gateway::Sandbox(sandbox) = &state.gateway else {
        return Err(ActionError::Conflict(
            "the sandbox gateway is not in use".into(),
        ));
    };
    let status = sandbox
        .clock(&row.gateway_subscription_id, clock)
        .await?
        .ok_or_else(|| ActionError::NotFound("the sandbox gateway does not know it".into()))?
        .map_err(|e| ActionError::Conflict(e.to_string()))?;
    let message = format!("The sandbox gateway now says {status}; its event is on the way.");
    Ok((
        Change::RecordOnly,
        Some(format!("gateway now {status}")),
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> CustomerId {
        CustomerId::new(100).unwrap()
    }

    #[test]
    fn dependants_within_the_allowance_are_kept_in_order() {
        assert_eq!(
            check_dependants(&[3, 1, 2], 4, holder()).unwrap(),
            vec![3, 1, 2]
        );
        assert_eq!(
            check_dependants(&[], 4, holder()).unwrap(),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn dependants_over_the_allowance_or_malformed_are_refused() {
        for ids in [&[1, 2, 3, 4, 5][..], &[0], &[-4], &[7, 7], &[100]] {
            assert!(
                matches!(
                    check_dependants(ids, 4, holder()),
                    Err(ActionError::Invalid(_))
                ),
                "{ids:?}"
            );
        }
    }
}
