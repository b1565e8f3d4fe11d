//! The JSON API (`/api/v1`): the console's reads and actions for operators' scripts (bearer
//! tokens from `ADMIN_API_TOKENS`), `PUT /api/v1/me/dependants` for the app (the customer's
//! AURA JWT), and the OpenAPI document generated from these handlers. Every error is
//! `{"error": "..."}`.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRequest, FromRequestParts, Path, Request, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    actions::{self, Action, ActionError, Done},
    auth::{ApiCaller, bearer},
    coverage::Coverage,
    query::MappingQuery,
    timeline::{self, Entry, rfc3339},
};
use crate::{
    app::AppState,
    config::ApiRole,
    domain::{CustomerId, PlanKind},
    gateway::sandbox::ClockAction,
    signup::token::TokenError,
    store::{AuraState, MappingRow, SubscriptionRow, now_ms},
};

/// The one error shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What went wrong, for a person to read.
    error: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
        }
    }

    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(&self)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "API request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer; try again",
        )
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        let status = match &e {
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::Conflict(_) => StatusCode::CONFLICT,
            ActionError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ActionError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, e.to_string())
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        bearer(&parts.headers)
            .and_then(|token| state.admin.api_caller(token))
            .ok_or_else(ApiError::unauthorized)
    }
}

impl ApiCaller {
    fn may_act(&self) -> Result<String, ApiError> {
        match self.role {
            ApiRole::Write => Ok(format!("api:{}", self.name)),
            ApiRole::Read => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this token may only read",
            )),
        }
    }
}

/// The customer an app's AURA JWT was issued for.
pub struct AppCustomer(CustomerId);

impl FromRequestParts<AppState> for AppCustomer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "send the customer's AURA JWT as Authorization: Bearer <token>",
            )
        })?;
        state
            .tokens
            .verify(token)
            .await
            .map(AppCustomer)
            .map_err(|e| match e {
                TokenError::KeysUnavailable => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the keys that verify customer tokens could not be fetched; try again",
                ),
                e => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    format!("the bearer token is not a valid AURA customer JWT ({e})"),
                ),
            })
    }
}

/// A JSON body whose rejections use the one error shape: 400 for malformed JSON, 415 without
/// the JSON content type, 422 for the wrong fields.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| ApiError::new(e.status(), e.body_text()))
    }
}

/// A query string whose rejections use the one error shape (400).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(ApiQuery)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("query: {e}")))
    }
}

/// One row of the mapping.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingItem {
    customer_id: i64,
    plan: String,
    gateway_customer_id: Option<String>,
    gateway_subscription_id: String,
    gateway_status: String,
    paid_through: Option<String>,
    aura_subscription_id: Option<i64>,
    aura_valid_to: Option<String>,
    coverage: Coverage,
    /// The sync job is parked as dead.
    sync_failed: bool,
    last_change: String,
}

impl From<&MappingRow> for MappingItem {
    fn from(r: &MappingRow) -> Self {
        Self {
            customer_id: r.customer_id,
            plan: r.plan.clone(),
            gateway_customer_id: r.gateway_customer_id.clone(),
            gateway_subscription_id: r.gateway_subscription_id.clone(),
            gateway_status: r.gateway_status.clone(),
            paid_through: r.paid_through.map(rfc3339),
            aura_subscription_id: r.aura_subscription_id,
            aura_valid_to: r.aura_valid_to.map(rfc3339),
            coverage: r.coverage,
            sync_failed: r.job_dead,
            last_change: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingPage {
    items: Vec<MappingItem>,
    page: i64,
    per_page: i64,
    /// Rows the filter matches, over all pages.
    total: i64,
}

#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "operators",
    params(MappingQuery),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = MappingPage),
        (status = 400, description = "Malformed query", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
    ))]
/// The mapping of AURA customers to gateway subscriptions, filtered, sorted and paged.
async fn list_subscriptions(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiQuery(query): ApiQuery<MappingQuery>,
) -> Result<Json<MappingPage>, ApiError> {
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, e);
    let (filter, page) = query.parse().map_err(bad)?;
    let per_page = query.per_page().map_err(bad)?;
    let (rows, total) = state
        .store
        .mapping(&filter, now_ms(), per_page, (page - 1) * per_page)
        .await?;
    Ok(Json(MappingPage {
        items: rows.iter().map(MappingItem::from).collect(),
        page,
        per_page,
        total,
    }))
}

/// A subscription as the customer view shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionItem {
    gateway_subscription_id: String,
    plan: String,
    gateway_customer_id: Option<String>,
    gateway_status: String,
    paid_through: Option<String>,
    aura_subscription_id: Option<i64>,
    /// none, active or cancelled.
    aura_state: String,
    aura_valid_to: Option<String>,
    coverage: Coverage,
    dependant_customer_ids: Vec<i64>,
    last_error: Option<String>,
}

impl SubscriptionItem {
    fn new(s: &SubscriptionRow, job_dead: bool, now: i64) -> Self {
        let active = s.aura_state == AuraState::Active;
        Self {
            gateway_subscription_id: s.gateway_subscription_id.clone(),
            plan: s.plan.to_string(),
            gateway_customer_id: s.gateway_customer_id.clone(),
            gateway_status: s.gateway_status.clone(),
            paid_through: s.paid_through.map(rfc3339),
            aura_subscription_id: s.aura_subscription_id,
            aura_state: s.aura_state.as_str().into(),
            aura_valid_to: s.aura_valid_to.map(rfc3339),
            coverage: Coverage::of(&s.gateway_status, active, s.aura_valid_to, job_dead, now),
            dependant_customer_ids: s.dependants.clone(),
            last_error: s.last_error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    customer_id: i64,
    subscriptions: Vec<SubscriptionItem>,
    /// Everything that happened to the customer, oldest first.
    timeline: Vec<Entry>,
}

#[utoipa::path(get, path = "/api/v1/customers/{customer_id}", tag = "operators",
    params(("customer_id" = i64, Path, description = "AURA customer id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = CustomerView),
        (status = 400, description = "Not a customer id", body = ApiError),
        (status = 401, description = "No valid token", body = ApiError),
        (status = 404, description = "Unknown customer", body = ApiError),
    ))]
/// One customer: their subscriptions and their whole timeline.
async fn get_customer(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(raw): Path<String>,
) -> Result<Json<CustomerView>, ApiError> {
    let customer = CustomerId::parse_digits(&raw)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "not an AURA customer id"))?;
    let (subscriptions, timeline) = timeline::for_customer(&state.store, customer).await?;
    if subscriptions.is_empty() && timeline.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such customer"));
    }
    let now = now_ms();
    let mut items = Vec::with_capacity(subscriptions.len());
    for s in &subscriptions {
        let job = state
            .store
            .job_for(crate::store::SYNC_SUBSCRIPTION, &s.gateway_subscription_id)
            .await?;
        items.push(SubscriptionItem::new(s, job.is_some_and(|j| j.dead), now));
    }
    Ok(Json(CustomerView {
        customer_id: customer.get(),
        subscriptions: items,
        timeline,
    }))
}

/// What an action did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    customer_id: i64,
    message: String,
}

impl From<Done> for ActionResult {
    fn from(d: Done) -> Self {
        Self {
            customer_id: d.customer_id,
            message: d.message,
        }
    }
}

async fn run(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
    action: Action,
) -> Result<Json<ActionResult>, ApiError> {
    let actor = caller.may_act()?;
    Ok(Json(
        actions::perform(state, &actor, id, action).await?.into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/retry", tag = "operators",
    params(("id" = String, Path, description = "Gateway subscription id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ActionResult),
        (status = 401, body = ApiError), (status = 403, description = "Read-only token", body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "No failed sync", body = ApiError),
    ))]
/// Makes the subscription's failed (dead) sync due again now.
async fn retry(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionResult>, ApiError> {
    run(&state, &caller, &id, Action::Retry).await
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/resync", tag = "operators",
    params(("id" = String, Path, description = "Gateway subscription id")),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ActionResult),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
    ))]
/// Queues a sync from the gateway's current state.
async fn resync(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionResult>, ApiError> {
    run(&state, &caller, &id, Action::Resync).await
}

/// The whole list of a family plan's dependants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DependantsBody {
    /// AURA customer ids, at most the plan's allowance.
    dependant_customer_ids: Vec<i64>,
}

#[utoipa::path(put, path = "/api/v1/subscriptions/{id}/dependants", tag = "operators",
    params(("id" = String, Path, description = "Gateway subscription id")),
    request_body = DependantsBody,
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ActionResult),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "Not a family plan", body = ApiError),
        (status = 422, description = "Over the allowance or not customer ids", body = ApiError),
    ))]
/// Replaces the dependants of a family plan; the sync sends the whole list to AURA.
async fn set_dependants(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DependantsBody>,
) -> Result<Json<ActionResult>, ApiError> {
    run(
        &state,
        &caller,
        &id,
        Action::SetDependants(body.dependant_customer_ids),
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCoverageBody {
    /// Why, in 1 to 200 characters; AURA records it.
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/end-coverage", tag = "operators",
    params(("id" = String, Path, description = "Gateway subscription id")),
    request_body = EndCoverageBody,
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "Payments stopped; the sync ends the AURA subscription", body = ActionResult),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "Nothing left to end", body = ApiError),
        (status = 422, description = "No reason", body = ApiError),
        (status = 503, description = "The gateway did not cancel", body = ApiError),
    ))]
/// Ends the coverage: cancels the gateway subscription now (coverage follows payment), and
/// enqueues the sync that deletes the AURA subscription with the reason.
async fn end_coverage(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EndCoverageBody>,
) -> Result<Json<ActionResult>, ApiError> {
    run(
        &state,
        &caller,
        &id,
        Action::EndCoverage {
            reason: body.reason,
        },
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/sandbox/{action}", tag = "operators",
    params(
        ("id" = String, Path, description = "Gateway subscription id"),
        ("action" = String, Path, description = "renew, fail-next-renewal or cancel"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = ActionResult),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "The sandbox gateway is not in use", body = ApiError),
    ))]
/// Moves the sandbox gateway's test clock; its webhook event follows the usual path.
async fn sandbox_clock(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<ActionResult>, ApiError> {
    let clock = match action.as_str() {
        "renew" => ClockAction::Renew,
        "fail-next-renewal" => ClockAction::FailNextRenewal,
        "cancel" => ClockAction::Cancel,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no such sandbox action",
            ));
        }
    };
    run(&state, &caller, &id, Action::Sandbox(clock)).await
}

#[utoipa::path(put, path = "/api/v1/me/dependants", tag = "app",
    request_body = DependantsBody,
    security(("customer_jwt" = [])),
    responses(
        (status = 200, body = ActionResult),
        (status = 400, body = ApiError),
        (status = 401, description = "No valid AURA token", body = ApiError),
        (status = 404, description = "No family subscription", body = ApiError),
        (status = 422, description = "Over the allowance or not customer ids", body = ApiError),
    ))]
/// For the app: sets the dependants of the signed-in customer's family plan.
async fn set_my_dependants(
    State(state): State<AppState>,
    AppCustomer(customer): AppCustomer,
    ApiJson(body): ApiJson<DependantsBody>,
) -> Result<Json<ActionResult>, ApiError> {
    let subscriptions = state.store.subscriptions_for(customer).await?;
    let family = family_subscription(&subscriptions)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "you have no family plan"))?;
    let actor = format!("customer:{customer}");
    let action = Action::SetDependants(body.dependant_customer_ids);
    Ok(Json(
        actions::perform(&state, &actor, &family.gateway_subscription_id, action)
            .await?
            .into(),
    ))
}

/// The customer's family subscription that counts: the one AURA covers, else one still billed.
fn family_subscription(subscriptions: &[SubscriptionRow]) -> Option<&SubscriptionRow> {
    let family = || {
        subscriptions
            .iter()
            .rev()
            .filter(|s| s.plan == PlanKind::Family)
    };
    family()
        .find(|s| s.aura_state == AuraState::Active)
        .or_else(|| {
            family()
                .find(|s| ["active", "trialing", "past_due"].contains(&s.gateway_status.as_str()))
        })
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".into());
        components.add_security_scheme("customer_jwt", SecurityScheme::Http(jwt));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "aura-signup API", description = "Operator reads and actions, and the app's dependants."),
    modifiers(&SecuritySchemes),
    components(schemas(ApiError)),
    tags(
        (name = "operators", description = "Bearer tokens from ADMIN_API_TOKENS; `:read` tokens may only read"),
        (name = "app", description = "The customer's AURA JWT"),
    )
)]
struct ApiDoc;

/// Every `/api/v1` route, registered with its OpenAPI description, and the document itself.
pub fn router() -> Router<AppState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_subscriptions))
        .routes(routes!(get_customer))
        .routes(routes!(retry))
        .routes(routes!(resync))
        .routes(routes!(set_dependants))
        .routes(routes!(end_coverage))
        .routes(routes!(sandbox_clock))
        .routes(routes!(set_my_dependants))
        .split_for_parts();
    let doc = Arc::new(doc);
    router.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
