//! One browser for one test: the driver, the WebDriver session, bounded waits on what the
//! page shows, a screenshot per step and, when the test fails, the page source next to them.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use axum::http::Method;
use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use serde_json::Value;
use url::Url;

use super::driver::{self, ChromeDriver};

/// The longest any single step may take: generous, since several test binaries share the
/// machine, and the return from checkout may wait a few seconds for AURA.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

pub struct Browser {
    client: Client,
    artefacts: PathBuf,
    step: u32,
    // Dropped after the client is closed: the driver goes, then the profile.
    _driver: ChromeDriver,
    _profile: tempfile::TempDir,
}

/// `$CARGO_TARGET_DIR/test-artifacts/browser/<test>` (or under `target/`), emptied first.
fn artefact_dir(test: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("test-artifacts").join("browser").join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the test named `test`.
    pub async fn start(test: &str) -> Self {
        Self::try_start(test)
            .await
            .unwrap_or_else(|e| panic!("could not start the browser for {test}: {e:#}"))
    }

    async fn try_start(test: &str) -> anyhow::Result<Self> {
        let artefacts = artefact_dir(test)?;
        let driver = ChromeDriver::start(&artefacts.join("chromedriver.log")).await?;
        let profile = tempfile::Builder::new()
            .prefix("aura-browser-profile-")
            .tempdir()?;
        // Two rustls crypto providers are compiled in (a dev-dependency brings aws-lc-rs), so
        // the WebDriver client's TLS setup needs one chosen; losing a race to another is fine.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = ClientBuilder::rustls()?
            .capabilities(driver::capabilities(profile.path()))
            .connect(&driver.url)
            .await
            .context("open a WebDriver session")?;
        Ok(Self {
            client,
            artefacts,
            step: 0,
            _driver: driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("open {url}"))
    }

    /// The element `css` selects, once the page has it.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        let found = self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => Ok(element),
            Err(e) => Err(e).context(format!(
                "waiting for `{css}` on {}",
                self.url_for_errors().await
            )),
        }
    }

    /// The current URL, once `accept` takes it.
    pub async fn wait_for_url(
        &self,
        what: &str,
        accept: impl Fn(&Url) -> bool,
    ) -> anyhow::Result<Url> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let url = self.client.current_url().await?;
            if accept(&url) {
                return Ok(url);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("waited {STEP_TIMEOUT:?} for {what}; the browser is at {url}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.client
            .execute(script, Vec::new())
            .await
            .with_context(|| format!("run `{script}`"))
    }

    async fn url_for_errors(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("(unknown URL: {e})"),
        }
    }
}

/// Chromedriver's own command for the browser console (the W3C protocol has none).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

impl Browser {
    /// Saves what the browser shows now as `NN-name.png`.
    pub async fn screenshot(&mut self, name: &str) -> anyhow::Result<()> {
        self.step += 1;
        let png = self
            .client
            .screenshot()
            .await
            .context("take a screenshot")?;
        let path = self.artefacts.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).with_context(|| format!("write {}", path.display()))
    }

    /// The console's errors since the last call (CSP violations, failed loads), as text.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .context("read the browser console")?;
        let entries = entries.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Closes the session; a failed flow leaves its page source and a last screenshot with
    /// the others, and fails the test.
    pub async fn finish(mut self, flow: anyhow::Result<()>) {
        if let Err(error) = &flow {
            self.save_failure(error).await;
        }
        if let Err(e) = self.client.clone().close().await {
            eprintln!("closing the browser session failed: {e}");
        }
        if let Err(error) = flow {
            panic!(
                "{error:#}\n(screenshots and page source in {})",
                self.artefacts.display()
            );
        }
    }

    async fn save_failure(&mut self, error: &anyhow::Error) {
        let _ = self.screenshot("failure").await;
        let source = match self.client.source().await {
            Ok(html) => html,
            Err(e) => format!("<!-- page source unavailable: {e} -->"),
        };
        let header = format!("<!-- {} -->\n", self.url_for_errors().await);
        let path = self.artefacts.join("failure.html");
        let _ = std::fs::write(&path, header + &source);
        let _ = std::fs::write(self.artefacts.join("failure.txt"), format!("{error:#}\n"));
        if let Ok(errors) = self.console_errors().await {
            let _ = std::fs::write(self.artefacts.join("console.txt"), errors.join("\n"));
        }
    }
}
