//! The simulated AURA API endpoints: authentication, subscription types, subscriptions and
//! customers. Each checks the bearer token, then the body, then applies the state's rules.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use super::{
    Simulator,
    auth::EXPIRES_IN,
    bodies::{self, CustomerView},
    lock,
    refusal::Refusal,
    state::{CreateRequest, Customer, State as SimState},
};

type Answer = Result<Json<Value>, Refusal>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    client_id: String,
    client_secret: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    customer_id: i64,
    subscription_type_id: i64,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    dependant_customer_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    valid_to: Option<DateTime<Utc>>,
    dependant_customer_ids: Option<Vec<i64>>,
}

#[derive(Deserialize, Default)]
struct CancelBody {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitialSubscription {
    subscription_type_id: i64,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
}

#[derive(Deserialize)]
struct CustomerBody {
    customer: Map<String, Value>,
    subscription: Option<InitialSubscription>,
}

/// Reads a JSON body; anything unreadable is a clear 400, never a panic or a 422.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::BadJson(e.to_string()))
}

/// Ids in paths that are not numbers name nothing AURA knows.
fn path_id(raw: &str, unknown: Refusal) -> Result<i64, Refusal> {
    raw.parse().map_err(|_| unknown)
}

pub(crate) async fn token(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let body: TokenBody = parse(&body)?;
    let token = sim.issue_token(&body.client_id, &body.client_secret)?;
    Ok(Json(
        json!({ "accessToken": token, "expiresIn": EXPIRES_IN, "tokenType": "Bearer" }),
    ))
}

pub(crate) async fn subscription_types(State(sim): State<Simulator>, headers: HeaderMap) -> Answer {
    sim.authorize(&headers)?;
    let state = lock(&sim.shared.state);
    let types: Vec<Value> = state.types.iter().map(bodies::subscription_type).collect();
    Ok(Json(
        json!({ "message": "Successfully returned subscriptionTypes", "subscriptionTypes": types }),
    ))
}

pub(crate) async fn create_subscription(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    sim.authorize(&headers)?;
    let body: CreateBody = parse(&body)?;

    let mut state = lock(&sim.shared.state);
    let id = state.create_subscription(CreateRequest {
        customer_id: body.customer_id,
        type_id: body.subscription_type_id,
        valid_from: body.valid_from,
        valid_to: body.valid_to,
        dependants: body.dependant_customer_ids,
    })?;
    Ok(Json(bodies::created(&state.subscriptions[&id])))
}

pub(crate) async fn update_subscription(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    sim.authorize(&headers)?;
    let id = path_id(&id, Refusal::SubscriptionUnknown)?;
    let body: UpdateBody = parse(&body)?;

    let mut state = lock(&sim.shared.state);
    let dependants_sent = body.dependant_customer_ids.is_some();
    state.update_subscription(id, body.valid_to, body.dependant_customer_ids)?;
    Ok(Json(bodies::updated(
        &state.subscriptions[&id],
        dependants_sent,
    )))
}

/// The body is optional: AURA documents the delete both with and without a reason.
pub(crate) async fn cancel_subscription(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    sim.authorize(&headers)?;
    let id = path_id(&id, Refusal::SubscriptionUnknown)?;
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        parse(&body)?
    };

    lock(&sim.shared.state).cancel_subscription(id, body.reason)?;
    Ok(Json(bodies::cancelled()))
}

pub(crate) async fn register_customer(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    sim.authorize(&headers)?;
    let body: CustomerBody = parse(&body)?;
    let mobile = body
        .customer
        .get("mobile")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if mobile.len() < 8 {
        return Err(Refusal::MobileRequired);
    }
    if let Some(s) = &body.subscription {
        check_register_dates(s)?;
    }

    let mut state = lock(&sim.shared.state);
    if let Some(s) = &body.subscription {
        state
            .find_type(s.subscription_type_id)
            .ok_or(Refusal::UnknownType)?;
    }
    check_not_registered(&state, mobile)?;

    let id = state.add_customer(body.customer);
    if let Some(s) = body.subscription {
        state.insert_subscription(id, s.subscription_type_id, s.valid_from, s.valid_to, &[]);
    }
    let customer = bodies::customer(&state.customers[&id], &state, CustomerView::Registered);
    Ok(Json(
        json!({ "message": "Successfully registered customer", "customer": customer }),
    ))
}

/// A mobile number identifies a customer: registering it again answers with who holds it.
fn check_not_registered(state: &SimState, mobile: &str) -> Result<(), Refusal> {
    let live = |c: &&Customer| !c.deleted && c.field("mobile") == mobile;
    let Some(existing) = state.customers.values().find(live) else {
        return Ok(());
    };
    let message = match state.open_main_subscription(existing.id) {
        Some(_) => "Customer already exists",
        None => "Customer already exists with no active subscription",
    };
    let customer = bodies::customer(existing, state, CustomerView::Conflict);
    Err(Refusal::CustomerExists { message, customer })
}

/// Registration names which of the two dates is wrong, unlike the subscription endpoints.
/// Registration names the date it refuses, `validTo` first: the collection's example with
/// both dates in the past is answered about `validTo`.
fn check_register_dates(s: &InitialSubscription) -> Result<(), Refusal> {
    let now = Utc::now();
    if s.valid_to < now {
        return Err(Refusal::ValidToInPast);
    }
    if s.valid_from.date_naive() < now.date_naive() {
        return Err(Refusal::ValidFromInPast);
    }
    if s.valid_to < s.valid_from {
        return Err(Refusal::ValidToBeforeValidFrom);
    }
    Ok(())
}

pub(crate) async fn edit_customer(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    sim.authorize(&headers)?;
    let id = path_id(&id, Refusal::CustomerNotFound)?;
    let body: CustomerBody = parse(&body)?;

    let mut state = lock(&sim.shared.state);
    let customer = state
        .customers
        .get_mut(&id)
        .filter(|c| !c.deleted)
        .ok_or(Refusal::CustomerNotFound)?;
    customer.fields.extend(body.customer);
    customer.updated_at = Utc::now();
    let customer = bodies::customer(&state.customers[&id], &state, CustomerView::Edited);
    Ok(Json(
        json!({ "message": "Successfully updated customer", "customer": customer }),
    ))
}

pub(crate) async fn delete_customer(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    sim.authorize(&headers)?;
    let id = path_id(&id, Refusal::CustomerNotFound)?;

    lock(&sim.shared.state).soft_delete(id)?;
    Ok(Json(json!({ "message": "Successfully deleted profile" })))
}
