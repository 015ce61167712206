//! Flux repositories laid out as real ones are (`tests/flux-repos/<case>/`),
//! rendered as kustomize-controller would, against their expected desired
//! objects.
//!
//! Each case folder holds `repo/` (the repository), `case.json` (entry path,
//! the repository's remote URLs, `--source` mappings, an age key file,
//! ConfigMaps/Secrets "in the cluster" for `substituteFrom`, and field
//! checks) and `expected.json`: every desired object with its Kustomization,
//! what was not rendered and why, objects attributed to other clusters, and
//! errors. `FLOTILLA_BLESS=1` rewrites `expected.json`; review the diff.
//!
//! Field checks: `equals` (the value), `tainted` (derived from a Secret: held
//! as a digest that matches this plain value, and never the value itself),
//! `sealed` (a Secret's value, sealed), `unknown` (a value flotilla cannot
//! know: not compared).

use flotilla_core::object::ObjectKey;
use flotilla_core::secret::{Sealer, sealed_scalar_matches};
use flotilla_render::flux::substitution_source;
use flotilla_render::sops::Keyring;
use flotilla_render::substitute::UNKNOWN;
use flotilla_render::{
    ClusterLookup, ClusterObjects, ClusterObjectsRef, Desired, RenderOptions, SourceMapping, render,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flux-repos")
}

fn shared_sops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/sops")
}

/// ConfigMaps and Secrets "in the cluster", from `case.json`.
struct CaseCluster(Vec<Value>);

impl ClusterObjects for CaseCluster {
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> ClusterLookup {
        self.0
            .iter()
            .filter_map(substitution_source)
            .find(|(k, ns, n, _)| k == kind && ns == namespace && n == name)
            .map_or(ClusterLookup::NotFound, |(_, _, _, vars)| {
                ClusterLookup::Found(vars)
            })
    }
}

fn label(obj: &Value) -> String {
    ObjectKey::of(obj).map_or_else(|| "?".into(), |k| k.to_string())
}

/// What `expected.json` holds for a render.
fn summary(desired: &Desired) -> Value {
    let mut objects: Vec<String> = desired
        .objects
        .iter()
        .map(|d| {
            format!(
                "{} <- {}",
                label(&d.object),
                d.kustomization
                    .as_ref()
                    .map_or_else(|| "(entry)".to_owned(), ToString::to_string)
            )
        })
        .collect();
    objects.sort();
    let mut not_rendered: Vec<String> = desired
        .not_rendered
        .iter()
        .map(|n| {
            format!(
                "{} {}: {}",
                n.kustomization
                    .as_ref()
                    .map_or_else(|| "(entry)".to_owned(), ToString::to_string),
                n.reason.as_str(),
                n.detail
            )
        })
        .collect();
    not_rendered.sort();
    let remote: BTreeMap<String, Vec<String>> = desired
        .remote
        .iter()
        .map(|(cluster, objects)| {
            let mut names: Vec<String> = objects.iter().map(|o| label(&o.object)).collect();
            names.sort();
            (cluster.to_string(), names)
        })
        .collect();
    let errors: Vec<String> = desired
        .errors
        .iter()
        .map(|e| flotilla_core::findings::error_chain(e))
        .collect();
    json!({
        "objects": objects,
        "notRendered": not_rendered,
        "remote": remote,
        "errors": errors,
    })
}

fn find<'a>(desired: &'a Desired, object: &str) -> &'a Value {
    desired
        .objects
        .iter()
        .map(|d| &d.object)
        .find(|o| label(o) == object)
        .unwrap_or_else(|| panic!("{object} is not rendered"))
}

fn run_case(dir: &Path) -> Vec<String> {
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let strings = |key: &str| -> Vec<String> {
        case[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let sources: Vec<SourceMapping> = strings("sources")
        .iter()
        .map(|s| {
            let (reference, path) = s.split_once('=').unwrap();
            format!("{reference}={}", dir.join(path).display())
                .parse()
                .unwrap()
        })
        .collect();
    let sops_keys = case["sopsAgeKeyFile"]
        .as_str()
        .map(|f| Arc::new(Keyring::from_age_file(&shared_sops().join(f)).unwrap()));
    let cluster = case["cluster"].as_array().map(|objects| {
        ClusterObjectsRef(Arc::new(CaseCluster(objects.clone())) as Arc<dyn ClusterObjects>)
    });
    let sealer = Sealer::random();
    let opts = RenderOptions {
        repo_urls: strings("repoUrls"),
        sources,
        sops_keys,
        cluster,
        sealer: sealer.clone(),
        ..RenderOptions::default()
    };
    let entry = case["entry"].as_str().unwrap();
    let desired = render(&dir.join("repo"), entry, &opts)
        .unwrap_or_else(|e| panic!("{name}: the entry does not render: {e}"));

    let mut failures = Vec::new();
    let got = summary(&desired);
    let expected_file = dir.join("expected.json");
    if std::env::var_os("FLOTILLA_BLESS").is_some() {
        std::fs::write(
            &expected_file,
            serde_json::to_string_pretty(&got).unwrap() + "\n",
        )
        .unwrap();
    } else {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_file).unwrap_or_else(|_| {
                panic!("{name}: no expected.json (FLOTILLA_BLESS=1 writes it)")
            }),
        )
        .unwrap();
        if expected != got {
            failures.push(format!(
                "{name}: desired state differs from expected.json\nexpected: {}\ngot:      {}",
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    for check in case["fields"].as_array().into_iter().flatten() {
        let object = check["object"].as_str().unwrap();
        let pointer = check["pointer"].as_str().unwrap();
        let value = find(&desired, object)
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{name}: {object} has no {pointer}"));
        let at = format!("{name}: {object} {pointer}");
        if let Some(want) = check.get("equals")
            && value != want
        {
            failures.push(format!("{at}: {value} is not {want}"));
        }
        if let Some(plain) = check.get("tainted") {
            if sealed_scalar_matches(value, plain) != Some(true) {
                failures.push(format!(
                    "{at}: not the tainted digest of the expected value"
                ));
            }
            if value == plain {
                failures.push(format!("{at}: a Secret-derived value is held in clear"));
            }
        }
        if let Some(plain) = check["sealed"].as_str()
            && value != &Value::String(sealer.digest(plain.as_bytes()))
        {
            failures.push(format!("{at}: not the sealed digest of the expected value"));
        }
        if check["unknown"] == true && value != &Value::String(UNKNOWN.into()) {
            failures.push(format!("{at}: {value} is not unknown"));
        }
    }
    let everything = format!(
        "{}{:?}{:?}{:?}",
        serde_json::to_string(
            &desired
                .objects
                .iter()
                .map(|d| &d.object)
                .collect::<Vec<_>>()
        )
        .unwrap(),
        desired.notes,
        desired.errors,
        desired.not_rendered
    );
    for needle in strings("mustNotContain") {
        if everything.contains(&needle) {
            failures.push(format!(
                "{name}: `{needle}` appears in the desired state, notes or errors"
            ));
        }
    }
    failures
}

#[test]
fn flux_repositories_render_as_kustomize_controller_would() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 6, "cases found: {dirs:?}");
    let failures: Vec<String> = dirs.iter().flat_map(|d| run_case(d)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
