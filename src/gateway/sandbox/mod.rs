//! The built-in sandbox gateway: a hosted test checkout where 4242 4242 4242 4242 pays and
//! 4000 0000 0000 0002 is declined, subscriptions billed every configured period, and test
//! clock actions (renew, fail the next renewal, cancel). It emits the same events Stripe does
//! into the same intake, so everything after the payment is shared with the Stripe path.
//! Development only: production refuses to start with it.

pub mod pages;

use std::time::Duration;

use serde_json::json;
use url::Url;

use super::{
    CheckoutRequest, CheckoutSession, CheckoutState, GatewayError, GatewaySubscription,
    SubscriptionStatus,
};
use crate::{
    domain::CustomerId,
    store::{NewEvent, SandboxSession, SandboxSubscription, Store, from_ms, now_ms},
};

pub const CARD_PAYS: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";

#[derive(Clone)]
pub struct SandboxGateway {
    store: Store,
    base_url: Url,
    period: Duration,
}

/// What happened when the test card was submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Paid (now or earlier): where the user goes next.
    Paid {
        success_url: String,
    },
    Declined,
    InvalidCard,
    /// Expired or cancelled: it cannot be paid any more.
    Closed,
    /// There is no such checkout.
    Unknown,
}

/// The test clock does not move for a subscription that has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sandbox subscription has ended; its test clock no longer moves")]
pub struct ClockRefused;

/// A test clock action, as an operator or the CLI triggers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAction {
    Renew,
    FailNextRenewal,
    Cancel,
}

fn gateway_error(e: sqlx::Error) -> GatewayError {
    GatewayError::Transient(format!("sandbox store: {e}"))
}

impl SandboxGateway {
    pub fn new(store: Store, base_url: Url, period: Duration) -> Self {
        Self {
            store,
            base_url,
            period,
        }
    }

    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest,
    ) -> Result<CheckoutSession, GatewayError> {
        let session = SandboxSession {
            id: format!("cs_sandbox_{}", uuid::Uuid::new_v4().simple()),
            signup_id: req.signup_id.to_string(),
            customer_ref: req.customer_id.to_string(),
            plan: req.plan.to_string(),
            price_id: req.price_id.clone(),
            success_url: req.success_url.clone(),
            cancel_url: req.cancel_url.clone(),
            status: "open".into(),
            paid: false,
            gateway_customer: None,
            gateway_subscription: None,
            created_at: now_ms(),
        };
        let stored = self
            .store
            .sandbox_open_session(&session, &req.idempotency_key)
            .await
            .map_err(gateway_error)?;
        let url = self
            .base_url
            .join(&format!("sandbox/checkout/{}", stored.id))
            .map_err(|e| GatewayError::Rejected(e.to_string()))?;
        Ok(CheckoutSession {
            id: stored.id,
            url: url.into(),
        })
    }

    pub async fn checkout_state(&self, session_id: &str) -> Result<CheckoutState, GatewayError> {
        let session = self
            .store
            .sandbox_session(session_id)
            .await
            .map_err(gateway_error)?
            .ok_or(GatewayError::NotFound)?;
        Ok(CheckoutState {
            id: session.id,
            open: session.status == "open",
            paid: session.paid,
            customer_ref: Some(session.customer_ref),
            signup_ref: Some(session.signup_id),
            gateway_customer: session.gateway_customer,
            gateway_subscription: session.gateway_subscription,
        })
    }

    pub async fn expire_checkout(&self, session_id: &str) -> Result<(), GatewayError> {
        match self.store.sandbox_expire_session(session_id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(GatewayError::Rejected(
                "only an open session can be expired".into(),
            )),
            Err(e) => Err(gateway_error(e)),
        }
    }

    pub async fn subscription(
        &self,
        subscription_id: &str,
    ) -> Result<GatewaySubscription, GatewayError> {
        let sub = self
            .store
            .sandbox_subscription(subscription_id)
            .await
            .map_err(gateway_error)?
            .ok_or(GatewayError::NotFound)?;
        Ok(GatewaySubscription {
            id: sub.id,
            gateway_customer: sub.customer,
            status: SubscriptionStatus::parse(&sub.status),
            paid_through: Some(from_ms(sub.current_period_end)),
            cancel_at_period_end: sub.cancel_at_period_end,
            cancellation_reason: sub.cancellation_reason,
            price_id: Some(sub.price_id),
            aura_customer_id: CustomerId::new(sub.aura_customer_id),
            signup_id: Some(sub.signup_id),
        })
    }

    /// Like Stripe, a subscription that has ended cannot be cancelled again: `NotFound`.
    pub async fn cancel_subscription(&self, subscription_id: &str) -> Result<(), GatewayError> {
        match self.clock(subscription_id, ClockAction::Cancel).await {
            Ok(Some(Ok(_))) => Ok(()),
            Ok(Some(Err(ClockRefused)) | None) => Err(GatewayError::NotFound),
            Err(e) => Err(gateway_error(e)),
        }
    }

    pub async fn session(&self, session_id: &str) -> Result<Option<SandboxSession>, sqlx::Error> {
        self.store.sandbox_session(session_id).await
    }

    /// Takes a test card for an open session. Paying creates the subscription and emits the
    /// `checkout.session.completed` and `invoice.paid` events Stripe would send.
    pub async fn pay(&self, session_id: &str, card: &str) -> Result<PayOutcome, sqlx::Error> {
        let Some(session) = self.store.sandbox_session(session_id).await? else {
            return Ok(PayOutcome::Unknown);
        };
        let success_url = session
            .success_url
            .replace("{CHECKOUT_SESSION_ID}", &session.id);
        if session.paid {
            return Ok(PayOutcome::Paid { success_url });
        }
        if session.status != "open" {
            return Ok(PayOutcome::Closed);
        }
        let digits: String = card.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        match digits.as_str() {
            CARD_PAYS => {}
            CARD_DECLINED => return Ok(PayOutcome::Declined),
            _ => return Ok(PayOutcome::InvalidCard),
        }

        let subscription = SandboxSubscription {
            id: format!("sub_sandbox_{}", uuid::Uuid::new_v4().simple()),
            customer: format!("cus_sandbox_{}", session.customer_ref),
            status: "active".into(),
            current_period_end: now_ms() + self.period.as_millis() as i64,
            cancel_at_period_end: false,
            cancellation_reason: None,
            price_id: session.price_id.clone(),
            aura_customer_id: session.customer_ref.parse().unwrap_or_default(),
            signup_id: session.signup_id.clone(),
            fail_next_renewal: false,
        };
        if self
            .store
            .sandbox_complete_session(&session.id, &subscription)
            .await?
        {
            self.emit("checkout.session.completed", &subscription.id)
                .await?;
            self.emit("invoice.paid", &subscription.id).await?;
        }
        Ok(PayOutcome::Paid { success_url })
    }

    /// Moves a subscription's test clock: renew (or fail to), arm a failure, or cancel.
    /// Returns the status it now has; `None` when there is no such subscription, and
    /// [`ClockRefused`] for a subscription that has ended (nothing happens to it any more).
    pub async fn clock(
        &self,
        subscription_id: &str,
        action: ClockAction,
    ) -> Result<Option<Result<String, ClockRefused>>, sqlx::Error> {
        let Some(mut sub) = self.store.sandbox_subscription(subscription_id).await? else {
            return Ok(None);
        };
        if sub.status == "canceled" {
            return Ok(Some(Err(ClockRefused)));
        }
        let event = match action {
            ClockAction::FailNextRenewal => {
                sub.fail_next_renewal = true;
                "customer.subscription.updated"
            }
            ClockAction::Cancel => {
                sub.status = "canceled".into();
                sub.cancellation_reason = Some("cancellation_requested".into());
                "customer.subscription.deleted"
            }
            ClockAction::Renew => self.renew(&mut sub),
        };
        self.store.sandbox_update_subscription(&sub).await?;
        self.emit(event, &sub.id).await?;
        Ok(Some(Ok(sub.status)))
    }

    /// A renewal either pays for one more period or fails: the first failure makes the
    /// subscription `past_due`, a failure while already past due makes it `unpaid`.
    fn renew(&self, sub: &mut SandboxSubscription) -> &'static str {
        if sub.fail_next_renewal {
            sub.fail_next_renewal = false;
            sub.status = if sub.status == "past_due" {
                "unpaid".into()
            } else {
                "past_due".into()
            };
            return "invoice.payment_failed";
        }
        sub.current_period_end =
            sub.current_period_end.max(now_ms()) + self.period.as_millis() as i64;
        sub.status = "active".into();
        "invoice.paid"
    }

    async fn emit(&self, event_type: &str, subscription_id: &str) -> Result<(), sqlx::Error> {
        let id = format!("evt_sandbox_{}", uuid::Uuid::new_v4().simple());
        let payload = json!({
            "id": id, "object": "event", "type": event_type, "livemode": false, "created": now_ms() / 1000,
            "data": {"object": {"id": subscription_id, "object": "subscription"}}
        })
        .to_string();
        self.store
            .record_event(&NewEvent {
                id: &id,
                gateway: "sandbox",
                event_type,
                subscription_id: Some(subscription_id),
                payload: &payload,
                outcome: None,
            })
            .await?;
        // Counted like a delivery at the webhook intake, which the sandbox's events skip.
        crate::metrics::webhook_event(event_type, "accepted");
        Ok(())
    }
}
