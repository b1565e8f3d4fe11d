//! The binary and the cross-cutting layers: start-up on both backends, configuration errors
//! that name their variable, health and readiness, request ids, security headers, and a
//! graceful stop on SIGTERM.

mod support;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use support::{Backend, fresh_db, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_aura-signup");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with a clean environment (nothing inherited but PATH) in `dir`.
fn binary(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

fn wait_ready(url: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the service exited early: {status}");
        }
        if reqwest::blocking::get(url).is_ok_and(|r| r.status() == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not answer 200 in time");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(25);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("the service did not stop on SIGTERM");
}

#[test]
fn with_no_configuration_the_embedded_default_serves_and_creates_its_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let (port, sim_port) = (free_port(), free_port());
    let bind = format!("127.0.0.1:{port}");
    let sim = format!("127.0.0.1:{sim_port}");
    let mut child = binary(dir.path(), &[("BIND_ADDR", &bind), ("AURA_SIM_BIND", &sim)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    wait_ready(&format!("http://{bind}/readyz"), &mut child);
    assert_eq!(
        reqwest::blocking::get(format!("http://{bind}/healthz"))
            .unwrap()
            .status(),
        200
    );
    assert!(dir.path().join("aura-signup.db").exists());
    assert_eq!(
        reqwest::blocking::get(format!("http://{sim}/"))
            .unwrap()
            .status(),
        200,
        "the demo's app page"
    );
    assert!(terminate(&mut child).success(), "SIGTERM is a clean stop");
}

#[tokio::test]
async fn serve_runs_against_postgres_when_database_url_says_so() {
    let db = fresh_db(Backend::Postgres).await;
    let url = db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let sim = format!("127.0.0.1:{}", free_port());
    let mut child = binary(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("BIND_ADDR", &bind),
            ("AURA_SIM_BIND", &sim),
        ],
    )
    .arg("serve")
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let ready = format!("http://{bind}/readyz");
    tokio::task::spawn_blocking(move || {
        wait_ready(&ready, &mut child);
        assert!(terminate(&mut child).success());
    })
    .await
    .unwrap();
    assert!(
        !dir.path().join("aura-signup.db").exists(),
        "no SQLite file when Postgres is configured"
    );
}

#[test]
fn malformed_settings_stop_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("DATABASE_URL", "mysql://nope"),
        ("BIND_ADDR", "not-an-address"),
        ("APP_ENV", "staging"),
        ("COVERAGE_MARGIN", "soon"),
    ] {
        let output = binary(dir.path(), &[(var, value)]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "names {var}: {stderr}");
    }
    assert!(
        !dir.path().join("aura-signup.db").exists(),
        "nothing created on a bad configuration"
    );
}

#[test]
fn migrate_applies_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path(), &[]).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("aura-signup.db").exists());
}

#[tokio::test]
async fn health_and_readiness_answer_on_both_backends() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = spawn_app(fresh_db(backend).await, &[]).await;
        for path in ["/healthz", "/readyz"] {
            let response = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{backend:?} {path}");
        }
        app.running.stop().await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_the_security_headers() {
    let app = spawn_app(fresh_db(Backend::Sqlite).await, &[]).await;
    let generated = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        generated
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty())
    );

    let given = app
        .http
        .get(app.url("/no-such-page"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), 404);
    let headers = given.headers();
    assert_eq!(headers["x-request-id"], "req-123");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_anything_reads_them() {
    let app = spawn_app(fresh_db(Backend::Sqlite).await, &[]).await;
    let body = vec![b'a'; 600 * 1024];
    let response = app
        .http
        .post(app.url("/webhooks/stripe"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}
