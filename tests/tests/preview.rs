//! `flotilla preview` end to end: real git repositories built commit by
//! commit in temp dirs, real kustomize (`kubectl kustomize`), the real
//! binary for exit codes and every output format, the library
//! (`preview_all`) where the binary would add nothing, and the GitHub double
//! for the sticky comment and the commit status.
//!
//! The repository is a small fleet in the AKS baseline layout: three
//! clusters under `clusters/<name>/` (the example fleet's names, so
//! `examples/fleet.yaml` supplies their policies), each with its Flux sync
//! objects and three Flux Kustomizations on shared `infrastructure/` paths
//! that differ only by `postBuild.substitute`.

#[path = "../support/mod.rs"]
mod support;

use base64::Engine;
use flotilla_auditor::audit::Checkout;
use flotilla_auditor::preview::run::{PreviewRequest, preview_all};
use flotilla_auditor::preview::{
    ChangeKind, ClusterPreview, PolicyRules, PreviewReport, Problem, ProblemClass, Validator,
};
use flotilla_auditor::schema::CrdSchemas;
use flotilla_render::{RenderCache, RenderOptions};
use flotilla_repos::github::{GitHubAuth, GitHubClient, GitHubClientConfig, Secret};
use flotilla_repos::pr::{PREVIEW_MARKER, PrOutcome, PrSpec};
use flotilla_tests::github_double::{DOUBLE_TOKEN, DoubleCommit, GitHubDouble, sha_of};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use support::{Run, flotilla_bin, workspace_root};

const PROD: &str = "aks-eus2-prod-01";
const STAGING: &str = "aks-eus2-stg-01";
const STORE: &str = "aksh-store-042";
const CLUSTERS: [&str; 3] = [PROD, STAGING, STORE];
const ACR: &str = "acraksbaseline01.azurecr.io";
const IMAGE_FIELD: &str = "spec.template.spec.containers[name=web].image";
const SECRET_V1: &str = "correct-horse-battery-staple";
const SECRET_V2: &str = "tr0ub4dor-and-3";

// ---------------------------------------------------------------------------
// The repository

/// A Flux repository in a temp dir, committed to with the `git` CLI.
struct FluxRepo {
    dir: tempfile::TempDir,
}

impl FluxRepo {
    /// The base layout, committed: three clusters on shared infrastructure.
    fn new() -> FluxRepo {
        let repo = FluxRepo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["config", "user.name", "fleet dev"]);
        repo.git(&["config", "user.email", "dev@contoso.example"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        for cluster in CLUSTERS {
            repo.add_cluster(cluster);
        }
        repo.write_infrastructure();
        repo.write("README.md", "# fleet-gitops\n");
        repo.commit("base");
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn arg(&self) -> &str {
        self.path().to_str().expect("utf-8 temp path")
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
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

    fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write file");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read file")
    }

    /// Replace `from` with `to` in one file, insisting that `from` is there.
    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    fn remove(&self, rel: &str) {
        let path = self.path().join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).expect("remove dir");
        } else {
            std::fs::remove_file(path).expect("remove file");
        }
    }

    /// Commit everything; returns the commit id.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    fn add_cluster(&self, name: &str) {
        let dir = format!("clusters/{name}");
        self.write(
            &format!("{dir}/flux-system/gotk-sync.yaml"),
            &gotk_sync(name),
        );
        self.write(
            &format!("{dir}/flux-system/kustomization.yaml"),
            &kustomization(&["gotk-sync.yaml"]),
        );
        self.write(&format!("{dir}/infrastructure.yaml"), &infrastructure(name));
        self.write(&format!("{dir}/settings.yaml"), &settings(name));
        self.write(
            &format!("{dir}/kustomization.yaml"),
            &kustomization(&["flux-system", "infrastructure.yaml", "settings.yaml"]),
        );
    }

    fn write_infrastructure(&self) {
        self.write(
            "infrastructure/namespaces/kustomization.yaml",
            &kustomization(&["a0008.yaml"]),
        );
        self.write("infrastructure/namespaces/a0008.yaml", NAMESPACE);
        self.write(
            "infrastructure/apps/kustomization.yaml",
            &kustomization(&["deployment.yaml", "service.yaml"]),
        );
        self.write("infrastructure/apps/deployment.yaml", DEPLOYMENT);
        self.write("infrastructure/apps/service.yaml", SERVICE);
        self.write(
            "infrastructure/secrets/kustomization.yaml",
            &kustomization(&["secret-provider-class.yaml", "credentials.yaml"]),
        );
        self.write(
            "infrastructure/secrets/secret-provider-class.yaml",
            SECRET_PROVIDER_CLASS,
        );
        self.write(
            "infrastructure/secrets/credentials.yaml",
            &credentials(SECRET_V1),
        );
    }
}

fn kustomization(resources: &[&str]) -> String {
    let mut s =
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n".to_owned();
    for r in resources {
        s.push_str(&format!("  - {r}\n"));
    }
    s
}

fn gotk_sync(cluster: &str) -> String {
    format!(
        r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ssh://git@github.com/contoso/fleet-gitops
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/{cluster}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"#
    )
}

/// The cluster's component Kustomizations: same paths everywhere, the
/// cluster's own values through `postBuild.substitute`.
fn infrastructure(cluster: &str) -> String {
    format!(
        r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: namespaces
  namespace: flux-system
spec:
  interval: 10m
  path: ./infrastructure/namespaces
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      cluster_name: {cluster}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  dependsOn:
    - name: namespaces
  interval: 10m
  path: ./infrastructure/apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      acr_server: {ACR}
      cluster_name: {cluster}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: secrets
  namespace: flux-system
spec:
  dependsOn:
    - name: namespaces
  interval: 10m
  path: ./infrastructure/secrets
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      keyvault_name: kv-{cluster}
"#
    )
}

/// A ConfigMap only this cluster has (applied by its `flux-system` Kustomization).
fn settings(cluster: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: flux-system\ndata:\n  cluster: {cluster}\n"
    )
}

const NAMESPACE: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: a0008
  labels:
    pod-security.kubernetes.io/enforce: restricted
    cluster: ${cluster_name}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: a0008
  labels:
    app: web
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
          ports:
            - name: http
              containerPort: 8080
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: a0008
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
"#;

const SECRET_PROVIDER_CLASS: &str = r#"apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: web-tls
  namespace: a0008
spec:
  provider: azure
  parameters:
    keyvaultName: ${keyvault_name}
    usePodIdentity: "false"
"#;

fn credentials(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-credentials\n  namespace: a0008\ntype: Opaque\nstringData:\n  password: {password}\n"
    )
}

// ---------------------------------------------------------------------------
// Running the preview

/// `flotilla preview --repo <repo> --base <base> --head <head> <extra…>`,
/// with `env` added to the environment.
fn run_preview(
    repo: &FluxRepo,
    base: &str,
    head: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    Command::new(flotilla_bin())
        .args([
            "preview",
            "--repo",
            repo.arg(),
            "--base",
            base,
            "--head",
            head,
        ])
        .args(extra)
        .env_remove("GITHUB_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run flotilla preview")
        .into()
}

/// The JSON report of the binary, and its exit code.
fn preview_json(repo: &FluxRepo, base: &str, head: &str, extra: &[&str]) -> (i32, PreviewReport) {
    let mut args = vec!["--output", "json"];
    args.extend_from_slice(extra);
    let run = run_preview(repo, base, head, &args, &[]);
    let report = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "not a preview report ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
            run.code, run.stdout, run.stderr
        )
    });
    (run.code, report)
}

/// The preview through the library: both revisions checked out with git2,
/// baseline policies, the shared CRDs.
async fn preview_lib(repo: &FluxRepo, base: &str, head: &str) -> PreviewReport {
    let (base_dir, base_checkout) = checkout(repo, base);
    let (head_dir, head_checkout) = checkout(repo, head);
    let schemas = Arc::new(CrdSchemas::load(crds_dir()).expect("shared CRDs load"));
    let validator_for = |_: &str| Validator {
        schemas: Arc::clone(&schemas),
        policy: PolicyRules::baseline(),
    };
    let render = RenderOptions {
        cache: Some(Arc::new(RenderCache::new())),
        ..RenderOptions::default()
    };
    let req = PreviewRequest {
        base: &base_checkout,
        head: &head_checkout,
        clusters_dir: "clusters",
        render: &render,
        validator_for: &validator_for,
        live: &BTreeMap::new(),
    };
    let report = preview_all(&req).await;
    drop((base_dir, head_dir));
    report
}

fn checkout(repo: &FluxRepo, rev: &str) -> (tempfile::TempDir, Checkout) {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = flotilla_repos::git::checkout(
        repo.arg(),
        Some(rev),
        &flotilla_repos::git::GitAuth::None,
        dir.path(),
    )
    .expect("checkout");
    let checkout = Checkout {
        root: c.path,
        revision: Some(c.revision),
    };
    (dir, checkout)
}

fn crds_dir() -> PathBuf {
    workspace_root().join("../shared/crds")
}

fn crds_arg() -> String {
    crds_dir().to_str().expect("utf-8 path").to_owned()
}

fn fleet_arg() -> String {
    let path = workspace_root().join("examples/fleet.yaml");
    path.to_str().expect("utf-8 path").to_owned()
}

fn cluster<'a>(report: &'a PreviewReport, name: &str) -> &'a ClusterPreview {
    report
        .clusters
        .iter()
        .find(|c| c.cluster == name)
        .unwrap_or_else(|| panic!("no cluster {name} in {report:#?}"))
}

/// `(change, kind, name)` of every changed object of a cluster.
fn changes_of(report: &PreviewReport, name: &str) -> Vec<(ChangeKind, String, String)> {
    cluster(report, name)
        .changes
        .iter()
        .map(|o| (o.change, o.kind.clone(), o.name.clone()))
        .collect()
}

/// Problems of every cluster, in cluster order.
fn all_problems(report: &PreviewReport) -> Vec<(String, Problem)> {
    report
        .clusters
        .iter()
        .flat_map(|c| c.problems.iter().map(|p| (c.cluster.clone(), p.clone())))
        .collect()
}

/// Insist every cluster has no problem and no error.
fn assert_clean(report: &PreviewReport) {
    for c in &report.clusters {
        assert!(
            c.problems.is_empty() && c.errors.is_empty(),
            "{}: {:#?} {:#?}",
            c.cluster,
            c.problems,
            c.errors
        );
    }
}

/// The base revision is clean, also against the CRDs and the fleet's
/// policies: every problem a test sees was made by its own commit.
#[test]
fn the_base_revision_has_no_problems() {
    let repo = FluxRepo::new();
    let base = repo.head();
    let crds = crds_arg();
    let fleet = fleet_arg();
    let (code, report) = preview_json(&repo, &base, &base, &["--crds", &crds, "--fleet", &fleet]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(
        report
            .clusters
            .iter()
            .map(|c| c.cluster.as_str())
            .collect::<Vec<_>>(),
        CLUSTERS.to_vec()
    );
    assert_clean(&report);
    assert!(!report.has_changes());
    assert_eq!(report.base, report.head);
    assert!(report.head.ends_with(&base), "{}", report.head);
}

// ---------------------------------------------------------------------------
// Changes

#[test]
fn a_change_outside_the_clusters_paths_exits_zero_and_changes_nothing() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.write("README.md", "# fleet-gitops\n\nNow with docs.\n");
    let head = repo.commit("docs");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 0);
    assert_eq!(report.version, 1);
    for c in CLUSTERS {
        assert!(cluster(&report, c).changes.is_empty(), "{c}");
    }
    let text = run_preview(&repo, &base, &head, &[], &[]);
    assert_eq!(text.code, 0);
    assert_eq!(
        text.stdout.matches(": unchanged").count(),
        3,
        "{}",
        text.stdout
    );
}

#[test]
fn an_object_added_to_one_cluster_changes_only_that_cluster() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.write(
        &format!("clusters/{PROD}/maintenance.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: maintenance-window\n  namespace: flux-system\ndata:\n  start: \"21:00\"\n",
    );
    repo.edit(
        &format!("clusters/{PROD}/kustomization.yaml"),
        "  - settings.yaml\n",
        "  - settings.yaml\n  - maintenance.yaml\n",
    );
    let head = repo.commit("maintenance window on prod");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1, "{report:#?}");
    assert_eq!(
        changes_of(&report, PROD),
        [(
            ChangeKind::Added,
            "ConfigMap".into(),
            "maintenance-window".into()
        )]
    );
    let added = &cluster(&report, PROD).changes[0];
    assert_eq!(
        added.kustomization.as_deref(),
        Some("flux-system/flux-system")
    );
    assert_eq!(added.namespace.as_deref(), Some("flux-system"));
    assert!(added.fields.is_empty());
    assert!(cluster(&report, STAGING).changes.is_empty());
    assert!(cluster(&report, STORE).changes.is_empty());
    assert_clean(&report);

    // The text report says the same, per cluster.
    let text = run_preview(&repo, &base, &head, &[], &[]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .contains(&format!("{PROD}: 1 added, 0 changed, 0 removed")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&format!("{STAGING}: unchanged")));
    assert!(
        text.stdout
            .contains("+ ConfigMap flux-system/maintenance-window")
    );
}

#[test]
fn an_object_removed_from_one_cluster_is_reported_removed() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.remove(&format!("clusters/{STAGING}/settings.yaml"));
    repo.edit(
        &format!("clusters/{STAGING}/kustomization.yaml"),
        "  - settings.yaml\n",
        "",
    );
    let head = repo.commit("staging drops its settings");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        changes_of(&report, STAGING),
        [(
            ChangeKind::Removed,
            "ConfigMap".into(),
            "cluster-settings".into()
        )]
    );
    assert!(cluster(&report, PROD).changes.is_empty());
    assert!(cluster(&report, STORE).changes.is_empty());
}

#[test]
fn a_shared_image_tag_changes_one_field_on_every_cluster() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "web:1.0.0",
        "web:1.1.0",
    );
    let head = repo.commit("web 1.1.0");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1);
    for c in CLUSTERS {
        assert_eq!(
            changes_of(&report, c),
            [(ChangeKind::Changed, "Deployment".into(), "web".into())],
            "{c}"
        );
        let change = &cluster(&report, c).changes[0];
        assert_eq!(change.kustomization.as_deref(), Some("flux-system/apps"));
        let fields: Vec<_> = change
            .fields
            .iter()
            .map(|f| (f.field.as_str(), f.base.clone(), f.head.clone()))
            .collect();
        assert_eq!(
            fields,
            [(
                IMAGE_FIELD,
                Some(json!(format!("{ACR}/web:1.0.0"))),
                Some(json!(format!("{ACR}/web:1.1.0")))
            )],
            "{c}"
        );
    }
    assert_clean(&report);
}

#[test]
fn a_new_cluster_is_all_added_and_a_deleted_cluster_all_removed() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.add_cluster("aks-weu-01");
    repo.remove(&format!("clusters/{STORE}"));
    let head = repo.commit("aks-weu-01 joins, the store leaves");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1);
    let names: Vec<_> = report.clusters.iter().map(|c| c.cluster.as_str()).collect();
    assert_eq!(names, [PROD, STAGING, "aks-weu-01", STORE]);
    let everything = |kind: ChangeKind| -> Vec<(ChangeKind, String, String)> {
        let mut v: Vec<_> = [
            ("ConfigMap", "cluster-settings"),
            ("Deployment", "web"),
            ("GitRepository", "flux-system"),
            ("Kustomization", "apps"),
            ("Kustomization", "flux-system"),
            ("Kustomization", "namespaces"),
            ("Kustomization", "secrets"),
            ("Namespace", "a0008"),
            ("Secret", "web-credentials"),
            ("SecretProviderClass", "web-tls"),
            ("Service", "web"),
        ]
        .into_iter()
        .map(|(k, n)| (kind, k.to_owned(), n.to_owned()))
        .collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<(ChangeKind, String, String)>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(changes_of(&report, "aks-weu-01")),
        everything(ChangeKind::Added)
    );
    assert_eq!(
        sorted(changes_of(&report, STORE)),
        everything(ChangeKind::Removed)
    );
    assert!(cluster(&report, PROD).changes.is_empty());
    assert!(cluster(&report, STAGING).changes.is_empty());
    // The new cluster's values came through its own substitution.
    let ns = cluster(&report, "aks-weu-01")
        .changes
        .iter()
        .find(|o| o.kind == "Namespace")
        .expect("namespace added");
    assert_eq!(ns.kustomization.as_deref(), Some("flux-system/namespaces"));
    assert_clean(&report);
}

/// The library and the binary agree, change for change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_and_the_binary_report_the_same_preview() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "replicas: 2",
        "replicas: 3",
    );
    repo.remove(&format!("clusters/{STORE}/settings.yaml"));
    repo.edit(
        &format!("clusters/{STORE}/kustomization.yaml"),
        "  - settings.yaml\n",
        "",
    );
    let head = repo.commit("three replicas; the store drops its settings");
    let lib = preview_lib(&repo, &base, &head).await;
    let crds = crds_arg();
    let (code, bin) =
        tokio::task::spawn_blocking(move || preview_json(&repo, &base, &head, &["--crds", &crds]))
            .await
            .expect("binary run");
    assert_eq!(code, 1);
    assert_eq!(lib.clusters, bin.clusters);
    let deploy = &cluster(&lib, PROD).changes[0];
    assert_eq!(deploy.fields[0].field, "spec.replicas");
    assert_eq!(deploy.fields[0].base, Some(json!(2)));
    assert_eq!(deploy.fields[0].head, Some(json!(3)));
    // Sorted by Kustomization: `flux-system/apps` before `flux-system/flux-system`.
    assert_eq!(
        changes_of(&lib, STORE),
        [
            (ChangeKind::Changed, "Deployment".into(), "web".into()),
            (
                ChangeKind::Removed,
                "ConfigMap".into(),
                "cluster-settings".into()
            ),
        ]
    );
}

// ---------------------------------------------------------------------------
// Secrets

#[test]
fn a_changed_secret_shows_only_stars_in_every_format() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.write(
        "infrastructure/secrets/credentials.yaml",
        &credentials(SECRET_V2),
    );
    let head = repo.commit("rotate the web password");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1);
    let secret = &cluster(&report, PROD).changes[0];
    assert_eq!(
        (secret.change, secret.kind.as_str()),
        (ChangeKind::Changed, "Secret")
    );
    assert_eq!(secret.fields.len(), 1, "{secret:#?}");
    let field = &secret.fields[0];
    assert_eq!(field.field, "data.password");
    assert!(field.sensitive);
    assert_eq!(field.base, Some(json!("***")));
    assert_eq!(field.head, Some(json!("***")));

    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let forbidden = [SECRET_V1, SECRET_V2, &b64(SECRET_V1), &b64(SECRET_V2)];
    for output in ["text", "json", "markdown"] {
        let run = run_preview(&repo, &base, &head, &["--output", output], &[]);
        assert_eq!(run.code, 1, "{output}: {}", run.stderr);
        assert!(
            unescape(&run.stdout).contains("***"),
            "{output}:\n{}",
            run.stdout
        );
        // Not even the digest the renderer seals values into.
        assert!(!run.stdout.contains("sealed:"), "{output}:\n{}", run.stdout);
        // Also after unescaping, so an entity cannot hide a value.
        let shown = unescape(&run.stdout);
        for value in &forbidden {
            assert!(
                !shown.contains(value) && !run.stderr.contains(value),
                "{output} shows a secret value:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Problems of the head revision

/// Preview `head` against `base` with the CRDs and the fleet, insisting on
/// exit 2, and return the new problems.
fn new_problems(repo: &FluxRepo, base: &str, head: &str) -> Vec<(String, Problem)> {
    let crds = crds_arg();
    let fleet = fleet_arg();
    let (code, report) = preview_json(repo, base, head, &["--crds", &crds, "--fleet", &fleet]);
    assert_eq!(code, 2, "{report:#?}");
    all_problems(&report)
        .into_iter()
        .filter(|(_, p)| !p.preexisting)
        .collect()
}

/// One problem per cluster, the same everywhere: return it.
fn same_on_every_cluster(problems: Vec<(String, Problem)>) -> Problem {
    let clusters: Vec<_> = problems.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(clusters, CLUSTERS, "{problems:#?}");
    let first = problems[0].1.clone();
    for (c, p) in &problems {
        assert_eq!(p, &first, "{c}");
    }
    first
}

#[test]
fn a_missing_resource_is_a_build_problem_of_its_kustomization() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/kustomization.yaml",
        "  - service.yaml\n",
        "  - service.yaml\n  - hpa.yaml\n",
    );
    let head = repo.commit("forgot to add hpa.yaml");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::Build);
    assert_eq!(p.kustomization.as_deref(), Some("flux-system/apps"));
    assert_eq!(p.path.as_deref(), Some("./infrastructure/apps"));
    assert!(p.message.contains("hpa.yaml"), "{}", p.message);
}

#[test]
fn a_bad_kustomization_file_is_a_build_problem() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/namespaces/kustomization.yaml",
        "resources:",
        "resourcez:",
    );
    let head = repo.commit("typo in kustomization.yaml");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::Build);
    assert_eq!(p.path.as_deref(), Some("./infrastructure/namespaces"));
    assert!(p.message.contains("resourcez"), "{}", p.message);
}

#[test]
fn broken_yaml_is_a_build_problem() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/service.yaml",
        "  selector:\n",
        "  selector: [app\n",
    );
    let head = repo.commit("unclosed flow sequence");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::Build);
    assert_eq!(p.kustomization.as_deref(), Some("flux-system/apps"));
    assert!(!p.message.is_empty());
}

#[test]
fn a_misspelled_field_of_a_core_kind_is_a_schema_problem() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "  replicas: 2\n",
        "  replicas: 2\n  minReadySecond: 5\n",
    );
    let head = repo.commit("typo in a Deployment");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::Schema);
    assert_eq!(p.object.as_deref(), Some("Deployment a0008/web"));
    assert_eq!(p.message, "unknown field .spec.minReadySecond");
}

#[test]
fn a_custom_resource_is_checked_against_the_given_crds() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/secrets/secret-provider-class.yaml",
        "  provider: azure\n",
        "  providr: azure\n",
    );
    let head = repo.commit("typo in a SecretProviderClass");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::Schema);
    assert!(
        p.object
            .as_deref()
            .is_some_and(|o| o.contains("SecretProviderClass a0008/web-tls")),
        "{p:?}"
    );
    assert!(p.message.contains("providr"), "{}", p.message);

    // Without --crds nothing describes the kind: left to the API server.
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1, "{report:#?}");
    assert_clean(&report);
}

#[test]
fn a_depends_on_naming_nothing_is_a_problem() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        &format!("clusters/{STAGING}/infrastructure.yaml"),
        "    - name: namespaces\n  interval: 10m\n  path: ./infrastructure/apps",
        "    - name: namespace\n  interval: 10m\n  path: ./infrastructure/apps",
    );
    let head = repo.commit("staging apps depend on a typo");
    let problems = new_problems(&repo, &base, &head);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let (c, p) = &problems[0];
    assert_eq!(c, STAGING);
    assert_eq!(p.class, ProblemClass::DependsOn);
    assert_eq!(p.object.as_deref(), Some("Kustomization flux-system/apps"));
    assert_eq!(
        p.message,
        "dependsOn Kustomization flux-system/namespace, which this cluster does not declare"
    );
}

#[test]
fn a_variable_without_a_value_is_a_problem() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "              value: ${cluster_name}\n",
        "              value: ${cluster_name}\n            - name: REGION\n              value: ${region}\n",
    );
    let head = repo.commit("a region nobody sets");
    let p = same_on_every_cluster(new_problems(&repo, &base, &head));
    assert_eq!(p.class, ProblemClass::UnresolvedVariable);
    assert_eq!(p.kustomization.as_deref(), Some("flux-system/apps"));
    assert_eq!(p.path.as_deref(), Some("./infrastructure/apps"));
    assert_eq!(
        p.message,
        "variable ${region} has no value: Flux substitutes an empty string"
    );
}

#[test]
fn an_image_outside_the_fleets_registries_breaks_policy() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "${acr_server}/web:1.0.0",
        "docker.io/library/nginx:1.27",
    );
    let head = repo.commit("pull from Docker Hub");
    let problems = new_problems(&repo, &base, &head);
    let clusters: Vec<_> = problems.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(clusters, CLUSTERS, "{problems:#?}");
    for (cluster, p) in &problems {
        assert_eq!(p.class, ProblemClass::Policy);
        assert_eq!(p.object.as_deref(), Some("Deployment a0008/web"));
        assert_eq!(
            p.message,
            format!(
                "container web: image docker.io/library/nginx:1.27 is not from an allowed registry ({ACR})"
            )
        );
        // The example fleet's staging environment is in `mode: audit`: its
        // violations are reported but do not block; production's do.
        assert_eq!(p.advisory, cluster == "aks-eus2-stg-01", "{cluster}");
    }

    // Without --fleet the baseline has no registry list.
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1, "{report:#?}");
    assert_clean(&report);
}

#[test]
fn privileged_containers_and_missing_limits_break_policy() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "            limits:\n              cpu: 500m\n              memory: 256Mi\n",
        "",
    );
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "            allowPrivilegeEscalation: false\n",
        "            privileged: true\n",
    );
    let head = repo.commit("privileged, no limits");
    let problems = new_problems(&repo, &base, &head);
    for c in CLUSTERS {
        let messages: Vec<_> = problems
            .iter()
            .filter(|(name, p)| name == c && p.class == ProblemClass::Policy)
            .map(|(_, p)| p.message.as_str())
            .collect();
        assert_eq!(
            messages,
            [
                "container web has no cpu limit",
                "container web has no memory limit",
                "container web is privileged",
            ],
            "{c}"
        );
    }
}

#[test]
fn a_problem_the_base_already_had_is_preexisting_and_does_not_fail() {
    let repo = FluxRepo::new();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "            allowPrivilegeEscalation: false\n",
        "            privileged: true\n",
    );
    repo.edit(
        &format!("clusters/{STAGING}/infrastructure.yaml"),
        "    - name: namespaces\n  interval: 10m\n  path: ./infrastructure/apps",
        "    - name: namespace\n  interval: 10m\n  path: ./infrastructure/apps",
    );
    let base = repo.commit("already privileged; staging already depends on a typo");
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "web:1.0.0",
        "web:1.1.0",
    );
    let head = repo.commit("web 1.1.0");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1, "{report:#?}");
    let problems = all_problems(&report);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems.iter().all(|(_, p)| p.preexisting), "{problems:#?}");
    assert!(!report.has_problems());

    // Making it worse is new, and fails.
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "            limits:\n              cpu: 500m\n",
        "            limits:\n",
    );
    let worse = repo.commit("drop the cpu limit");
    let (code, report) = preview_json(&repo, &base, &worse, &[]);
    assert_eq!(code, 2);
    let new: Vec<_> = all_problems(&report)
        .into_iter()
        .filter(|(_, p)| !p.preexisting)
        .map(|(c, p)| (c, p.message))
        .collect();
    assert_eq!(
        new,
        CLUSTERS.map(|c| (c.to_owned(), "container web has no cpu limit".to_owned()))
    );
}

#[test]
fn a_build_error_the_base_already_had_is_preexisting() {
    let repo = FluxRepo::new();
    repo.edit(
        "infrastructure/secrets/kustomization.yaml",
        "  - credentials.yaml\n",
        "  - credentials.yaml\n  - missing.yaml\n",
    );
    let base = repo.commit("secrets already broken");
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "web:1.0.0",
        "web:1.1.0",
    );
    let head = repo.commit("web 1.1.0");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    let problems = all_problems(&report);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for (c, p) in &problems {
        assert_eq!(p.class, ProblemClass::Build, "{c}");
        assert!(p.preexisting, "{c}: {p:#?}");
    }
    assert_eq!(code, 1, "{report:#?}");
}

// ---------------------------------------------------------------------------
// GitHub

const OWNER: &str = "contoso";
const REPO: &str = "fleet-gitops";

/// Open a PR on the double the way a person would (a pushed branch, then the PR).
async fn open_pr(double: &GitHubDouble) -> u64 {
    let branch = "web-1.1";
    double.push(
        branch,
        DoubleCommit::human(&sha_of(branch), "Dev", "dev@contoso.example"),
    );
    let mut cfg =
        GitHubClientConfig::new(OWNER, REPO, GitHubAuth::Token(Secret::from(DOUBLE_TOKEN)));
    cfg.api_url = Some(double.url());
    let gh = GitHubClient::new(&cfg).expect("github client");
    let spec = PrSpec {
        cluster: String::new(),
        branch: branch.to_owned(),
        base: "main".to_owned(),
        title: "web 1.1".to_owned(),
        body: "Bump web.".to_owned(),
        labels: Vec::new(),
        fingerprint: "pr".to_owned(),
    };
    match gh.open_or_update_pr(&spec, 10).await.expect("open PR") {
        PrOutcome::Opened(n) => n,
        other => panic!("not opened: {other:?}"),
    }
}

/// `flotilla preview … --github-pr contoso/fleet-gitops#N`, off the runtime
/// so the double keeps answering.
async fn preview_on_pr(
    repo: &Arc<FluxRepo>,
    double: &GitHubDouble,
    number: u64,
    base: &str,
    head: &str,
) -> Run {
    let repo = Arc::clone(repo);
    let (base, head, url) = (base.to_owned(), head.to_owned(), double.url());
    tokio::task::spawn_blocking(move || {
        let pr = format!("{OWNER}/{REPO}#{number}");
        run_preview(
            &repo,
            &base,
            &head,
            &["--github-pr", &pr, "--github-url", &url],
            &[("GITHUB_TOKEN", DOUBLE_TOKEN)],
        )
    })
    .await
    .expect("preview run")
}

/// Markdown table cells carry punctuation as numeric entities.
fn unescape(markdown: &str) -> String {
    [
        ("&#91;", "["),
        ("&#93;", "]"),
        ("&#58;", ":"),
        ("&#42;", "*"),
    ]
    .iter()
    .fold(markdown.to_owned(), |s, (from, to)| s.replace(from, to))
}

fn sticky(double: &GitHubDouble, number: u64) -> Vec<flotilla_tests::github_double::DoubleComment> {
    double
        .comments(number)
        .into_iter()
        .filter(|c| c.body.contains(PREVIEW_MARKER))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pr_gets_one_sticky_comment_and_a_status_per_head() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let number = open_pr(&double).await;
    let repo = Arc::new(FluxRepo::new());
    let base = repo.head();
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "web:1.0.0",
        "web:1.1.0",
    );
    repo.write(
        "infrastructure/secrets/credentials.yaml",
        &credentials(SECRET_V2),
    );
    let head1 = repo.commit("web 1.1.0, new password");

    let run = preview_on_pr(&repo, &double, number, &base, &head1).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let comments = sticky(&double, number);
    assert_eq!(comments.len(), 1);
    let first = comments[0].clone();
    assert!(
        first.body.contains("### flotilla preview"),
        "{}",
        first.body
    );
    let shown = unescape(&first.body);
    assert!(shown.contains(IMAGE_FIELD), "{}", first.body);
    assert!(
        shown.contains(&format!("{ACR}/web:1.1.0")),
        "{}",
        first.body
    );
    assert!(!first.body.contains(SECRET_V1) && !first.body.contains(SECRET_V2));
    let statuses = double.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(
        (statuses[0].sha.as_str(), statuses[0].state.as_str()),
        (head1.as_str(), "success")
    );
    assert_eq!(statuses[0].context, "flotilla/preview");

    // A new head with a problem: the same comment, edited; a failing status.
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "            allowPrivilegeEscalation: false\n",
        "            privileged: true\n",
    );
    let head2 = repo.commit("privileged");
    let run = preview_on_pr(&repo, &double, number, &base, &head2).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let comments = sticky(&double, number);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, first.id);
    assert_ne!(comments[0].body, first.body);
    assert!(
        comments[0].body.contains("container web is privileged"),
        "{}",
        comments[0].body
    );
    let statuses = double.statuses();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        (statuses[1].sha.as_str(), statuses[1].state.as_str()),
        (head2.as_str(), "failure")
    );
    assert_eq!(statuses[1].context, "flotilla/preview");
    assert_eq!(double.comments(number).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_too_long_for_one_comment_is_truncated_and_still_posted() {
    let double = GitHubDouble::start(OWNER, REPO).await;
    let number = open_pr(&double).await;
    let repo = Arc::new(FluxRepo::new());
    let many = |value: &str| {
        (0..400)
            .map(|i| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tenant-{i:03}-settings\n  namespace: a0008\ndata:\n  owner: team-{i:03}@contoso.example\n  tier: {value}\n"
                )
            })
            .collect::<Vec<_>>()
            .join("---\n")
    };
    repo.write("infrastructure/apps/tenants.yaml", &many("bronze"));
    repo.edit(
        "infrastructure/apps/kustomization.yaml",
        "  - service.yaml\n",
        "  - service.yaml\n  - tenants.yaml\n",
    );
    let base = repo.commit("400 tenants");
    repo.write("infrastructure/apps/tenants.yaml", &many("gold"));
    let head = repo.commit("everyone is gold");

    let run = preview_on_pr(&repo, &double, number, &base, &head).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let comments = sticky(&double, number);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(body.contains("truncated"), "{}", &body[body.len() - 400..]);
    assert!(body.starts_with(PREVIEW_MARKER) || body.contains("### flotilla preview"));
    let statuses = double.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, "success");
}

/// The shared `baseline-cluster` repository was applied to a real API
/// server without complaint: its preview must find no problem at all (no
/// false positives from the schemas, the CRDs or the baseline policies).
#[test]
fn the_baseline_fixture_previews_without_problems() {
    let fixture = workspace_root().join("../shared/fixtures/baseline-cluster/repo.bundle");
    let repo = FluxRepo {
        dir: tempfile::tempdir().expect("temp dir"),
    };
    let out = Command::new("git")
        .args(["clone", "--quiet", "--branch", "main"])
        .arg(&fixture)
        .arg(repo.path())
        .output()
        .expect("run git clone");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.git(&["config", "user.name", "fleet dev"]);
    repo.git(&["config", "user.email", "dev@contoso.example"]);
    repo.git(&["config", "commit.gpgsign", "false"]);
    let base = repo.head();
    repo.edit(
        "infrastructure/ingress/deployment.yaml",
        "traefik:v3.4",
        "traefik:v3.5",
    );
    let head = repo.commit("traefik v3.5");
    let crds = crds_arg();
    let (code, report) = preview_json(&repo, &base, &head, &["--crds", &crds]);
    assert_eq!(code, 1, "{report:#?}");
    assert_clean(&report);
    assert_eq!(
        changes_of(&report, "aks-eastus2-01"),
        [(
            ChangeKind::Changed,
            "Deployment".into(),
            "traefik-ingress-controller".into()
        )]
    );
}

#[test]
fn a_cluster_entry_that_does_not_build_is_a_problem_without_temp_paths() {
    let repo = FluxRepo::new();
    let base = repo.head();
    repo.edit(
        &format!("clusters/{STORE}/kustomization.yaml"),
        "  - settings.yaml\n",
        "  - settings.yaml\n  - site.yaml\n",
    );
    let head = repo.commit("store lists a file it lacks");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 2, "{report:#?}");
    let store = cluster(&report, STORE);
    assert_eq!(store.problems.len(), 1, "{store:#?}");
    let p = &store.problems[0];
    assert_eq!(p.class, ProblemClass::Build);
    assert_eq!(p.path.as_deref(), Some(&*format!("./clusters/{STORE}")));
    assert!(!p.preexisting);
    assert!(p.message.contains("site.yaml"), "{}", p.message);
    // The checkout's temp dir means nothing in a pull request.
    assert!(!p.message.contains("flotilla-repo-"), "{}", p.message);
    assert!(cluster(&report, PROD).problems.is_empty());

    // Repairing it again is a change, not a failure for the base's fault.
    repo.edit(
        &format!("clusters/{STORE}/kustomization.yaml"),
        "  - site.yaml\n",
        "",
    );
    let fixed = repo.commit("repair the store");
    let (code, report) = preview_json(&repo, &head, &fixed, &[]);
    assert_eq!(code, 1, "{report:#?}");
    let store = cluster(&report, STORE);
    assert!(store.problems.is_empty(), "{store:#?}");
    assert!(
        store
            .notes
            .iter()
            .any(|n| n.contains("base revision does not build")),
        "{store:#?}"
    );
    assert!(store.changes.iter().all(|c| c.change == ChangeKind::Added));
    assert!(!store.changes.is_empty());
}

#[test]
fn a_broken_entry_the_base_already_had_is_preexisting() {
    let repo = FluxRepo::new();
    repo.edit(
        &format!("clusters/{STORE}/kustomization.yaml"),
        "  - settings.yaml\n",
        "  - settings.yaml\n  - site.yaml\n",
    );
    let base = repo.commit("store broken already");
    repo.edit(
        "infrastructure/apps/deployment.yaml",
        "web:1.0.0",
        "web:1.1.0",
    );
    let head = repo.commit("web 1.1.0");
    let (code, report) = preview_json(&repo, &base, &head, &[]);
    assert_eq!(code, 1, "{report:#?}");
    let store = cluster(&report, STORE);
    assert_eq!(store.problems.len(), 1, "{store:#?}");
    assert!(store.problems[0].preexisting);
}
