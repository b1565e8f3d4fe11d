//! The failures tests can switch on (latency, random 503s, an outage, a create that commits
//! but never answers), and the log of every request the simulator received.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{SimCall, Simulator, lock};

/// How AURA misbehaves; the default is not at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every API answer.
    pub latency_ms: u64,
    /// The share (0 to 1) of API requests answered with 503 instead of being served.
    pub error_rate: f64,
    pub down: Option<DownMode>,
    /// The next N successful `POST /v2/subscriptions` are committed and then never answered:
    /// the client times out on a create that did happen.
    pub commit_then_hang_creates: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownMode {
    /// Every API request gets a 503.
    Unavailable,
    /// Every API request is accepted and never answered.
    Hang,
}

/// Applies the current faults around one API request.
pub(crate) async fn inject(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let faults = sim.faults();
    match faults.down {
        Some(DownMode::Unavailable) => return unavailable(),
        Some(DownMode::Hang) => return sim.hang().await,
        None => {}
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        return unavailable();
    }

    let is_create = request.method() == Method::POST && request.uri().path() == "/v2/subscriptions";
    let response = next.run(request).await;
    if is_create && response.status().is_success() && sim.take_hanging_create() {
        return sim.hang().await;
    }
    response
}

/// Logs the request on arrival and its status once answered, so a hung request still shows.
pub(crate) async fn record(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let call = SimCall {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        status: None,
        at: Utc::now(),
    };
    let index = {
        let mut calls = lock(&sim.shared.calls);
        calls.push(call);
        calls.len() - 1
    };

    let response = next.run(request).await;
    if let Some(call) = lock(&sim.shared.calls).get_mut(index) {
        call.status = Some(response.status().as_u16());
    }
    response
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

impl Simulator {
    fn take_hanging_create(&self) -> bool {
        let mut faults = lock(&self.shared.faults);
        let hang = faults.commit_then_hang_creates > 0;
        faults.commit_then_hang_creates = faults.commit_then_hang_creates.saturating_sub(1);
        hang
    }

    /// Holds the request until the server stops (the client's timeout ends it first).
    async fn hang(&self) -> Response {
        let mut stopping = self.shared.stopping.subscribe();
        let _ = stopping.wait_for(|stop| *stop).await;
        unavailable()
    }
}
