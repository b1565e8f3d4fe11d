//! `POST /webhooks/stripe`. The order is the point: verify on the raw bytes, read only the
//! few fields needed, store the event and enqueue its subscription's sync in one transaction
//! (shared with the deliveries arriving at the same moment: [`super::writer`]), and answer
//! 2xx only after the commit. Processing happens later, in the worker.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde_json::{Value, json};
use tracing::{error, info, instrument, warn};

use super::writer::IncomingEvent;
use super::{
    event::{EventError, summarise},
    signature::verify,
};
use crate::{app::AppState, config::GatewayConfig};

/// Stripe's own tolerance for the signed timestamp.
pub const TOLERANCE: Duration = Duration::from_secs(300);

type Reply = (StatusCode, Json<Value>);

fn reply(status: StatusCode, body: Value) -> Reply {
    (status, Json(body))
}

#[instrument(skip_all, fields(event = tracing::field::Empty, event_type = tracing::field::Empty))]
pub async fn stripe(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Reply {
    let GatewayConfig::Stripe(stripe) = &state.config.gateway else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"error": "Stripe is not the configured gateway"}),
        );
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(e) = verify(
        header,
        &body,
        &stripe.webhook_secrets,
        TOLERANCE,
        chrono::Utc::now().timestamp(),
    ) {
        warn!(reason = %e, "webhook refused: signature");
        crate::metrics::webhook_event("unknown", "refused");
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("signature verification failed: {e}")}),
        );
    }

    let event = match summarise(&body) {
        Ok(event) => event,
        Err(EventError::Malformed(why)) => {
            warn!(reason = %why, "webhook refused: not an event");
            crate::metrics::webhook_event("unknown", "malformed");
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("not a Stripe event: {why}")}),
            );
        }
        Err(EventError::Unreadable {
            event_id,
            event_type,
            reason,
        }) => {
            // A type we handle whose payload we cannot read: a 5xx makes Stripe retry after a fix.
            error!(event = %event_id, event_type = %event_type, reason = %reason, alert = true, "webhook of a handled type could not be read");
            crate::metrics::webhook_event(&event_type, "unreadable");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "event could not be read; it will be retried"}),
            );
        }
    };
    let span = tracing::Span::current();
    span.record("event", event.id.as_str());
    span.record("event_type", event.event_type.as_str());

    let live_key = stripe.secret_key.expose().starts_with("sk_live")
        || stripe.secret_key.expose().starts_with("rk_live");
    let outcome = if event.livemode != live_key {
        warn!(
            livemode = event.livemode,
            "event from the other mode than the configured key: ignored"
        );
        Some("ignored")
    } else if !event.handled || event.subscription_id.is_none() {
        info!("event recorded without effect");
        Some("ignored")
    } else {
        None
    };

    let incoming = IncomingEvent {
        id: event.id.clone(),
        gateway: "stripe",
        event_type: event.event_type.clone(),
        subscription_id: event.subscription_id.clone(),
        payload: String::from_utf8_lossy(&body).into_owned(),
        outcome,
    };
    match state.intake.record(incoming).await {
        Ok(fresh) => {
            let counted = match (fresh, outcome) {
                (false, _) => "duplicate",
                (true, Some(_)) => "ignored",
                (true, None) => "accepted",
            };
            crate::metrics::webhook_event(&event.event_type, counted);
            reply(
                StatusCode::OK,
                json!({"received": true, "duplicate": !fresh}),
            )
        }
        Err(e) => {
            error!(error = %e, "webhook could not be stored");
            crate::metrics::webhook_event(&event.event_type, "not_stored");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "not stored; please retry"}),
            )
        }
    }
}
