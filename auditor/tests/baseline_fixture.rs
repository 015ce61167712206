//! The end-to-end golden test: the shared `baseline-cluster` fixture (a Flux
//! repository applied to a real kube-apiserver, recorded clean and drifted)
//! through the real renderer (`kubectl kustomize`), the snapshot reader, the
//! diff and all three printers, against the fixture's answer key
//! `expected.json`.

use flotilla_auditor::desired::{Desired, RenderOptions, render};
use flotilla_auditor::diff::{DiffOptions, diff};
use flotilla_auditor::findings::{ClusterReport, Finding, FindingClass, REPORT_VERSION, Report};
use flotilla_auditor::live::load_snapshot_with;
use flotilla_auditor::report::{html, json, markdown, text};
use flotilla_auditor::secret::Sealer;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{LazyLock, OnceLock};

/// `shared/` sits beside the checkout (here and in CI).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/baseline-cluster"
);
const REVISION: &str = "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93";

fn fixture() -> PathBuf {
    PathBuf::from(FIXTURE)
}

/// One key for desired and live, as an audit uses.
static SEALER: LazyLock<Sealer> = LazyLock::new(Sealer::random);

/// Rendering runs kustomize six times; do it once for all tests.
fn desired() -> &'static Desired {
    static DESIRED: OnceLock<Desired> = OnceLock::new();
    DESIRED.get_or_init(|| {
        let opts = RenderOptions {
            revision: Some(REVISION.into()),
            sealer: SEALER.clone(),
            ..RenderOptions::default()
        };
        let desired = render(&fixture().join("repo"), "clusters/aks-eastus2-01", &opts)
            .expect("render fixture repo");
        assert!(
            desired.errors.is_empty(),
            "render errors: {:?}",
            desired.errors
        );
        desired
    })
}

fn audit(snapshot: &str) -> Vec<Finding> {
    let live = load_snapshot_with(&fixture().join(snapshot), None, &SEALER).expect("load snapshot");
    let opts = DiffOptions {
        revision: Some(REVISION.into()),
        ..DiffOptions::default()
    };
    diff(desired(), &live, &opts)
}

fn drifted() -> &'static Vec<Finding> {
    static FINDINGS: OnceLock<Vec<Finding>> = OnceLock::new();
    FINDINGS.get_or_init(|| audit("snapshot-drifted"))
}

fn answer_key() -> Value {
    let text = std::fs::read_to_string(fixture().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn class_of(name: &str) -> FindingClass {
    serde_json::from_value(Value::String(name.into())).unwrap()
}

/// The finding for an answer-key entry (same class and object).
fn matching<'a>(findings: &'a [Finding], want: &Value) -> Option<&'a Finding> {
    findings.iter().find(|f| {
        f.class == class_of(want["class"].as_str().unwrap())
            && f.kind == want["kind"]
            && f.name == want["name"]
            && f.namespace.as_deref() == want["namespace"].as_str()
    })
}

#[test]
fn clean_snapshot_has_no_findings() {
    let findings = audit("snapshot-clean");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn drifted_snapshot_has_exactly_the_expected_findings() {
    let key = answer_key();
    let expected = key["snapshot-drifted"]["findings"].as_array().unwrap();
    let findings = drifted();
    assert_eq!(findings.len(), expected.len(), "{findings:#?}");
    for want in expected {
        let id = want["id"].as_str().unwrap();
        let got =
            matching(findings, want).unwrap_or_else(|| panic!("{id} not found in {findings:#?}"));
        assert_eq!(got.api_version, want["apiVersion"], "{id}");
        assert_eq!(
            got.kustomization.as_deref(),
            want["kustomization"].as_str(),
            "{id}"
        );
        if let Some(manager) = want.get("manager") {
            assert_eq!(got.manager.as_deref(), manager.as_str(), "{id}");
        }
        if let Some(condition) = want.get("condition") {
            assert_eq!(
                &serde_json::to_value(&got.condition).unwrap(),
                condition,
                "{id}"
            );
        }
        let fields = want
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(got.paths.len(), fields.len(), "{id}: {:#?}", got.paths);
        for (change, field) in got.paths.iter().zip(&fields) {
            assert_eq!(change.path, field["path"], "{id}");
            assert_eq!(change.field, field["keyed_path"], "{id}");
            assert_eq!(change.manager.as_deref(), field["manager"].as_str(), "{id}");
            if field["sensitive"] == true {
                assert!(change.sensitive, "{id}");
                assert_eq!(change.desired, Some(Value::String("***".into())), "{id}");
                assert_eq!(change.live, Some(Value::String("***".into())), "{id}");
            } else {
                assert_eq!(change.desired.as_ref(), Some(&field["desired"]), "{id}");
                assert_eq!(change.live.as_ref(), Some(&field["live"]), "{id}");
            }
        }
    }
}

#[test]
fn not_findings_are_not_reported() {
    let key = answer_key();
    let findings = drifted();
    for not in key["snapshot-drifted"]["not_findings"].as_array().unwrap() {
        let id = not["id"].as_str().unwrap();
        assert!(
            matching(findings, not).is_none(),
            "{id} reported: {findings:#?}"
        );
        for field in not["fields"].as_array().into_iter().flatten() {
            let path = field["path"].as_str().unwrap();
            let leaked = findings
                .iter()
                .filter(|f| f.name == not["name"] && f.kind == not["kind"])
                .any(|f| f.paths.iter().any(|p| p.path == path));
            assert!(!leaked, "{id}: {path} reported");
        }
    }
}

#[test]
fn blame_carries_the_time_of_the_change() {
    let d2 = drifted()
        .iter()
        .find(|f| f.name == "kured" && f.kind == "DaemonSet")
        .unwrap();
    assert_eq!(d2.paths[0].time.as_deref(), Some("2026-11-21T04:52:03Z"));
}

/// The drifted Secret value, read from the snapshot so the test follows it.
fn drifted_secret_values() -> Vec<String> {
    use base64::Engine;
    let path = fixture().join("snapshot-drifted/objects/core_v1_secrets.json");
    let list: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let secret = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metadata"]["name"] == "traefik-basic-auth")
        .unwrap();
    let b64 = secret["data"]["users"].as_str().unwrap().to_owned();
    let plain = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap(),
    )
    .unwrap();
    vec![b64, plain]
}

fn report() -> Report {
    Report {
        version: REPORT_VERSION,
        clusters: vec![ClusterReport {
            cluster: "aks-eastus2-01".into(),
            revision: Some(REVISION.into()),
            findings: drifted().clone(),
            errors: Vec::new(),
            notes: Vec::new(),
            ..Default::default()
        }],
    }
}

fn outputs() -> Vec<(&'static str, String)> {
    let r = report();
    let mut plain = Vec::new();
    text::print(&r, &mut plain, false).unwrap();
    let mut colored = Vec::new();
    text::print(&r, &mut colored, true).unwrap();
    let mut j = Vec::new();
    json::print(&r, &mut j).unwrap();
    let mut md = Vec::new();
    markdown::print(&r, &mut md).unwrap();
    let mut page = Vec::new();
    html::print(&r, &mut page).unwrap();
    [
        ("text", plain),
        ("text+color", colored),
        ("json", j),
        ("markdown", md),
        ("html", page),
    ]
    .into_iter()
    .map(|(n, b)| (n, String::from_utf8(b).unwrap()))
    .collect()
}

#[test]
fn no_secret_value_in_any_output() {
    let mut secrets = vec![
        "admin:$apr1$fake$hash".to_owned(),
        "YWRtaW46JGFwcjEkZmFrZSRoYXNo".to_owned(),
    ];
    secrets.extend(drifted_secret_values());
    assert!(
        secrets[2].starts_with("YWRt") && secrets[3].starts_with("admin:"),
        "{secrets:?}"
    );
    for (name, out) in outputs() {
        assert!(
            out.contains("traefik-basic-auth"),
            "{name} must mention the secret"
        );
        for secret in &secrets {
            assert!(!out.contains(secret.as_str()), "{name} leaks {secret}");
        }
        assert!(!out.contains("sealed:"), "{name} leaks a digest");
    }
}

#[test]
fn json_output_round_trips() {
    let (_, text) = outputs().into_iter().find(|(n, _)| *n == "json").unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report());
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["version"], 1);
}

#[test]
fn text_output_summarises_and_diffs() {
    let (_, out) = outputs().into_iter().find(|(n, _)| *n == "text").unwrap();
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "aks-eastus2-01 @ main@sha1:255b005: 10 findings (5 modified, 1 missing, 2 unmanaged, 1 suspended, 1 unhealthy)"
    );
    assert!(
        out.contains("      - [log]") || out.contains("        [log]"),
        "{out}"
    );
    assert!(out.contains("      -   level = \"ERROR\""), "{out}");
    assert!(out.contains("      +   level = \"DEBUG\""), "{out}");
    assert!(
        out.contains("(kubectl-set at 2026-11-21T04:52:03Z)"),
        "{out}"
    );
    assert!(
        out.contains(
            "[unmanaged] ConfigMap cluster-baseline-settings/hotfix  (created by kubectl-create)"
        ),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no colour unless asked");
}

#[test]
fn markdown_output_is_a_table_per_cluster() {
    let (_, out) = outputs()
        .into_iter()
        .find(|(n, _)| *n == "markdown")
        .unwrap();
    assert!(
        out.starts_with("### aks-eastus2-01 &#64;&#8203; main&#64;&#8203;sha1:255b005\n"),
        "{out}"
    );
    let rows = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Class") && !l.starts_with("| ---"));
    assert_eq!(rows.count(), 10, "{out}");
    assert!(
        out.contains("line 13: "),
        "multi-line values show the changed line: {out}"
    );
}
