//! Test support: a fresh database per test (Postgres or SQLite) and the real app started on
//! port 0 with the embedded AURA simulator and the sandbox gateway.
#![allow(dead_code)]

use std::{collections::HashMap, net::TcpStream, time::Duration};

use aura_signup::{app, config::Config, store::Store, sync::WorkerOptions};
use tokio::net::TcpListener;

/// Where the tests' Postgres is: `TEST_DATABASE_URL`, else a server on 127.0.0.1:5432, else a
/// container when a Docker engine answers. Without any the tests fail loudly; they never skip.
pub fn postgres_admin_url() -> String {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return url;
    }
    if TcpStream::connect_timeout(&"127.0.0.1:5432".parse().unwrap(), Duration::from_secs(1))
        .is_ok()
    {
        return "postgres://postgres@127.0.0.1:5432/postgres".into();
    }
    if let Some(url) = container_postgres() {
        return url;
    }
    panic!(
        "no Postgres for the tests: set TEST_DATABASE_URL=postgres://user@host:port/db, start one on 127.0.0.1:5432 \
         (pg_ctlcluster --skip-systemctl-redirect <version> main start), or run a Docker engine"
    );
}

type SharedContainer = (
    testcontainers_modules::testcontainers::Container<testcontainers_modules::postgres::Postgres>,
    String,
);

/// A Postgres container shared by this test binary's tests, when `docker info` succeeds.
fn container_postgres() -> Option<String> {
    use testcontainers_modules::{postgres::Postgres, testcontainers::runners::SyncRunner};
    static CONTAINER: std::sync::OnceLock<Option<SharedContainer>> = std::sync::OnceLock::new();

    let started = CONTAINER.get_or_init(|| {
        let docker = std::process::Command::new("docker").arg("info").output();
        if !docker.is_ok_and(|o| o.status.success()) {
            return None;
        }
        let container = Postgres::default()
            .start()
            .expect("start a Postgres container");
        let port = container.get_host_port_ipv4(5432).expect("container port");
        Some((
            container,
            format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
        ))
    });
    started.as_ref().map(|(_, url)| url.clone())
}

/// A new, empty Postgres database; [`fresh_db`] also removes it after the test.
async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let name = format!("aura_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test Postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    url.into()
}

/// A new SQLite file for one test; the directory lives as long as the returned guard.
pub fn fresh_sqlite() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    (url, dir)
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// A test's Postgres database goes when the test does (even a failed one), so runs leave
/// nothing behind. The drop happens on a thread of its own: `Drop` cannot await, and the
/// test's runtime may be the one thread there is.
impl Drop for TestDb {
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        let Some(name) = url::Url::parse(&self.url)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .filter(|n| n.starts_with("aura_test_"))
        else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the drop");
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("test database not dropped (CI drops leftovers): {e}");
        }
    }
}

/// A fresh database of either kind, removed again when the returned guard is dropped.
pub async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Postgres => TestDb {
            url: fresh_postgres().await,
            _dir: None,
        },
        Backend::Sqlite => {
            let (url, dir) = fresh_sqlite();
            TestDb {
                url,
                _dir: Some(dir),
            }
        }
    }
}

pub async fn store(db: &TestDb) -> Store {
    let config = config_with(&[("DATABASE_URL", db.url.as_str())]);
    let store = Store::connect(&config.database_url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

pub const JWT_SECRET: &str = "test-secret";

pub fn config_with(pairs: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("AURA_JWT_SECRET".into(), JWT_SECRET.into());
    vars.insert("AURA_SIM_BIND".into(), "127.0.0.1:0".into());
    for (k, v) in pairs {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_map(&vars).expect("test configuration is valid")
}

/// Job timings short enough for tests.
pub fn fast_worker() -> WorkerOptions {
    WorkerOptions {
        poll: Duration::from_millis(50),
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..WorkerOptions::default()
    }
}

pub struct TestApp {
    pub running: app::Running,
    pub base: String,
    /// Follows no redirects, so tests see each 303.
    pub http: reqwest::Client,
    pub db: TestDb,
}

/// Starts the whole service on port 0 against `db`, with `pairs` added to the environment.
pub async fn spawn_app(db: TestDb, pairs: &[(&str, &str)]) -> TestApp {
    spawn_app_with(db, pairs, fast_worker()).await
}

/// [`spawn_app`] with the worker's timings chosen by the test.
pub async fn spawn_app_with(db: TestDb, pairs: &[(&str, &str)], worker: WorkerOptions) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut all = vec![
        ("DATABASE_URL", db.url.as_str()),
        ("PUBLIC_BASE_URL", base.as_str()),
    ];
    all.extend_from_slice(pairs);
    let config = config_with(&all);
    let running = app::start(config, listener, worker)
        .await
        .expect("app starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        running,
        base,
        http,
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn sim_url(&self, path: &str) -> String {
        let sim = self.running.sim.as_ref().expect("embedded simulator");
        format!("{}{}", sim.base_url.as_str().trim_end_matches('/'), path)
    }

    pub fn store(&self) -> &Store {
        &self.running.state.store
    }

    /// Waits for a condition the app reaches asynchronously, failing after `timeout`.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for: {what}");
    }
}

/// Signs an app token the way the white-label app does.
pub fn app_token(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn valid_token(customer: i64) -> String {
    app_token(
        serde_json::json!({"customerId": customer, "exp": chrono::Utc::now().timestamp() + 600}),
    )
}
