//! The public face of the AURA client: its construction, options, call records, and one
//! method per AURA operation the service uses.

use std::{fmt, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock};
use url::Url;

use super::error::AuraError;
use super::transport::{Call, TokenSlot};
use super::types::*;
use crate::config::Secret;

/// A handle to AURA; clones share the connection pool, the server token and the type cache.
#[derive(Clone)]
pub struct AuraClient {
    inner: Arc<Inner>,
}

/// Timeouts and retry bounds for every call.
#[derive(Debug, Clone)]
pub struct AuraClientOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Retries after the first attempt, for transient failures only; 0 disables them.
    pub max_retries: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for AuraClientOptions {
    fn default() -> Self {
        AuraClientOptions {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_retries: 2,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Receives one record per HTTP attempt, e.g. to persist an audit trail of AURA calls.
pub type CallRecorder = Arc<dyn Fn(AuraCallRecord) + Send + Sync>;

/// One HTTP attempt: what was asked of AURA, how it answered, and how long it took.
#[derive(Debug, Clone)]
pub struct AuraCallRecord {
    pub method: &'static str,
    /// The endpoint template (`/v2/subscriptions/{id}`), not the concrete path.
    pub path: &'static str,
    /// `None` when no answer arrived (connect failure, timeout).
    pub status: Option<u16>,
    pub duration: Duration,
    pub customer_id: Option<i64>,
    pub subscription_id: Option<i64>,
    pub error: Option<String>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub base_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub options: AuraClientOptions,
    pub recorder: Option<CallRecorder>,
    pub token: Mutex<TokenSlot>,
    pub types: RwLock<Option<Vec<SubscriptionType>>>,
}

impl fmt::Debug for AuraClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuraClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("client_id", &self.inner.client_id)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl AuraClient {
    pub fn new(
        base_url: Url,
        client_id: String,
        client_secret: Secret,
        options: AuraClientOptions,
        recorder: Option<CallRecorder>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .build()
            .expect("a reqwest client with only timeouts set always builds");

        let inner = Inner {
            http,
            base_url: with_trailing_slash(base_url),
            client_id,
            client_secret,
            options,
            recorder,
            token: Mutex::new(TokenSlot::default()),
            types: RwLock::new(None),
        };
        AuraClient {
            inner: Arc::new(inner),
        }
    }

    /// Every subscription type AURA offers this integrator; refreshes the cache.
    pub async fn subscription_types(&self) -> Result<Vec<SubscriptionType>, AuraError> {
        let call = Call::new(
            Method::GET,
            "/v2/subscriptions/subscriptionTypes",
            "v2/subscriptions/subscriptionTypes".into(),
        );
        let answer: WireTypes = read(self.inner.send(&call).await?)?;

        let types: Vec<SubscriptionType> = answer
            .subscription_types
            .into_iter()
            .map(Into::into)
            .collect();
        *self.inner.types.write().await = Some(types.clone());
        Ok(types)
    }

    /// The type with this `value`. Ids differ between AURA's environments, so types are
    /// found by value; the list is cached and fetched again only when a value is missing.
    pub async fn subscription_type(&self, value: &str) -> Result<SubscriptionType, AuraError> {
        let cached = self
            .inner
            .types
            .read()
            .await
            .as_ref()
            .and_then(|types| find_type(types, value));
        if let Some(found) = cached {
            return Ok(found);
        }

        let fresh = self.subscription_types().await?;
        find_type(&fresh, value).ok_or(AuraError::UnknownSubscriptionType)
    }

    pub async fn create_subscription(
        &self,
        req: &NewSubscription,
    ) -> Result<AuraSubscription, AuraError> {
        let body = WireNewSubscription {
            customer_id: req.customer_id,
            dependant_customer_ids: req.dependant_customer_ids.clone(),
            subscription_type_id: req.subscription_type_id,
            valid_from: req.valid_from,
            valid_to: req.valid_to,
        };
        let call = Call::new(Method::POST, "/v2/subscriptions", "v2/subscriptions".into())
            .body(to_json(&body))
            .ids(Some(req.customer_id), None);

        let created: WireCreated = read(self.inner.send(&call).await?)?;
        let (_, dependants) = split_links(&created.dependant_links);
        Ok(created
            .subscription
            .into_subscription(Some(req.customer_id), dependants))
    }

    /// Sets `validTo` and, for family plans, the whole dependant list: AURA drops any
    /// dependant left out, so `dependants` must be the complete desired list.
    pub async fn update_subscription(
        &self,
        id: i64,
        valid_to: DateTime<Utc>,
        dependants: Option<&[i64]>,
    ) -> Result<AuraSubscription, AuraError> {
        let body = WireSubscriptionEdit {
            dependant_customer_ids: dependants,
            valid_to,
        };
        let call = Call::new(
            Method::PUT,
            "/v2/subscriptions/{id}",
            format!("v2/subscriptions/{id}"),
        )
        .body(to_json(&body))
        .ids(None, Some(id));

        let updated: WireUpdated = read(self.inner.send(&call).await?)?;
        let (main, linked) = split_links(&updated.links);
        let subscription =
            updated.subscription.into_iter().next().ok_or_else(|| {
                AuraError::Malformed("update answer without its subscription".into())
            })?;
        Ok(subscription.into_subscription(main, linked))
    }

    /// Cancels a subscription (and, for a main member, their dependants' cover) for good.
    pub async fn cancel_subscription(&self, id: i64, reason: &str) -> Result<(), AuraError> {
        let call = Call::new(
            Method::DELETE,
            "/v2/subscriptions/{id}",
            format!("v2/subscriptions/{id}"),
        )
        .body(json!({ "reason": reason }))
        .ids(None, Some(id));
        self.inner.send(&call).await.map(drop)
    }

    /// Registers a customer, opening their subscription in the same call when one is given.
    pub async fn register_customer(&self, c: &NewCustomer) -> Result<AuraCustomer, AuraError> {
        let subscription = c.subscription.as_ref().map(|s| WireInitialSubscription {
            subscription_type_id: s.subscription_type_id,
            valid_from: s.valid_from,
            valid_to: s.valid_to,
        });
        let body = WireCustomerRequest {
            customer: &c.profile,
            subscription,
        };
        let call =
            Call::new(Method::POST, "/v2/customers", "v2/customers".into()).body(to_json(&body));

        let answer: WireCustomerEnvelope = read(self.inner.send(&call).await?)?;
        Ok(answer.customer.into())
    }

    pub async fn edit_customer(
        &self,
        id: i64,
        c: &CustomerEdit,
    ) -> Result<AuraCustomer, AuraError> {
        let body = WireCustomerRequest {
            customer: c,
            subscription: None,
        };
        let call = Call::new(
            Method::PUT,
            "/v2/customers/{id}",
            format!("v2/customers/{id}"),
        )
        .body(to_json(&body))
        .ids(Some(id), None);

        let answer: WireCustomerEnvelope = read(self.inner.send(&call).await?)?;
        Ok(answer.customer.into())
    }

    /// AURA's soft delete: masks the profile and cancels any active subscription.
    pub async fn delete_customer(&self, id: i64) -> Result<(), AuraError> {
        let call = Call::new(
            Method::POST,
            "/v2/customers/{id}/delete",
            format!("v2/customers/{id}/delete"),
        )
        .ids(Some(id), None);
        self.inner.send(&call).await.map(drop)
    }
}

fn find_type(types: &[SubscriptionType], value: &str) -> Option<SubscriptionType> {
    types.iter().find(|t| t.value == value).cloned()
}

/// `Url::join` would replace the last segment of a base without a trailing slash
/// (`.../panic-api` + `v2/...` loses `panic-api`).
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn to_json(body: &impl serde::Serialize) -> Value {
    serde_json::to_value(body).expect("request bodies are plain data and always serialize")
}

fn read<T: DeserializeOwned>(answer: Value) -> Result<T, AuraError> {
    serde_json::from_value(answer).map_err(|e| AuraError::Malformed(e.to_string()))
}
