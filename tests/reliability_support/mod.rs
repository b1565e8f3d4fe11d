//! What the reliability suites share: the service wired to the Stripe stand-in and the AURA
//! simulator, gateway subscriptions and events in Stripe's shapes, waits bounded by a
//! deadline, counts of the changes AURA received, a capture of the service's log lines, and
//! the real `aura-signup` binary run as a process of its own.
#![allow(dead_code)]

use std::{
    io::Write,
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use aura_signup::{
    aura_sim::{SimCall, SimConfig, SimHandle, SimSubscription, Simulator},
    config::{DEV_SIM_CLIENT_ID, DEV_SIM_CLIENT_SECRET},
    store::{SYNC_SUBSCRIPTION, Store},
    sync::WorkerOptions,
};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::stripe_stub::{self, StripeStub};
use crate::support::{self, Backend, TestApp};

pub const DAY: i64 = 86_400;
/// `COVERAGE_MARGIN`'s default: AURA's `validTo` is the paid-through date plus this.
pub const MARGIN: i64 = 3 * DAY;
pub const PRICE_SINGLE: &str = "price_stub_single";
pub const PRICE_FAMILY: &str = "price_stub_family";

/// Every wait in these suites ends by this deadline unless a test says otherwise.
pub const WAIT: Duration = Duration::from_secs(30);

/// The environment that makes the service use the Stripe stand-in as its gateway.
pub fn stripe_env(stub: &StripeStub) -> Vec<(String, String)> {
    [
        ("STRIPE_SECRET_KEY", stripe_stub::SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", stripe_stub::WEBHOOK_SECRET),
        ("STRIPE_PRICE_SINGLE", PRICE_SINGLE),
        ("STRIPE_PRICE_FAMILY", PRICE_FAMILY),
        ("STRIPE_API_BASE", stub.base_url().as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The service on a fresh Postgres database, its embedded AURA simulator, and the Stripe
/// stand-in it takes as the gateway.
pub struct Rig {
    pub app: TestApp,
    pub stub: StripeStub,
}

pub async fn rig(extra: &[(&str, &str)]) -> Rig {
    rig_with(extra, support::fast_worker()).await
}

/// A [`Rig`] whose worker timings the test chooses; `extra` wins over the Stripe settings.
pub async fn rig_with(extra: &[(&str, &str)], worker: WorkerOptions) -> Rig {
    capture_logs();
    let stub = StripeStub::start().await;
    let env = stripe_env(&stub);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    let db = support::fresh_db(Backend::Postgres).await;
    let app = support::spawn_app_with(db, &pairs, worker).await;
    Rig { app, stub }
}

impl Rig {
    pub fn sim(&self) -> &Simulator {
        self.app
            .running
            .sim
            .as_ref()
            .expect("embedded simulator")
            .simulator()
    }

    pub fn store(&self) -> &Store {
        self.app.store()
    }

    /// A new AURA customer, as the app would have registered them before sign-up.
    pub fn customer(&self) -> i64 {
        self.sim().add_customer("Reliability Test")
    }

    /// Puts a subscription for `customer` at the stand-in; see [`gateway_subscription`].
    pub fn subscription(&self, id: &str, customer: i64, status: &str, period_end: i64) -> Value {
        gateway_subscription(&self.stub, id, customer, status, period_end)
    }

    /// Posts `body` to the webhook endpoint, signed now with the stand-in's secret.
    pub async fn deliver(&self, body: &[u8]) -> StatusCode {
        self.deliver_with(Some(&self.stub.sign(body)), body).await.0
    }

    /// Posts `body` with the given `Stripe-Signature` header (none when `None`).
    pub async fn deliver_with(&self, header: Option<&str>, body: &[u8]) -> (StatusCode, Value) {
        deliver_to(
            &self.app.http,
            &self.app.url("/webhooks/stripe"),
            header,
            body,
        )
        .await
    }

    /// Waits until the sync job of `subscription` has run to completion (its row is gone).
    pub async fn settled(&self, subscription: &str) {
        wait_settled(self.store(), subscription).await
    }

    /// The customer's one AURA subscription, which must exist and be the only one.
    pub fn only_aura_subscription(&self, customer: i64) -> SimSubscription {
        let subs = self.sim().subscriptions_of(customer);
        assert_eq!(subs.len(), 1, "one AURA subscription expected: {subs:?}");
        subs.into_iter().next().expect("checked")
    }

    /// Waits until the customer holds an open AURA subscription valid to exactly `valid_to`;
    /// on timeout the failure shows what AURA, the store and the queue hold.
    pub async fn aura_valid_to(&self, customer: i64, valid_to: i64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let subs = self.sim().subscriptions_of(customer);
            if subs
                .iter()
                .any(|s| !s.cancelled && s.valid_to.timestamp() == valid_to)
            {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let jobs = self.store().jobs(false).await.unwrap_or_default();
                let logs = log_lines_with("WARN").join("\n");
                panic!(
                    "AURA validTo {valid_to} for {customer} never came: AURA {subs:?}, jobs {jobs:?}\n{logs}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub async fn deliver_to(
    http: &reqwest::Client,
    url: &str,
    header: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    let response = request.send().await.expect("webhook request is answered");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn wait_settled(store: &Store, subscription: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let job = store
            .job_for(SYNC_SUBSCRIPTION, subscription)
            .await
            .expect("read jobs");
        match job {
            None => return,
            Some(job) if tokio::time::Instant::now() >= deadline => {
                panic!("the sync of {subscription} did not finish: {job:?}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// Polls `check` until it holds, failing the test after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sets a subscription at the stand-in in the current API shape (period on the item), tied
/// to `customer` through `metadata.aura_customer_id` as checkout ties it, and paid for by a
/// gateway customer of its own; returns its body.
pub fn gateway_subscription(
    stub: &StripeStub,
    id: &str,
    customer: i64,
    status: &str,
    period_end: i64,
) -> Value {
    stub.set_subscription(id, status, period_end, false, None);
    let mut body = stub.subscription(id).expect("just set");
    body["metadata"] = json!({ "aura_customer_id": customer.to_string() });
    body["customer"] = json!(format!("cus_rel{customer}"));
    stub.put_subscription(body.clone());
    body
}

/// A subscription-cycle invoice of `subscription`, in the current API shape.
pub fn invoice_for(subscription: &str) -> Value {
    let mut invoice = stripe_stub::fixture("invoice");
    invoice["id"] = json!(format!("in_{}", unique()));
    invoice["billing_reason"] = json!("subscription_cycle");
    invoice["parent"] = json!({
        "quote_details": null,
        "subscription_details": { "metadata": {}, "subscription": subscription },
        "type": "subscription_details"
    });
    invoice["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"] =
        json!(subscription);
    invoice
}

pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

pub fn new_subscription_id() -> String {
    format!("sub_rel{}", unique())
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a valid time")
}

/// The changes AURA accepted: creates, updates and cancellations answered 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    pub creates: usize,
    pub updates: usize,
    pub cancels: usize,
}

pub fn effects(calls: &[SimCall]) -> Effects {
    let mut effects = Effects::default();
    for call in calls {
        let accepted = call.status.is_some_and(|s| (200..300).contains(&s));
        let subscriptions = call.path.starts_with("/v2/subscriptions");
        if !accepted || !subscriptions || call.path.ends_with("subscriptionTypes") {
            continue;
        }
        match call.method.as_str() {
            "POST" => effects.creates += 1,
            "PUT" => effects.updates += 1,
            "DELETE" => effects.cancels += 1,
            _ => {}
        }
    }
    effects
}

/// Calls that reached AURA's API about customers and subscriptions: the simulator's own pages
/// and `/_sim/` excluded, and so are the server token and the list of subscription types,
/// which every process reads at start-up whatever arrives.
pub fn api_calls(calls: &[SimCall]) -> Vec<&SimCall> {
    calls
        .iter()
        .filter(|c| c.path.starts_with("/v2/"))
        .filter(|c| {
            !["/v2/oauth/token", "/v2/subscriptions/subscriptionTypes"].contains(&c.path.as_str())
        })
        .collect()
}

/// A simulator of AURA run by the test itself, for service processes to share.
pub async fn standalone_simulator() -> SimHandle {
    Simulator::new(SimConfig::default())
        .spawn("127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the simulator starts")
}

/// The environment a service process needs to use `sim` as AURA and `db_url` as its store.
pub fn process_env(db_url: &str, sim: &SimHandle, stub: &StripeStub) -> Vec<(String, String)> {
    let mut env = stripe_env(stub);
    for (k, v) in [
        ("DATABASE_URL", db_url),
        ("AURA_API_URL", sim.base_url.as_str()),
        ("AURA_CLIENT_ID", DEV_SIM_CLIENT_ID),
        ("AURA_CLIENT_SECRET", DEV_SIM_CLIENT_SECRET),
        ("REDIRECT_ALLOWED_ORIGINS", "http://127.0.0.1:9"),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    env
}

/// The `aura-signup` binary running as its own process, logging JSON lines.
pub struct ServiceProcess {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl ServiceProcess {
    /// Starts `aura-signup serve` and waits until it logs the address it serves on.
    pub async fn start(env: &[(String, String)]) -> Self {
        let mut child = binary(env)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the aura-signup binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        collect_lines(child.stdout.take().expect("piped"), log.clone(), Some(tx));
        collect_lines(child.stderr.take().expect("piped"), log.clone(), None);

        let addr = match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "the service did not report its address:\n{}",
                log.lock().unwrap().join("\n")
            ),
        };
        Self { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown hook, no draining, leases left as they are.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("the process can be killed");
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The binary with exactly `env` (nothing inherited but `PATH`), in a directory with no `.env`.
pub fn binary(env: &[(String, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aura-signup"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Keeps every line a child prints; sends the served address once the start-up line shows.
fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    mut addr: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(found) = served_addr(&line)
                && let Some(tx) = addr.take()
            {
                let _ = tx.send(found);
            }
            log.lock().unwrap().push(line);
        }
    });
}

fn served_addr(line: &str) -> Option<SocketAddr> {
    let value: Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "aura-signup is serving" {
        return None;
    }
    value.get("addr")?.as_str()?.parse().ok()
}

/// Every log line the in-process services wrote during this test binary's run.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a subscriber keeping the service's log lines for tests to search.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(aura_signup::telemetry::DEFAULT_FILTER)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        buffer
    });
}

/// The captured log lines that contain `needle`.
pub fn log_lines_with(needle: &str) -> Vec<String> {
    let Some(buffer) = LOGS.get() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    text.lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}
