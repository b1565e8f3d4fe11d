//! The Stripe gateway: Checkout Sessions in subscription mode, and the subscription state
//! that reconciliation converges AURA to.
//!
//! Checkout goes through the `async-stripe` client. Subscriptions are read as loose JSON with
//! a plain HTTP GET instead: the billing period moved from the subscription to its items in
//! newer API versions, and a typed model that knows only one placement would refuse the
//! other; reading it ourselves keeps both working and lets a missing period be an error
//! rather than a default.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::Value;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    ExpireCheckoutSession, RetrieveCheckoutSession,
};
use stripe_shared::{CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use url::Url;

use super::{
    CheckoutRequest, CheckoutSession, CheckoutState, GatewayError, GatewaySubscription,
    SubscriptionStatus,
};
use crate::{config::Secret, config::StripeConfig, domain::CustomerId};

/// Every call to Stripe gives up after this long and reports a transient error, so a slow
/// gateway delays one retryable job rather than holding a request or a worker forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// Cheap to clone: the clients and settings sit behind one `Arc`.
#[derive(Clone)]
pub struct StripeGateway {
    inner: Arc<Inner>,
    timeout: Duration,
}

struct Inner {
    client: stripe::Client,
    http: reqwest::Client,
    /// Always ends in `/`: both clients append `v1/...` to it.
    api_base: Url,
    secret_key: Secret,
}

/// Shows where the gateway points and nothing else; the key never prints.
impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGateway")
            .field("api_base", &self.inner.api_base.as_str())
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// Builds both clients. `config.api_base` (`STRIPE_API_BASE`) points them at a local
    /// stand-in in tests; unset, they talk to Stripe.
    pub fn new(config: &StripeConfig) -> anyhow::Result<Self> {
        let mut api_base = config
            .api_base
            .clone()
            .unwrap_or_else(|| Url::parse(DEFAULT_API_BASE).expect("valid URL"));
        if !api_base.path().ends_with('/') {
            let path = format!("{}/", api_base.path());
            api_base.set_path(&path);
        }

        ensure_crypto_provider();
        let client = stripe::ClientBuilder::new(config.secret_key.expose())
            .url(api_base.as_str())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Stripe client: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for Stripe: {e}"))?;

        let inner = Inner {
            client,
            http,
            api_base,
            secret_key: config.secret_key.clone(),
        };
        Ok(Self {
            inner: Arc::new(inner),
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// Overrides the per-call timeout (tests use a short one to exercise the timeout path).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens a hosted Checkout Session for one subscription to `req.price_id`.
    ///
    /// The AURA customer and signup ride along three times: `client_reference_id` and the
    /// session metadata identify the session when the user comes back, and the subscription
    /// metadata identifies every later subscription event. The idempotency key makes a double
    /// tap, or a retry after a lost response, return the same session.
    pub async fn create_checkout(
        &self,
        req: &CheckoutRequest,
    ) -> Result<CheckoutSession, GatewayError> {
        let key = IdempotencyKey::new(&req.idempotency_key)
            .map_err(|e| GatewayError::Rejected(format!("unusable idempotency key: {e}")))?;

        let metadata = HashMap::from([
            ("aura_customer_id".to_owned(), req.customer_id.to_string()),
            ("signup_id".to_owned(), req.signup_id.to_string()),
        ]);
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(req.price_id.clone());
        item.quantity = Some(1);
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(metadata.clone());

        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![item])
            .client_reference_id(req.customer_id.to_string())
            .metadata(metadata)
            .subscription_data(subscription_data)
            .success_url(&req.success_url)
            .cancel_url(&req.cancel_url)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .timeout(self.timeout)
            .send(&self.inner.client)
            .await
            .map_err(|e| map_client_error("create checkout session", e))?;

        let url = session
            .url
            .ok_or_else(|| unreadable("create checkout session", "the session has no url"))?;
        tracing::info!(session = %session.id, signup = %req.signup_id, "stripe checkout session ready");
        Ok(CheckoutSession {
            id: session.id.to_string(),
            url,
        })
    }

    /// What Stripe says about a session now. Only `complete` with the payment settled (or none
    /// needed) counts as paid; `open` means the user can still go back and pay.
    pub async fn checkout_state(&self, session_id: &str) -> Result<CheckoutState, GatewayError> {
        ensure_stripe_id(session_id)?;

        let session = RetrieveCheckoutSession::new(session_id)
            .customize()
            .timeout(self.timeout)
            .send(&self.inner.client)
            .await
            .map_err(|e| map_client_error("retrieve checkout session", e))?;

        let status = session.status.as_ref();
        let settled = matches!(
            session.payment_status,
            CheckoutSessionPaymentStatus::Paid | CheckoutSessionPaymentStatus::NoPaymentRequired
        );
        Ok(CheckoutState {
            id: session.id.to_string(),
            open: status == Some(&CheckoutSessionStatus::Open),
            paid: status == Some(&CheckoutSessionStatus::Complete) && settled,
            customer_ref: session.client_reference_id,
            signup_ref: session
                .metadata
                .as_ref()
                .and_then(|m| m.get("signup_id").cloned()),
            gateway_customer: session.customer.as_ref().map(|c| c.id().to_string()),
            gateway_subscription: session.subscription.as_ref().map(|s| s.id().to_string()),
        })
    }

    /// Closes an open session so it can no longer be paid. Stripe refuses (400) a session
    /// that is not open any more, completed or expired: `Rejected`.
    pub async fn expire_checkout(&self, session_id: &str) -> Result<(), GatewayError> {
        ensure_stripe_id(session_id)?;
        ExpireCheckoutSession::new(session_id)
            .customize()
            .timeout(self.timeout)
            .send(&self.inner.client)
            .await
            .map_err(|e| map_client_error("expire checkout session", e))?;
        tracing::info!(session = %session_id, "stripe checkout session expired");
        Ok(())
    }

    /// The subscription as Stripe has it now, read from the raw JSON (see the module note).
    pub async fn subscription(
        &self,
        subscription_id: &str,
    ) -> Result<GatewaySubscription, GatewayError> {
        ensure_stripe_id(subscription_id)?;
        // The latest invoice comes expanded: whether it is still owed decides what is paid.
        let body = self
            .get_json(&format!(
                "v1/subscriptions/{subscription_id}?expand%5B%5D=latest_invoice"
            ))
            .await?;
        let subscription = read_subscription(&body)
            .map_err(|reason| unreadable("retrieve subscription", &reason))?;
        tracing::debug!(subscription = %subscription.id, status = subscription.status.as_str(), "stripe subscription read");
        Ok(subscription)
    }

    /// Cancels a subscription now, so the customer is no longer charged. An operator's
    /// comment rides along in `cancellation_details[comment]`. A subscription Stripe no longer
    /// knows, or already ended, is reported as `NotFound`; the sync reads its state anyway.
    pub async fn cancel_subscription(
        &self,
        subscription_id: &str,
        comment: &str,
    ) -> Result<(), GatewayError> {
        ensure_stripe_id(subscription_id)?;
        let form = [("cancellation_details[comment]", comment)];
        let path = format!("v1/subscriptions/{subscription_id}");
        self.call_json(reqwest::Method::DELETE, &path, &form)
            .await?;
        tracing::info!(subscription = %subscription_id, "stripe subscription cancelled");
        Ok(())
    }

    async fn get_json(&self, path: &str) -> Result<Value, GatewayError> {
        self.call_json(reqwest::Method::GET, path, &[]).await
    }

    /// Calls `{api_base}{path}` with the secret key and the API version the typed client pins,
    /// so both paths see the same shapes; `form` is sent form-encoded, as Stripe takes it.
    /// Errors follow the same mapping as the typed client.
    async fn call_json(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, GatewayError> {
        let url = self
            .inner
            .api_base
            .join(path)
            .map_err(|e| GatewayError::Rejected(format!("bad Stripe URL: {e}")))?;
        let mut request = self.inner.http.request(method, url);
        if !form.is_empty() {
            request = request.form(form);
        }
        let response = request
            .bearer_auth(self.inner.secret_key.expose())
            .header("Stripe-Version", stripe_shared::version::VERSION.as_str())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| map_transport_error(path, &e))?;

        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| map_transport_error(path, &e))?;
        if !status.is_success() {
            let error = serde_json::from_slice::<Value>(&bytes).ok();
            return Err(map_status(
                path,
                status.as_u16(),
                &describe_error_body(error.as_ref()),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| unreadable(path, &format!("not JSON ({e})")))
    }
}

/// async-stripe's TLS connector takes rustls's process-wide crypto provider. When more than
/// one provider is compiled in (a dev-dependency brings aws-lc-rs beside our ring), rustls
/// cannot choose and panics, so ring is installed first unless something already chose.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Stripe ids are `prefix_` plus letters and digits. Anything else is refused before it is
/// put in a URL path, so a crafted `session_id` from a query string cannot reach another
/// endpoint with our key. Such an id cannot exist at Stripe, hence `NotFound`.
fn ensure_stripe_id(id: &str) -> Result<(), GatewayError> {
    let plausible = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plausible {
        Ok(())
    } else {
        Err(GatewayError::NotFound)
    }
}

/// Maps a subscription object, in either the current shape (period on the items) or an older
/// one (period on the subscription).
fn read_subscription(body: &Value) -> Result<GatewaySubscription, String> {
    let id = str_at(body, "/id").ok_or("no id")?;
    let gateway_customer = expandable_id(body.get("customer")).ok_or("no customer")?;
    let status = SubscriptionStatus::parse(str_at(body, "/status").ok_or("no status")?);
    let items = body
        .pointer("/items/data")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();

    let period = current_period(body, items);
    let period_optional = matches!(
        status,
        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
    );
    if period.is_none() && !period_optional {
        return Err(format!(
            "a {} subscription without current_period_end on its items or itself",
            status.as_str()
        ));
    }
    let paid_through = period.and_then(|p| paid_through(&status, body.get("latest_invoice"), p));

    let price_id = items.first().and_then(|item| {
        expandable_id(item.get("price")).or_else(|| expandable_id(item.get("plan")))
    });
    Ok(GatewaySubscription {
        id: id.to_owned(),
        gateway_customer,
        status,
        paid_through,
        cancel_at_period_end: body
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cancellation_reason: str_at(body, "/cancellation_details/reason").map(str::to_owned),
        price_id,
        aura_customer_id: str_at(body, "/metadata/aura_customer_id")
            .and_then(CustomerId::parse_digits),
        signup_id: str_at(body, "/metadata/signup_id").map(str::to_owned),
    })
}

/// The billing period now running, as `(start, end)`: the item whose period ends last
/// (current API versions), else the subscription's own (older versions). Zero, negative or
/// missing values are never turned into a date, so no 1970 "paid through" can appear.
fn current_period(body: &Value, items: &[Value]) -> Option<(Option<DateTime<Utc>>, DateTime<Utc>)> {
    let seconds =
        |holder: &Value, field: &str| holder.get(field).and_then(Value::as_i64).filter(|t| *t > 0);
    let holder = items
        .iter()
        .filter(|item| seconds(item, "current_period_end").is_some())
        .max_by_key(|item| seconds(item, "current_period_end"))
        .unwrap_or(body);
    let end = DateTime::from_timestamp(seconds(holder, "current_period_end")?, 0)?;
    let start =
        seconds(holder, "current_period_start").and_then(|t| DateTime::from_timestamp(t, 0));
    Some((start, end))
}

/// The end of what the customer has paid for. Stripe moves a subscription into its next
/// period when it bills the renewal, before the invoice is paid and whether or not it ever
/// is, so the running period counts as paid only while the subscription is active (or in a
/// trial) and its latest invoice is not still owed. Otherwise (a renewal waiting to be
/// charged, `past_due`, `unpaid`, `paused`, a status never seen) the customer has paid
/// through the start of the running period, and coverage is not extended for it.
fn paid_through(
    status: &SubscriptionStatus,
    latest_invoice: Option<&Value>,
    (start, end): (Option<DateTime<Utc>>, DateTime<Utc>),
) -> Option<DateTime<Utc>> {
    use SubscriptionStatus as S;
    match status {
        S::Active | S::Trialing if !invoice_owed(latest_invoice) => Some(end),
        S::Canceled | S::IncompleteExpired => Some(end),
        _ => start,
    }
}

/// Whether an expanded latest invoice still waits for money. An unexpanded id says nothing
/// either way and is taken as settled, as Stripe's `active` status says.
fn invoice_owed(invoice: Option<&Value>) -> bool {
    let Some(invoice) = invoice.filter(|i| i.is_object()) else {
        return false;
    };
    let unsettled = matches!(
        invoice.get("status").and_then(Value::as_str),
        Some("draft" | "open" | "uncollectible")
    );
    let remaining = invoice
        .get("amount_remaining")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    unsettled && remaining > 0
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An expandable reference: an id string or an expanded object carrying `id`.
fn expandable_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(obj) => obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}

/// A Stripe answer we could not read. Retryable: the object is fine at Stripe and a fixed
/// build reading it again will succeed, so the work must not be dropped.
fn unreadable(call: &str, reason: &str) -> GatewayError {
    tracing::error!(call, reason, "unreadable Stripe response");
    GatewayError::Transient(format!("{call}: unreadable Stripe response: {reason}"))
}

/// Sorts an `async-stripe` error into the seam's three kinds.
fn map_client_error(call: &str, error: StripeError) -> GatewayError {
    match error {
        StripeError::Stripe(api, status) => {
            let detail = format!(
                "{} {} {}",
                api.type_.as_str(),
                api.code.as_ref().map_or("", |c| c.as_str()),
                api.message.as_deref().unwrap_or("")
            );
            map_status(call, status, detail.trim())
        }
        StripeError::Timeout => {
            tracing::warn!(call, "stripe call timed out");
            GatewayError::Transient(format!("{call}: timed out"))
        }
        StripeError::ClientError(e) => {
            tracing::warn!(call, error = %e, "stripe call failed to connect");
            GatewayError::Transient(format!("{call}: {e}"))
        }
        // Raised for an error status whose body is not Stripe's error JSON (a proxy's 502
        // page, say) as well as for an unreadable success body: retryable either way.
        StripeError::JSONDeserialize(e) => unreadable(call, &e),
        StripeError::ConfigError(e) => GatewayError::Rejected(format!("{call}: {e}")),
    }
}

/// 404 is a missing object; 409 (a concurrent request holding the same idempotency key), 429
/// and 5xx are worth retrying; any other refusal is final.
fn map_status(call: &str, status: u16, detail: &str) -> GatewayError {
    match status {
        404 => GatewayError::NotFound,
        409 | 429 | 500..=599 => {
            tracing::warn!(call, status, "stripe answered with a retryable status");
            GatewayError::Transient(format!("{call}: Stripe answered {status}: {detail}"))
        }
        _ => {
            tracing::warn!(call, status, "stripe refused the request");
            GatewayError::Rejected(format!("{call}: Stripe answered {status}: {detail}"))
        }
    }
}

fn map_transport_error(call: &str, error: &reqwest::Error) -> GatewayError {
    let kind = if error.is_timeout() {
        "timed out"
    } else {
        "could not reach Stripe"
    };
    tracing::warn!(call, kind, "stripe call failed");
    GatewayError::Transient(format!("{call}: {kind}: {error}"))
}

/// `type code message` from Stripe's error JSON, or a placeholder for a foreign body.
fn describe_error_body(body: Option<&Value>) -> String {
    let Some(error) = body.and_then(|b| b.get("error")) else {
        return "(not a Stripe error body)".into();
    };
    ["/type", "/code", "/message"]
        .iter()
        .filter_map(|p| str_at(error, p))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SUBSCRIPTION: &str = include_str!("../../tests/fixtures/stripe/subscription.json");

    /// Stripe's example subscription with the fields these tests are about set.
    fn subscription(item_period_end: Option<i64>, own_period_end: Option<i64>) -> Value {
        let mut sub: Value = serde_json::from_str(SUBSCRIPTION).unwrap();
        sub["metadata"] =
            json!({ "aura_customer_id": "4711", "signup_id": "0123456789abcdef0123456789abcdef" });
        let item = &mut sub["items"]["data"][0];
        match item_period_end {
            Some(t) => item["current_period_end"] = json!(t),
            None => {
                item.as_object_mut().unwrap().remove("current_period_end");
            }
        }
        if let Some(t) = own_period_end {
            sub["current_period_end"] = json!(t);
        }
        sub
    }

    #[test]
    fn current_api_shape_takes_the_period_end_from_the_item() {
        let read = read_subscription(&subscription(Some(1_800_000_000), None)).unwrap();
        assert_eq!(
            read.paid_through,
            DateTime::from_timestamp(1_800_000_000, 0)
        );
        assert_eq!(read.id, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw");
        assert_eq!(read.gateway_customer, "cus_QXg1o8vcGmoR32");
        assert_eq!(read.status, SubscriptionStatus::Active);
        assert!(read.cancel_at_period_end);
        assert_eq!(
            read.price_id.as_deref(),
            Some("price_1PgafmB7WZ01zgkW6dKueIc5")
        );
        assert_eq!(read.aura_customer_id, CustomerId::new(4711));
        assert_eq!(
            read.signup_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
    }

    #[test]
    fn older_api_shape_takes_the_period_end_from_the_subscription() {
        let read = read_subscription(&subscription(None, Some(1_700_000_000))).unwrap();
        assert_eq!(
            read.paid_through,
            DateTime::from_timestamp(1_700_000_000, 0)
        );
    }

    #[test]
    fn latest_item_period_end_wins_over_earlier_items_and_the_subscription() {
        let mut sub = subscription(Some(1_800_000_000), Some(1_600_000_000));
        let mut second = sub["items"]["data"][0].clone();
        second["current_period_end"] = json!(1_900_000_000);
        sub["items"]["data"].as_array_mut().unwrap().push(second);
        let read = read_subscription(&sub).unwrap();
        assert_eq!(
            read.paid_through,
            DateTime::from_timestamp(1_900_000_000, 0)
        );
    }

    #[test]
    fn a_past_due_or_unpaid_subscription_is_paid_through_the_start_of_its_running_period() {
        for status in [
            "past_due",
            "unpaid",
            "paused",
            "incomplete",
            "something_new",
        ] {
            let mut sub = subscription(Some(1_800_000_000), None);
            sub["items"]["data"][0]["current_period_start"] = json!(1_797_400_000);
            sub["status"] = json!(status);
            let read = read_subscription(&sub).unwrap();
            assert_eq!(
                read.paid_through,
                DateTime::from_timestamp(1_797_400_000, 0),
                "{status}"
            );
        }
    }

    #[test]
    fn an_active_subscription_whose_renewal_is_still_owed_is_paid_through_the_period_start() {
        let mut sub = subscription(Some(1_800_000_000), None);
        sub["items"]["data"][0]["current_period_start"] = json!(1_797_400_000);
        for (status, remaining, paid_through) in [
            ("draft", 9900, 1_797_400_000),
            ("open", 9900, 1_797_400_000),
            ("uncollectible", 9900, 1_797_400_000),
            ("open", 0, 1_800_000_000),
            ("paid", 0, 1_800_000_000),
            ("void", 0, 1_800_000_000),
        ] {
            sub["latest_invoice"] = json!({ "id": "in_1", "object": "invoice", "status": status, "amount_remaining": remaining });
            let read = read_subscription(&sub).unwrap();
            assert_eq!(
                read.paid_through,
                DateTime::from_timestamp(paid_through, 0),
                "{status} {remaining}"
            );
        }
        sub["latest_invoice"] = json!("in_1");
        let read = read_subscription(&sub).unwrap();
        assert_eq!(
            read.paid_through,
            DateTime::from_timestamp(1_800_000_000, 0)
        );
    }

    #[test]
    fn active_subscription_without_any_period_end_is_an_error_not_1970() {
        for sub in [
            subscription(None, None),
            subscription(Some(0), None),
            subscription(None, Some(0)),
        ] {
            let err = read_subscription(&sub).unwrap_err();
            assert!(err.contains("current_period_end"), "{err}");
        }
    }

    #[test]
    fn canceled_subscription_without_a_period_end_reads_as_unknown() {
        let mut sub = subscription(None, None);
        sub["status"] = json!("canceled");
        sub["cancellation_details"]["reason"] = json!("payment_failed");
        let read = read_subscription(&sub).unwrap();
        assert_eq!(read.paid_through, None);
        assert_eq!(read.status, SubscriptionStatus::Canceled);
        assert_eq!(read.cancellation_reason.as_deref(), Some("payment_failed"));
    }

    #[test]
    fn unknown_status_and_expanded_customer_are_kept() {
        let mut sub = subscription(Some(1_800_000_000), None);
        sub["status"] = json!("suspended_for_review");
        sub["customer"] = json!({ "id": "cus_expanded", "object": "customer" });
        let read = read_subscription(&sub).unwrap();
        assert_eq!(
            read.status,
            SubscriptionStatus::Other("suspended_for_review".into())
        );
        assert_eq!(read.gateway_customer, "cus_expanded");
    }

    #[test]
    fn customer_id_metadata_that_is_not_digits_is_dropped() {
        let mut sub = subscription(Some(1_800_000_000), None);
        sub["metadata"]["aura_customer_id"] = json!("12.5");
        assert_eq!(read_subscription(&sub).unwrap().aura_customer_id, None);
    }

    #[test]
    fn statuses_map_to_the_three_error_kinds() {
        assert!(matches!(map_status("t", 404, ""), GatewayError::NotFound));
        for status in [409, 429, 500, 502, 503] {
            assert!(map_status("t", status, "").is_retryable(), "{status}");
        }
        for status in [400, 401, 402, 403] {
            assert!(
                matches!(map_status("t", status, ""), GatewayError::Rejected(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn ids_that_could_escape_the_url_path_are_refused() {
        for bad in [
            "",
            "cs_1/../../v1/customers",
            "sub 1",
            "sub_1?expand[]=x",
            "sub_1%2F",
            "sub_1#",
        ] {
            assert!(
                matches!(ensure_stripe_id(bad), Err(GatewayError::NotFound)),
                "{bad:?}"
            );
        }
        assert!(
            ensure_stripe_id("cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY")
                .is_ok()
        );
    }

    #[test]
    fn api_base_without_trailing_slash_gets_one() {
        let config = StripeConfig {
            secret_key: Secret::new("sk_test_x"),
            api_base: Some(Url::parse("http://127.0.0.1:9/stripe").unwrap()),
            webhook_secrets: vec![],
        };
        let gateway = StripeGateway::new(&config).unwrap();
        assert_eq!(
            gateway.inner.api_base.as_str(),
            "http://127.0.0.1:9/stripe/"
        );
        assert!(!format!("{gateway:?}").contains("sk_test_x"));
    }
}
