//! The `aura-signup` binary: `serve` (the default), `migrate`, `aura-sim`, `resync` and the
//! sandbox gateway's test clock.

use std::{net::SocketAddr, process::ExitCode};

use aura_signup::{
    app,
    aura_sim::{self, SimConfig},
    config::{self, AuraTarget, Config, GatewayConfig, JwtKey, LogFormat},
    domain::CustomerId,
    gateway::{SandboxGateway, sandbox::ClockAction},
    store::{SYNC_SUBSCRIPTION, Store},
    sync::WorkerOptions,
    telemetry,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aura-signup",
    version,
    about = "Payment sign-up handler for AURA white-label apps"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the sign-up flow, webhooks and workers (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the AURA simulator on its own (the white-label app's pages included).
    AuraSim {
        #[arg(long, default_value = config::DEV_SIM_BIND)]
        bind: SocketAddr,
    },
    /// Enqueue a sync from the gateway for one customer's subscriptions, or for all of them.
    Resync {
        #[arg(long, conflicts_with = "all")]
        customer: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Read a password from standard input and print its argon2 hash, for `ADMIN_USERS`.
    HashPassword,
    /// Move a sandbox subscription's test clock (the sandbox gateway only).
    Sandbox {
        #[arg(value_enum)]
        action: SandboxAction,
        /// The sandbox subscription id (`sub_sandbox_...`).
        subscription: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SandboxAction {
    Renew,
    FailNextRenewal,
    Cancel,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        return hash_password();
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            Store::connect(&config.database_url)
                .await?
                .migrate()
                .await?;
            println!("migrations applied");
            Ok(())
        }
        Command::AuraSim { bind } => aura_sim::run_standalone(bind, sim_config(&config)?).await,
        Command::Resync { customer, all } => resync(config, customer, all).await,
        Command::HashPassword => Ok(()),
        Command::Sandbox {
            action,
            subscription,
        } => sandbox_clock(config, action, &subscription).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .map_err(|e| anyhow::anyhow!("BIND_ADDR {}: {e}", config.bind_addr))?;
    let worker = worker_options(&config);
    let pretty = config.log_format == LogFormat::Pretty;
    let gateway = match config.gateway {
        GatewayConfig::Sandbox { .. } => "sandbox gateway",
        GatewayConfig::Stripe(_) => "Stripe",
    };
    let running = app::start(config, listener, worker).await?;
    if let Some(sim) = &running.sim {
        tracing::info!(
            "demo: open {} to click through a sign-up ({gateway}, simulated AURA)",
            sim.base_url
        );
        if pretty {
            // A banner for the person at the terminal; JSON logs stay one object per line.
            eprintln!("\n  Demo ready: open {} in a browser\n", sim.base_url);
        }
    }
    running.run_until_signal().await;
    Ok(())
}

/// The lease comes from `SYNC_LEASE`; a job is abandoned well before its lease runs out
/// (two thirds of it, at most the default), so no two processes ever run the same job.
fn worker_options(config: &Config) -> WorkerOptions {
    let defaults = WorkerOptions::default();
    WorkerOptions {
        lease: config.sync_lease,
        job_timeout: defaults.job_timeout.min(config.sync_lease * 2 / 3),
        ..defaults
    }
}

fn sim_config(config: &Config) -> anyhow::Result<SimConfig> {
    let (client_id, client_secret) = match &config.aura {
        AuraTarget::Embedded {
            client_id,
            client_secret,
            ..
        } => (client_id.clone(), client_secret.expose().to_owned()),
        AuraTarget::Remote(_) => {
            anyhow::bail!("aura-sim: unset AURA_API_URL (the simulator is for development)")
        }
    };
    let JwtKey::Hs256(secret) = &config.jwt.key else {
        anyhow::bail!("aura-sim mints HS256 app tokens: set AURA_JWT_SECRET");
    };
    Ok(SimConfig {
        client_id,
        client_secret,
        jwt_secret: secret.expose().to_owned(),
        signup_base_url: Some(config.public_base_url.clone()),
    })
}

async fn resync(config: Config, customer: Option<String>, all: bool) -> anyhow::Result<()> {
    let customer = match (customer, all) {
        (Some(raw), _) => Some(
            CustomerId::parse_digits(&raw)
                .ok_or_else(|| anyhow::anyhow!("--customer: {raw:?} is not an AURA customer id"))?,
        ),
        (None, true) => None,
        (None, false) => anyhow::bail!("say --customer ID or --all"),
    };
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    let ids = store.all_subscription_ids(customer).await?;
    if ids.is_empty() {
        match customer {
            Some(c) => anyhow::bail!("customer {c} has no subscription in the store"),
            None => anyhow::bail!("the store holds no subscription"),
        }
    }
    for id in &ids {
        store.enqueue_job(SYNC_SUBSCRIPTION, id).await?;
    }
    println!(
        "enqueued a sync for {} subscription(s); a running service picks them up",
        ids.len()
    );
    Ok(())
}

async fn sandbox_clock(
    config: Config,
    action: SandboxAction,
    subscription: &str,
) -> anyhow::Result<()> {
    let GatewayConfig::Sandbox { period } = config.gateway else {
        anyhow::bail!("the sandbox clock needs the sandbox gateway (unset STRIPE_SECRET_KEY)");
    };
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    let sandbox = SandboxGateway::new(store, config.public_base_url.clone(), period);
    let action = match action {
        SandboxAction::Renew => ClockAction::Renew,
        SandboxAction::FailNextRenewal => ClockAction::FailNextRenewal,
        SandboxAction::Cancel => ClockAction::Cancel,
    };
    match sandbox.clock(subscription, action).await? {
        Some(Ok(status)) => {
            println!("{subscription}: now {status}; the event is queued for the service")
        }
        Some(Err(refused)) => anyhow::bail!("{subscription}: {refused}"),
        None => anyhow::bail!("no sandbox subscription {subscription}"),
    }
    Ok(())
}

/// `printf '%s' 'the password' | aura-signup hash-password` prints the PHC string to put after
/// `name:` in `ADMIN_USERS`. One line is read; its line ending is not part of the password.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("error: could not read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("error: the password is empty");
        return ExitCode::FAILURE;
    }
    println!("{}", aura_signup::admin::auth::hash_password(password));
    ExitCode::SUCCESS
}
