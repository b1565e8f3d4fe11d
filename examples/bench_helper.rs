//! Helper for `bench/run.sh`: the pieces of the benchmark that `wrk`, `pgbench` and the shell
//! cannot do on their own.
//!
//! - `stripe`: a stateless Stripe stand-in answering `GET /v1/subscriptions/{id}` at once.
//!   `sub_act_<digits>` is an active subscription of AURA customer `<digits>`; any other id is
//!   Stripe's 404, so the worker's fetches for the throughput events fail harmlessly.
//! - `tokens`: app sign-up tokens (HS256), one a line, for the entry benchmark.
//! - `rate`: replays signed events at a constant rate and reports latency measured from each
//!   request's scheduled time (so a stall is not hidden by requests that were never sent).
//! - `activate`: registers customers at the AURA simulator, sends one paid event per customer
//!   at a constant rate, waits for every activation and reports intake-to-AURA latency.
//!
//! Everything talks to loopback addresses given on the command line.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Stripe stand-in until killed.
    Stripe {
        #[arg(long)]
        bind: SocketAddr,
        #[arg(long, default_value = "price_bench_single")]
        price: String,
    },
    /// Print `count` valid app tokens signed with `secret`.
    Tokens {
        #[arg(long)]
        count: u32,
        #[arg(long)]
        secret: String,
    },
    /// Replay the events of `events` (gen_events.py output) at `rate` per second.
    Rate {
        #[arg(long)]
        url: String,
        #[arg(long)]
        events: std::path::PathBuf,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        seconds: u32,
        /// Requests allowed in flight at once (the connection pool's size).
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
    },
    /// Measure activation latency: `count` paid events for new customers at `rate` per second.
    Activate {
        #[arg(long)]
        url: String,
        #[arg(long)]
        sim: String,
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        whsec: String,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        rate: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Stripe { bind, price } => serve_stripe(bind, price).await,
        Command::Tokens { count, secret } => print_tokens(count, &secret),
        Command::Rate {
            url,
            events,
            rate,
            seconds,
            in_flight,
        } => {
            let events = read_events(&events)?;
            let total = (rate * seconds) as usize;
            anyhow::ensure!(
                events.len() >= total,
                "need {total} events for unique sends"
            );
            let requests = events.into_iter().take(total).collect();
            let report = constant_rate(&url, requests, rate, in_flight).await?;
            println!("{}", report.line());
            Ok(())
        }
        Command::Activate {
            url,
            sim,
            database_url,
            whsec,
            count,
            rate,
        } => activate(&url, &sim, &database_url, &whsec, count, rate).await,
    }
}

// ---- The Stripe stand-in ----------------------------------------------------------------

const SUBSCRIPTION_FIXTURE: &str = include_str!("../tests/fixtures/stripe/subscription.json");
const DAY: i64 = 86_400;

struct Stand {
    template: Value,
    price: String,
}

async fn serve_stripe(bind: SocketAddr, price: String) -> anyhow::Result<()> {
    let stand = Arc::new(Stand {
        template: serde_json::from_str(SUBSCRIPTION_FIXTURE)?,
        price,
    });
    let app = Router::new()
        .route("/v1/subscriptions/{id}", get(subscription))
        .with_state(stand);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Stripe's example subscription with the fields the service reads set for `sub_act_<id>`.
async fn subscription(State(stand): State<Arc<Stand>>, Path(id): Path<String>) -> Response {
    let Some(customer) = id
        .strip_prefix("sub_act_")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    else {
        let error = json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
            "message": format!("No such subscription: '{id}'")}});
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    };
    let now = chrono::Utc::now().timestamp();
    let mut sub = stand.template.clone();
    sub["id"] = json!(id);
    sub["customer"] = json!(format!("cus_act_{customer}"));
    sub["status"] = json!("active");
    sub["livemode"] = json!(false);
    sub["metadata"] = json!({ "aura_customer_id": customer });
    sub["cancel_at_period_end"] = json!(false);
    sub["cancel_at"] = json!(null);
    sub["canceled_at"] = json!(null);
    sub["ended_at"] = json!(null);
    let item = &mut sub["items"]["data"][0];
    item["current_period_start"] = json!(now);
    item["current_period_end"] = json!(now + 30 * DAY);
    item["price"]["id"] = json!(stand.price);
    item["plan"]["id"] = json!(stand.price);
    Json(sub).into_response()
}

// ---- Tokens -------------------------------------------------------------------------------

fn print_tokens(count: u32, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let exp = chrono::Utc::now().timestamp() + 3600;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let claims = json!({ "customerId": 7_000_000 + i64::from(i), "exp": exp });
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?;
        writeln!(out, "{token}")?;
    }
    Ok(())
}

// ---- Constant-rate load -------------------------------------------------------------------

/// One signed webhook delivery: the raw body and its `Stripe-Signature` header.
struct Delivery {
    body: String,
    signature: String,
}

fn read_events(path: &std::path::Path) -> anyhow::Result<Vec<Delivery>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line)?;
            Ok(Delivery {
                body: v["body"].as_str().unwrap_or_default().to_owned(),
                signature: v["sig"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Latencies (from each request's scheduled start) and failures of one constant-rate run.
#[derive(Default)]
struct Report {
    latencies_us: Vec<u64>,
    failures: usize,
    elapsed: Duration,
}

impl Report {
    fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }

    fn line(&self) -> String {
        let ok = self.latencies_us.len();
        format!(
            "sent={} ok={ok} failed={} achieved_per_s={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            ok + self.failures,
            self.failures,
            (ok + self.failures) as f64 / self.elapsed.as_secs_f64(),
            self.percentile_ms(50.0),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0),
        )
    }
}

/// The `p`th percentile of unsorted samples (sorted here), or 0 with none.
fn percentile(samples: &[u64], p: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sends `requests` in order, request `i` scheduled at `i / rate` seconds after the start.
/// A request that has to wait for a free slot still counts its latency from its schedule.
async fn constant_rate(
    url: &str,
    requests: Vec<Delivery>,
    rate: u32,
    in_flight: usize,
) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .timeout(Duration::from_secs(10))
        .build()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let report = Arc::new(Mutex::new(Report::default()));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, delivery) in requests.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(due).await;
        let permit = slots.clone().acquire_owned().await?;
        let (client, url, report) = (client.clone(), url.to_owned(), report.clone());
        tasks.spawn(async move {
            let ok = deliver(&client, &url, &delivery).await;
            let latency = due.elapsed().as_micros() as u64;
            let mut report = report.lock().expect("report lock");
            if ok {
                report.latencies_us.push(latency);
            } else {
                report.failures += 1;
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut report = std::mem::take(&mut *report.lock().expect("report lock"));
    report.elapsed = start.elapsed();
    Ok(report)
}

async fn deliver(client: &reqwest::Client, url: &str, delivery: &Delivery) -> bool {
    let sent = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("Stripe-Signature", &delivery.signature)
        .body(delivery.body.clone())
        .send()
        .await;
    matches!(sent, Ok(r) if r.status().is_success())
}

// ---- Activation latency -------------------------------------------------------------------

async fn activate(
    url: &str,
    sim: &str,
    database_url: &str,
    whsec: &str,
    count: u32,
    rate: u32,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let customers = register_customers(&http, sim, count).await?;
    let requests = customers
        .iter()
        .map(|c| paid_event(*c, whsec))
        .collect::<Vec<_>>();
    let intake = constant_rate(url, requests, rate, 64).await?;
    eprintln!("activation events: {}", intake.line());

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await?;
    let latencies = wait_for_activations(&pool, &customers, Duration::from_secs(60)).await?;
    let ms = |p| percentile(&latencies, p) as f64 / 1000.0;
    println!(
        "activated={} of={} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        latencies.len(),
        customers.len(),
        ms(50.0),
        ms(90.0),
        ms(99.0),
        ms(100.0),
    );
    Ok(())
}

/// Registers `count` customers with unique mobile numbers; returns their AURA ids.
async fn register_customers(
    http: &reqwest::Client,
    sim: &str,
    count: u32,
) -> anyhow::Result<Vec<i64>> {
    let token: Value = http
        .post(format!("{sim}/v2/oauth/token"))
        .json(&json!({ "clientId": aura_signup::config::DEV_SIM_CLIENT_ID,
                       "clientSecret": aura_signup::config::DEV_SIM_CLIENT_SECRET }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bearer = token["accessToken"].as_str().unwrap_or_default().to_owned();
    let run = chrono::Utc::now().timestamp() % 100_000;
    let mut ids = Vec::with_capacity(count as usize);
    for i in 0..count {
        let mobile = format!("+2783{run:05}{i:05}");
        let body =
            json!({"customer": {"name": "Bench", "surname": format!("{i}"), "mobile": mobile}});
        let answer: Value = http
            .post(format!("{sim}/v2/customers"))
            .bearer_auth(&bearer)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = answer["customer"]["id"].as_i64();
        ids.push(id.ok_or_else(|| anyhow::anyhow!("no customer id in {answer}"))?);
    }
    Ok(ids)
}

/// A signed `invoice.paid` for the stand-in's subscription of `customer`.
fn paid_event(customer: i64, whsec: &str) -> Delivery {
    let now = chrono::Utc::now().timestamp();
    let body = json!({
        "id": format!("evt_act_{now}_{customer}"), "object": "event",
        "api_version": "2025-03-31.basil", "created": now, "livemode": false,
        "pending_webhooks": 1, "type": "invoice.paid",
        "data": {"object": {"id": format!("in_act_{customer}"), "object": "invoice",
            "subscription": format!("sub_act_{customer}"), "customer": format!("cus_act_{customer}"),
            "billing_reason": "subscription_create", "amount_paid": 9900, "currency": "zar",
            "status": "paid"}},
    })
    .to_string();
    let signature = aura_signup::webhooks::signature::sign(whsec, now, body.as_bytes());
    Delivery { body, signature }
}

/// Waits until every customer's `POST /v2/subscriptions` is in the audit trail, then returns
/// each one's latency: the AURA call's recorded time minus the event's intake time.
async fn wait_for_activations(
    pool: &sqlx::PgPool,
    customers: &[i64],
    timeout: Duration,
) -> anyhow::Result<Vec<u64>> {
    let query = "SELECT (MIN(c.at) - MIN(e.received_at)) AS ms FROM gateway_events e \
        JOIN subscriptions s ON s.gateway_subscription_id = e.subscription_id \
        JOIN aura_calls c ON c.aura_customer_id = s.aura_customer_id \
        AND c.method = 'POST' AND c.path = '/v2/subscriptions' AND c.status BETWEEN 200 AND 299 \
        WHERE s.aura_customer_id = ANY($1) GROUP BY s.aura_customer_id";
    let deadline = Instant::now() + timeout;
    loop {
        let rows: Vec<(Option<i64>,)> = sqlx::query_as(query)
            .bind(customers)
            .fetch_all(pool)
            .await?;
        if rows.len() >= customers.len() || Instant::now() > deadline {
            return Ok(rows
                .into_iter()
                .filter_map(|(ms,)| ms)
                .map(|ms| ms.max(0) as u64 * 1000)
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
