//! Chromedriver, started by the test on a free port and killed when its guard drops, and the
//! capabilities of the headless Chromium it drives: a phone-sized window, a throw-away
//! profile, nothing that reaches beyond 127.0.0.1, and the browser's console kept for reading.

use std::{
    fs::File,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The mobile target the pages are built for.
pub const WIDTH: u32 = 360;
pub const HEIGHT: u32 = 740;

/// How long chromedriver gets to start answering.
const DRIVER_START: Duration = Duration::from_secs(20);

/// A running chromedriver in a process group of its own, which the browsers it starts join;
/// dropping it kills that group, so a test that panics leaves no browser behind.
pub struct ChromeDriver {
    child: Child,
    pub url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        if !killed.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `CHROMEDRIVER`, else the Debian package's binary. A missing driver fails the test.
fn chromedriver_binary() -> PathBuf {
    let path = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    assert!(
        path.is_file(),
        "chromedriver not found at {}: install it with `apt-get install -y chromium chromium-driver` \
         (Debian), or set CHROMEDRIVER to its path (and CHROME to the browser's)",
        path.display()
    );
    path
}

/// `CHROME`, else the Debian package's browser.
fn chromium_binary() -> PathBuf {
    let path = std::env::var_os("CHROME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "Chromium not found at {}: install it with `apt-get install -y chromium chromium-driver` \
         (Debian), or set CHROME to its path",
        path.display()
    );
    path
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a probe port")?;
    Ok(listener.local_addr()?.port())
}

impl ChromeDriver {
    /// Starts chromedriver on a free port, logging to `log`, and waits until it answers.
    /// A port taken between the probe and the start is retried with another.
    pub async fn start(log: &Path) -> anyhow::Result<Self> {
        let binary = chromedriver_binary();
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            let child = Command::new(&binary)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(log.with_extension("stderr"))?)
                .spawn()
                .with_context(|| format!("start {}", binary.display()))?;
            let mut driver = ChromeDriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            match driver.wait_until_ready().await {
                Ok(()) => return Ok(driver),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let status = format!("{}/status", self.url);
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + DRIVER_START;
        while tokio::time::Instant::now() < deadline {
            if let Some(exit) = self.child.try_wait()? {
                bail!("chromedriver exited at start-up ({exit})");
            }
            let answer = http.get(&status).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("chromedriver did not answer on {status} within {DRIVER_START:?}")
    }
}

/// Headless Chromium emulating a phone's screen, with its own profile directory.
pub fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--hide-scrollbars".to_owned(),
        format!("--window-size={WIDTH},{HEIGHT}"),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium_binary(),
            "args": args,
            // A desktop window cannot be made narrower than 500 px; the phone's viewport is
            // emulated instead (width, height, pixel density, touch).
            "mobileEmulation": {
                "deviceMetrics": { "width": WIDTH, "height": HEIGHT, "pixelRatio": 2.0, "touch": true, "mobile": true },
            },
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    match caps {
        Value::Object(map) => map,
        _ => unreachable!("capabilities are an object"),
    }
}
