//! A stateful simulator of AURA's API, faithful to AURA's Postman collection, plus the
//! white-label app's side of the sign-up flow (customer list, sign-up redirect, process page)
//! and `/_sim/` endpoints for tests to inspect state and inject faults.
//!
//! It exists so the service can be developed and tested end to end without AURA's staging
//! environment, including the failures staging will not produce on demand.

mod api;
mod app_pages;
mod auth;
mod bodies;
mod faults;
mod inspect;
mod refusal;
mod seed;
mod state;

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    http::{StatusCode, Uri},
    middleware,
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::{sync::watch, task::JoinHandle};
use url::Url;

pub use faults::{DownMode, Faults};
pub use state::SimSubscription;

use crate::config::{DEV_JWT_SECRET, DEV_SIM_CLIENT_ID, DEV_SIM_CLIENT_SECRET};
use state::State;

/// What the simulated AURA is configured with.
#[derive(Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The HS256 secret the app side signs customer sign-up JWTs with.
    pub jwt_secret: String,
    /// The sign-up handler's public base URL, which the app's "Open sign-up" button opens.
    pub signup_base_url: Option<Url>,
}

impl Default for SimConfig {
    /// The development defaults the service's own configuration falls back to.
    fn default() -> Self {
        SimConfig {
            client_id: DEV_SIM_CLIENT_ID.into(),
            client_secret: DEV_SIM_CLIENT_SECRET.into(),
            jwt_secret: DEV_JWT_SECRET.into(),
            signup_base_url: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_id", &self.client_id)
            .field(
                "signup_base_url",
                &self.signup_base_url.as_ref().map(Url::as_str),
            )
            .finish_non_exhaustive()
    }
}

/// One request the simulator received (the `/_sim/` endpoints excepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCall {
    pub method: String,
    pub path: String,
    /// `None` while the request is unanswered, and for good if it was left hanging.
    pub status: Option<u16>,
    pub at: DateTime<Utc>,
}

/// The simulated AURA; clones share one state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

struct Shared {
    cfg: SimConfig,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<SimCall>>,
    /// The key server tokens are signed with; replacing it invalidates every issued token.
    token_key: Mutex<Vec<u8>>,
    /// Where the simulator is reachable, once spawned; the app pages link back to it.
    base_url: Mutex<Option<Url>>,
    /// Set when the server stops, to release requests held by the `Hang` faults.
    stopping: watch::Sender<bool>,
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub base_url: Url,
    sim: Simulator,
    task: JoinHandle<()>,
}

impl SimHandle {
    /// The simulator behind this server, for tests that inspect or fault it directly.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// Stops accepting requests, releases hanging ones and waits for the server to finish.
    pub async fn shutdown(self) {
        self.sim.shared.stopping.send_replace(true);
        let aborter = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(2), self.task)
            .await
            .is_err()
        {
            aborter.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind, still fine to read.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Simulator {
    /// A simulator seeded with the collection's subscription types and a few demo customers.
    pub fn new(cfg: SimConfig) -> Self {
        let mut state = State::new(seed::subscription_types());
        seed::demo_customers(&mut state);

        let shared = Shared {
            cfg,
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(Vec::new()),
            token_key: Mutex::new(auth::new_key()),
            base_url: Mutex::new(None),
            stopping: watch::channel(false).0,
        };
        Simulator {
            shared: Arc::new(shared),
        }
    }

    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/v2/oauth/token", post(api::token))
            .route(
                "/v2/subscriptions/subscriptionTypes",
                get(api::subscription_types),
            )
            .route("/v2/subscriptions", post(api::create_subscription))
            .route(
                "/v2/subscriptions/{id}",
                put(api::update_subscription).delete(api::cancel_subscription),
            )
            .route("/v2/customers", post(api::register_customer))
            .route("/v2/customers/{id}", put(api::edit_customer))
            .route("/v2/customers/{id}/delete", post(api::delete_customer))
            .route_layer(middleware::from_fn_with_state(self.clone(), faults::inject));

        let recorded = api
            .merge(app_pages::routes())
            .fallback(cannot_get)
            .method_not_allowed_fallback(cannot_get)
            .layer(middleware::from_fn_with_state(self.clone(), faults::record));

        recorded.merge(inspect::routes()).with_state(self.clone())
    }

    /// Binds (port 0 picks a free port) and serves in a background task.
    pub async fn spawn(&self, bind: SocketAddr) -> anyhow::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let base_url = Url::parse(&format!("http://{addr}/"))?;
        // Bound to every interface (a container), the address says nothing about how a
        // browser reaches it: the app pages then build their URLs from the Host header.
        if !addr.ip().is_unspecified() {
            lock(&self.shared.base_url).get_or_insert_with(|| base_url.clone());
        }

        let mut stopping = self.shared.stopping.subscribe();
        let router = self.router();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "AURA simulator stopped");
            }
        });
        Ok(SimHandle {
            addr,
            base_url,
            sim: self.clone(),
            task,
        })
    }

    pub fn set_faults(&self, f: Faults) {
        *lock(&self.shared.faults) = f;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    pub fn calls(&self) -> Vec<SimCall> {
        lock(&self.shared.calls).clone()
    }

    pub fn reset_calls(&self) {
        lock(&self.shared.calls).clear();
    }

    /// Invalidates every server token issued so far, as AURA does when it answers a token it
    /// once issued with 401 `invalid signature`.
    pub fn revoke_tokens(&self) {
        *lock(&self.shared.token_key) = auth::new_key();
    }

    /// The subscriptions covering a customer, as main member or dependant, cancelled ones
    /// included, oldest first.
    pub fn subscriptions_of(&self, customer_id: i64) -> Vec<SimSubscription> {
        let state = lock(&self.shared.state);
        state
            .subscriptions
            .values()
            .filter(|s| s.covers(customer_id))
            .map(|s| state.sim_subscription(s))
            .collect()
    }

    /// Adds a customer with a made-up, unique mobile number; returns their AURA id.
    pub fn add_customer(&self, name: &str) -> i64 {
        let mut state = lock(&self.shared.state);
        seed::add_named_customer(&mut state, name, "")
    }
}

/// AURA's answer to any path or method it does not serve: plain text, always "GET".
async fn cannot_get(uri: Uri) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, format!("Cannot GET {}", uri.path()))
}

/// Serves the simulator until SIGINT or SIGTERM.
pub async fn run_standalone(bind: SocketAddr, cfg: SimConfig) -> anyhow::Result<()> {
    let handle = Simulator::new(cfg).spawn(bind).await?;
    tracing::info!(url = %handle.base_url, "AURA simulator listening");

    shutdown_signal().await;
    tracing::info!("AURA simulator stopping");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
