//! The fleet page in a real browser: the real `flotilla serve` binary
//! audits the recorded drifted cluster (its API server replayed on
//! 127.0.0.1, the fixture repository cloned from its bundle), and headless
//! Chromium from Debian's `chromium` package, driven through
//! `chromium-driver`'s WebDriver server (fantoccini), loads `/`, finds the
//! drifted cluster, follows its link to the findings, and logs no console
//! error; so does the file `flotilla audit --output html` writes, opened from
//! disk. Screenshots are kept in `target/browser-artifacts/`.
//!
//! `.ci/run` installs both packages. Without them the test fails, naming
//! them; a developer who cannot install them sets `FLOTILLA_SKIP_BROWSER=1`
//! (ignored when `CI` is set, so CI never skips it).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{ClientBuilder, Locator};
use flotilla_tests::replay::ReplayServer;
use serde_json::{Value, json};

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/served.rs"]
mod served;

use served::{CLUSTER, Killed, free_port, start_service, wait_for_port};

/// Chromium runs headless, without its sandbox (CI runs as root), and does
/// nothing that reaches out (a closed network refuses it, and each
/// attempt would log an error).
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
];

/// `CHROMIUM`/`CHROMEDRIVER`, else Debian's paths.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, default: &str| {
        let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
        path.is_file().then_some(path)
    };
    Some((
        find("CHROMIUM", "/usr/bin/chromium")?,
        find("CHROMEDRIVER", "/usr/bin/chromedriver")?,
    ))
}

/// The browser's console since the last call (chromedriver's log
/// endpoint, which fantoccini does not wrap).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

async fn console(client: &fantoccini::Client) -> Vec<Value> {
    match client.issue_cmd(BrowserLog).await.unwrap() {
        Value::Array(entries) => entries,
        other => panic!("browser log: {other}"),
    }
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| support::workspace_root().join("target"), PathBuf::from);
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_page_works_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        let ci = std::env::var_os("CI").is_some();
        if !ci && std::env::var_os("FLOTILLA_SKIP_BROWSER").is_some_and(|v| v == "1") {
            eprintln!("FLOTILLA_SKIP_BROWSER=1: the browser test did not run");
            return;
        }
        panic!(
            "the browser test needs /usr/bin/chromium and /usr/bin/chromedriver \
             (apt-get install chromium chromium-driver; .ci/run does), or CHROMIUM and \
             CHROMEDRIVER naming them; outside CI, FLOTILLA_SKIP_BROWSER=1 skips it"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let replay = ReplayServer::start(served::fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let (_service, addr) = {
        let (tmp, replay) = (tmp.path().to_owned(), &replay);
        tokio::task::block_in_place(|| start_service(&tmp, replay))
    };
    let api_requests = replay.requests();

    let driver_port = free_port();
    let driver_log = std::fs::File::create(tmp.path().join("chromedriver.log")).unwrap();
    let mut driver = Killed(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(driver_log.try_clone().unwrap())
            .stderr(driver_log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(driver_port, &mut driver.0, "chromedriver");

    let profile = tmp.path().join("chromium-profile");
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps: Capabilities = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
        "goog:loggingPrefs": { "browser": "ALL" },
    }))
    .unwrap();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a chromium session through chromedriver");

    let base = format!("http://{addr}");
    client.goto(&format!("{base}/")).await.unwrap();
    let fleet = client.find(Locator::Css("table.fleet")).await.unwrap();
    let text = fleet.text().await.unwrap();
    assert!(text.contains(CLUSTER), "{text}");
    assert!(text.contains("drifted"), "{text}");
    let dir = artifacts_dir();
    std::fs::write(dir.join("fleet.png"), client.screenshot().await.unwrap()).unwrap();
    let fleet_console = console(&client).await;

    // The cluster's own page, by its link.
    client
        .find(Locator::LinkText(CLUSTER))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let findings = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("table.findings"))
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        format!("/clusters/{CLUSTER}")
    );
    let rows = findings.text().await.unwrap();
    for shown in [
        "kured:1.16.0",
        "traefik-basic-auth",
        "unmanaged",
        "flux-suspended",
    ] {
        assert!(rows.contains(shown), "{shown} not in the findings:\n{rows}");
    }
    std::fs::write(dir.join("cluster.png"), client.screenshot().await.unwrap()).unwrap();
    let cluster_console = console(&client).await;

    // `flotilla audit --output html`: the same view as one file, opened
    // from disk with nothing else beside it.
    let fixture = served::fixture();
    let audit = Command::new(support::flotilla_bin())
        .args(["audit", "--output", "html", "--cluster", CLUSTER, "--repo"])
        .arg(fixture.join("repo"))
        .arg("--snapshot")
        .arg(fixture.join("snapshot-drifted"))
        .output()
        .unwrap();
    assert_eq!(audit.status.code(), Some(1), "drift: {audit:?}");
    let file = tmp.path().join("report.html");
    std::fs::write(&file, &audit.stdout).unwrap();
    client
        .goto(&format!("file://{}", file.display()))
        .await
        .unwrap();
    let table = client.find(Locator::Css("table.fleet")).await.unwrap();
    let text = table.text().await.unwrap();
    assert!(text.contains(CLUSTER) && text.contains("drifted"), "{text}");
    client
        .find(Locator::LinkText(CLUSTER))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().fragment(),
        Some("cluster-0")
    );
    let rows = client
        .find(Locator::Css("#cluster-0 table.findings"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(rows.contains("kured:1.16.0"), "{rows}");
    std::fs::write(dir.join("report.png"), client.screenshot().await.unwrap()).unwrap();
    let file_console = console(&client).await;

    // The log channel works: what a page logs is read back.
    client
        .execute("console.error('flotilla-probe')", vec![])
        .await
        .unwrap();
    let probe = console(&client).await;
    client.close().await.unwrap();

    let errors: Vec<&Value> = fleet_console
        .iter()
        .chain(&cluster_console)
        .chain(&file_console)
        .filter(|e| e["level"] != "INFO" && e["level"] != "DEBUG")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    assert!(
        probe.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("flotilla-probe")),
        "the probe was not read back: {probe:?}"
    );
    assert_eq!(
        replay.requests(),
        api_requests,
        "loading the pages asked the API server"
    );
}
