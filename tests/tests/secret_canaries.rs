//! No value that comes from a Secret ever leaves flotilla: not in any output
//! format, at any log level, in any error, in a pull-request body.
//!
//! A repository plants distinctive canary values everywhere a Secret's value
//! can come from — `stringData`, `data` (base64), a `secretGenerator`
//! literal, a `substituteFrom` Secret substituted into a ConfigMap (and into
//! a URL inside one), a substitution error and a YAML error in objects that
//! hold one — at two commits, and a recorded cluster holds other canaries in
//! the same places (drift). `audit` and `preview` run in every format with
//! `RUST_LOG=trace`, and the drift pull request's body is built from the
//! audit; every canary is looked for in plain and in base64.

#[path = "../support/mod.rs"]
mod support;

use base64::Engine;
use flotilla_auditor::audit::{self, Checkout};
use flotilla_core::adopt::{Action, Actions, AdoptInput, adopt};
use flotilla_core::diff::DiffOptions;
use flotilla_core::secret::Sealer;
use flotilla_live::load_snapshot_with;
use flotilla_render::RenderOptions;
use flotilla_serve::bot::drift_pr::pr_body;
use std::path::Path;
use std::process::Command;
use support::{Run, flotilla_bin};

/// Canaries of the head commit, the base commit and the live cluster.
const HEAD: Canaries = Canaries {
    string_data: "cnry-head-stringdata-5c1f0e",
    data: "cnry-head-data-8d2a47",
    literal: "cnry-head-literal-31b9c2",
    substituted: "cnry-head-subst-e07d55",
};
const BASE: Canaries = Canaries {
    string_data: "cnry-base-stringdata-77a0c1",
    data: "cnry-base-data-2f93bd",
    literal: "cnry-base-literal-94e8a0",
    substituted: "cnry-base-subst-c4d1f6",
};
const LIVE_SECRET: &str = "cnry-live-secret-6a1d93";
const LIVE_CONFIGMAP: &str = "cnry-live-cm-0f7e28";

struct Canaries {
    string_data: &'static str,
    data: &'static str,
    literal: &'static str,
    substituted: &'static str,
}

impl Canaries {
    fn all(&self) -> [&'static str; 4] {
        [self.string_data, self.data, self.literal, self.substituted]
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every canary, plain and base64 (and base64 without padding, as it may
/// appear inside a longer encoded value).
fn needles() -> Vec<String> {
    let mut out = Vec::new();
    for c in HEAD
        .all()
        .into_iter()
        .chain(BASE.all())
        .chain([LIVE_SECRET, LIVE_CONFIGMAP])
    {
        out.push(c.to_owned());
        out.push(b64(c).trim_end_matches('=').to_owned());
    }
    out
}

fn assert_clean(text: &str, what: &str) {
    for needle in needles() {
        assert!(!text.contains(&needle), "{what} leaks `{needle}`:\n{text}");
    }
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["config", "user.name", "t"]);
        repo.git(&["config", "user.email", "t@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The repository with one set of canaries, committed.
    fn commit(&self, c: &Canaries) -> String {
        let ks = |name: &str, path: &str, extra: &str| {
            format!(
                "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
            )
        };
        let from_secret =
            "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: app-secrets\n";
        self.write(
            "clusters/c/flux.yaml",
            &[
                ks("flux-system", "./clusters/c", ""),
                ks("secrets", "./secrets", ""),
                ks("apps", "./apps", from_secret),
                ks("broken-subst", "./broken-subst", from_secret),
                ks("broken-yaml", "./broken-yaml", from_secret),
            ]
            .concat(),
        );
        self.write(
            "secrets/kustomization.yaml",
            &format!(
                "namespace: flux-system\nresources:\n  - secret.yaml\nsecretGenerator:\n  - name: generated\n    literals:\n      - lit={}\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
                c.literal
            ),
        );
        self.write(
            "secrets/secret.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\nstringData:\n  TOKEN: {}\n  PASSWORD: {}\ndata:\n  ENCODED: {}\n",
                c.substituted,
                c.string_data,
                b64(c.data)
            ),
        );
        self.write(
            "apps/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: apps\ndata:\n  token: \"${TOKEN}\"\n  url: \"https://app:${TOKEN}@db.internal/\"\n  plain: \"visible\"\n",
        );
        // A substitution error beside a Secret value and a literal canary.
        self.write(
            "broken-subst/cm.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken-subst\n  namespace: apps\ndata:\n  near: \"{} ${{TOKEN}}\"\n  bad: \"${{TOKEN\"\n",
                c.string_data
            ),
        );
        // Substitution makes YAML that does not parse, around the value.
        self.write(
            "broken-yaml/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken-yaml\n  namespace: apps\ndata:\n  k: ${TOKEN}: [\n",
        );
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", "canaries"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// A kubectl-made snapshot of the cluster, with Secret values in clear (as
/// `kubectl get -o json` records them) and drifted values.
fn live_snapshot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = |items: serde_json::Value| serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let secrets = list(serde_json::json!([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secrets", "namespace": "flux-system",
          "labels": {"kustomize.toolkit.fluxcd.io/name": "secrets", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
          "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T00:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:TOKEN": {}}}}]},
         "data": {"TOKEN": b64(LIVE_SECRET), "PASSWORD": b64(HEAD.string_data), "ENCODED": b64(HEAD.data)}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "generated", "namespace": "flux-system"},
         "data": {"lit": b64(LIVE_SECRET)}}
    ]));
    let configmaps = list(serde_json::json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": "apps",
          "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T00:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:token": {}, "f:url": {}}}}]},
         "data": {"token": LIVE_CONFIGMAP, "url": format!("https://app:{LIVE_CONFIGMAP}@db.internal/"), "plain": "visible"}}
    ]));
    std::fs::write(dir.path().join("secrets.json"), secrets.to_string()).expect("write");
    std::fs::write(dir.path().join("configmaps.json"), configmaps.to_string()).expect("write");
    dir
}

fn flotilla(args: &[&str]) -> Run {
    Command::new(flotilla_bin())
        .args(args)
        .env("RUST_LOG", "trace")
        .output()
        .expect("run flotilla")
        .into()
}

fn everything(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn audit_output_logs_and_errors_never_show_a_secret_value() {
    let repo = Repo::new();
    repo.commit(&HEAD);
    let snapshot = live_snapshot();
    for output in ["text", "json", "markdown"] {
        let run = flotilla(&[
            "audit",
            "--repo",
            repo.path().to_str().unwrap(),
            "--cluster",
            "c",
            "--snapshot",
            snapshot.path().to_str().unwrap(),
            "--output",
            output,
        ]);
        let all = everything(&run);
        // The audit ran: the drifted Secret is reported, masked. The
        // ConfigMap substitutes from a Secret the snapshot holds only as
        // digests: its values are unknown, counted as not compared.
        assert!(all.contains("app-secrets"), "{output}: {all}");
        assert!(
            all.contains("not compared") || all.contains("notCompared"),
            "{output}: {all}"
        );
        assert!(
            all.contains("broken-subst") && all.contains("broken-yaml"),
            "{output}: {all}"
        );
        assert_eq!(
            run.code, 2,
            "{output}: the broken Kustomizations are errors: {all}"
        );
        assert_clean(&all, &format!("audit --output {output}"));
    }
}

#[test]
fn preview_output_and_logs_never_show_a_secret_value() {
    let repo = Repo::new();
    let base = repo.commit(&BASE);
    let head = repo.commit(&HEAD);
    let snapshot = live_snapshot();
    for output in ["text", "json", "markdown"] {
        let run = flotilla(&[
            "preview",
            "--repo",
            repo.path().to_str().unwrap(),
            "--base",
            &base,
            "--head",
            &head,
            "--cluster",
            "c",
            "--snapshot",
            snapshot.path().to_str().unwrap(),
            "--output",
            output,
        ]);
        let all = everything(&run);
        // The preview saw the changed values (as masked changes).
        assert!(all.contains("app-config"), "{output}: {all}");
        assert_clean(&all, &format!("preview --output {output}"));
    }
}

#[tokio::test]
async fn the_drift_pull_request_body_never_shows_a_secret_value() {
    let repo = Repo::new();
    let revision = repo.commit(&HEAD);
    let snapshot = live_snapshot();
    let sealer = Sealer::random();
    let checkout = Checkout {
        root: repo.path().to_owned(),
        revision: Some(format!("main@sha1:{revision}")),
    };
    let render = RenderOptions {
        sealer: sealer.clone(),
        ..RenderOptions::default()
    };
    let desired = audit::render_desired(&checkout, "clusters/c", &render)
        .await
        .expect("render");
    let live = load_snapshot_with(snapshot.path(), None, &sealer).expect("snapshot");
    let report = audit::report_for("c", &desired, &live, &DiffOptions::default());
    assert!(
        report.findings.iter().any(|f| f.name == "app-config"),
        "{report:?}"
    );
    let actions = Actions {
        modified: Action::Adopt,
        unmanaged: Action::Adopt,
    };
    let adoption = adopt(&AdoptInput {
        entry: "clusters/c",
        kustomization_yaml: None,
        entry_files: &[],
        desired: &desired,
        live: &live,
        findings: &report.findings,
        actions: &actions,
    });
    let body = pr_body(&report, &adoption);
    assert_clean(&body, "the drift pull request body");
    let edits = format!("{:?}", adoption.edits);
    assert_clean(&edits, "the drift pull request's files");
    // Held in memory, desired state keeps digests only (the live side holds
    // what the cluster has, as it has it).
    let debug = format!("{desired:?}{report:?}");
    assert_clean(&debug, "Debug of desired state and the report");
}
