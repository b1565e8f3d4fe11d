//! The one client for AURA's API. (Interface only; the implementation lands from its branch.)

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

#[derive(Clone)]
pub struct AuraClient {}

pub struct AuraClientOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_retries: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for AuraClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_retries: 2,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

pub type CallRecorder = Arc<dyn Fn(AuraCallRecord) + Send + Sync>;

pub struct AuraCallRecord {
    pub method: &'static str,
    pub path: &'static str,
    pub status: Option<u16>,
    pub duration: Duration,
    pub customer_id: Option<i64>,
    pub subscription_id: Option<i64>,
    pub error: Option<String>,
}

pub struct NewSubscription {
    pub customer_id: i64,
    pub subscription_type_id: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub dependant_customer_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct AuraSubscription {
    pub id: i64,
    pub subscription_type_id: i64,
    pub customer_id: Option<i64>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub cancelled: bool,
    pub dependants: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionType {
    pub id: i64,
    pub value: String,
    pub description: String,
    pub allowed_dependants: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuraError {
    #[error("exists")]
    AlreadyExists {
        customer_id: Option<i64>,
        existing: Option<AuraSubscription>,
    },
    #[error("dependant not found")]
    DependantNotFound { customer_id: Option<i64> },
    #[error("dependant taken")]
    DependantTaken { customer_id: Option<i64> },
    #[error("customer not found")]
    CustomerNotFound,
    #[error("subscription not found")]
    SubscriptionNotFound,
    #[error("date in past")]
    DateInPast,
    #[error("unknown type")]
    UnknownSubscriptionType,
    #[error("no dependants")]
    DependantsNotSupported,
    #[error("too many dependants")]
    TooManyDependants,
    #[error("unauthorized")]
    Unauthorized,
    #[error("bad credentials")]
    BadCredentials,
    #[error("transient: {0}")]
    Transient(String),
    #[error("rejected {status}: {message}")]
    Rejected { status: u16, message: String },
    #[error("malformed: {0}")]
    Malformed(String),
}

impl AuraError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AuraError::Transient(_))
    }
}

impl AuraClient {
    pub fn new(
        _base_url: url::Url,
        _client_id: String,
        _client_secret: crate::config::Secret,
        _options: AuraClientOptions,
        _recorder: Option<CallRecorder>,
    ) -> Self {
        Self {}
    }

    pub async fn subscription_type(&self, _value: &str) -> Result<SubscriptionType, AuraError> {
        unimplemented!()
    }

    pub async fn create_subscription(
        &self,
        _req: &NewSubscription,
    ) -> Result<AuraSubscription, AuraError> {
        unimplemented!()
    }

    pub async fn update_subscription(
        &self,
        _id: i64,
        _valid_to: DateTime<Utc>,
        _dependants: Option<&[i64]>,
    ) -> Result<AuraSubscription, AuraError> {
        unimplemented!()
    }

    pub async fn cancel_subscription(&self, _id: i64, _reason: &str) -> Result<(), AuraError> {
        unimplemented!()
    }
}
