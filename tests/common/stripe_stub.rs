//! A local stand-in for the parts of the Stripe API this service calls, for integration tests.
//!
//! It listens on 127.0.0.1 (a free port) and answers like Stripe: form-encoded requests,
//! bearer-key authentication, `Idempotency-Key` replay, and Stripe's error shape. Every body
//! starts from Stripe's published example object (`tests/fixtures/stripe/`) with only the
//! fields that matter overwritten, so the real `async-stripe` client parses real shapes.
//! Tests drive it through plain methods (`complete_session`, `set_subscription`,
//! `fail_next`, ...) and inspect what it received through `requests`.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use aura_signup::config::{Secret, StripeConfig};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use url::Url;

pub const SECRET_KEY: &str = "sk_test_stub_4eC39HqLyjWDarjtT1zdp7dc";
pub const WEBHOOK_SECRET: &str = "whsec_stub_primary";
const DAY: i64 = 86_400;

/// Stripe's example object of the given kind (`checkout_session`, `subscription`, ...).
pub fn fixture(kind: &str) -> Value {
    let text = match kind {
        "checkout_session" => include_str!("../fixtures/stripe/checkout_session.json"),
        "subscription" => include_str!("../fixtures/stripe/subscription.json"),
        "subscription_item" => include_str!("../fixtures/stripe/subscription_item.json"),
        "invoice" => include_str!("../fixtures/stripe/invoice.json"),
        "event" => include_str!("../fixtures/stripe/event.json"),
        "customer" => include_str!("../fixtures/stripe/customer.json"),
        "price" => include_str!("../fixtures/stripe/price.json"),
        other => panic!("no Stripe fixture named {other}"),
    };
    serde_json::from_str(text).expect("fixtures are JSON")
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One request as the stand-in received it. `form` holds the decoded form fields under
/// Stripe's bracketed names (`line_items[0][price]`, `metadata[signup_id]`, ...).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: BTreeMap<String, String>,
}

/// A canned failure for the next requests: a status, and a body (Stripe's error JSON unless
/// set), optionally after a stall to trip the client's timeout.
#[derive(Clone)]
struct Fault {
    remaining: usize,
    status: StatusCode,
    body: Option<String>,
    stall: Duration,
}

/// The price and `subscription_data[metadata]` a session was opened with.
#[derive(Clone)]
struct SessionOrder {
    price: Option<String>,
    subscription_metadata: Value,
}

#[derive(Default)]
struct StubState {
    counter: u64,
    sessions: HashMap<String, Value>,
    /// What a session was created with that its answer does not show, used on completion.
    session_orders: HashMap<String, SessionOrder>,
    sessions_created: usize,
    /// Idempotency key -> (the form it came with, the response body first given).
    idempotent: HashMap<String, (BTreeMap<String, String>, Value)>,
    subscriptions: HashMap<String, Value>,
    invoices: HashMap<String, Value>,
    requests: Vec<RecordedRequest>,
    fault: Option<Fault>,
}

impl StubState {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!(
            "{prefix}_stub{:04}{}",
            self.counter,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }
}

/// Handle to a running stand-in. Clones share the same server and state.
#[derive(Clone)]
pub struct StripeStub {
    addr: SocketAddr,
    state: Arc<Mutex<StubState>>,
}

impl StripeStub {
    /// Starts the server on a free local port; it runs until the test's runtime ends.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(StubState::default()));
        let app = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
            .route(
                "/v1/subscriptions/{id}",
                get(retrieve_subscription).delete(cancel_subscription),
            )
            .fallback(unknown_route)
            .with_state(state.clone());

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("stripe stub serves")
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("valid URL")
    }

    /// A Stripe configuration pointing at this stand-in, as `STRIPE_API_BASE` would.
    pub fn config(&self) -> StripeConfig {
        StripeConfig {
            secret_key: Secret::new(SECRET_KEY),
            api_base: Some(self.base_url()),
            webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
        }
    }

    fn state(&self) -> MutexGuard<'_, StubState> {
        self.state.lock().expect("stub state lock")
    }

    /// Marks a session complete, as when the user finished Checkout, and creates its
    /// subscription (active when `paid`, incomplete otherwise) with an item whose period ends
    /// in 30 days and the metadata the session passed in `subscription_data`.
    /// Returns the new subscription id.
    pub fn complete_session(&self, session_id: &str, paid: bool) -> String {
        let mut state = self.state();
        let subscription_id = state.next_id("sub");
        let customer_id = state.next_id("cus");
        let order = state
            .session_orders
            .get(session_id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {session_id}"));
        let session = state
            .sessions
            .get_mut(session_id)
            .expect("a session for every order");

        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["customer"] = json!(customer_id);
        session["subscription"] = json!(subscription_id);

        let status = if paid { "active" } else { "incomplete" };
        let price = order.price.as_deref().unwrap_or("price_stub_single");
        let subscription = new_subscription(
            &subscription_id,
            &customer_id,
            status,
            price,
            order.subscription_metadata,
        );
        state
            .subscriptions
            .insert(subscription_id.clone(), subscription);
        subscription_id
    }

    /// Creates or updates a subscription with the state a test needs, in the current API shape
    /// (billing period on the item).
    pub fn set_subscription(
        &self,
        id: &str,
        status: &str,
        period_end: i64,
        cancel_at_period_end: bool,
        cancellation_reason: Option<&str>,
    ) {
        let mut state = self.state();
        let subscription = state.subscriptions.entry(id.to_owned()).or_insert_with(|| {
            new_subscription(id, "cus_stub_set", "active", "price_stub_single", json!({}))
        });

        subscription["status"] = json!(status);
        subscription["items"]["data"][0]["current_period_start"] = json!(period_end - 30 * DAY);
        subscription["items"]["data"][0]["current_period_end"] = json!(period_end);
        subscription["cancel_at_period_end"] = json!(cancel_at_period_end);
        subscription["cancel_at"] = if cancel_at_period_end {
            json!(period_end)
        } else {
            json!(null)
        };
        subscription["cancellation_details"]["reason"] = json!(cancellation_reason);
        if status == "canceled" {
            subscription["canceled_at"] = json!(now());
            subscription["ended_at"] = json!(now());
        }
    }

    /// Rewrites a subscription the way an older API version sends it: the billing period on
    /// the subscription itself and not on its items.
    pub fn use_legacy_period_shape(&self, id: &str) {
        let mut state = self.state();
        let subscription = state
            .subscriptions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no subscription {id}"));
        for field in ["current_period_start", "current_period_end"] {
            let value = subscription["items"]["data"][0]
                .as_object_mut()
                .and_then(|item| item.remove(field));
            subscription[field] = value.unwrap_or(Value::Null);
        }
    }

    /// Bills a subscription's running period: a new invoice in `status` (`draft`, `open`,
    /// `paid`, ...) becomes its `latest_invoice`, still owing the whole amount unless paid.
    /// Returns the invoice, for the events that carry it.
    pub fn set_latest_invoice(&self, subscription: &str, status: &str) -> Value {
        let mut state = self.state();
        let id = state.next_id("in");
        let mut invoice = fixture("invoice");
        let due = invoice["amount_due"].as_i64().unwrap_or(1000);
        invoice["id"] = json!(id);
        invoice["status"] = json!(status);
        invoice["billing_reason"] = json!("subscription_cycle");
        invoice["amount_remaining"] = json!(if status == "paid" { 0 } else { due });
        invoice["amount_paid"] = json!(if status == "paid" { due } else { 0 });
        invoice["parent"] = json!({
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": subscription },
            "type": "subscription_details"
        });
        let body = state
            .subscriptions
            .get_mut(subscription)
            .unwrap_or_else(|| panic!("no subscription {subscription}"));
        body["latest_invoice"] = json!(id);
        state.invoices.insert(id, invoice.clone());
        invoice
    }

    /// Replaces a subscription's whole body, for shapes the other controls do not make.
    pub fn put_subscription(&self, body: Value) {
        let id = body["id"]
            .as_str()
            .expect("subscription has an id")
            .to_owned();
        self.state().subscriptions.insert(id, body);
    }

    pub fn session(&self, id: &str) -> Option<Value> {
        self.state().sessions.get(id).cloned()
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.state().subscriptions.get(id).cloned()
    }

    /// How many distinct sessions were created (idempotent replays do not count).
    pub fn sessions_created(&self) -> usize {
        self.state().sessions_created
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// The next `n` requests fail with `status` and Stripe's error JSON.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.set_fault(n, status, None, Duration::ZERO);
    }

    /// The next `n` requests fail with `status` and a body that is not Stripe's (a proxy's).
    pub fn fail_next_with_body(&self, n: usize, status: u16, body: &str) {
        self.set_fault(n, status, Some(body.to_owned()), Duration::ZERO);
    }

    /// The next `n` requests wait `stall` before failing with 504, to trip client timeouts.
    pub fn stall_next(&self, n: usize, stall: Duration) {
        self.set_fault(n, 504, None, stall);
    }

    fn set_fault(&self, n: usize, status: u16, body: Option<String>, stall: Duration) {
        let status = StatusCode::from_u16(status).expect("valid status");
        // Zero failures means none: no fault is left armed with nothing to count down.
        self.state().fault = (n > 0).then_some(Fault {
            remaining: n,
            status,
            body,
            stall,
        });
    }

    /// A Stripe-shaped event around `object`, pretty-printed as Stripe sends it: a unique
    /// `evt_` id, the client's API version, `created` now, test mode.
    pub fn event(&self, event_type: &str, object: Value) -> Vec<u8> {
        let id = self.state().next_id("evt");
        let mut event = fixture("event");
        event["id"] = json!(id);
        event["type"] = json!(event_type);
        event["api_version"] = json!(stripe_shared::version::VERSION.as_str());
        event["created"] = json!(now());
        event["livemode"] = json!(false);
        event["pending_webhooks"] = json!(1);
        event["data"] = json!({ "object": object });
        serde_json::to_vec_pretty(&event).expect("serialisable")
    }

    /// A `Stripe-Signature` header for `body`, signed now with the stand-in's webhook secret.
    pub fn sign(&self, body: &[u8]) -> String {
        aura_signup::webhooks::signature::sign(WEBHOOK_SECRET, now(), body)
    }
}

/// A subscription from Stripe's example, in the current shape, with the fields we read set.
fn new_subscription(id: &str, customer: &str, status: &str, price: &str, metadata: Value) -> Value {
    let now = now();
    let mut item = fixture("subscription_item");
    item["id"] = json!(format!("si_{}", id.trim_start_matches("sub_")));
    item["subscription"] = json!(id);
    item["created"] = json!(now);
    item["current_period_start"] = json!(now);
    item["current_period_end"] = json!(now + 30 * DAY);
    item["price"]["id"] = json!(price);
    item["plan"]["id"] = json!(price);

    let mut sub = fixture("subscription");
    for (field, value) in [
        ("id", json!(id)),
        ("customer", json!(customer)),
        ("status", json!(status)),
        ("metadata", metadata),
        ("created", json!(now)),
        ("start_date", json!(now)),
        ("billing_cycle_anchor", json!(now)),
        ("cancel_at_period_end", json!(false)),
        ("cancel_at", json!(null)),
        ("canceled_at", json!(null)),
        ("ended_at", json!(null)),
        ("trial_start", json!(null)),
        ("trial_end", json!(null)),
        ("pending_update", json!(null)),
        ("pause_collection", json!(null)),
        (
            "cancellation_details",
            json!({ "comment": null, "feedback": null, "reason": null }),
        ),
    ] {
        sub[field] = value;
    }
    sub["items"]["data"] = json!([item]);
    sub["items"]["url"] = json!(format!("/v1/subscription_items?subscription={id}"));
    sub
}

/// A session from Stripe's example for a create request, as Stripe answers it: open, unpaid.
fn new_session(id: &str, form: &BTreeMap<String, String>) -> Value {
    let now = now();
    let metadata = bracketed(form, "metadata");
    let mut session = fixture("checkout_session");
    for (field, value) in [
        ("id", json!(id)),
        ("mode", json!(form.get("mode"))),
        ("status", json!("open")),
        ("payment_status", json!("unpaid")),
        (
            "client_reference_id",
            json!(form.get("client_reference_id")),
        ),
        ("metadata", metadata),
        ("success_url", json!(form.get("success_url"))),
        ("cancel_url", json!(form.get("cancel_url"))),
        (
            "url",
            json!(format!("https://checkout.stripe.com/c/pay/{id}")),
        ),
        ("created", json!(now)),
        ("expires_at", json!(now + DAY)),
        ("customer", json!(null)),
        ("customer_details", json!(null)),
        ("subscription", json!(null)),
        ("payment_intent", json!(null)),
    ] {
        session[field] = value;
    }
    session
}

/// The fields `prefix[key]=value` of a form, as a JSON object `{key: value}`.
fn bracketed(form: &BTreeMap<String, String>, prefix: &str) -> Value {
    let opening = format!("{prefix}[");
    let entries = form.iter().filter_map(|(name, value)| {
        let key = name.strip_prefix(&opening)?.strip_suffix(']')?;
        (!key.contains('[')).then(|| (key.to_owned(), json!(value)))
    });
    Value::Object(entries.collect())
}

type Shared = State<Arc<Mutex<StubState>>>;

/// Records the request, then applies what every Stripe endpoint does first: the key check
/// and any canned fault. `Err` is the response to send instead of the endpoint's.
async fn intake(
    state: &Arc<Mutex<StubState>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    form: BTreeMap<String, String>,
) -> Result<(), Response> {
    let fault = {
        let mut state = state.lock().expect("stub state lock");
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            idempotency_key: header(headers, "idempotency-key"),
            form,
        });
        take_fault(&mut state)
    };

    if let Some(fault) = fault {
        tokio::time::sleep(fault.stall).await;
        return Err(match fault.body {
            Some(body) => (fault.status, body).into_response(),
            None if fault.status == StatusCode::TOO_MANY_REQUESTS => stripe_error(
                fault.status,
                "invalid_request_error",
                Some("rate_limit"),
                "Too many requests hit the API too quickly.",
            ),
            None => stripe_error(
                fault.status,
                "api_error",
                None,
                "The stand-in was told to fail this request.",
            ),
        });
    }
    if header(headers, "authorization").as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided.",
        ));
    }
    Ok(())
}

fn take_fault(state: &mut StubState) -> Option<Fault> {
    let fault = state.fault.as_mut()?;
    fault.remaining -= 1;
    let taken = fault.clone();
    if fault.remaining == 0 {
        state.fault = None;
    }
    Some(taken)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Stripe's error body: `{"error": {"type", "code", "message"}}`.
fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({ "error": { "type": kind, "code": code, "message": message } });
    (status, Json(body)).into_response()
}

fn missing(kind: &str, id: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

/// `POST /v1/checkout/sessions`: a new open session, or the first answer again for a repeated
/// `Idempotency-Key` with the same parameters (a different body is refused, as Stripe does).
async fn create_session(
    State(state): Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if let Err(response) = intake(&state, &method, &uri, &headers, form.clone()).await {
        return response;
    }
    for required in ["mode", "line_items[0][price]", "success_url"] {
        if !form.contains_key(required) {
            let message = format!("Missing required param: {required}.");
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                &message,
            );
        }
    }

    let mut state = state.lock().expect("stub state lock");
    let key = header(&headers, "idempotency-key");
    if let Some((first_form, first_answer)) = key.as_ref().and_then(|k| state.idempotent.get(k)) {
        if *first_form != form {
            let message = "Keys for idempotent requests can only be used with the same parameters they were first used with.";
            return stripe_error(StatusCode::BAD_REQUEST, "idempotency_error", None, message);
        }
        return Json(first_answer.clone()).into_response();
    }

    let id = state.next_id("cs_test");
    let session = new_session(&id, &form);
    let order = SessionOrder {
        price: form.get("line_items[0][price]").cloned(),
        subscription_metadata: bracketed(&form, "subscription_data[metadata]"),
    };
    state.session_orders.insert(id.clone(), order);
    state.sessions.insert(id, session.clone());
    state.sessions_created += 1;
    if let Some(key) = key {
        state.idempotent.insert(key, (form, session.clone()));
    }
    Json(session).into_response()
}

/// `GET /v1/checkout/sessions/{id}`.
async fn retrieve_session(
    State(state): Shared,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = intake(&state, &method, &uri, &headers, BTreeMap::new()).await {
        return response;
    }
    let state = state.lock().expect("stub state lock");
    match state.sessions.get(&id) {
        Some(session) => Json(session.clone()).into_response(),
        None => missing("checkout.session", &id),
    }
}

/// `POST /v1/checkout/sessions/{id}/expire`: only an open session can be expired.
async fn expire_session(
    State(state): Shared,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = intake(&state, &method, &uri, &headers, BTreeMap::new()).await {
        return response;
    }
    let mut state = state.lock().expect("stub state lock");
    let Some(session) = state.sessions.get_mut(&id) else {
        return missing("checkout.session", &id);
    };
    if session["status"] != "open" {
        let message = "Only Checkout Sessions with a status in [\"open\"] can be expired.";
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        );
    }
    session["status"] = json!("expired");
    Json(session.clone()).into_response()
}

/// `GET /v1/subscriptions/{id}`.
async fn retrieve_subscription(
    State(state): Shared,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = intake(&state, &method, &uri, &headers, BTreeMap::new()).await {
        return response;
    }
    let state = state.lock().expect("stub state lock");
    let Some(mut subscription) = state.subscriptions.get(&id).cloned() else {
        return missing("subscription", &id);
    };
    if expands(&uri, "latest_invoice")
        && let Some(invoice) = subscription["latest_invoice"]
            .as_str()
            .and_then(|id| state.invoices.get(id))
    {
        subscription["latest_invoice"] = invoice.clone();
    }
    Json(subscription).into_response()
}

/// `DELETE /v1/subscriptions/{id}`: cancelled now, with the comment given, as when a
/// subscription is cancelled through the API; an ended one cannot be cancelled again.
async fn cancel_subscription(
    State(state): Shared,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if let Err(response) = intake(&state, &method, &uri, &headers, form.clone()).await {
        return response;
    }
    let mut state = state.lock().expect("stub state lock");
    let Some(subscription) = state.subscriptions.get_mut(&id) else {
        return missing("subscription", &id);
    };
    if subscription["status"] == "canceled" {
        return missing("subscription", &id);
    }
    subscription["status"] = json!("canceled");
    subscription["canceled_at"] = json!(now());
    subscription["ended_at"] = json!(now());
    subscription["cancellation_details"] = json!({
        "comment": form.get("cancellation_details[comment]"),
        "feedback": null,
        "reason": "cancellation_requested",
    });
    Json(subscription.clone()).into_response()
}

/// Whether the query asks for `field` expanded (`expand[]=field`, as Stripe takes it).
fn expands(uri: &Uri, field: &str) -> bool {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "expand[]" && v == field)
}

async fn unknown_route(
    State(state): Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = intake(&state, &method, &uri, &headers, BTreeMap::new()).await {
        return response;
    }
    let message = format!("Unrecognized request URL ({method}: {}).", uri.path());
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        &message,
    )
}
