//! One customer's history in order: sign-ups, gateway events, the state of each sync job, the
//! calls made to AURA with their status codes, and what operators did. Built from the audit
//! tables each part of the service already writes; ids only, no personal data.

use chrono::SecondsFormat;
use serde::Serialize;

use crate::{
    domain::CustomerId,
    store::{SYNC_SUBSCRIPTION, Store, StoreResult, SubscriptionRow, from_ms},
};

/// One thing that happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// When, in RFC 3339 (UTC).
    pub at: String,
    #[serde(skip)]
    pub at_ms: i64,
    /// `signup`, `subscription`, `gateway`, `sync`, `aura` or `operator`.
    pub kind: &'static str,
    pub summary: String,
    pub detail: Option<String>,
    /// Something went wrong here.
    pub failed: bool,
}

impl Entry {
    fn new(at_ms: i64, kind: &'static str, summary: String) -> Self {
        Self {
            at: rfc3339(at_ms),
            at_ms,
            kind,
            summary,
            detail: None,
            failed: false,
        }
    }

    fn detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail.filter(|d| !d.is_empty());
        self
    }

    fn failed(mut self, failed: bool) -> Self {
        self.failed = failed;
        self
    }
}

pub fn rfc3339(ms: i64) -> String {
    from_ms(ms).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The customer's subscriptions and their whole timeline, oldest first.
pub async fn for_customer(
    store: &Store,
    customer: CustomerId,
) -> StoreResult<(Vec<SubscriptionRow>, Vec<Entry>)> {
    let subscriptions = store.subscriptions_for(customer).await?;
    let mut entries = Vec::new();
    signups(store, customer, &mut entries).await?;
    for sub in &subscriptions {
        entries.push(
            Entry::new(
                sub.created_at,
                "subscription",
                format!(
                    "Gateway subscription {} linked ({} plan)",
                    sub.gateway_subscription_id, sub.plan
                ),
            )
            .detail(
                sub.gateway_customer_id
                    .as_ref()
                    .map(|c| format!("gateway customer {c}")),
            ),
        );
        sync_job(store, sub, &mut entries).await?;
    }
    let ids: Vec<String> = subscriptions
        .iter()
        .map(|s| s.gateway_subscription_id.clone())
        .collect();
    for event in store.events_for_subscriptions(&ids).await? {
        let outcome = event.outcome.clone().unwrap_or_else(|| "waiting".into());
        entries.push(
            Entry::new(
                event.received_at,
                "gateway",
                format!("Gateway event {} ({outcome})", event.event_type),
            )
            .detail(Some(format!(
                "{} on {}",
                event.id,
                event.subscription_id.unwrap_or_default()
            ))),
        );
    }
    let aura_ids: Vec<i64> = subscriptions
        .iter()
        .filter_map(|s| s.aura_subscription_id)
        .collect();
    aura_calls(store, customer, &aura_ids, &mut entries).await?;
    for action in store.actions_for(customer.get()).await? {
        entries.push(
            Entry::new(
                action.at,
                "operator",
                format!(
                    "{} by {} on {}",
                    action.action.replace('_', " "),
                    action.actor,
                    action.target
                ),
            )
            .detail(action.detail),
        );
    }
    entries.sort_by_key(|e| e.at_ms);
    Ok((subscriptions, entries))
}

async fn signups(store: &Store, customer: CustomerId, out: &mut Vec<Entry>) -> StoreResult<()> {
    for signup in store.signups_for(customer).await? {
        out.push(Entry::new(
            signup.created_at,
            "signup",
            format!("Sign-up {} started", signup.id),
        ));
        let outcome = signup.outcome.as_str();
        if outcome != "started" {
            let plan = signup
                .plan
                .map(|p| format!(" ({p} plan)"))
                .unwrap_or_default();
            out.push(
                Entry::new(
                    signup.updated_at,
                    "signup",
                    format!("Sign-up {}: {outcome}{plan}", signup.id),
                )
                .detail(signup.gateway_subscription_id)
                .failed(outcome == "failed"),
            );
        }
    }
    Ok(())
}

/// Finished jobs leave no row; a waiting, retrying or dead one does, with its last error.
async fn sync_job(store: &Store, sub: &SubscriptionRow, out: &mut Vec<Entry>) -> StoreResult<()> {
    let Some(job) = store
        .job_for(SYNC_SUBSCRIPTION, &sub.gateway_subscription_id)
        .await?
    else {
        return Ok(());
    };
    let state = if job.dead {
        "failed, waiting for an operator"
    } else if job.attempts > 0 {
        "retrying"
    } else {
        "queued"
    };
    out.push(
        Entry::new(
            job.updated_at,
            "sync",
            format!(
                "Sync of {} {state} after {} attempt(s)",
                job.key, job.attempts
            ),
        )
        .detail(job.last_error)
        .failed(job.dead),
    );
    Ok(())
}

async fn aura_calls(
    store: &Store,
    customer: CustomerId,
    aura_ids: &[i64],
    out: &mut Vec<Entry>,
) -> StoreResult<()> {
    for call in store.aura_calls_about(customer.get(), aura_ids).await? {
        let status = call
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        let failed = call.status.is_none_or(|s| s >= 400);
        out.push(
            Entry::new(
                call.at,
                "aura",
                format!(
                    "AURA {} {} → {status} in {} ms",
                    call.method, call.path, call.duration_ms
                ),
            )
            .detail(call.error)
            .failed(failed),
        );
    }
    Ok(())
}
