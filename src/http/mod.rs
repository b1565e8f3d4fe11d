//! The router (every route of the service is listed here) and the layers every request
//! passes through: request id, one log line per request, body limit, timeout, security
//! headers.

pub mod health;
pub mod page;

use std::time::Duration;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method, Response, StatusCode, Uri, header},
    response::IntoResponse,
    routing::{get, post},
};
use tower::ServiceBuilder;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::{Span, info, info_span};

use crate::{
    admin::api::ApiError, app::AppState, gateway::sandbox::pages as sandbox_pages,
    signup::handlers as signup, webhooks::intake,
};

/// Webhook events can be large (expanded invoices); everything else is small.
const BODY_LIMIT: usize = 512 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    let https = state.config.public_base_url.scheme() == "https";
    let csp = content_security_policy(&state);

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/{file}", get(static_file))
        .route("/signup", get(signup::entry))
        .route("/signup/{id}", get(signup::show))
        .route("/signup/{id}/checkout", post(signup::checkout))
        .route("/signup/{id}/complete", get(signup::complete))
        .route("/signup/{id}/cancelled", get(signup::cancelled))
        .route(
            "/sandbox/checkout/{id}",
            get(sandbox_pages::show).post(sandbox_pages::pay),
        )
        .route("/webhooks/stripe", post(intake::stripe))
        .route("/metrics", get(crate::metrics::scrape))
        // The operator console (/admin) and the API (/api/v1): listed in `admin::router`.
        .merge(crate::admin::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                    HeaderName::from_static("stripe-signature"),
                ]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_request(())
                        .on_response(log_response)
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(crate::metrics::track))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    csp,
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
                )),
        )
}

/// No scripts at all; styles from our own origin. Forms may lead (through redirects) to the
/// gateway's checkout and back to the app, so those origins are allowed as form targets.
fn content_security_policy(state: &AppState) -> HeaderValue {
    let mut targets = vec![
        "'self'".to_owned(),
        "https://checkout.stripe.com".to_owned(),
    ];
    targets.extend(state.config.redirect_allowed.iter().cloned());
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        targets.join(" ")
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
}

fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    info_span!("request", method = %request.method(), route = %route, request_id = %request_id)
}

fn log_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

async fn static_file(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    if format!("/static/{file}") != page::css_path() {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        page::CSS,
    )
        .into_response()
}

/// Scripts calling the API get JSON errors, people get pages.
fn is_api(uri: &Uri) -> bool {
    uri.path() == "/api" || uri.path().starts_with("/api/")
}

async fn not_found(uri: Uri) -> axum::response::Response {
    if is_api(&uri) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no such API endpoint; every endpoint is described at /api/v1/openapi.json",
        )
        .into_response();
    }
    page::Page::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
    .into_response()
}

/// The route exists; the method does not (the `Allow` header lists those that do).
async fn method_not_allowed(method: Method, uri: Uri) -> axum::response::Response {
    if is_api(&uri) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed here; see the Allow header"),
        )
        .into_response();
    }
    page::Page::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not allowed",
        "This address does not take that kind of request.",
    )
    .into_response()
}
