//! Desired-state rendering against the real kustomize (`kubectl kustomize`)
//! and the shared `baseline-cluster` fixture, plus small temporary repositories
//! for each Flux feature.

use flotilla_core::object::{ObjectKey, meta_str};
use flotilla_core::secret::sealed_scalar_matches;
use flotilla_render::sops::Keyring;
use flotilla_render::{
    Desired, KustomizationRef, NotRenderedReason, RenderCache, RenderOptions, render,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `shared/` sits beside the checkout (here and in CI).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/baseline-cluster"
);
const REVISION: &str = "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93";

fn sops_fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/sops"
    ))
}

fn fixture() -> PathBuf {
    PathBuf::from(FIXTURE)
}

fn ks(name: &str) -> KustomizationRef {
    KustomizationRef {
        namespace: "flux-system".into(),
        name: name.into(),
    }
}

/// Objects by key, with the name of their owning Kustomization.
fn owners(desired: &Desired) -> BTreeMap<String, Option<String>> {
    desired
        .objects
        .iter()
        .map(|o| {
            (
                inventory_id(&o.object),
                o.kustomization.as_ref().map(|k| k.name.clone()),
            )
        })
        .collect()
}

/// Flux's inventory id: `<namespace>_<name>_<group>_<kind>`.
fn inventory_id(obj: &Value) -> String {
    let key = ObjectKey::of(obj).expect("object has a key");
    format!(
        "{}_{}_{}_{}",
        key.namespace.unwrap_or_default(),
        key.name,
        key.group,
        key.kind
    )
}

fn find<'a>(desired: &'a Desired, kind: &str, name: &str) -> &'a Value {
    desired
        .objects
        .iter()
        .map(|o| &o.object)
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| {
            panic!(
                "{kind} {name} not rendered; got {:?}",
                owners(desired).keys()
            )
        })
}

fn render_fixture(cache: Option<Arc<RenderCache>>) -> Desired {
    // One key for every render, so two renders compare equal.
    static SEALER: std::sync::LazyLock<flotilla_core::secret::Sealer> =
        std::sync::LazyLock::new(flotilla_core::secret::Sealer::random);
    let opts = RenderOptions {
        revision: Some(REVISION.into()),
        cache,
        sealer: SEALER.clone(),
        ..RenderOptions::default()
    };
    render(&fixture().join("repo"), "clusters/aks-eastus2-01", &opts).expect("fixture renders")
}

#[test]
fn fixture_renders_exactly_the_flux_inventory_with_owners() {
    let desired = render_fixture(None);
    assert!(desired.errors.is_empty(), "errors: {:?}", desired.errors);
    assert!(
        desired.unresolved.is_empty(),
        "unresolved: {:?}",
        desired.unresolved
    );
    assert_eq!(desired.revision.as_deref(), Some(REVISION));

    // The answer key: what Flux's inventory says each Kustomization applied
    // (the reconcile-disabled quota included, as Flux keeps it there).
    let list: Value = serde_json::from_str(
        &fs::read_to_string(
            fixture()
                .join("snapshot-clean/objects/kustomize.toolkit.fluxcd.io_v1_kustomizations.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut expected = BTreeMap::new();
    for ks in list["items"].as_array().unwrap() {
        for entry in ks["status"]["inventory"]["entries"].as_array().unwrap() {
            let id = entry["id"].as_str().unwrap().to_owned();
            expected.insert(
                id,
                Some(ks["metadata"]["name"].as_str().unwrap().to_owned()),
            );
        }
    }
    assert_eq!(owners(&desired), expected);
    assert_eq!(desired.objects.len(), 34);
}

#[test]
fn fixture_objects_carry_flux_labels_substituted_values_and_sealed_secrets() {
    let desired = render_fixture(None);
    for o in &desired.objects {
        let owner = o
            .kustomization
            .as_ref()
            .expect("every fixture object has an owner");
        assert_eq!(
            meta_str(&o.object, "labels", "kustomize.toolkit.fluxcd.io/name"),
            Some(owner.name.as_str())
        );
        assert_eq!(
            meta_str(&o.object, "labels", "kustomize.toolkit.fluxcd.io/namespace"),
            Some("flux-system")
        );
    }
    let spc = find(
        &desired,
        "SecretProviderClass",
        "aks-ingress-tls-secret-csi-akv",
    );
    assert_eq!(
        spc["spec"]["parameters"]["keyvaultName"],
        "kv-aks-eastus2-01"
    );
    assert_eq!(
        spc["spec"]["parameters"]["tenantID"],
        "6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f"
    );
    let kured = find(&desired, "DaemonSet", "kured");
    let image = kured["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.starts_with("acraksbaseline01.azurecr.io/"), "{image}");

    let secret = find(&desired, "Secret", "traefik-basic-auth");
    assert!(secret.get("stringData").is_none());
    let users = secret["data"]["users"].as_str().unwrap();
    assert!(users.starts_with("sealed:hmac-sha256:"), "{users}");
    let all = serde_json::to_string(
        &desired
            .objects
            .iter()
            .map(|o| &o.object)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!all.contains("$apr1$fake$hash"), "secret value leaked");
    assert!(
        !all.contains("YWRtaW46JGFwcjEkZmFrZSRoYXNo"),
        "secret value (base64) leaked"
    );

    let quota = desired
        .objects
        .iter()
        .find(|o| {
            o.object["kind"] == "ResourceQuota"
                && o.object["metadata"]["namespace"] == "cluster-baseline-settings"
        })
        .unwrap();
    assert_eq!(quota.kustomization, Some(ks("namespaces")));
    assert_eq!(
        meta_str(
            &quota.object,
            "annotations",
            "kustomize.toolkit.fluxcd.io/reconcile"
        ),
        Some("disabled")
    );
}

#[test]
fn a_shared_cache_builds_each_path_once_per_commit() {
    let cache = Arc::new(RenderCache::new());
    let first = render_fixture(Some(cache.clone()));
    let builds = cache.builds();
    assert_eq!(builds, 6, "entry + 5 component Kustomizations");
    let second = render_fixture(Some(cache.clone()));
    assert_eq!(
        cache.builds(),
        builds,
        "second render must come from the cache"
    );
    assert_eq!(first, second);
}

// ---- small repositories ------------------------------------------------

/// A temporary repository with a root Kustomization `flux-system` at `clusters/c`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.write(
            "clusters/c/flux-system/sync.yaml",
            &kustomization("flux-system", "./clusters/c", ""),
        );
        repo
    }

    fn write(&self, rel: &str, text: &str) -> &Repo {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn render(&self) -> Desired {
        render(self.path(), "clusters/c", &RenderOptions::default()).expect("renders")
    }
}

/// A Flux Kustomization `name` for `path` with extra `spec` YAML (indented 2).
fn kustomization(name: &str, path: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\n\
         spec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n{extra_spec}"
    )
}

fn configmap(name: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\ndata:\n{data}"
    )
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.25
"#;

fn apps_repo(spec: &str) -> Repo {
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", spec),
    )
    .write(
        "apps/kustomization.yaml",
        "resources:\n  - deployment.yaml\n",
    )
    .write("apps/deployment.yaml", DEPLOYMENT);
    repo
}

fn object<'a>(desired: &'a Desired, kind: &str) -> &'a Value {
    desired
        .objects
        .iter()
        .map(|o| &o.object)
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| {
            panic!(
                "no {kind}; notes {:?} errors {:?}",
                desired.notes, desired.errors
            )
        })
}

#[test]
fn folder_without_kustomization_lists_yaml_files_recursively() {
    let repo = Repo::new();
    repo.write("clusters/c/apps.yaml", &kustomization("apps", "./apps", ""))
        .write("apps/cm.yaml", &configmap("one", "  k: v\n"))
        .write("apps/sub/cm2.yml", &configmap("two", "  k: v\n"))
        .write("apps/notes.json", "{\"not\": \"listed\"}")
        .write("apps/.github/workflows/ci.yaml", "on: push\n")
        .write("apps/base/kustomization.yaml", "resources:\n  - cm.yaml\n")
        .write("apps/base/cm.yaml", &configmap("three", "  k: v\n"));
    let desired = repo.render();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    let names: BTreeSet<_> = desired
        .objects
        .iter()
        .filter(|o| o.kustomization == Some(ks("apps")))
        .map(|o| o.object["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["one".into(), "two".into(), "three".into()])
    );
}

#[test]
fn target_namespace_and_name_prefix_suffix_apply() {
    let desired =
        apps_repo("  targetNamespace: team\n  namePrefix: pre-\n  nameSuffix: -suf\n").render();
    let d = object(&desired, "Deployment");
    assert_eq!(d["metadata"]["namespace"], "team");
    assert_eq!(d["metadata"]["name"], "pre-web-suf");
}

#[test]
fn name_prefix_replaces_the_kustomization_file_prefix_as_flux_does() {
    let repo = apps_repo("  namePrefix: flux-\n");
    repo.write(
        "apps/kustomization.yaml",
        "namePrefix: file-\nresources:\n  - deployment.yaml\n",
    );
    assert_eq!(
        object(&repo.render(), "Deployment")["metadata"]["name"],
        "flux-web"
    );
}

#[test]
fn patches_apply_with_targets() {
    let spec = "  patches:\n    - patch: |\n        - op: replace\n          path: /spec/replicas\n          value: 5\n      target:\n        kind: Deployment\n        name: web\n";
    let repo = apps_repo(spec);
    repo.write(
        "apps/deployment.yaml",
        &DEPLOYMENT.replace("spec:\n  selector", "spec:\n  replicas: 1\n  selector"),
    );
    assert_eq!(object(&repo.render(), "Deployment")["spec"]["replicas"], 5);
}

#[test]
fn images_override_tag() {
    let desired = apps_repo("  images:\n    - name: nginx\n      newName: registry.local/nginx\n      newTag: \"1.27\"\n").render();
    let image =
        &object(&desired, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, "registry.local/nginx:1.27");
}

#[test]
fn components_are_added_relative_to_the_path() {
    let repo = apps_repo("  components:\n    - ../components/extra\n");
    repo.write(
        "components/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - cm.yaml\n",
    )
    .write(
        "components/extra/cm.yaml",
        &configmap("from-component", "  k: v\n"),
    );
    let desired = repo.render();
    let cm = object(&desired, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "from-component");
    assert_eq!(
        meta_str(cm, "labels", "kustomize.toolkit.fluxcd.io/name"),
        Some("apps")
    );
}

#[test]
fn status_written_in_git_is_not_desired() {
    let repo = apps_repo("");
    repo.write(
        "apps/deployment.yaml",
        &format!("{DEPLOYMENT}status:\n  replicas: 3\n"),
    );
    assert!(object(&repo.render(), "Deployment").get("status").is_none());
}

#[test]
fn common_metadata_is_added_to_every_object() {
    let desired = apps_repo(
        "  commonMetadata:\n    labels:\n      team: a\n    annotations:\n      note: x\n",
    )
    .render();
    let d = object(&desired, "Deployment");
    assert_eq!(meta_str(d, "labels", "team"), Some("a"));
    assert_eq!(meta_str(d, "annotations", "note"), Some("x"));
    // commonMetadata is metadata only, not selectors.
    assert!(d["spec"]["selector"]["matchLabels"].get("team").is_none());
}

#[test]
fn substitute_defaults_escapes_and_unresolved_variables() {
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", "  postBuild:\n    substitute:\n      region: eastus2\n"),
    )
    .write(
        "apps/cm.yaml",
        &configmap(
            "vars",
            "  region: ${region}\n  size: ${size:=small}\n  tier: ${tier:-gold}\n  literal: $${region}\n  missing: \"${nope}\"\n",
        ),
    );
    let desired = repo.render();
    let data = &object(&desired, "ConfigMap")["data"];
    assert_eq!(data["region"], "eastus2");
    assert_eq!(data["size"], "small");
    assert_eq!(data["tier"], "gold");
    assert_eq!(data["literal"], "${region}");
    // Flux substitutes the YAML text kustomize printed (`missing: ${nope}`,
    // quotes normalised away), so an unset variable leaves a null value.
    assert_eq!(data["missing"], Value::Null);
    assert_eq!(
        desired.unresolved.get(&ks("apps")),
        Some(&BTreeSet::from(["nope".to_owned()]))
    );
    assert!(
        desired
            .notes
            .iter()
            .any(|n| n.contains("flux-system/apps") && n.contains("nope")),
        "{:?}",
        desired.notes
    );
}

#[test]
fn substitute_from_configmap_and_secret_in_the_repo_with_optional_missing() {
    let repo = Repo::new();
    let spec = r#"  postBuild:
    substitute:
      inline: wins
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
      - kind: Secret
        name: cluster-secrets
      - kind: ConfigMap
        name: absent
        optional: true
"#;
    repo.write("clusters/c/apps.yaml", &kustomization("apps", "./apps", spec))
        // The sources are rendered by the root Kustomization, in flux-system.
        .write(
            "clusters/c/vars.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-vars\n  namespace: flux-system\n\
             data:\n  env: prod\n  inline: loses\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n\
             stringData:\n  token: s3cr3t-value\n",
        )
        .write("apps/cm.yaml", &configmap("app", "  env: ${env}\n  inline: ${inline}\n  token: ${token}\n"));
    let desired = repo.render();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    let app = desired
        .objects
        .iter()
        .find(|o| o.object["metadata"]["name"] == "app")
        .unwrap();
    assert_eq!(app.object["data"]["env"], "prod");
    assert_eq!(app.object["data"]["inline"], "wins");
    // The Secret's value is used, but where it lands it is held as a digest:
    // compared with the live value, never shown.
    let token = &app.object["data"]["token"];
    assert!(
        token.as_str().unwrap().starts_with("sealed:tainted:"),
        "{token}"
    );
    assert_eq!(
        sealed_scalar_matches(token, &Value::String("s3cr3t-value".into())),
        Some(true)
    );
    assert!(!format!("{:?}", desired.objects).contains("s3cr3t-value"));
    // The source Secret itself leaves sealed, and no note or error shows the value.
    let secret = object(&desired, "Secret");
    assert!(
        secret["data"]["token"]
            .as_str()
            .unwrap()
            .starts_with("sealed:hmac-sha256:")
    );
    let text = format!("{:?}{:?}", desired.notes, desired.errors);
    assert!(!text.contains("s3cr3t-value"));
}

#[test]
fn missing_required_substitute_from_leaves_that_kustomization_not_rendered_only() {
    let repo = Repo::new();
    let spec = "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: nowhere\n";
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", spec),
    )
    .write("apps/cm.yaml", &configmap("app", "  k: v\n"))
    .write(
        "clusters/c/other.yaml",
        &kustomization("other", "./other", ""),
    )
    .write("other/cm.yaml", &configmap("other", "  k: v\n"));
    let desired = repo.render();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    assert_eq!(desired.not_rendered.len(), 1, "{:?}", desired.not_rendered);
    let entry = &desired.not_rendered[0];
    assert_eq!(entry.kustomization, Some(ks("apps")));
    assert_eq!(entry.reason, NotRenderedReason::SubstituteFrom);
    assert!(entry.detail.contains("Secret/nowhere"), "{}", entry.detail);
    assert!(
        desired
            .objects
            .iter()
            .any(|o| o.object["metadata"]["name"] == "other")
    );
    assert!(
        !desired
            .objects
            .iter()
            .any(|o| o.object["metadata"]["name"] == "app")
    );
}

#[test]
fn substitute_disabled_objects_are_left_alone() {
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", "  postBuild:\n    substitute:\n      x: replaced\n"),
    )
    .write(
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  namespace: apps\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  run.sh: echo ${x}\n---\n",
    )
    .write("apps/cm2.yaml", &configmap("normal", "  v: ${x}\n"));
    let desired = repo.render();
    let by_name = |n: &str| {
        &desired
            .objects
            .iter()
            .find(|o| o.object["metadata"]["name"] == n)
            .unwrap()
            .object
    };
    assert_eq!(by_name("script")["data"]["run.sh"], "echo ${x}");
    assert_eq!(by_name("normal")["data"]["v"], "replaced");
}

#[test]
fn nested_kustomizations_are_followed_and_own_their_objects() {
    let repo = Repo::new();
    repo.write("clusters/c/apps.yaml", &kustomization("apps", "./apps", ""))
        .write(
            "apps/team.yaml",
            &kustomization("team", "./team", "  targetNamespace: team\n"),
        )
        .write("team/cm.yaml", &configmap("team-config", "  k: v\n"));
    let desired = repo.render();
    let o = owners(&desired);
    assert_eq!(
        o["flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization"],
        Some("flux-system".into())
    );
    assert_eq!(
        o["flux-system_team_kustomize.toolkit.fluxcd.io_Kustomization"],
        Some("apps".into())
    );
    assert_eq!(o["team_team-config__ConfigMap"], Some("team".into()));
}

#[test]
fn cycles_terminate_and_are_noted() {
    let repo = Repo::new();
    repo.write("clusters/c/a.yaml", &kustomization("a", "./a", ""))
        .write("a/b.yaml", &kustomization("b", "./b", ""))
        .write("b/a-again.yaml", &kustomization("a", "./a", ""))
        .write("b/cm.yaml", &configmap("in-b", "  k: v\n"));
    let desired = repo.render();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    assert_eq!(
        desired
            .objects
            .iter()
            .filter(|o| o.object["metadata"]["name"] == "in-b")
            .count(),
        1
    );
    assert!(
        desired
            .notes
            .iter()
            .any(|n| n.contains("flux-system/a") && n.contains("cycle")),
        "{:?}",
        desired.notes
    );
}

#[test]
fn other_sources_and_helm_releases_are_noted_not_rendered() {
    let repo = Repo::new();
    let other =
        kustomization("apps", "./apps", "").replace("name: flux-system\n", "name: other-repo\n");
    repo.write("clusters/c/apps.yaml", &other).write(
        "clusters/c/hr.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 5m\n",
    );
    let desired = repo.render();
    let reasons: Vec<(NotRenderedReason, &str)> = desired
        .not_rendered
        .iter()
        .map(|n| (n.reason, n.detail.as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(r, d)| *r == NotRenderedReason::ForeignSource
                && d.contains("GitRepository flux-system/other-repo")
                && d.contains("--source GitRepository/flux-system/other-repo=PATH")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(r, d)| *r == NotRenderedReason::HelmChart && d.contains("podinfo")),
        "{reasons:?}"
    );
    assert!(
        desired
            .objects
            .iter()
            .any(|o| o.object["kind"] == "HelmRelease")
    );
}

#[test]
fn kustomize_build_error_names_the_path_and_stderr_and_spares_the_rest() {
    let repo = Repo::new();
    repo.write("clusters/c/apps.yaml", &kustomization("apps", "./apps", ""))
        .write(
            "apps/kustomization.yaml",
            "resources:\n  - does-not-exist.yaml\n",
        )
        .write(
            "clusters/c/other.yaml",
            &kustomization("other", "./other", ""),
        )
        .write("other/cm.yaml", &configmap("fine", "  k: v\n"));
    let desired = repo.render();
    assert_eq!(desired.errors.len(), 1, "{:?}", desired.errors);
    let message = flotilla_core::findings::error_chain(&desired.errors[0]);
    assert!(message.contains("flux-system/apps"), "{message}");
    assert!(message.contains("kustomize build apps failed"), "{message}");
    assert!(
        message.contains("does-not-exist.yaml"),
        "stderr kept: {message}"
    );
    assert!(
        desired
            .objects
            .iter()
            .any(|o| o.object["metadata"]["name"] == "fine")
    );
}

#[test]
fn a_missing_entry_path_is_an_error() {
    let repo = Repo::new();
    let err = render(repo.path(), "clusters/nope", &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("clusters/nope"), "{err}");
}

#[test]
fn strict_substitution_fails_the_kustomization_that_uses_an_unset_variable() {
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization(
            "apps",
            "./apps",
            "  postBuild:\n    substitute:\n      set: v\n",
        ),
    )
    .write(
        "apps/cm.yaml",
        &configmap("app", "  a: ${set}\n  b: ${unset}\n"),
    );
    let opts = RenderOptions {
        strict_substitution: true,
        ..RenderOptions::default()
    };
    let desired = render(repo.path(), "clusters/c", &opts).unwrap();
    assert_eq!(desired.errors.len(), 1, "{:?}", desired.errors);
    let message = flotilla_core::findings::error_chain(&desired.errors[0]);
    assert!(
        message.contains("flux-system/apps") && message.contains("unset"),
        "{message}"
    );
    assert!(
        !desired
            .objects
            .iter()
            .any(|o| o.object["metadata"]["name"] == "app")
    );
}

/// A Secret encrypted by the real sops tool (Flux's own test file): without
/// a key its key names stay and its value is unknown; never ciphertext or
/// SOPS metadata as desired state.
#[test]
fn sops_encrypted_secrets_without_a_key_keep_key_names_only() {
    let repo = Repo::new();
    let encrypted = fs::read_to_string(
        sops_fixture().join("kustomize-controller/testdata-sops/algorithms/age.yaml"),
    )
    .unwrap();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", "  decryption:\n    provider: sops\n"),
    )
    .write("apps/secret.yaml", &encrypted);
    let desired = repo.render();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    let secret = object(&desired, "Secret");
    assert!(secret.get("sops").is_none(), "{secret}");
    let text = secret.to_string();
    assert!(!text.contains("ENC["), "{text}");
    assert_eq!(
        secret["data"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["key"]
    );
    assert!(
        desired
            .notes
            .iter()
            .any(|n| n.contains("SOPS-encrypted") && n.contains("age")),
        "{:?}",
        desired.notes
    );
}

/// With the age key, the Secret decrypts as Flux would: its value is
/// compared as a digest (the same digest as the plain value's), never shown.
#[test]
fn sops_encrypted_secrets_with_the_age_key_compare_by_digest() {
    let repo = Repo::new();
    let encrypted = fs::read_to_string(
        sops_fixture().join("kustomize-controller/testdata-sops/algorithms/age.yaml"),
    )
    .unwrap();
    repo.write(
        "clusters/c/apps.yaml",
        &kustomization("apps", "./apps", "  decryption:\n    provider: sops\n"),
    )
    .write("apps/secret.yaml", &encrypted);
    let keys = Keyring::from_age_file(
        &sops_fixture().join("kustomize-controller/testdata-sops/keys/age.txt"),
    )
    .unwrap();
    let sealer = flotilla_core::secret::Sealer::random();
    let opts = RenderOptions {
        sops_keys: Some(Arc::new(keys)),
        sealer: sealer.clone(),
        ..RenderOptions::default()
    };
    let desired = render(repo.path(), "clusters/c", &opts).unwrap();
    assert!(desired.errors.is_empty(), "{:?}", desired.errors);
    let secret = object(&desired, "Secret");
    assert_eq!(secret["data"]["key"], sealer.digest(b"value"));
    assert!(secret.get("sops").is_none());
}

/// Every field Git sets equals what the recorded API server holds after Flux
/// applied it (quantities compared by value, as the server canonicalises
/// them). Proves substitution, kustomize and the owner labels match Flux's.
#[test]
fn fixture_desired_fields_equal_the_clean_snapshot() {
    let desired = render_fixture(None);
    let mut live = BTreeMap::new();
    for file in fs::read_dir(fixture().join("snapshot-clean/objects")).unwrap() {
        let list: Value =
            serde_json::from_str(&fs::read_to_string(file.unwrap().path()).unwrap()).unwrap();
        for item in list["items"].as_array().unwrap() {
            live.insert(inventory_id(item), item.clone());
        }
    }
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for o in &desired.objects {
        let skip = o.object["kind"] == "Secret" // sealed: compared by the diff engine
            || meta_str(&o.object, "annotations", "kustomize.toolkit.fluxcd.io/reconcile") == Some("disabled");
        if skip {
            continue;
        }
        let id = inventory_id(&o.object);
        let Some(actual) = live.get(&id) else {
            mismatches.push(format!("{id}: not live"));
            continue;
        };
        compared += 1;
        contained(&o.object, actual, &id, &mut mismatches);
    }
    assert_eq!(compared, 32);
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

fn contained(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                match g.get(k) {
                    Some(gv) => contained(v, gv, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}: not live")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                contained(wv, gv, &format!("{at}/{i}"), out);
            }
        }
        (w, g) if w == g || same_quantity(w, g) => {}
        (w, g) => out.push(format!("{at}: git {w} live {g}")),
    }
}

/// `"2000m"` = `"2"`, `"1024Mi"` = `"1Gi"`, `"0.5"` = `"500m"`.
fn same_quantity(a: &Value, b: &Value) -> bool {
    fn milli(v: &Value) -> Option<f64> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let units = [
            ("Ki", 1024f64),
            ("Mi", 1024f64.powi(2)),
            ("Gi", 1024f64.powi(3)),
            ("m", 1e-3),
        ];
        let (num, factor) = units
            .iter()
            .find_map(|(u, f)| s.strip_suffix(u).map(|n| (n.to_owned(), *f)))
            .unwrap_or((s, 1.0));
        num.parse::<f64>().ok().map(|n| n * factor * 1000.0)
    }
    matches!((milli(a), milli(b)), (Some(x), Some(y)) if (x - y).abs() < 1e-6)
}

// ---- confinement and shared builds ---------------------------------------

fn error_of(desired: &Desired, kustomization: &str) -> String {
    desired
        .errors
        .iter()
        .find(|e| e.kustomization.0.as_ref().map(|k| k.name.as_str()) == Some(kustomization))
        .map(|e| flotilla_core::findings::error_chain(e))
        .unwrap_or_else(|| panic!("no error for {kustomization}: {:?}", desired.errors))
}

#[test]
fn symlinks_are_left_out_as_flux_does_and_named_when_a_build_needs_one() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-outside\n  namespace: apps\n",
    )
    .unwrap();
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &[
            kustomization("outside", "./outside", ""),
            kustomization("inside", "./inside", ""),
            kustomization("plain", "./plain", ""),
            kustomization("fine", "./fine", ""),
        ]
        .join("---\n"),
    )
    .write("outside/kustomization.yaml", "resources:\n  - cm.yaml\n")
    .write("inside/kustomization.yaml", "resources:\n  - alias.yaml\n")
    .write("inside/real.yaml", &configmap("real", "  k: v\n"))
    .write("plain/own.yaml", &configmap("own", "  k: v\n"))
    .write("fine/cm.yaml", &configmap("fine", "  k: v\n"));
    std::os::unix::fs::symlink(
        outside.path().join("cm.yaml"),
        repo.path().join("outside/cm.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("real.yaml", repo.path().join("inside/alias.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("plain/linked")).unwrap();
    let desired = repo.render();

    let outside_error = error_of(&desired, "outside");
    assert!(outside_error.contains("outside/cm.yaml"), "{outside_error}");
    assert!(
        outside_error.contains("leads outside the repository"),
        "{outside_error}"
    );
    assert!(
        !outside_error.contains(&outside.path().display().to_string()),
        "{outside_error}"
    );
    // Flux's artifact has no symlinks, so an inside one cannot be read either.
    let inside_error = error_of(&desired, "inside");
    assert!(
        inside_error.contains("points to inside/real.yaml inside the repository"),
        "{inside_error}"
    );
    let names: BTreeSet<&str> = desired
        .objects
        .iter()
        .filter_map(|o| o.object["metadata"]["name"].as_str())
        .collect();
    assert!(names.contains("fine") && names.contains("own"), "{names:?}");
    assert!(
        !names.contains("from-outside"),
        "read outside the repository: {names:?}"
    );
    assert!(
        desired
            .notes
            .iter()
            .any(|n| n.contains("plain/linked (leads outside the repository)")),
        "the generated folder says what it left out: {:?}",
        desired.notes
    );
}

#[test]
fn helm_charts_and_plugins_are_refused_and_nothing_runs() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("ran");
    let repo = Repo::new();
    repo.write(
        "clusters/c/apps.yaml",
        &[
            kustomization("helm", "./helm", ""),
            kustomization("exec", "./exec", ""),
            kustomization("fine", "./fine", ""),
        ]
        .join("---\n"),
    )
    .write(
        "helm/kustomization.yaml",
        "helmCharts:\n  - name: podinfo\n    repo: https://stefanprodan.github.io/podinfo\n    version: 6.0.0\n",
    )
    .write("exec/kustomization.yaml", "generators:\n  - gen.yaml\n")
    .write(
        "exec/gen.yaml",
        "apiVersion: example.com/v1\nkind: Runner\nmetadata:\n  name: run\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./run.sh\n",
    )
    .write("exec/run.sh", &format!("#!/bin/sh\ntouch '{}'\n", marker.display()))
    .write("fine/cm.yaml", &configmap("fine", "  k: v\n"));
    let desired = repo.render();
    let helm = error_of(&desired, "helm");
    assert!(helm.contains("Helm charts are not inflated"), "{helm}");
    assert!(helm.contains("helm/kustomization.yaml"), "{helm}");
    let exec = error_of(&desired, "exec");
    assert!(
        exec.contains("plugin Runner (example.com/v1) is not run"),
        "{exec}"
    );
    assert!(exec.contains("exec/gen.yaml"), "{exec}");
    assert!(!marker.exists(), "a plugin ran");
    assert!(
        desired
            .objects
            .iter()
            .any(|o| o.object["metadata"]["name"] == "fine")
    );
}

/// A `kubectl kustomize` wrapper that counts its runs in `count`.
fn counting_kustomizer(dir: &Path) -> (flotilla_render::Kustomizer, PathBuf) {
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on PATH");
    let count = dir.join("count");
    let script = dir.join("kustomize-counting");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            count.display(),
            kubectl.display()
        ),
    )
    .unwrap();
    fs::set_permissions(
        &script,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    (
        flotilla_render::Kustomizer::with_program(script, vec!["kustomize".into()]),
        count,
    )
}

fn runs(count: &Path) -> usize {
    fs::read_to_string(count).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn one_audit_builds_a_path_shared_by_two_clusters_once() {
    use flotilla_auditor::audit::{AuditedCluster, Checkout, LiveTarget, audit_all};
    let tools = tempfile::tempdir().unwrap();
    let (kustomizer, count) = counting_kustomizer(tools.path());
    let repo = Repo::new();
    for cluster in ["a", "b"] {
        repo.write(
            &format!("clusters/{cluster}/flux-system/sync.yaml"),
            &kustomization("flux-system", &format!("./clusters/{cluster}"), ""),
        )
        .write(
            &format!("clusters/{cluster}/apps.yaml"),
            &kustomization(
                "shared",
                "./shared",
                "  postBuild:\n    substitute:\n      x: y\n",
            ),
        );
    }
    repo.write("shared/cm.yaml", &configmap("shared", "  k: v\n"));
    let targets: Vec<AuditedCluster> = ["a", "b"]
        .iter()
        .map(|c| AuditedCluster {
            name: (*c).into(),
            entry: format!("clusters/{c}"),
            live: LiveTarget::Snapshot(fixture().join("snapshot-clean")),
            hub: None,
        })
        .collect();
    let checkout = Checkout {
        root: repo.path().to_owned(),
        revision: None,
    };
    let opts = RenderOptions {
        kustomizer,
        ..RenderOptions::default()
    };
    let report = audit_all(&checkout, &targets, &opts, &Default::default()).await;
    for c in &report.clusters {
        assert!(c.errors.is_empty(), "{}: {:?}", c.cluster, c.errors);
    }
    // Two entry paths, and ./shared once for both clusters.
    assert_eq!(runs(&count), 3);
}
