//! The demo flow in a real browser: headless Chromium, driven through chromedriver, at a
//! phone's 360×740, goes from the simulated white-label app through the plan page and the
//! sandbox checkout back to the app, against the real service. It checks what a person sees
//! (the pages, the outcome) and what AURA ends up holding. Each step leaves a screenshot under
//! `$CARGO_TARGET_DIR/test-artifacts/browser/<test>/` (or `target/...`); a failure adds the
//! page source. Chromium and chromedriver are required: without them the tests fail and say
//! how to install them.

mod support;

#[path = "browser/driver.rs"]
mod driver;
#[path = "browser/session.rs"]
mod session;

use anyhow::{Context, ensure};
use chrono::{DateTime, Duration, Utc};
use session::Browser;
use support::{Backend, TestApp, fresh_db, spawn_app};
use url::Url;

const CARD_PAYS: &str = "4242 4242 4242 4242";
const CARD_DECLINED: &str = "4000 0000 0000 0002";
/// The sandbox's billing period and the coverage margin, both at their defaults.
const PAID_PERIOD_AND_MARGIN: Duration = Duration::days(30 + 3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_for_the_family_plan_returns_success_and_aura_holds_family_cover() {
    let app = spawn_app(fresh_db(Backend::Sqlite).await, &[]).await;
    let mut browser = Browser::start("family_plan_paid").await;
    let flow = pay_for_family_plan(&mut browser, &app).await;
    browser.finish(flow).await;
    app.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_card_is_shown_and_cancelling_returns_failure_with_nothing_in_aura() {
    let app = spawn_app(fresh_db(Backend::Postgres).await, &[]).await;
    let mut browser = Browser::start("card_declined_then_cancelled").await;
    let flow = decline_then_cancel(&mut browser, &app).await;
    browser.finish(flow).await;
    app.running.stop().await;
}

async fn pay_for_family_plan(browser: &mut Browser, app: &TestApp) -> anyhow::Result<()> {
    let customer = open_signup_for_first_customer(browser, app).await?;
    choose_family_plan(browser).await?;
    let paid_at = Utc::now();
    enter_card_and_pay(browser, CARD_PAYS).await?;
    expect_outcome(browser, app, customer, true).await?;

    let simulator = app.running.sim.as_ref().context("simulator")?.simulator();
    let open: Vec<_> = simulator
        .subscriptions_of(customer)
        .into_iter()
        .filter(|s| !s.cancelled)
        .collect();
    ensure!(
        open.len() == 1,
        "customer {customer} should hold one active subscription, holds {open:?}"
    );
    ensure!(
        open[0].type_value == "WEB_SIGNUP_FAMILY",
        "subscription type is {}, not WEB_SIGNUP_FAMILY",
        open[0].type_value
    );
    expect_valid_to(open[0].valid_to, paid_at + PAID_PERIOD_AND_MARGIN)
}

async fn decline_then_cancel(browser: &mut Browser, app: &TestApp) -> anyhow::Result<()> {
    let customer = open_signup_for_first_customer(browser, app).await?;
    choose_family_plan(browser).await?;
    enter_card_and_pay(browser, CARD_DECLINED).await?;

    let error = browser.wait_for("#card-error").await?;
    let message = error.text().await?;
    ensure!(
        message.contains("declined"),
        "the checkout should say the card was declined, says {message:?}"
    );
    let url = browser
        .wait_for_url("the checkout page", is_checkout)
        .await?;
    expect_clean_page(browser, &url).await?;
    browser.screenshot("card-declined").await?;

    browser.wait_for("#cancel").await?.click().await?;
    expect_outcome(browser, app, customer, false).await?;

    let simulator = app.running.sim.as_ref().context("simulator")?.simulator();
    let held = simulator.subscriptions_of(customer);
    ensure!(
        held.is_empty(),
        "AURA should hold nothing for {customer}: {held:?}"
    );
    let writes: Vec<_> = simulator
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/v2/") && c.path != "/v2/oauth/token")
        .filter(|c| c.method != "GET")
        .collect();
    ensure!(
        writes.is_empty(),
        "AURA was asked to change things: {writes:?}"
    );
    Ok(())
}

/// On the app's customer list, presses the first customer's "Open sign-up" and waits for the
/// plan page. Returns that customer's id.
async fn open_signup_for_first_customer(
    browser: &mut Browser,
    app: &TestApp,
) -> anyhow::Result<i64> {
    browser.goto(&app.sim_url("/")).await?;
    let button = browser.wait_for("button[id^='open-signup-']").await?;
    let id = button.attr("id").await?.unwrap_or_default();
    let customer: i64 = id
        .trim_start_matches("open-signup-")
        .parse()
        .with_context(|| format!("customer id in button id {id:?}"))?;
    browser.screenshot("app-customers").await?;

    button.click().await?;
    let url = browser
        .wait_for_url("the plan page", |u| {
            is_ours(u, app) && u.path().starts_with("/signup/")
        })
        .await?;
    browser.wait_for("#continue").await?;
    expect_clean_page(browser, &url).await?;
    Ok(customer)
}

/// Checks the plan page fits the phone, picks the family plan by its label, as a thumb
/// would, and continues to the checkout.
async fn choose_family_plan(browser: &mut Browser) -> anyhow::Result<()> {
    let viewport = browser.execute("return window.innerWidth").await?;
    ensure!(
        viewport == driver::WIDTH,
        "the window should be {} px wide, is {viewport}",
        driver::WIDTH
    );
    let width = browser
        .execute("return document.scrollingElement.scrollWidth")
        .await?;
    ensure!(
        width
            .as_u64()
            .is_some_and(|w| w <= u64::from(driver::WIDTH)),
        "the plan page scrolls sideways at {} px: it is {width} px wide",
        driver::WIDTH
    );
    browser.screenshot("plan-page").await?;

    browser
        .wait_for("label[for='plan-family']")
        .await?
        .click()
        .await?;
    let family = browser.wait_for("#plan-family").await?;
    ensure!(
        family.is_selected().await?,
        "the family plan did not get selected"
    );
    browser.screenshot("family-chosen").await?;

    browser.wait_for("#continue").await?.click().await?;
    let url = browser
        .wait_for_url("the sandbox checkout", is_checkout)
        .await?;
    browser.wait_for("#card").await?;
    expect_clean_page(browser, &url).await?;
    let heading = browser.wait_for("h1").await?.text().await?;
    ensure!(
        heading.starts_with("Pay"),
        "checkout heading is {heading:?}"
    );
    Ok(())
}

async fn enter_card_and_pay(browser: &mut Browser, card: &str) -> anyhow::Result<()> {
    browser.screenshot("checkout").await?;
    browser.wait_for("#card").await?.send_keys(card).await?;
    browser.screenshot("card-entered").await?;
    browser.wait_for("#pay").await?.click().await?;
    Ok(())
}

/// Waits for the app's result page and checks it shows `success=<expected>`.
async fn expect_outcome(
    browser: &mut Browser,
    app: &TestApp,
    customer: i64,
    expected: bool,
) -> anyhow::Result<()> {
    let sim = app
        .running
        .sim
        .as_ref()
        .context("simulator")?
        .base_url
        .clone();
    let url = browser
        .wait_for_url("the app's /v2/process page", |u| {
            u.origin() == sim.origin() && u.path() == "/v2/process"
        })
        .await?;
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    ensure!(
        query.contains(&("customerId".into(), customer.to_string())),
        "the app got back the wrong customer: {url}"
    );
    let outcome = browser.wait_for("#outcome").await?.text().await?;
    browser.screenshot("app-outcome").await?;
    ensure!(
        outcome == format!("success={expected}"),
        "the app shows {outcome:?}, expected success={expected}"
    );
    Ok(())
}

fn is_ours(url: &Url, app: &TestApp) -> bool {
    url.as_str().starts_with(&app.base)
}

fn is_checkout(url: &Url) -> bool {
    url.path().starts_with("/sandbox/checkout/")
}

/// One of our pages as the browser got it: its stylesheet loaded (the CSP let it through)
/// and nothing on the console (no violation, no failed load). The page's own status is not
/// a fault: a declined card is answered 402, with the form to try again.
async fn expect_clean_page(browser: &Browser, url: &Url) -> anyhow::Result<()> {
    let styled = browser
        .execute(
            "const links = [...document.querySelectorAll('link[rel=stylesheet]')];\
             return links.length > 0 && links.every(l => l.sheet && l.sheet.cssRules.length > 0);",
        )
        .await?;
    ensure!(styled == true, "{url}: the stylesheet did not load");
    let own_status = format!("{url} - Failed to load resource");
    let errors: Vec<String> = browser
        .console_errors()
        .await?
        .into_iter()
        .filter(|e| !e.starts_with(&own_status))
        .collect();
    ensure!(
        errors.is_empty(),
        "{url}: the console shows errors: {errors:#?}"
    );
    expect_accessible_basics(browser, url).await
}

/// What every page of ours keeps to, for people using a screen reader or a keyboard, as
/// problems found (none when the page is right).
const ACCESSIBILITY_PROBLEMS: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('no lang on <html>');
if (!document.title.trim()) problems.push('no <title>');
const h1s = document.querySelectorAll('h1').length;
if (h1s !== 1) problems.push(`${h1s} <h1> elements, not one`);
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  if (el.labels.length === 0 && !el.getAttribute('aria-label')) problems.push(`#${el.id || el.name} has no label`);
}
for (const el of document.querySelectorAll('a, button')) {
  if (!el.textContent.trim() && !el.getAttribute('aria-label')) problems.push(`${el.outerHTML} has no text`);
}
for (const el of document.querySelectorAll('[tabindex]')) {
  if (el.tabIndex > 0) problems.push(`${el.outerHTML} jumps the focus order`);
}
const focusable = [...document.querySelectorAll('a[href], button, input:not([type=hidden])')];
const tops = focusable.map(el => el.getBoundingClientRect().top);
if (tops.some((t, i) => i > 0 && t < tops[i - 1] - 1)) problems.push('focus order does not follow the page from top to bottom');
return problems;
"#;

async fn expect_accessible_basics(browser: &Browser, url: &Url) -> anyhow::Result<()> {
    let problems = browser.execute(ACCESSIBILITY_PROBLEMS).await?;
    let problems = problems.as_array().cloned().unwrap_or_default();
    ensure!(problems.is_empty(), "{url}: {problems:#?}");
    Ok(())
}

/// AURA's `validTo` is the paid-through date plus the margin, give or take the test's run.
fn expect_valid_to(valid_to: DateTime<Utc>, expected: DateTime<Utc>) -> anyhow::Result<()> {
    let off = (valid_to - expected).num_seconds().abs();
    ensure!(
        off <= Duration::minutes(5).num_seconds(),
        "validTo is {valid_to}, expected about {expected} ({off} s off)"
    );
    Ok(())
}
