//! The real binary on repositories whose sources are not named
//! `flux-system`, with sources flotilla cannot follow, and with a hub that
//! applies to spokes: what `preview` and `audit` say about each.

#[path = "../support/mod.rs"]
mod support;

use std::process::Command;
use support::{Run, flotilla};

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

    fn arg(&self) -> &str {
        self.dir.path().to_str().expect("utf-8")
    }

    fn write(&self, rel: &str, text: &str) -> &Repo {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn commit(&self) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", "change"]);
        self.git(&["rev-parse", "HEAD"])
    }
}

fn ks(name: &str, path: &str, source: &str) -> String {
    format!(
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: {source}\n"
    )
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: ingress\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: {name}\n          image: {name}:1\n          resources:\n            limits: {{cpu: 100m, memory: 64Mi}}\n"
    )
}

fn preview(repo: &Repo, base: &str, head: &str, output: &str) -> Run {
    flotilla(&[
        "preview",
        "--repo",
        repo.arg(),
        "--base",
        base,
        "--head",
        head,
        "--output",
        output,
    ])
}

/// A repository whose source is `home-kubernetes`: swapping the ingress
/// controller is a change, never "unchanged" (the issue's exit-0 case).
#[test]
fn preview_follows_a_source_of_any_name() {
    let repo = Repo::new();
    repo.write(
        "clusters/home/flux.yaml",
        &[
            ks("cluster", "./clusters/home", "home-kubernetes"),
            ks("ingress", "./ingress", "home-kubernetes"),
        ]
        .concat(),
    )
    .write("ingress/controller.yaml", &deployment("ingress-nginx"));
    let base = repo.commit();
    repo.write("ingress/controller.yaml", &deployment("traefik"));
    let head = repo.commit();
    let run = preview(&repo, &base, &head, "text");
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("+ Deployment ingress/traefik")
            && run.stdout.contains("- Deployment ingress/ingress-nginx"),
        "{}",
        run.stdout
    );
}

/// A Kustomization reading a source flotilla does not hold: the cluster is
/// "unknown", never "unchanged", in every format, and the source is named.
#[test]
fn preview_says_unknown_for_a_source_it_cannot_follow() {
    let repo = Repo::new();
    repo.write(
        "clusters/c/flux.yaml",
        &[
            ks("flux-system", "./clusters/c", "flux-system"),
            ks("podinfo", "./kustomize", "podinfo"),
        ]
        .concat(),
    );
    let base = repo.commit();
    repo.write("README.md", "docs only\n");
    let head = repo.commit();
    let text = preview(&repo, &base, &head, "text");
    assert_eq!(text.code, 1, "{}\n{}", text.stdout, text.stderr);
    assert!(
        text.stdout.contains("c: unknown (1 not rendered)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("GitRepository flux-system/podinfo"),
        "{}",
        text.stdout
    );
    let md = preview(&repo, &base, &head, "markdown");
    assert!(
        md.stdout.contains("| c | unknown (1 not rendered) |"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("Not rendered"), "{}", md.stdout);
    let json = preview(&repo, &base, &head, "json");
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(
        report["clusters"][0]["notRendered"][0]["reason"],
        "foreign-source"
    );
}

/// Hub and spoke: the hub's audit does not hold the spoke's objects; a
/// target with `hub:` audits them against the spoke.
#[test]
fn audit_attributes_kubeconfig_objects_to_the_spoke() {
    let repo = Repo::new();
    repo.write(
        "clusters/hub/flux.yaml",
        &format!(
            "{}---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: staging\nspec:\n  interval: 10m\n  path: ./deploy\n  prune: true\n  targetNamespace: podinfo\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n  kubeConfig:\n    secretRef:\n      name: cluster-kubeconfig\n",
            ks("flux-system", "./clusters/hub", "flux-system")
        ),
    )
    .write(
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\ndata:\n  color: blue\n",
    );
    repo.commit();
    let snapshots = tempfile::tempdir().expect("temp dir");
    for name in ["hub", "spoke"] {
        let dir = snapshots.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("configmaps.json"),
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other","namespace":"default"}}]}"#,
        )
        .expect("write");
    }
    let targets = snapshots.path().join("targets.yaml");
    std::fs::write(
        &targets,
        "clusters:\n  - name: hub\n    snapshot: hub\n  - name: spoke\n    snapshot: spoke\n    hub:\n      path: clusters/hub\n      kubeConfigSecret: staging/cluster-kubeconfig\n",
    )
    .expect("write");
    let run = flotilla(&[
        "audit",
        "--repo",
        repo.arg(),
        "--targets",
        targets.to_str().expect("utf-8"),
        "--output",
        "json",
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stderr));
    let cluster = |name: &str| {
        report["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .find(|c| c["cluster"] == name)
            .expect("cluster")
            .clone()
    };
    let hub = cluster("hub");
    assert!(
        !hub.to_string().contains("podinfo/podinfo")
            && !hub["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|f| f["name"] == "podinfo"),
        "{hub}"
    );
    assert_eq!(hub["notRendered"][0]["reason"], "other-cluster", "{hub}");
    let spoke = cluster("spoke");
    let missing: Vec<&serde_json::Value> = spoke["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["class"] == "missing")
        .collect();
    assert_eq!(missing.len(), 1, "{spoke}");
    assert_eq!(missing[0]["name"], "podinfo");
    assert_eq!(missing[0]["namespace"], "podinfo");
    assert_eq!(missing[0]["kustomization"], "staging/apps");
}
