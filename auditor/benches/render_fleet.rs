//! Rendering speed on a repository shaped like a real fleet: how close an
//! `audit` and a `preview` come to the speed of kustomize itself. Prints
//! figures, asserts none; `cargo bench -p flotilla-auditor --bench render_fleet`.
//!
//! The repository (generated as a git repository with two commits): three
//! clusters, 78 Flux Kustomizations (26 per cluster), about 500 objects.
//! Each cluster has its `flux-system` sync, twelve infrastructure
//! Kustomizations on shared paths (`infrastructure/comp-NN`; all with
//! `postBuild.substitute`, four with per-cluster `patches`, two with a
//! per-cluster `namePrefix`, the other six identical across clusters so
//! their builds can be shared) and thirteen app Kustomizations on
//! per-cluster overlays (`apps/app-NN/overlays/<cluster>`: the shared base,
//! a patch and a `configMapGenerator`; two with `targetNamespace`). The head
//! commit bumps an image in a shared component and in one app base.
//!
//! Figures, each case in a fresh child process (this binary re-executed with
//! [`CASE_ENV`]) so its CPU and peak memory are its own:
//! - `audit`: `audit_all` of the three clusters at the head commit, live
//!   state from the shared fixture's snapshot (the render dominates);
//! - `preview`: `preview_all` between the two commits.
//!
//! For each: wall time; kustomize CPU (user + system time of the waited-for
//! children, from `/proc/self/stat`, which is what `getrusage(RUSAGE_CHILDREN)`
//! reports); cores; the ratio wall / (kustomize CPU / cores) — 1.0 means
//! the run took no longer than kustomize needs on all cores (target ≤ 1.2);
//! builds run and cache hits; peak resident memory (`VmHWM`).

use flotilla_auditor::audit::{self, AuditedCluster, Checkout, LiveTarget};
use flotilla_auditor::preview::run::{PreviewRequest, preview_all};
use flotilla_auditor::preview::{PolicyRules, Validator};
use flotilla_auditor::schema::CrdSchemas;
use flotilla_core::diff::DiffOptions;
use flotilla_render::{RenderCache, RenderOptions, render as render_desired};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in a child: `<audit|preview>|<base dir>|<base rev>|<head dir>|<head rev>`.
const CASE_ENV: &str = "FLOTILLA_BENCH_CASE";
const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/baseline-cluster/snapshot-clean"
);
const CLUSTERS: [&str; 3] = ["aks-eus2-01", "aks-weu-01", "aksh-store-042"];
const INFRA: usize = 12;
const APPS: usize = 13;

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        return run_case(&case);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (base, head) = generate(&dir.path().join("head"), &dir.path().join("base"));
    let cores = cores();
    println!(
        "render_fleet bench: {} clusters, {} Flux Kustomizations, {cores} cores",
        CLUSTERS.len(),
        CLUSTERS.len() * (1 + INFRA + APPS)
    );
    for case in ["audit", "preview"] {
        let arg = format!(
            "{case}|{}|{}|{}|{}",
            base.root.display(),
            base.revision.as_deref().unwrap_or_default(),
            head.root.display(),
            head.revision.as_deref().unwrap_or_default()
        );
        let out = Command::new(std::env::current_exe().expect("current exe"))
            .env(CASE_ENV, arg)
            .output()
            .expect("child runs");
        assert!(
            out.status.success(),
            "case {case} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// One case, in this (child) process; prints its figures.
fn run_case(case: &str) {
    let parts: Vec<&str> = case.split('|').collect();
    let [name, base_dir, base_rev, head_dir, head_rev] = parts[..] else {
        panic!("bad case {case}");
    };
    let checkout = |dir: &str, rev: &str| Checkout {
        root: PathBuf::from(dir),
        revision: Some(rev.to_owned()),
    };
    let (base, head) = (checkout(base_dir, base_rev), checkout(head_dir, head_rev));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `FLOTILLA_BENCH_SLOTS=n`: kustomize processes at once (default: the cores).
    let cache = Arc::new(
        std::env::var("FLOTILLA_BENCH_SLOTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .map_or_else(RenderCache::new, RenderCache::with_parallelism),
    );
    let render = RenderOptions {
        cache: Some(Arc::clone(&cache)),
        ..RenderOptions::default()
    };
    let (cpu_before, own_before) = (children_cpu(), own_cpu());
    let start = Instant::now();
    let summary = match name {
        "audit" => {
            let targets: Vec<AuditedCluster> = CLUSTERS
                .iter()
                .map(|c| AuditedCluster {
                    name: (*c).to_owned(),
                    entry: AuditedCluster::default_entry(c),
                    live: LiveTarget::Snapshot(PathBuf::from(SNAPSHOT)),
                    hub: None,
                })
                .collect();
            let report = runtime.block_on(audit::audit_all(
                &head,
                &targets,
                &render,
                &DiffOptions::default(),
            ));
            for c in &report.clusters {
                assert!(c.errors.is_empty(), "{}: {:?}", c.cluster, c.errors);
            }
            format!("{} clusters audited", report.clusters.len())
        }
        "preview" => {
            let schemas = Arc::new(CrdSchemas::new());
            let validator_for = |_: &str| Validator {
                schemas: Arc::clone(&schemas),
                policy: PolicyRules::baseline(),
            };
            let req = PreviewRequest {
                base: &base,
                head: &head,
                clusters_dir: "clusters",
                render: &render,
                validator_for: &validator_for,
                live: &BTreeMap::new(),
            };
            let report = runtime.block_on(preview_all(&req));
            let changed: usize = report.clusters.iter().map(|c| c.changes.len()).sum();
            for c in &report.clusters {
                assert!(c.errors.is_empty(), "{}: {:?}", c.cluster, c.errors);
                assert!(!c.changes.is_empty(), "{}: no change", c.cluster);
            }
            format!("{changed} objects change")
        }
        other => panic!("unknown case {other}"),
    };
    let wall = start.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let own = own_cpu().saturating_sub(own_before);
    let (builds, hits) = (cache.builds(), cache.hits());
    let objects: usize = CLUSTERS
        .iter()
        .map(|c| {
            let opts = RenderOptions {
                revision: head.revision.clone(),
                ..render.clone()
            };
            render_desired(&head.root, &AuditedCluster::default_entry(c), &opts)
                .map_or(0, |d| d.objects.len())
        })
        .sum();
    let cores = cores();
    let ideal = cpu.as_secs_f64() / cores as f64;
    let mut out = String::new();
    let _ = writeln!(out, "  {name}: {summary}; {objects} objects at head");
    let _ = writeln!(out, "    wall time:                 {}", ms(wall));
    let _ = writeln!(out, "    kustomize CPU (children):  {}", ms(cpu));
    let _ = writeln!(out, "    flotilla's own CPU:        {}", ms(own));
    let _ = writeln!(
        out,
        "    wall / (kustomize CPU / {cores} cores): {:.2} (target <= 1.2)",
        wall.as_secs_f64() / ideal.max(f64::EPSILON)
    );
    let _ = writeln!(
        out,
        "    kustomize builds:          {builds} ({hits} cache hits)"
    );
    let _ = writeln!(out, "    peak memory:               {:.0} MB", peak_mb());
    print!("{out}");
}

/// User + system time of this process's waited-for children (kustomize),
/// fields 16 and 17 of `/proc/self/stat`.
fn children_cpu() -> Duration {
    stat_cpu([13, 14])
}

/// User + system time of this process itself, fields 14 and 15.
fn own_cpu() -> Duration {
    stat_cpu([11, 12])
}

/// The sum of clock-tick fields of `/proc/self/stat` (indices after the command name).
fn stat_cpu(indices: [usize; 2]) -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = indices
        .iter()
        .map(|&i| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

fn peak_mb() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------------------
// The repository

/// Write the fleet at `repo`, commit, check the base out at `base_dir` (a
/// worktree), commit the head change. Returns both checkouts.
fn generate(repo: &Path, base_dir: &Path) -> (Checkout, Checkout) {
    fs::create_dir_all(repo).expect("mkdir");
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    git(repo, &["config", "user.name", "bench"]);
    git(repo, &["config", "user.email", "bench@example.com"]);
    git(repo, &["config", "commit.gpgsign", "false"]);
    for i in 0..INFRA {
        write_component(repo, i);
    }
    for i in 0..APPS {
        write_app_base(repo, i);
    }
    for (n, cluster) in CLUSTERS.iter().enumerate() {
        write_cluster(repo, cluster, n);
    }
    let base = commit(repo, "fleet");
    git(
        repo,
        &[
            "worktree",
            "add",
            "--quiet",
            "--detach",
            base_dir.to_str().expect("utf-8"),
            &base,
        ],
    );
    for file in [
        "infrastructure/comp-07/deployment.yaml",
        "apps/app-03/base/deployment.yaml",
    ] {
        let path = repo.join(file);
        let text = fs::read_to_string(&path).expect("read");
        fs::write(&path, text.replace(":1.0.0", ":1.1.0")).expect("write");
    }
    let head = commit(repo, "bump comp-07 and app-03");
    let checkout = |root: &Path, sha: &str| Checkout {
        root: root.to_owned(),
        revision: Some(format!("main@sha1:{sha}")),
    };
    (checkout(base_dir, &base), checkout(repo, &head))
}

fn write_component(repo: &Path, i: usize) {
    let dir = repo.join(format!("infrastructure/comp-{i:02}"));
    let ns = format!("comp-{i:02}");
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\n\
             resources:\n  - namespace.yaml\n  - rbac.yaml\n  - deployment.yaml\n  - service.yaml\n\
             configMapGenerator:\n  - name: settings\n    literals:\n      - cluster=${{cluster_name}}\n      - level=info\n\
             labels:\n  - pairs:\n      app.kubernetes.io/part-of: comp-{i:02}\n"
        ),
    );
    write(
        &dir.join("namespace.yaml"),
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    );
    write(
        &dir.join("rbac.yaml"),
        &format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: comp\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: comp\nrules:\n  - apiGroups: [\"\"]\n    resources: [configmaps]\n    verbs: [get, list, watch]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: comp\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: comp\nsubjects:\n  - kind: ServiceAccount\n    name: comp\n    namespace: {ns}\n"
        ),
    );
    write(&dir.join("deployment.yaml"), &deployment("comp", "comp"));
    write(&dir.join("service.yaml"), &service("comp"));
}

fn write_app_base(repo: &Path, i: usize) {
    let dir = repo.join(format!("apps/app-{i:02}/base"));
    write(
        &dir.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - service.yaml\n  - hpa.yaml\n",
    );
    write(&dir.join("deployment.yaml"), &deployment("app", "app"));
    write(&dir.join("service.yaml"), &service("app"));
    write(
        &dir.join("hpa.yaml"),
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: app\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: app\n  minReplicas: 2\n  maxReplicas: 6\n  metrics:\n    - type: Resource\n      resource:\n        name: cpu\n        target:\n          type: Utilization\n          averageUtilization: 70\n",
    );
}

fn deployment(name: &str, app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      serviceAccountName: {name}\n      containers:\n        - name: {app}\n          image: acr.example.com/{app}:1.0.0\n          env:\n            - name: CLUSTER\n              value: ${{cluster_name}}\n          ports:\n            - containerPort: 8080\n          resources:\n            requests:\n              cpu: 100m\n              memory: 128Mi\n            limits:\n              cpu: 500m\n              memory: 256Mi\n"
    )
}

fn service(app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  selector:\n    app: {app}\n  ports:\n    - port: 80\n      targetPort: 8080\n"
    )
}

fn flux_kustomization(name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra}"
    )
}

fn write_cluster(repo: &Path, cluster: &str, n: usize) {
    let dir = repo.join("clusters").join(cluster);
    write(
        &dir.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - flux-system\n  - infrastructure.yaml\n  - apps.yaml\n",
    );
    write(
        &dir.join("flux-system/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - gotk-sync.yaml\n",
    );
    write(
        &dir.join("flux-system/gotk-sync.yaml"),
        &format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  ref:\n    branch: main\n  url: ssh://git@github.com/contoso/fleet-gitops\n{}",
            flux_kustomization("flux-system", &format!("./clusters/{cluster}"), "")
        ),
    );
    let substitute = format!("  postBuild:\n    substitute:\n      cluster_name: {cluster}\n");
    let mut infra = String::new();
    for i in 0..INFRA {
        let mut extra = substitute.clone();
        if i < 4 {
            let _ = write!(
                extra,
                "  patches:\n    - target:\n        kind: Deployment\n      patch: |-\n        - op: replace\n          path: /spec/replicas\n          value: {}\n",
                2 + n
            );
        } else if i < 6 {
            let _ = writeln!(extra, "  namePrefix: c{n}-");
        }
        infra.push_str(&flux_kustomization(
            &format!("infra-{i:02}"),
            &format!("./infrastructure/comp-{i:02}"),
            &extra,
        ));
    }
    write(&dir.join("infrastructure.yaml"), &infra);
    let mut apps = String::new();
    for i in 0..APPS {
        let overlay = format!("apps/app-{i:02}/overlays/{cluster}");
        let namespace = format!("app-{i:02}");
        write(
            &repo.join(&overlay).join("kustomization.yaml"),
            &format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - ../../base\n\
                 patches:\n  - target:\n      kind: HorizontalPodAutoscaler\n    patch: |-\n      - op: replace\n        path: /spec/maxReplicas\n        value: {}\n\
                 configMapGenerator:\n  - name: app-settings\n    literals:\n      - cluster={cluster}\n      - region=r{n}\n",
                4 + n
            ),
        );
        let mut extra = substitute.clone();
        if i < 2 {
            let _ = writeln!(extra, "  targetNamespace: {namespace}-tn");
        }
        apps.push_str(&flux_kustomization(
            &format!("app-{i:02}"),
            &format!("./{overlay}"),
            &extra,
        ));
    }
    write(&dir.join("apps.yaml"), &apps);
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
