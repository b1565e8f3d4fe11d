//! aura-signup: the payment sign-up handler for AURA's white-label apps.
//!
//! - [`signup`]: the flow from the app's redirect to a paid checkout and back;
//! - [`webhooks`]: gateway webhook intake (verified, made durable, then acknowledged);
//! - [`sync`]: the durable job queue worker and the reconciliation that converges AURA to
//!   the gateway;
//! - [`aura`]: the one client for AURA's API; [`aura_sim`]: a faithful simulator of it;
//! - [`gateway`]: the payment gateway seam (Stripe, and the built-in sandbox);
//! - [`store`]: Postgres or SQLite; [`http`]: the router and cross-cutting layers;
//! - [`admin`]: the operator console and API; [`metrics`]: Prometheus metrics;
//! - [`config`]: every setting, typed and validated; [`app`]: start-up and shutdown.

pub mod admin;
pub mod app;
pub mod aura;
pub mod aura_sim;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod signup;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod webhooks;
