//! Start-up and shutdown: builds the shared state from the configuration, starts the web
//! server, the sync workers and the sweep (and, in development, the embedded AURA simulator),
//! and stops them in order on SIGTERM or SIGINT.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::Notify, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use url::Url;

use crate::{
    aura::{AuraCallRecord, AuraClient, AuraClientOptions, CallRecorder},
    aura_sim::{SimConfig, SimHandle, Simulator},
    config::{AuraTarget, Config, GatewayConfig, JwtKey},
    gateway::{Gateway, SandboxGateway, StripeGateway},
    signup::token::TokenVerifier,
    store::{AuraCallRow, GroupCommit, NewSignup, Store},
    sync::{SyncContext, Worker, WorkerOptions, sweep},
    webhooks::writer::IntakeWriter,
};

/// Everything a request handler needs. Cheap to clone; nothing that matters lives only here.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub gateway: Gateway,
    pub aura: AuraClient,
    pub tokens: TokenVerifier,
    pub sync: SyncContext,
    /// Wakes this process's idle workers when it enqueues a job itself.
    pub wake: Arc<Notify>,
    /// Operators, API tokens and the session key of the console.
    pub admin: Arc<crate::admin::auth::Auth>,
    /// Makes webhook events durable, several deliveries to a commit.
    pub intake: IntakeWriter,
    /// Records sign-up visits, several to a commit.
    pub signups: GroupCommit<NewSignup, ()>,
}

/// A started service: its address, state, and what it takes to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: Url,
    pub state: AppState,
    pub sim: Option<SimHandle>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

/// How long in-flight requests and jobs get to finish after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Connects, migrates, and starts serving on `listener`.
pub async fn start(
    mut config: Config,
    listener: TcpListener,
    worker: WorkerOptions,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;

    let sim = start_embedded_simulator(&mut config).await?;
    if sim.is_some() && store.holds_subscriptions().await? {
        warn!(
            "the embedded AURA simulator starts empty, but the database keeps the subscriptions of earlier runs, \
             which the simulator no longer knows (their syncs fail); to start the demo fresh, stop and delete aura-signup.db"
        );
    }
    let config = Arc::new(config);
    let aura = aura_client(&config, sim.as_ref(), &store)?;
    let gateway = match &config.gateway {
        GatewayConfig::Stripe(stripe) => Gateway::Stripe(StripeGateway::new(stripe)?),
        GatewayConfig::Sandbox { period } => Gateway::Sandbox(SandboxGateway::new(
            store.clone(),
            config.public_base_url.clone(),
            *period,
        )),
    };
    let sync = SyncContext {
        store: store.clone(),
        gateway: gateway.clone(),
        aura: aura.clone(),
        plans: Arc::new(config.plans.clone()),
        coverage_margin: config.coverage_margin,
    };
    crate::metrics::install();
    let wake = Arc::new(Notify::new());
    let state = AppState {
        admin: Arc::new(crate::admin::auth::Auth::new(&config)),
        tokens: TokenVerifier::new(config.jwt.clone()),
        config: config.clone(),
        store: store.clone(),
        gateway,
        aura,
        sync,
        wake: wake.clone(),
        intake: IntakeWriter::start(store.clone(), wake),
        signups: signup_writer(store.clone()),
    };

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let router = crate::http::router(state.clone());
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            warn!(error = %e, "server stopped with an error");
        }
    });
    tasks.spawn(
        Worker::new(
            state.sync.clone(),
            WorkerOptions {
                max_attempts: config.sync_max_attempts,
                ..worker
            },
            state.wake.clone(),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(crate::metrics::upkeep(shutdown.clone()));
    tasks.spawn(crate::signup::offer::startup_check(
        state.aura.clone(),
        config.plans.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(sweep::run(
        state.sync.clone(),
        config.sweep_interval,
        state.wake.clone(),
        shutdown.clone(),
    ));

    let base_url = config.public_base_url.clone();
    info!(%addr, gateway = state.gateway.name(), backend = ?state.store.backend(), "aura-signup is serving");
    Ok(Running {
        addr,
        base_url,
        state,
        sim,
        shutdown,
        tasks,
    })
}

impl Running {
    /// Stops accepting, lets in-flight requests and jobs finish within [`SHUTDOWN_GRACE`],
    /// then closes the database pool.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                "shutdown grace period ran out; abandoning what is left (leased jobs will be retried)"
            );
            self.tasks.abort_all();
        }
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
        self.state.store.close().await;
    }

    /// Waits for SIGTERM or SIGINT, then stops.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        info!("stop signal received; shutting down");
        self.stop().await;
    }
}

/// The sign-up entry answers only once its visit is stored; visits arriving together share
/// the commit (two writers, up to 64 visits a transaction).
fn signup_writer(store: Store) -> GroupCommit<NewSignup, ()> {
    GroupCommit::start("signups", 2, 64, move |batch: Vec<NewSignup>| {
        let store = store.clone();
        async move {
            store.insert_signups(&batch).await?;
            Ok(vec![(); batch.len()])
        }
    })
}

/// In development without `AURA_API_URL`, AURA is a simulator inside this process, reached
/// over real HTTP like the real one.
async fn start_embedded_simulator(config: &mut Config) -> anyhow::Result<Option<SimHandle>> {
    let AuraTarget::Embedded {
        bind,
        client_id,
        client_secret,
    } = &config.aura
    else {
        return Ok(None);
    };
    let jwt_secret = match &config.jwt.key {
        JwtKey::Hs256(secret) => secret.expose().to_owned(),
        _ => anyhow::bail!(
            "the embedded simulator mints HS256 tokens: set AURA_JWT_SECRET or AURA_API_URL"
        ),
    };
    let sim = Simulator::new(SimConfig {
        client_id: client_id.clone(),
        client_secret: client_secret.expose().to_owned(),
        jwt_secret,
        signup_base_url: Some(config.public_base_url.clone()),
    });
    let handle = sim
        .spawn(*bind)
        .await
        .map_err(|e| anyhow::anyhow!("AURA_SIM_BIND {bind}: {e}"))?;

    // The default allow-list names the configured bind; with port 0 it must name the real one.
    let default_origin = format!("http://{bind}");
    if config.redirect_allowed == [default_origin] {
        config.redirect_allowed = vec![handle.base_url.origin().ascii_serialization()];
    }
    Ok(Some(handle))
}

fn aura_client(
    config: &Config,
    sim: Option<&SimHandle>,
    store: &Store,
) -> anyhow::Result<AuraClient> {
    let (url, client_id, secret) = match (&config.aura, sim) {
        (AuraTarget::Remote(remote), _) => (
            remote.api_url.clone(),
            remote.client_id.clone(),
            remote.client_secret.clone(),
        ),
        (
            AuraTarget::Embedded {
                client_id,
                client_secret,
                ..
            },
            Some(sim),
        ) => (
            sim.base_url.clone(),
            client_id.clone(),
            client_secret.clone(),
        ),
        (AuraTarget::Embedded { .. }, None) => {
            anyhow::bail!("embedded AURA simulator did not start")
        }
    };
    Ok(AuraClient::new(
        url,
        client_id,
        secret,
        AuraClientOptions {
            timeout: config.aura_timeout,
            connect_timeout: config.aura_connect_timeout,
            ..AuraClientOptions::default()
        },
        Some(call_recorder(store.clone())),
    ))
}

/// Writes every AURA call to the audit trail, off the caller's path.
fn call_recorder(store: Store) -> CallRecorder {
    Arc::new(move |call: AuraCallRecord| {
        crate::metrics::aura_call(
            call.method,
            call.path,
            call.status,
            call.duration.as_secs_f64(),
        );
        let store = store.clone();
        let row = AuraCallRow {
            at: crate::store::now_ms(),
            method: call.method.to_owned(),
            path: call.path.to_owned(),
            status: call.status.map(i64::from),
            duration_ms: call.duration.as_millis() as i64,
            aura_customer_id: call.customer_id,
            aura_subscription_id: call.subscription_id,
            error: call.error,
        };
        tokio::spawn(async move {
            if let Err(e) = store.record_aura_call(&row).await {
                warn!(error = %e, "could not record an AURA call");
            }
        });
    })
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
