//! Flux's envsubst, case by case: every upstream test case and every
//! observed edge case in `shared/fixtures/envsubst/` (see its README).
//!
//! - `eval`: [`envsubst`] gives upstream's output, or an error whose kind
//!   prints upstream's exact message (our position suffix is not part of it).
//! - `parse`: [`parse_text`] builds upstream's tree (right-nested lists,
//!   `null` args included).
//! - `func`: each helper of upstream's `funcs.go` on its own.
//! - `varsub`: whole Kustomizations through [`render`] with the real
//!   kustomize, on a temporary repository written from the case, with the
//!   case's ConfigMaps and Secrets as the cluster `substituteFrom` reads;
//!   the one case that is not kustomize-controller's behaviour is in
//!   [`SKIP`] with why.
//!
//! The test fails when any case fails, or when a case neither ran nor is
//! skipped.

use flotilla_core::secret::{Sealer, sealed_scalar_matches};
use flotilla_render::flux::substitution_source;
use flotilla_render::substitute::{ErrorKind, Var, Vars, envsubst, funcs, parse_text};
use flotilla_render::{
    ClusterLookup, ClusterObjects, ClusterObjectsRef, Desired, RenderOptions, render,
};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/envsubst"
);

/// varsub cases the renderer does not express, and why.
const SKIP: &[(&str, &str)] = &[(
    "flux2-build/TestBuildLocalKustomization/build-deployment-and-configmap-with-var-substitution-in-dry-run-mode",
    "`flux build --dry-run` skips substituteFrom: a CLI mode, not kustomize-controller's behaviour",
)];

/// ConfigMaps and Secrets "in the cluster" for `substituteFrom`, from the
/// case (matched by kind and name: each case has one namespace).
struct CaseCluster(Vec<Value>);

impl ClusterObjects for CaseCluster {
    fn lookup(&self, kind: &str, _namespace: &str, name: &str) -> ClusterLookup {
        self.0
            .iter()
            .filter_map(substitution_source)
            .find(|(k, _, n, _)| k == kind && n == name)
            .map_or(ClusterLookup::NotFound, |(_, _, _, vars)| {
                ClusterLookup::Found(vars)
            })
    }
}

fn cluster_objects(case: &Value) -> Result<Vec<Value>, String> {
    let mut objects = Vec::new();
    for file in case["cluster_objects_files"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let file = file.as_str().unwrap_or_default();
        let text = fs::read_to_string(fixtures().join(file)).map_err(|e| format!("{file}: {e}"))?;
        for doc in text.split("\n---") {
            if doc.trim().is_empty() {
                continue;
            }
            let obj: Value = serde_saphyr::from_str(doc).map_err(|e| format!("{file}: {e}"))?;
            objects.push(obj);
        }
    }
    for (id, body) in case["substitute_from_objects"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let (kind, name) = id.split_once('/').ok_or("bad object id")?;
        let mut obj = body.clone();
        obj["apiVersion"] = json!("v1");
        obj["kind"] = json!(kind);
        obj["metadata"] = json!({"name": name, "namespace": FLUX_NAMESPACE});
        objects.push(obj);
    }
    Ok(objects)
}

fn fixtures() -> PathBuf {
    PathBuf::from(FIXTURES)
}

fn load(name: &str) -> Value {
    let text = fs::read_to_string(fixtures().join(name)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn str_of<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or_default()
}

#[derive(Default)]
struct Tally {
    total: usize,
    passed: std::collections::BTreeMap<String, usize>,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, case: &Value, result: Result<(), String>) {
        match result {
            Ok(()) => {
                *self
                    .passed
                    .entry(str_of(case, "kind").to_owned())
                    .or_default() += 1
            }
            Err(why) => self.failures.push(format!("{}: {why}", str_of(case, "id"))),
        }
    }
}

#[test]
fn every_upstream_and_observed_case_passes() {
    let mut cases: Vec<Value> = load("cases.json").as_array().cloned().unwrap_or_default();
    let observed = load("observed.json");
    cases.extend(observed["cases"].as_array().cloned().unwrap_or_default());
    assert_eq!(cases.len(), 137 + 176, "fixture case count");
    let by_id: std::collections::BTreeMap<&str, &Value> =
        cases.iter().map(|c| (str_of(c, "id"), c)).collect();
    for (id, _) in SKIP {
        assert!(
            by_id.contains_key(id),
            "skip list names an unknown case {id}"
        );
    }
    let mut tally = Tally {
        total: cases.len(),
        ..Tally::default()
    };
    for case in &cases {
        let id = str_of(case, "id");
        if let Some((_, why)) = SKIP.iter().find(|(skip, _)| *skip == id) {
            tally.skipped.push(format!("{id}: {why}"));
            continue;
        }
        let result = match str_of(case, "kind") {
            "eval" => eval_case(case),
            "parse" => parse_case(case),
            "func" => func_case(case),
            "varsub" => varsub_case(case, &by_id),
            other => Err(format!("unknown kind {other}")),
        };
        tally.record(case, result);
    }
    let ran: usize = tally.passed.values().sum::<usize>() + tally.failures.len();
    println!(
        "envsubst cases: {} passed {:?}, {} failed, {} skipped of {}",
        tally.passed.values().sum::<usize>(),
        tally.passed,
        tally.failures.len(),
        tally.skipped.len(),
        tally.total
    );
    for skipped in &tally.skipped {
        println!("  skipped {skipped}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} cases failed:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert_eq!(ran + tally.skipped.len(), tally.total, "cases not run");
}

fn vars_of(env: &Value) -> Vars {
    env.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Var::plain(v.as_str().unwrap_or_default())))
        .collect()
}

fn eval_case(case: &Value) -> Result<(), String> {
    let input = str_of(case, "input");
    let vars = vars_of(&case["env"]);
    let strict = case["strict"].as_bool().unwrap_or(false);
    // `flux envsubst` evaluates stdin line by line and prints each line.
    let result = if str_of(case, "via").contains("line by line") {
        input
            .lines()
            .map(|line| envsubst(line, &vars, strict).map(|s| s.text + "\n"))
            .collect::<Result<String, _>>()
    } else {
        envsubst(input, &vars, strict).map(|s| s.text)
    };
    let wants_error = case["error"].as_bool().unwrap_or(false);
    match result {
        Ok(out) if !wants_error => {
            let want = str_of(case, "output");
            (out == want)
                .then_some(())
                .ok_or(format!("{input:?}: got {out:?}, want {want:?}"))
        }
        Ok(out) => Err(format!("{input:?}: got {out:?}, want an error")),
        Err(e) if !wants_error => Err(format!("{input:?}: unexpected error {e}")),
        Err(e) => {
            // Upstream's text is the kind's; the position is ours.
            let message = e.kind.to_string();
            if let Some(want) = case["error_message"].as_str()
                && message != want
            {
                return Err(format!("{input:?}: error {message:?}, want {want:?}"));
            }
            if let Some(want) = case["error_is"].as_str()
                && !(matches!(e.kind, ErrorKind::VariableNotSet { .. })
                    && message.starts_with(want))
            {
                return Err(format!("{input:?}: error {message:?} is not {want:?}"));
            }
            if let Some(want) = case["error_contains"].as_str()
                && !message.contains(want)
            {
                return Err(format!("{input:?}: error {message:?} lacks {want:?}"));
            }
            Ok(())
        }
    }
}

fn parse_case(case: &Value) -> Result<(), String> {
    let input = str_of(case, "input");
    let tree = parse_text(input).map_err(|e| format!("{input:?}: {e}"))?;
    let got = tree.to_json();
    (got == case["ast"])
        .then_some(())
        .ok_or(format!("{input:?}: tree {got}, want {}", case["ast"]))
}

fn func_case(case: &Value) -> Result<(), String> {
    let f: funcs::SubstituteFn = match str_of(case, "func") {
        "toLen" => funcs::to_len,
        "toLower" => funcs::to_lower,
        "toLowerFirst" => funcs::to_lower_first,
        "toUpper" => funcs::to_upper,
        "toUpperFirst" => funcs::to_upper_first,
        "toDefault" => funcs::to_default,
        "toSubstr" => funcs::to_substr,
        other => return Err(format!("no helper for {other}")),
    };
    let args: Vec<Vec<u8>> = case["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a.as_str().unwrap_or_default().as_bytes().to_vec())
        .collect();
    let value = str_of(case, "value");
    let out = f(value.as_bytes(), &args).map_err(|e| format!("{value:?}: {e}"))?;
    let want = str_of(case, "output");
    (out == want.as_bytes()).then_some(()).ok_or(format!(
        "{value:?} {args:?}: got {:?}, want {want:?}",
        String::from_utf8_lossy(&out)
    ))
}

// ---- varsub: whole Kustomizations through the renderer --------------------

const FLUX_NAMESPACE: &str = "flux-system";

fn varsub_case(
    case: &Value,
    by_id: &std::collections::BTreeMap<&str, &Value>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let repo = dir.path();
    let ks = case_kustomization(case)?;
    let name = ks["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    write(
        repo,
        "clusters/c/flux-system/sync.yaml",
        &root_kustomization(),
    );
    write(repo, "clusters/c/case.yaml", &ks.to_string());
    if let Some(source) = case["kustomize_dir"].as_str() {
        for entry in fs::read_dir(fixtures().join(source)).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            write(
                repo,
                &format!("case/{file}"),
                &fs::read_to_string(&path).unwrap_or_default(),
            );
        }
    }
    for (file, text) in case["manifests"].as_object().into_iter().flatten() {
        write(
            repo,
            &format!("case/{file}"),
            text.as_str().unwrap_or_default(),
        );
    }
    if case["always"].as_bool().unwrap_or(false) {
        let post_build = ks["spec"]["postBuild"].clone();
        let mut ks = ks.clone();
        ks["spec"]["postBuild"] = if post_build.is_object() {
            post_build
        } else {
            json!({})
        };
        ks["spec"]["postBuild"]["substituteStrategy"] = json!("Always");
        write(repo, "clusters/c/case.yaml", &ks.to_string());
    }
    let objects = cluster_objects(case)?;
    let sealer = Sealer::random();
    let opts = RenderOptions {
        strict_substitution: case["strict"].as_bool().unwrap_or(false),
        cluster: (!objects.is_empty())
            .then(|| ClusterObjectsRef(Arc::new(CaseCluster(objects)) as Arc<dyn ClusterObjects>)),
        sealer: sealer.clone(),
        ..RenderOptions::default()
    };
    let desired = render(repo, "clusters/c", &opts).map_err(|e| format!("render: {e}"))?;
    check_varsub(case, by_id, &desired, &name, &sealer)
}

fn write(repo: &Path, rel: &str, text: &str) {
    let path = repo.join(rel);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn root_kustomization() -> String {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "flux-system", "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": "10m",
            "path": "./clusters/c",
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
    })
    .to_string()
}

/// The case's Flux Kustomization, reading `./case` from the root's source.
fn case_kustomization(case: &Value) -> Result<Value, String> {
    let mut ks = match case["flux_kustomization_file"].as_str() {
        Some(file) => {
            let text = fs::read_to_string(fixtures().join(file))
                .map_err(|e| format!("{file}: {e}"))?
                .replace("{{ .fluxns }}", FLUX_NAMESPACE);
            serde_saphyr::from_str::<Value>(&text).map_err(|e| format!("{file}: {e}"))?
        }
        None => json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "vars", "namespace": FLUX_NAMESPACE},
            "spec": {"interval": "5m", "prune": true},
        }),
    };
    if let Some(post_build) = case.get("postBuild") {
        ks["spec"]["postBuild"] = post_build.clone();
    }
    ks["spec"]["path"] = json!("./case");
    ks["spec"]["sourceRef"] =
        json!({"kind": "GitRepository", "name": "flux-system", "namespace": FLUX_NAMESPACE});
    Ok(ks)
}

fn check_varsub(
    case: &Value,
    by_id: &std::collections::BTreeMap<&str, &Value>,
    desired: &Desired,
    name: &str,
    sealer: &Sealer,
) -> Result<(), String> {
    let expect = &case["expect"];
    let objects: Vec<&Value> = desired
        .objects
        .iter()
        .filter(|o| o.kustomization.as_ref().is_some_and(|k| k.name == name))
        .map(|o| &o.object)
        .collect();
    let errors: Vec<String> = desired
        .errors
        .iter()
        .filter(|e| e.kustomization.0.as_ref().is_some_and(|k| k.name == name))
        .map(|e| flotilla_core::findings::error_chain(e))
        .collect();
    if expect["error"].as_bool().unwrap_or(false) {
        let want = expect["error_contains"].as_str().unwrap_or_default();
        return errors
            .iter()
            .any(|e| e.contains(want))
            .then_some(())
            .ok_or(format!("want an error containing {want:?}, got {errors:?}"));
    }
    if !errors.is_empty() {
        return Err(format!("unexpected errors {errors:?}"));
    }
    if objects.is_empty() {
        return Err("nothing rendered".into());
    }
    for check in expect["values"].as_array().into_iter().flatten() {
        check_value(&objects, check, sealer)?;
    }
    let lists = match expect["yaml_equals_case"].as_str() {
        Some(other) => &by_id.get(other).ok_or("unknown case")?["expect"],
        None => expect,
    };
    for needle in lists["yaml_contains"].as_array().into_iter().flatten() {
        let needle = needle.as_str().unwrap_or_default();
        if !objects.iter().any(|o| yaml_contains(o, needle)) {
            return Err(format!("output lacks {needle:?}"));
        }
    }
    for needle in lists["yaml_not_contains"].as_array().into_iter().flatten() {
        let needle = needle.as_str().unwrap_or_default();
        if objects.iter().any(|o| yaml_contains(o, needle)) {
            return Err(format!("output contains {needle:?}"));
        }
    }
    if expect["substitution_skipped"].as_bool().unwrap_or(false)
        && !objects.iter().any(|o| yaml_contains(o, "${"))
    {
        return Err("substitution ran; Flux skips it without variables".into());
    }
    if let Some(file) = expect["output_file"].as_str() {
        let text = fs::read_to_string(fixtures().join(file))
            .map_err(|e| format!("{file}: {e}"))?
            .replace("{{ .fluxns }}", FLUX_NAMESPACE);
        let mut want: Vec<Value> = text
            .split("\n---\n")
            .filter(|doc| !doc.trim().is_empty())
            .map(|doc| serde_saphyr::from_str::<Value>(doc).map_err(|e| format!("{file}: {e}")))
            .collect::<Result<_, _>>()?;
        // fluxcd/pkg's golden file is the substitution step alone; the
        // owner labels come from Flux's apply (flux2's goldens have them).
        let pkg_only = str_of(case, "id").starts_with("pkg-kustomize/");
        let mut got: Vec<Value> = objects
            .iter()
            .map(|o| {
                if pkg_only {
                    without_owner_labels((*o).clone())
                } else {
                    (*o).clone()
                }
            })
            .collect();
        let key = |v: &Value| format!("{}/{}", v["kind"], v["metadata"]["name"]);
        want.sort_by_key(key);
        got.sort_by_key(key);
        if got != want {
            return Err(format!(
                "output differs from {file}:\n got {}\nwant {}",
                Value::from(got),
                Value::from(want)
            ));
        }
    }
    Ok(())
}

fn without_owner_labels(mut obj: Value) -> Value {
    if let Some(labels) = obj
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("kustomize.toolkit.fluxcd.io/name");
        labels.remove("kustomize.toolkit.fluxcd.io/namespace");
        if labels.is_empty()
            && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("labels");
        }
    }
    obj
}

/// A `values` check: `Kind/name`, a dotted path, `equals` / `contains` /
/// `not_contains` on a string.
///
/// Values from Secrets are held as digests (a Secret's own `data`, sealed;
/// a value substituted from a Secret elsewhere, tainted): an `equals` check
/// on them compares digests, so the value itself is never in the output.
fn check_value(objects: &[&Value], check: &Value, sealer: &Sealer) -> Result<(), String> {
    let target = str_of(check, "object");
    let (kind, name) = target.split_once('/').ok_or("bad object")?;
    let object = objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .ok_or(format!("{target} not rendered"))?;
    let path = str_of(check, "path");
    if let (Some(path), Some(want)) = (
        path.strip_suffix(" (base64-decoded)"),
        check["equals"].as_str(),
    ) {
        let value = path
            .split('.')
            .try_fold(*object, |v, key| v.get(key))
            .ok_or(format!("{target}: no {path}"))?;
        return (value == &Value::String(sealer.digest(want.as_bytes())))
            .then_some(())
            .ok_or(format!("{target} {path}: not the sealed {want:?}"));
    }
    let value = path
        .split('.')
        .try_fold(*object, |v, key| v.get(key))
        .ok_or(format!("{target}: no {path}"))?;
    let Some(text) = value.as_str() else {
        return Err(format!("{target} {path}: {value} is not a string"));
    };
    if text.starts_with("sealed:tainted:") {
        let want = check["equals"].as_str().ok_or(format!(
            "{target} {path}: derived from a Secret, only `equals` can be checked"
        ))?;
        return (sealed_scalar_matches(value, &Value::String(want.into())) == Some(true))
            .then_some(())
            .ok_or(format!("{target} {path}: not the digest of {want:?}"));
    }
    if let Some(want) = check["equals"].as_str()
        && text != want
    {
        return Err(format!("{target} {path}: {text:?}, want {want:?}"));
    }
    if let Some(want) = check["contains"].as_str()
        && !text.contains(want)
    {
        return Err(format!("{target} {path}: {text:?} lacks {want:?}"));
    }
    if let Some(want) = check["not_contains"].as_str()
        && text.contains(want)
    {
        return Err(format!("{target} {path}: {text:?} contains {want:?}"));
    }
    Ok(())
}

/// Whether the object, printed as YAML, would contain `needle`: `key: value`
/// needles match a map entry with that scalar, others any key or string.
fn yaml_contains(value: &Value, needle: &str) -> bool {
    let entry = needle.split_once(": ");
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            let here = match entry {
                Some((key, scalar)) => k == key && scalar_text(v).as_deref() == Some(scalar),
                None => k.contains(needle),
            };
            here || yaml_contains(v, needle)
        }),
        Value::Array(items) => items.iter().any(|v| yaml_contains(v, needle)),
        Value::String(s) => entry.is_none() && s.contains(needle),
        _ => false,
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}
