//! Prometheus metrics at `/metrics`: counters and histograms recorded where things happen
//! (requests by route template, webhook events, sync jobs, AURA calls, logins), and gauges
//! read from the store at each scrape (queue depth, dead jobs, customers by coverage), so
//! every replica reports the same shared state. Labels carry route templates, types and
//! outcomes only, never ids.

use std::{sync::OnceLock, time::Instant};

use ::metrics::{counter, gauge, histogram};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::{app::AppState, store::now_ms};

const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (more apps in one test process)
/// share it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .expect("the buckets are not empty");
        match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics will be empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// Drains the histograms' raw samples into their buckets every few seconds until `stop`.
/// The recorder keeps every sample until then, so without this (or a scrape) memory would
/// grow with every request.
pub async fn upkeep(stop: tokio_util::sync::CancellationToken) {
    let handle = install();
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = every.tick() => handle.run_upkeep(),
            _ = stop.cancelled() => return,
        }
    }
}

/// Counts every request by method, route template and status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!("http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A webhook event at intake: its type and what became of it (accepted, duplicate, ignored,
/// refused, unreadable, not_stored).
pub fn webhook_event(event_type: &str, outcome: &'static str) {
    counter!("webhook_events_total", "type" => event_type.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A finished sync attempt: done, retry or dead.
pub fn sync_job(outcome: &'static str) {
    counter!("sync_jobs_total", "outcome" => outcome).increment(1);
}

/// One call to AURA: its path template, status (or `none` when no answer came) and latency.
pub fn aura_call(method: &str, path: &str, status: Option<u16>, seconds: f64) {
    let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
    counter!("aura_calls_total", "method" => method.to_owned(), "path" => path.to_owned(), "status" => status)
        .increment(1);
    histogram!("aura_call_duration_seconds", "method" => method.to_owned(), "path" => path.to_owned())
        .record(seconds);
}

/// A console login: accepted, refused or limited.
pub fn login(outcome: &'static str) {
    counter!("admin_logins_total", "outcome" => outcome).increment(1);
}

/// `GET /metrics`: the store's gauges refreshed, then everything in the text format.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.admin.metrics_token {
        // Digests of equal length are compared, so the time taken says nothing of the token.
        let presented = crate::admin::auth::bearer(&headers).unwrap_or("");
        let digest = |s: &str| sha2::Sha256::digest(s.as_bytes());
        if !bool::from(digest(presented).ct_eq(&digest(expected.expose()))) {
            return (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
        }
    }
    if let Err(e) = refresh_gauges(&state).await {
        tracing::warn!(error = %e, "metrics: the store did not answer; gauges are stale");
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        install().render(),
    )
        .into_response()
}

async fn refresh_gauges(state: &AppState) -> Result<(), sqlx::Error> {
    let (waiting, dead) = state.store.queue_sizes().await?;
    gauge!("sync_queue_depth").set(waiting as f64);
    gauge!("sync_jobs_dead").set(dead as f64);
    for (coverage, n) in state.store.customers_by_coverage(now_ms()).await? {
        gauge!("customers_by_coverage", "coverage" => coverage.as_str()).set(n as f64);
    }
    Ok(())
}
