//! `preview_all` on a 100-cluster fleet: what a pull request that changes a
//! shared base costs to preview. Prints figures; `cargo bench -p
//! flotilla-auditor --bench preview`.
//!
//! The repository is generated in a temp dir as a real git repository with
//! two commits. Every cluster has its Flux sync objects and six
//! Kustomizations: the five components of the shared `baseline-cluster`
//! fixture (namespaces, policies, secrets, ingress, kured — shared paths,
//! per-cluster `postBuild.substitute`) and an `apps` overlay of its own
//! (`clusters/<name>/apps` on top of `apps/base`). The head commit bumps the
//! Traefik image in the shared ingress base, so every cluster changes.
//!
//! Runs: cold (an empty build cache: both revisions rendered with kustomize,
//! compared and validated), then warm (the same cache: no kustomize process
//! at all), whose time is the preview without kustomize.

use flotilla_auditor::audit::Checkout;
use flotilla_auditor::preview::run::{PreviewRequest, preview_all};
use flotilla_auditor::preview::{PolicyRules, PreviewReport, Validator};
use flotilla_auditor::schema::CrdSchemas;
use flotilla_render::{RenderCache, RenderOptions, render};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/baseline-cluster/repo"
);
const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/crds");
const CLUSTERS: usize = 100;
const FIXTURE_CLUSTER: &str = "aks-eastus2-01";

fn main() {
    let fleet = tempfile::tempdir().expect("temp dir");
    let base_dir = fleet.path().join("base");
    let head_dir = fleet.path().join("head");
    let (base, head) = generate(&head_dir, &base_dir);
    let clusters: Vec<String> = (0..CLUSTERS).map(cluster_name).collect();
    println!("preview bench: {CLUSTERS} clusters, 6 Kustomizations each, shared base changed");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let schemas = Arc::new(CrdSchemas::load(CRDS).expect("shared CRDs"));
    let cache = Arc::new(RenderCache::new());

    let (cold, report) = runtime.block_on(timed_preview(&base, &head, &schemas, &cache));
    let cold_builds = cache.builds();
    let (warm, again) = runtime.block_on(timed_preview(&base, &head, &schemas, &cache));
    assert_eq!(report, again, "a warm cache changes the preview");
    assert_eq!(cache.builds(), cold_builds, "the warm run ran kustomize");
    check(&report);

    let (base_objects, head_objects) = (
        objects(&base, &clusters, &cache),
        objects(&head, &clusters, &cache),
    );
    let changed: usize = report.clusters.iter().map(|c| c.changes.len()).sum();
    println!(
        "    clusters:                        {}",
        report.clusters.len()
    );
    println!("    objects per revision:            {base_objects} base, {head_objects} head");
    println!("    objects changed:                 {changed}");
    println!(
        "    kustomize builds, cold:          {cold_builds} ({} cache hits over both runs)",
        cache.hits()
    );
    println!("    wall time, cold:                 {}", ms(cold));
    println!("    wall time, warm (no kustomize):  {}", ms(warm));
    println!(
        "    kustomize share (cold - warm):   {}",
        ms(cold.saturating_sub(warm))
    );
}

async fn timed_preview(
    base: &Checkout,
    head: &Checkout,
    schemas: &Arc<CrdSchemas>,
    cache: &Arc<RenderCache>,
) -> (Duration, PreviewReport) {
    let validator_for = |_: &str| Validator {
        schemas: Arc::clone(schemas),
        policy: PolicyRules::baseline(),
    };
    let render = RenderOptions {
        cache: Some(Arc::clone(cache)),
        ..RenderOptions::default()
    };
    let req = PreviewRequest {
        base,
        head,
        clusters_dir: "clusters",
        render: &render,
        validator_for: &validator_for,
        live: &BTreeMap::new(),
    };
    let start = Instant::now();
    let report = preview_all(&req).await;
    (start.elapsed(), report)
}

/// The preview must be the one the bench means to measure: every cluster
/// changes the Traefik Deployment, and nothing fails.
fn check(report: &PreviewReport) {
    assert_eq!(report.clusters.len(), CLUSTERS);
    for c in &report.clusters {
        assert!(!c.fails(), "{}: {:?} {:?}", c.cluster, c.problems, c.errors);
        assert!(
            c.changes.iter().any(|o| o.kind == "Deployment"),
            "{}: {:?}",
            c.cluster,
            c.changes
        );
    }
}

/// Objects rendered at one revision, all clusters (from the warm cache).
fn objects(checkout: &Checkout, clusters: &[String], cache: &Arc<RenderCache>) -> usize {
    let opts = RenderOptions {
        revision: checkout.revision.clone(),
        cache: Some(Arc::clone(cache)),
        ..RenderOptions::default()
    };
    clusters
        .iter()
        .map(|c| {
            render(&checkout.root, &format!("clusters/{c}"), &opts)
                .expect("render")
                .objects
                .len()
        })
        .sum()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn cluster_name(i: usize) -> String {
    format!("aks-eus2-{i:03}")
}

// ---------------------------------------------------------------------------
// The repository

/// Write the fleet at `repo`, commit it, check the base out at `base_dir`
/// (a worktree), then commit the head change. Returns both checkouts.
fn generate(repo: &Path, base_dir: &Path) -> (Checkout, Checkout) {
    fs::create_dir_all(repo).expect("mkdir");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["config", "user.name", "bench"]);
    git(repo, &["config", "user.email", "bench@example.com"]);
    git(repo, &["config", "commit.gpgsign", "false"]);
    copy_dir(
        &Path::new(FIXTURE).join("infrastructure"),
        &repo.join("infrastructure"),
    );
    write_apps_base(repo);
    for i in 0..CLUSTERS {
        write_cluster(repo, &cluster_name(i), i);
    }
    let base = commit(repo, "fleet");
    git(
        repo,
        &[
            "worktree",
            "add",
            "--quiet",
            "--detach",
            path_str(base_dir),
            &base,
        ],
    );
    let deployment = repo.join("infrastructure/ingress/deployment.yaml");
    let text = fs::read_to_string(&deployment).expect("read deployment");
    assert!(text.contains("traefik:v3.4"), "fixture changed");
    fs::write(&deployment, text.replace("traefik:v3.4", "traefik:v3.5")).expect("write");
    let head = commit(repo, "traefik v3.5");
    (
        Checkout {
            root: base_dir.to_owned(),
            revision: Some(format!("main@sha1:{base}")),
        },
        Checkout {
            root: repo.to_owned(),
            revision: Some(format!("main@sha1:{head}")),
        },
    )
}

/// The fixture's cluster folder, renamed, plus the `apps` overlay.
fn write_cluster(repo: &Path, name: &str, i: usize) {
    let from = Path::new(FIXTURE).join("clusters").join(FIXTURE_CLUSTER);
    let to = repo.join("clusters").join(name);
    for rel in [
        "flux-system/gotk-sync.yaml",
        "flux-system/kustomization.yaml",
        "infrastructure.yaml",
    ] {
        let text = fs::read_to_string(from.join(rel)).expect("read fixture");
        write(&to.join(rel), &text.replace(FIXTURE_CLUSTER, name));
    }
    write(
        &to.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - flux-system\n  - infrastructure.yaml\n  - apps.yaml\n",
    );
    write(
        &to.join("apps.yaml"),
        &format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  dependsOn:\n    - name: ingress\n  interval: 10m\n  path: ./clusters/{name}/apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  postBuild:\n    substitute:\n      acr_server: acraksbaseline01.azurecr.io\n      cluster_name: {name}\n"
        ),
    );
    write(
        &to.join("apps/kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../../apps/base\npatches:\n  - target:\n      kind: Deployment\n      name: web\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: {}\n",
            2 + i % 3
        ),
    );
}

fn write_apps_base(repo: &Path) {
    let base = repo.join("apps/base");
    write(
        &base.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - web.yaml\n",
    );
    write(
        &base.join("web.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: a0008
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ${acr_server}/web:1.0.0
          env:
            - name: CLUSTER
              value: ${cluster_name}
          resources:
            limits:
              cpu: 500m
              memory: 256Mi
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: a0008
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-settings
  namespace: a0008
data:
  cluster: ${cluster_name}
"#,
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read fixture dir") {
        let path = entry.expect("dir entry").path();
        let target: PathBuf = to.join(path.file_name().expect("file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            write(&target, &fs::read_to_string(&path).expect("read fixture"));
        }
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn commit(repo: &Path, message: &str) -> String {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
