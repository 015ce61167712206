//! `deploy/monitoring/`: the PrometheusRule and the Grafana dashboard use
//! only metrics the service exports, and the rules are what Prometheus
//! accepts and fire when they should.
//!
//! - Every metric name in every rule expression and dashboard query is one
//!   that a real scrape of `flotilla serve`'s `/metrics` (the real binary
//!   over the recorded drifted cluster) declares, or (for the failure
//!   counters, which have no series before a failure) the same registry
//!   encodes once every recorder has been called.
//! - `promtool check rules` (Debian's `prometheus` package; `.ci/run`
//!   installs the binary) accepts the rule groups, and `promtool test rules`
//!   runs `tests/testdata/alerts.test.yaml`: each alert fires on the series
//!   it is for, and not on a healthy cluster. promtool is required when `CI`
//!   is set; elsewhere its checks are skipped, saying so, when it is missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_tests::replay::ReplayServer;
use serde_json::Value;

#[path = "../support/mod.rs"]
mod support;

#[path = "../support/served.rs"]
mod served;

fn monitoring() -> PathBuf {
    support::workspace_root().join("deploy/monitoring")
}

fn rule_file() -> Value {
    let text = std::fs::read_to_string(monitoring().join("prometheusrule.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// The `spec.groups` of the PrometheusRule: a Prometheus rule file.
fn rule_groups() -> Value {
    let rule = rule_file();
    assert_eq!(rule["kind"], "PrometheusRule");
    serde_json::json!({ "groups": rule["spec"]["groups"] })
}

fn rules() -> Vec<Value> {
    rule_groups()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every `expr` string anywhere in `v`, and the dashboard's variable
/// queries.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    _ => queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| queries(i, out)),
        _ => {}
    }
}

/// PromQL functions, aggregations, keywords and Grafana's `label_values`
/// used by the queries: every other identifier must be a metric.
const NOT_METRICS: &[&str] = &[
    "and",
    "or",
    "unless",
    "sum",
    "min",
    "max",
    "count",
    "avg",
    "time",
    "increase",
    "rate",
    "histogram_quantile",
    "vector",
    "label_values",
    "bool",
    "offset",
];

/// The metric names a PromQL expression uses: label matchers, string
/// literals, range durations, grouping clauses and numbers removed, what is
/// left that is not a function or keyword. The expressions are ours and
/// small; a full PromQL parser would add a parser generator to the build
/// for this one check (promtool parses them for real where it is installed).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let (mut braces, mut brackets, mut quote) = (0, 0, None);
    for c in expr.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{') => braces += 1,
            (None, '}') => braces -= 1,
            (None, '[') => brackets += 1,
            (None, ']') => brackets -= 1,
            (None, c) if braces == 0 && brackets == 0 => text.push(c),
            _ => {}
        }
    }
    // `by (…)`, `on (…)`: label names, not metrics.
    let mut names = BTreeSet::new();
    let tokens: Vec<String> = text
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '(' || c == ')' || c == ',')
        })
        .flat_map(|t| {
            let mut parts = Vec::new();
            let mut cur = String::new();
            for c in t.chars() {
                if "(),".contains(c) {
                    if !cur.is_empty() {
                        parts.push(std::mem::take(&mut cur));
                    }
                    parts.push(c.to_string());
                } else {
                    cur.push(c);
                }
            }
            if !cur.is_empty() {
                parts.push(cur);
            }
            parts
        })
        .collect();
    let mut skip_group = false;
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" => {
                skip_group = tokens.get(i + 1).is_some_and(|n| n == "(");
            }
            "(" if skip_group => depth += 1,
            ")" if skip_group => {
                depth -= 1;
                if depth == 0 {
                    skip_group = false;
                }
            }
            _ if skip_group && depth > 0 => {}
            "(" | ")" | "," => {}
            t if t.starts_with(|c: char| c.is_ascii_digit()) => {}
            t if NOT_METRICS.contains(&t) => {}
            t => {
                names.insert(t.to_owned());
            }
        }
        i += 1;
    }
    names
}

/// Sample names a scrape declares: each `# TYPE` family with the suffixes
/// its type gives its samples (OpenMetrics: counters `_total`, histograms
/// `_bucket`, `_sum`, `_count`), and every sample line's name.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for s in suffixes {
                names.insert(format!("{name}{s}"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            names.insert(name.to_owned());
        }
    }
    names
}

/// The service's metrics after a success, a failure of each kind, a git
/// fetch error and a GitHub error: every family has a series.
fn after_every_kind_of_event() -> String {
    use flotilla_auditor::findings::ClusterReport;
    use flotilla_auditor::serve::metrics::Metrics;
    use flotilla_auditor::serve::state::State;
    let metrics = Metrics::new();
    metrics.init_cluster("c");
    let now = jiff::Timestamp::now();
    let report = ClusterReport {
        cluster: "c".into(),
        ..ClusterReport::default()
    };
    metrics.record_success(&report, std::time::Duration::from_secs(1), 3, now);
    metrics.record_failure("c", "apiserver-unreachable", None, true);
    metrics.record_git_fetch_error();
    metrics.record_github_error("rate-limited");
    metrics.encode(&State::new(["c".to_owned()]), now)
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"sum by (cluster) (increase(flotilla_audit_failures_total{error!="x",cluster=~"$c"}[1h])) > 0
           unless on (cluster) (min by (cluster) (time() - flotilla_up) < 3600) or vector(0)"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["flotilla_audit_failures_total", "flotilla_up"]
    );
    assert_eq!(
        metric_names("label_values(flotilla_audit_runs_total, cluster)"),
        BTreeSet::from(["flotilla_audit_runs_total".to_owned(), "cluster".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_dashboard_use_is_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let replay = ReplayServer::start(served::fixture().join("snapshot-drifted"))
        .await
        .unwrap();
    let (_service, addr) = {
        let (dir, replay) = (tmp.path().to_owned(), &replay);
        tokio::task::block_in_place(|| served::start_service(&dir, replay))
    };
    let scrape = tokio::task::block_in_place(|| served::http_get(addr, "/metrics"));
    assert!(scrape.contains("flotilla_findings{"), "{scrape}");
    // Families without series are not in a scrape: those that only appear
    // after a failure come from the same registry with every recorder used.
    let mut exported = exported_names(&scrape);
    exported.extend(exported_names(&after_every_kind_of_event()));

    let mut used = Vec::new();
    for rule in rules() {
        used.push((
            format!("alert {}", rule["alert"].as_str().unwrap()),
            rule["expr"].as_str().unwrap().to_owned(),
        ));
    }
    let mut dash = Vec::new();
    queries(&dashboard(), &mut dash);
    assert!(dash.len() >= 10, "the dashboard's queries were found");
    used.extend(dash.into_iter().map(|q| ("dashboard".to_owned(), q)));
    for (what, expr) in &used {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{what}: no metric in {expr}");
        for name in names {
            // label_values(metric, label): the second argument is a label.
            if expr.starts_with("label_values(") && !name.starts_with("flotilla_") {
                continue;
            }
            assert!(
                exported.contains(&name),
                "{what} uses {name}, which the service does not export: {expr}\nexported: {exported:?}"
            );
        }
    }
}

#[test]
fn the_alerts_the_issue_asks_for_exist_with_severity_and_runbook() {
    let alerts: BTreeSet<String> = rules()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "FlotillaDriftPresent",
        "FlotillaAuditsFailing",
        "FlotillaApiServerUnreachable",
        "FlotillaGitHubRateLimited",
        "FlotillaNoSuccessfulAudit",
    ] {
        assert!(alerts.contains(want), "{want} missing: {alerts:?}");
    }
    for rule in rules() {
        let name = rule["alert"].as_str().unwrap();
        assert!(rule["for"].is_string(), "{name}: no `for:`");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["warning", "critical"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let description = rule["annotations"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(description.contains("Runbook:"), "{name}: no runbook");
    }
}

/// promtool, or `None` outside CI when it is not installed.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is needed in CI (.ci/run installs it from Debian's prometheus package)"
        );
        eprintln!("promtool is not installed: the rules were not checked by promtool");
    }
    found
}

fn run_promtool(promtool: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    let Some(promtool) = promtool() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // JSON is YAML: the rule groups as Prometheus reads a rule file.
    let groups = rule_groups();
    std::fs::write(tmp.path().join("groups.yaml"), groups.to_string()).unwrap();
    run_promtool(&promtool, tmp.path(), &["check", "rules", "groups.yaml"]);
    // The unit tests check when alerts fire; their texts are checked above.
    let mut bare = groups;
    for group in bare["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            rule.as_object_mut().unwrap().remove("annotations");
        }
    }
    std::fs::write(tmp.path().join("rules.yaml"), bare.to_string()).unwrap();
    std::fs::copy(
        support::workspace_root().join("tests/testdata/alerts.test.yaml"),
        tmp.path().join("alerts.test.yaml"),
    )
    .unwrap();
    run_promtool(
        &promtool,
        tmp.path(),
        &["test", "rules", "alerts.test.yaml"],
    );
}
