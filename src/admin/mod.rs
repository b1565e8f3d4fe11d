//! The operator console (`/admin`), its JSON API (`/api/v1`) and what both share: operator
//! and token authentication ([`auth`]), the definition of coverage ([`coverage`]), the
//! actions ([`actions`]) and a customer's timeline ([`timeline`]).

pub mod actions;
pub mod api;
pub mod auth;
pub mod console;
pub mod coverage;
pub mod query;
pub mod timeline;
pub mod view;

use axum::{
    Router,
    routing::{get, post},
};

use crate::app::AppState;

/// Every console and API route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(console::home))
        .route(
            "/admin/login",
            get(console::login_form).post(console::login),
        )
        .route("/admin/logout", post(console::logout))
        .route("/admin/export.csv", get(console::export))
        .route("/admin/customers/{id}", get(console::customer))
        .route("/admin/subscriptions/{id}/{action}", post(console::act))
        .route("/admin/static/{file}", get(console::stylesheet))
        .merge(api::router())
}
