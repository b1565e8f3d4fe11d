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

#[cfg(test)]
mod tests {
    use axum::{
        body::{Body, to_bytes},
        http::Request,
    };
    use tower::ServiceExt;

    use super::*;
    use crate::aura_sim::{DownMode, SimConfig};

    async fn call(sim: &Simulator, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = sim.router().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn faults_set_over_http_take_effect() {
        let sim = Simulator::new(SimConfig::default());

        let (status, _) = call(&sim, "PUT", "/_sim/faults", r#"{"down":"Unavailable"}"#).await;
        let (api_status, _) = call(&sim, "GET", "/v2/subscriptions/subscriptionTypes", "").await;

        assert_eq!(status, StatusCode::OK);
        assert_eq!(sim.faults().down, Some(DownMode::Unavailable));
        assert_eq!(api_status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            sim.calls().iter().all(|c| !c.path.starts_with("/_sim")),
            "inspection is not logged"
        );
    }

    #[tokio::test]
    async fn state_shows_a_soft_deleted_customer_masked_and_their_cover_cancelled() {
        let sim = Simulator::new(SimConfig::default());
        let id = sim.add_customer("Masked");
        {
            let mut state = lock(&sim.shared.state);
            let valid_to = chrono::Utc::now() + chrono::Duration::days(1);
            state.insert_subscription(id, 4, chrono::Utc::now(), valid_to, &[]);
            state.soft_delete(id).unwrap();
        }

        let (_, state) = call(&sim, "GET", "/_sim/state", "").await;

        let customer = state["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == json!(id))
            .unwrap();
        assert_eq!(customer["profile"]["name"], "***");
        assert_eq!(customer["profile"]["mobile"], "***");
        let cover = &sim.subscriptions_of(id)[0];
        assert_eq!(
            cover.cancelled_reason.as_deref(),
            Some("User deleted their profile")
        );
    }
}
