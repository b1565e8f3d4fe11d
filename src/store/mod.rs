//! The store: one pool over Postgres or SQLite (sqlx's `Any` driver), with the same tables
//! and the same meaning on both. Times are milliseconds since the epoch in BIGINT columns, so
//! no query depends on a backend's date types. Queries live beside the table they touch.

mod admin;
mod aura_calls;
mod events;
mod group_commit;
mod jobs;
mod sandbox;
mod signups;
mod subscriptions;

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{
    AnyConnection, AnyPool, Connection, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

pub use admin::{
    ActionRow, Attention, Change, DeadJob, EXPORT_LIMIT, MappingFilter, MappingRow, NewAction,
    SortKey,
};
pub use aura_calls::AuraCallRow;
pub use events::{NewEvent, StoredEvent};
pub use group_commit::{GroupCommit, NotStored};
pub use jobs::{ClaimedJob, JobRow, NOTIFY_CHANNEL, SYNC_SUBSCRIPTION};
pub use sandbox::{SandboxSession, SandboxSubscription};
pub use signups::{Cover, NewSignup, Signup, SignupOutcome};
pub use subscriptions::{AuraState, GatewayFacts, SubscriptionRow};

use crate::config::DatabaseUrl;

static PG_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: DatabaseUrl,
}

pub type StoreResult<T> = Result<T, sqlx::Error>;

impl Store {
    /// Opens the pool. SQLite gets WAL mode and a busy timeout so the worker and the web
    /// handlers can write from several connections without "database is locked" errors.
    /// A failure names `DATABASE_URL` (and never prints the URL, which may hold a password).
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Self::open(url)
            .await
            .map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot open the database: {e}"))
    }

    async fn open(url: &DatabaseUrl) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let options = AnyConnectOptions::from_str(url.expose())?;
        // One connection first: its error says why (refused, unknown database, bad password),
        // where the pool would only report that it timed out.
        AnyConnection::connect_with(&options).await?.close().await?;
        let pool = match backend {
            Backend::Postgres => {
                // No ping before each use: it doubled the round trips of every query. A broken
                // connection fails its query instead, which every caller already treats as
                // retryable (a 503 page, a webhook the gateway sends again, a job retried).
                AnyPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(Duration::from_secs(5))
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?
            }
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                .await?;
        }
        Ok(Self {
            pool,
            backend,
            url: url.clone(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Postgres => &PG_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        }
    }

    /// Ready means: the database answers, and every migration this binary knows is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await?;
        let known = self.migrator().iter().count() as i64;
        anyhow::ensure!(applied >= known, "{applied} of {known} migrations applied");
        Ok(())
    }

    /// A dedicated Postgres connection for `LISTEN` (the `Any` pool cannot listen).
    pub async fn listener(&self) -> StoreResult<sqlx::postgres::PgListener> {
        sqlx::postgres::PgListener::connect(self.url.expose()).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Reads a boolean column: Postgres has BOOLEAN, SQLite stores 0 or 1 in an INTEGER.
pub(crate) fn get_bool(row: &sqlx::any::AnyRow, column: &str) -> StoreResult<bool> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(row.try_get::<i64, _>(column)? != 0),
    }
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
