//! The `/_sim/` endpoints tests and developers use to look inside the simulated AURA and to
//! switch faults on; they are never faulted, authenticated or logged as calls.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde_json::{Value, json};

use super::{Faults, SimCall, Simulator, lock};

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/calls", get(calls))
        .route("/_sim/faults", get(faults).put(set_faults))
        .route("/_sim/revoke-tokens", post(revoke_tokens))
        .route("/_sim/reset-calls", post(reset_calls))
}

async fn state(State(sim): State<Simulator>) -> Json<Value> {
    let state = lock(&sim.shared.state);
    let customers: Vec<Value> = state
        .customers
        .values()
        .map(|c| json!({ "id": c.id, "deleted": c.deleted, "profile": c.fields }))
        .collect();
    let subscriptions: Vec<Value> = state
        .subscriptions
        .values()
        .map(|s| json!(state.sim_subscription(s)))
        .collect();
    Json(json!({ "customers": customers, "subscriptions": subscriptions }))
}

async fn calls(State(sim): State<Simulator>) -> Json<Vec<SimCall>> {
    Json(sim.calls())
}

async fn faults(State(sim): State<Simulator>) -> Json<Faults> {
    Json(sim.faults())
}

async fn set_faults(State(sim): State<Simulator>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.set_faults(faults);
    Json(sim.faults())
}

async fn revoke_tokens(State(sim): State<Simulator>) -> StatusCode {
    sim.revoke_tokens();
    StatusCode::NO_CONTENT
}

async fn reset_calls(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_calls();
    StatusCode::NO_CONTENT
}
