//! The payment gateway seam: one enum, two implementations (Stripe and the built-in sandbox).
//! Everything downstream (the sign-up flow, webhook intake, reconciliation) sees only the
//! types in this module, so the two gateways share every line after the payment itself.

pub mod sandbox;
pub mod stripe;

use chrono::{DateTime, Utc};

use crate::domain::{CustomerId, PlanKind, SignupId};

pub use sandbox::SandboxGateway;
pub use stripe::StripeGateway;

/// Everything a gateway needs to open a hosted checkout for one signup.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub signup_id: SignupId,
    pub customer_id: CustomerId,
    pub plan: PlanKind,
    /// The gateway's price id for the plan (`price_...` at Stripe).
    pub price_id: String,
    /// Absolute URL; Stripe substitutes `{CHECKOUT_SESSION_ID}` in it.
    pub success_url: String,
    pub cancel_url: String,
    /// Same signup, plan and replaced session, same key: a request retried after a lost
    /// answer gets the session the gateway already made.
    pub idempotency_key: String,
}

/// A hosted checkout page the user is sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// What the gateway itself says about a checkout session, fetched when the user comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutState {
    pub id: String,
    /// Still payable: the user may go back to it.
    pub open: bool,
    /// Paid (or free) and complete: the only state that allows `success=true`.
    pub paid: bool,
    /// `client_reference_id`: the AURA customer the session was opened for.
    pub customer_ref: Option<String>,
    /// The signup id the session was opened for (metadata).
    pub signup_ref: Option<String>,
    pub gateway_customer: Option<String>,
    pub gateway_subscription: Option<String>,
}

/// A gateway subscription's status, as Stripe names them. Unknown values are kept, not guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
    Other(String),
}

impl SubscriptionStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "canceled" => Self::Canceled,
            "unpaid" => Self::Unpaid,
            "paused" => Self::Paused,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Paused => "paused",
            Self::Other(s) => s,
        }
    }
}

/// The gateway's current state of one subscription: the truth reconciliation converges to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySubscription {
    pub id: String,
    pub gateway_customer: String,
    pub status: SubscriptionStatus,
    /// The end of what has been paid for: the running period's end while nothing for it is
    /// owed, else its start (a renewal billed but not paid is not coverage).
    pub paid_through: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// Why it ended, when it has: Stripe's `cancellation_details.reason`.
    pub cancellation_reason: Option<String>,
    pub price_id: Option<String>,
    /// From the subscription's metadata, written at checkout.
    pub aura_customer_id: Option<CustomerId>,
    pub signup_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway does not know this object")]
    NotFound,
    /// Timeouts, connection errors, 5xx and rate limits: worth a retry later.
    #[error("the gateway could not be reached: {0}")]
    Transient(String),
    #[error("the gateway refused the request: {0}")]
    Rejected(String),
}

impl GatewayError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, GatewayError::Transient(_))
    }
}

/// The configured gateway. An enum rather than a trait object: there are exactly two, and
/// `match` keeps every call site honest about both.
#[derive(Clone)]
pub enum Gateway {
    Stripe(StripeGateway),
    Sandbox(SandboxGateway),
}

impl Gateway {
    pub fn name(&self) -> &'static str {
        match self {
            Gateway::Stripe(_) => "stripe",
            Gateway::Sandbox(_) => "sandbox",
        }
    }

    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest,
    ) -> Result<CheckoutSession, GatewayError> {
        match self {
            Gateway::Stripe(g) => g.create_checkout(req).await,
            Gateway::Sandbox(g) => g.create_checkout(req).await,
        }
    }

    pub async fn checkout_state(&self, session_id: &str) -> Result<CheckoutState, GatewayError> {
        match self {
            Gateway::Stripe(g) => g.checkout_state(session_id).await,
            Gateway::Sandbox(g) => g.checkout_state(session_id).await,
        }
    }

    /// Closes an open checkout, so that only the customer's newest one can be paid.
    /// `Rejected` when it is not open any more (it may have been paid meanwhile).
    pub async fn expire_checkout(&self, session_id: &str) -> Result<(), GatewayError> {
        match self {
            Gateway::Stripe(g) => g.expire_checkout(session_id).await,
            Gateway::Sandbox(g) => g.expire_checkout(session_id).await,
        }
    }

    pub async fn subscription(
        &self,
        subscription_id: &str,
    ) -> Result<GatewaySubscription, GatewayError> {
        match self {
            Gateway::Stripe(g) => g.subscription(subscription_id).await,
            Gateway::Sandbox(g) => g.subscription(subscription_id).await,
        }
    }

    /// Stops the payments: the gateway subscription ends now. Its event, and the sync that
    /// follows, end the AURA subscription.
    pub async fn cancel_subscription(
        &self,
        subscription_id: &str,
        comment: &str,
    ) -> Result<(), GatewayError> {
        match self {
            Gateway::Stripe(g) => g.cancel_subscription(subscription_id, comment).await,
            Gateway::Sandbox(g) => g.cancel_subscription(subscription_id).await,
        }
    }
}
