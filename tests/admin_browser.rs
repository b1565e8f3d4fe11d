//! The console in headless Chromium, as an operator uses it: log in, find a customer whose
//! sync failed during an AURA outage, open their timeline, retry the sync. Drives
//! `/usr/bin/chromedriver`, started by the test on a free port.

mod admin_support;
mod support;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use admin_support::{console_app, signed_up, sim};
use aura_signup::{
    aura_sim::{DownMode, Faults},
    gateway::{Gateway, sandbox::ClockAction},
    store::SYNC_SUBSCRIPTION,
};
use fantoccini::{Client, ClientBuilder, Locator};
use support::{Backend, TestApp};

/// A chromedriver process, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

async fn chromium(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--window-size=412,915"]
        }),
    );
    // ring and aws-lc-rs are both linked, so the process must pick one before fantoccini's TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("TLS set-up")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// A signed-up customer whose renewal sync died while AURA was down (AURA is back now).
async fn customer_with_a_failed_sync(app: &TestApp) -> (i64, String) {
    let (customer, subscription) = signed_up(app, "single").await;
    sim(app).set_faults(Faults {
        down: Some(DownMode::Unavailable),
        ..Default::default()
    });
    let Gateway::Sandbox(sandbox) = &app.running.state.gateway else {
        panic!("the sandbox gateway");
    };
    sandbox
        .clock(&subscription, ClockAction::Renew)
        .await
        .unwrap();
    app.running.state.wake.notify_waiters();
    let store = app.store();
    app.eventually(Duration::from_secs(20), "the sync dies", || async {
        let job = store
            .job_for(SYNC_SUBSCRIPTION, &subscription)
            .await
            .unwrap();
        job.is_some_and(|j| j.dead)
    })
    .await;
    sim(app).set_faults(Faults::default());
    (customer, subscription)
}

/// The text of the element `css` selects, once the page shows it: a click returns before
/// the page it leads to has loaded.
async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the address bar's query carries `needle`.
async fn wait_for_query(browser: &Client, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let url = browser.current_url().await.unwrap();
        if url.query().is_some_and(|q| q.contains(needle)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still at {url} waiting for {needle}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_operator_logs_in_finds_the_customer_opens_the_timeline_and_retries_the_failed_sync() {
    let app = console_app(Backend::Postgres, &[("SYNC_MAX_ATTEMPTS", "1")]).await;
    let (customer, subscription) = customer_with_a_failed_sync(&app).await;
    let driver = chromedriver().await;
    let browser = chromium(&driver).await;

    browser.goto(&app.url("/admin")).await.unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/admin/login")
    );
    browser
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    browser
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        text_of(&browser, "#dead-jobs")
            .await
            .contains(&subscription)
    );

    browser
        .find(Locator::Id("q"))
        .await
        .unwrap()
        .send_keys(&customer.to_string())
        .await
        .unwrap();
    browser
        .find(Locator::Id("search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_query(&browser, &format!("q={customer}")).await;
    assert_eq!(text_of(&browser, "#total").await, "1");
    browser
        .find(Locator::Css("a.customer-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let timeline = text_of(&browser, "#timeline").await;
    assert!(
        timeline.contains("failed, waiting for an operator"),
        "{timeline}"
    );
    assert!(
        timeline.contains("→ 503"),
        "the outage's AURA calls: {timeline}"
    );
    browser
        .find(Locator::Css("button.retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&browser, "#notice").await.contains("Retry queued"));

    let store = app.store();
    app.eventually(
        Duration::from_secs(15),
        "the retried sync succeeds",
        || async {
            store
                .job_for(SYNC_SUBSCRIPTION, &subscription)
                .await
                .unwrap()
                .is_none()
        },
    )
    .await;
    browser.refresh().await.unwrap();
    let coverage = text_of(&browser, &format!("#coverage-{subscription}")).await;
    assert_eq!(coverage, "covered");
    assert!(
        text_of(&browser, "#timeline")
            .await
            .contains("retry sync by operator:admin")
    );
    browser.close().await.unwrap();
}
