//! Loading real spec text and folders: precedence, folder form, the bundled
//! example fleet.

use std::fs;
use std::path::Path;

use flotilla_fleet::{
    ClusterKind, KeyVaultIdentity, LoadBalancer, PodSecurityLevel, PolicyEngine, PolicyMode, load,
    load_str,
};

/// The smallest valid fleet: everything the built-in defaults cannot know.
const MINIMAL: &str = r#"
defaults:
  git: { url: "ssh://git@github.com/contoso/fleet-gitops" }
  images: { registry: acraksbaseline01.azurecr.io }
  ingress: { domain: aks-ingress.contoso.com }
  secrets:
    keyvaultName: kv-aks-eus2-01
    tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f
    workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b
clusters:
  - { name: aks-eus2-01, kind: aks, environment: production, region: eastus2 }
"#;

#[test]
fn built_in_defaults_follow_the_aks_baseline() {
    let fleet = load_str("minimal.yaml", MINIMAL).expect("minimal fleet loads");
    let c = &fleet.clusters[0];
    assert_eq!(c.kind, ClusterKind::Aks);
    assert_eq!(c.location, "eastus2");
    assert_eq!(c.source.path, "./clusters/aks-eus2-01");
    assert_eq!(c.source.branch, "main");
    assert_eq!(c.source.interval, "1m");
    assert_eq!(c.source.kustomization_interval, "10m");
    assert_eq!(c.source.secret_ref, None);
    let names: Vec<&str> = c.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a0008", "cluster-baseline-settings"]);
    assert_eq!(c.namespaces[0].pod_security, PodSecurityLevel::Restricted);
    assert_eq!(c.namespaces[0].quota["requests.cpu"], "2");
    assert!(c.namespaces[0].receives_ingress);
    assert_eq!(c.ingress.namespace, "a0008");
    assert_eq!(c.ingress.replicas, 2);
    assert_eq!(c.ingress.upstream_cidrs, ["10.240.5.0/24"]);
    assert_eq!(
        c.ingress.load_balancer,
        LoadBalancer::AzureInternal {
            ip: None,
            subnet: "snet-clusteringressservices".into()
        }
    );
    assert_eq!(c.ingress.tls.min_version, "VersionTLS12");
    assert!(c.ingress.tls.sni_strict);
    assert_eq!(c.secrets.certificates[0].alias, "tls.crt");
    assert_eq!(c.kured.reboot_days, ["mon", "tue", "wed", "thu", "fri"]);
    assert_eq!(
        (c.kured.start_time.as_str(), c.kured.end_time.as_str()),
        ("21:00", "05:00")
    );
    assert_eq!(c.policies.mode, PolicyMode::Audit);
    assert_eq!(c.policies.engine, PolicyEngine::AzurePolicy);
    assert_eq!(
        c.policies.allowed_registries,
        ["acraksbaseline01.azurecr.io"]
    );
    assert_eq!(
        c.images.traefik.reference(&c.images.registry),
        format!(
            "acraksbaseline01.azurecr.io/traefik:{}",
            flotilla_fleet::TRAEFIK_TAG
        )
    );
    assert_eq!(c.images.kured.repository, "kubereboot/kured");
}

/// One value set at every layer: each layer beats the one below, and a
/// sibling value set only below survives (maps merge key by key).
#[test]
fn cluster_beats_environment_beats_kind_beats_defaults() {
    let spec = r#"
defaults:
  git: { url: "ssh://git@github.com/contoso/fleet-gitops" }
  images: { registry: acraksbaseline01.azurecr.io }
  ingress:
    domain: aks-ingress.contoso.com
    replicas: 4
    nodeSelector: { agentpool: fromdefaults, tier: fromdefaults }
  kured: { startTime: "20:00", endTime: "04:00", period: 2h }
  secrets:
    keyvaultName: kv-aks-eus2-01
    tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f
    workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b
kinds:
  aks:
    ingress: { replicas: 5, nodeSelector: { agentpool: fromkind } }
    kured: { startTime: "22:00", endTime: "03:00" }
environments:
  production:
    ingress: { replicas: 6 }
    kured: { startTime: "23:00" }
    policies: { mode: deny }
  staging: {}
clusters:
  - name: aks-prod-01
    kind: aks
    environment: production
    region: eastus2
    ingress: { replicas: 7 }
  - name: aks-prod-02
    kind: aks
    environment: production
    region: eastus2
  - name: aks-stg-01
    kind: aks
    environment: staging
    region: eastus2
"#;
    let fleet = load_str("layers.yaml", spec).expect("layered fleet loads");
    let prod1 = fleet.cluster("aks-prod-01").expect("prod-01");
    let prod2 = fleet.cluster("aks-prod-02").expect("prod-02");
    let stg = fleet.cluster("aks-stg-01").expect("stg-01");
    assert_eq!(prod1.ingress.replicas, 7, "cluster beats environment");
    assert_eq!(prod2.ingress.replicas, 6, "environment beats kind");
    assert_eq!(stg.ingress.replicas, 5, "kind beats defaults");
    assert_eq!(stg.kured.start_time, "22:00");
    assert_eq!(prod2.kured.start_time, "23:00");
    assert_eq!(
        prod2.kured.end_time, "03:00",
        "environment kept the kind's endTime"
    );
    assert_eq!(
        prod2.kured.period, "2h",
        "defaults survive where nobody overrides"
    );
    assert_eq!(
        prod2.kured.time_zone, "UTC",
        "built-in default at the bottom"
    );
    assert_eq!(prod2.policies.mode, PolicyMode::Deny);
    assert_eq!(stg.policies.mode, PolicyMode::Audit);
    assert_eq!(prod1.ingress.node_selector["agentpool"], "fromkind");
    assert_eq!(prod1.ingress.node_selector["tier"], "fromdefaults");
    assert_eq!(
        prod1.ingress.node_selector["kubernetes.io/os"], "linux",
        "maps merge key by key down to the built-in defaults"
    );
    let names: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["aks-prod-01", "aks-prod-02", "aks-stg-01"],
        "sorted by name"
    );
}

/// Lists replace: a cluster that sets `namespaces` gets exactly its list.
#[test]
fn lists_replace_instead_of_merging() {
    let spec = MINIMAL.replace(
        "region: eastus2 }",
        "region: eastus2, namespaces: [{ name: a0008, receivesIngress: true }], kured: { rebootDays: [sat] } }",
    );
    let fleet = load_str("lists.yaml", &spec).expect("loads");
    let c = &fleet.clusters[0];
    assert_eq!(c.namespaces.len(), 1);
    assert_eq!(c.namespaces[0].pod_security, PodSecurityLevel::Restricted);
    assert!(c.namespaces[0].quota.is_empty(), "no quota unless written");
    assert_eq!(c.kured.reboot_days, ["sat"]);
}

#[test]
fn the_example_fleet_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fleet.yaml");
    let fleet = load(&path).unwrap_or_else(|e| panic!("examples/fleet.yaml:\n{e}"));
    let names: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["aks-eus2-prod-01", "aks-eus2-stg-01", "aksh-store-042"]
    );

    let prod = fleet.cluster("aks-eus2-prod-01").expect("prod");
    assert_eq!(prod.policies.mode, PolicyMode::Deny);
    assert_eq!(prod.ingress.replicas, 3);
    assert_eq!(prod.source.secret_ref.as_deref(), Some("flux-system"));

    let stg = fleet.cluster("aks-eus2-stg-01").expect("staging");
    assert_eq!(stg.policies.mode, PolicyMode::Audit);
    assert_eq!(stg.ingress.replicas, 2);
    assert_eq!(stg.namespaces.len(), 3);

    let store = fleet.cluster("aksh-store-042").expect("store");
    assert_eq!(store.kind, ClusterKind::AksHybrid);
    assert_eq!(store.location, "store-042");
    assert_eq!(store.ingress.replicas, 1);
    assert_eq!(store.policies.mode, PolicyMode::Deny);
    assert_eq!(store.kured.time_zone, "America/Chicago");
    assert!(matches!(
        &store.ingress.load_balancer,
        LoadBalancer::Hybrid { pool: Some(p), ip: Some(_) } if p == "store-ingress"
    ));
    assert!(matches!(
        &store.secrets.identity,
        KeyVaultIdentity::ServicePrincipal { secret_name } if secret_name == "secrets-store-creds"
    ));
}

/// The folder form of the example is the same fleet as the single file.
#[test]
fn the_example_folder_is_the_same_fleet() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let file = load(&examples.join("fleet.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let folder = load(&examples.join("fleet.d")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(folder, file);
}

/// A folder is read in name order; clusters and environments add up.
#[test]
fn a_folder_of_files_is_one_fleet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (defaults, clusters) = MINIMAL.split_once("clusters:").expect("two parts");
    fs::write(dir.path().join("00-defaults.yaml"), defaults).expect("write");
    fs::write(
        dir.path().join("10-prod.yml"),
        format!("environments: {{ production: {{}} }}\nclusters:{clusters}"),
    )
    .expect("write");
    fs::write(
        dir.path().join("20-staging.yaml"),
        "environments: { staging: {} }\nclusters:\n  - { name: aks-eus2-02, kind: aks, environment: staging, region: eastus2 }\n",
    )
    .expect("write");
    fs::write(dir.path().join("README.md"), "not yaml: [").expect("write");
    let fleet = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["aks-eus2-01", "aks-eus2-02"]);
    assert_eq!(fleet.clusters[1].environment, "staging");
}

/// Errors in a folder name the file they are in.
#[test]
fn folder_errors_name_their_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), MINIMAL).expect("write");
    fs::write(
        dir.path().join("b.yaml"),
        "defaults: { kured: { period: 1d } }\n",
    )
    .expect("write");
    let err = load(dir.path()).expect_err("second defaults is an error");
    let text = err.to_string();
    let b = dir.path().join("b.yaml").display().to_string();
    assert_eq!(err.len(), 1, "{text}");
    assert!(
        text.starts_with(&format!(
            "{b}:1:11: defaults: defaults is already defined at "
        )),
        "{text}"
    );
}

#[test]
fn an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load(dir.path()).expect_err("nothing to load");
    assert!(
        err.to_string()
            .ends_with("no *.yaml or *.yml files in this folder"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let err = load(Path::new("/nonexistent/fleet.yaml")).expect_err("no file");
    assert_eq!(
        err.to_string(),
        "/nonexistent/fleet.yaml: cannot read: entity not found"
    );
}

/// Plain scalars keep the text written: no YAML 1.1 sexagesimal times, no
/// float rounding of tags or quantities.
#[test]
fn scalars_keep_their_text() {
    let spec = MINIMAL.replace(
        "region: eastus2 }",
        "region: eastus2, kured: { startTime: 21:30, endTime: 05:00 }, images: { kured: { tag: 1.10 } }, policies: { maxCpu: 0.50 } }",
    );
    let fleet = load_str("scalars.yaml", &spec).unwrap_or_else(|e| panic!("{e}"));
    let c = &fleet.clusters[0];
    assert_eq!(c.kured.start_time, "21:30");
    assert_eq!(c.kured.end_time, "05:00");
    assert_eq!(c.images.kured.tag, "1.10");
    assert_eq!(c.policies.max_cpu, "0.50");
}

/// Anchors and aliases expand, so shared blocks can be written once.
#[test]
fn aliases_expand() {
    let spec = format!(
        "{MINIMAL}  - name: aks-eus2-02\n    kind: aks\n    environment: production\n    region: eastus2\n    kured: &window {{ startTime: \"22:00\", endTime: \"04:00\" }}\n  - name: aks-eus2-03\n    kind: aks\n    environment: production\n    region: eastus2\n    kured: *window\n"
    );
    let fleet = load_str("aliases.yaml", &spec).unwrap_or_else(|e| panic!("{e}"));
    let c = fleet.cluster("aks-eus2-03").expect("third cluster");
    assert_eq!(
        (c.kured.start_time.as_str(), c.kured.end_time.as_str()),
        ("22:00", "04:00")
    );
}

/// Environments add up across files, but each is defined in one file only.
#[test]
fn an_environment_is_defined_in_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_env = MINIMAL.replace("clusters:", "environments: { production: {} }\nclusters:");
    fs::write(dir.path().join("a.yaml"), with_env).expect("write");
    fs::write(
        dir.path().join("b.yaml"),
        "environments:\n  production: { policies: { mode: deny } }\n",
    )
    .expect("write");
    let err = load(dir.path()).expect_err("production twice");
    let a = dir.path().join("a.yaml").display().to_string();
    let b = dir.path().join("b.yaml").display().to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "{b}:2:15: environments.production: environments.production is already defined at {a}:10:29"
        )
    );
}

/// A folder holding the minimal fleet as `fleet.yaml`, for the odd-entry
/// cases below.
fn folder_with_minimal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("fleet.yaml"), MINIMAL).expect("write");
    dir
}

/// The whole error text of loading `dir`, which must fail.
fn load_error(path: &Path) -> String {
    match load(path) {
        Ok(fleet) => panic!("{} loaded: {fleet:?}", path.display()),
        Err(e) => e.to_string(),
    }
}

/// An odd entry named like a spec file is an error naming it, never
/// skipped: a skipped file means missing clusters.
#[cfg(unix)]
#[test]
fn odd_spec_entries_are_errors_naming_them() {
    use std::os::unix::fs::symlink;
    /// Entry name, expected problem, and how to make the entry.
    type Case = (&'static str, &'static str, fn(&Path));
    let cases: [Case; 4] = [
        (
            "dangling.yaml",
            "is a dangling symlink (its target does not exist)",
            |p| symlink(p.with_file_name("missing.yaml"), p).expect("symlink"),
        ),
        ("loop.yaml", "is a symlink loop", |p| {
            symlink(p, p).expect("symlink")
        }),
        ("pipe.yaml", "is a FIFO, not a regular file", |p| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                p,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .expect("mkfifo")
        }),
        ("folder.yaml", "is a directory, not a regular file", |p| {
            fs::create_dir(p).expect("mkdir")
        }),
    ];
    for (name, problem, make) in cases {
        let dir = folder_with_minimal();
        let entry = dir.path().join(name);
        make(&entry);
        let text = load_error(dir.path());
        assert_eq!(text, format!("{}: {problem}", entry.display()), "{name}");
    }
}

/// A FIFO given as the spec file itself is reported, not waited on.
#[cfg(unix)]
#[test]
fn a_fifo_as_the_spec_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fleet.yaml");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
    let (send, receive) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || send.send(load(&path).map_err(|e| e.to_string())));
    let result = receive
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("load returned instead of blocking on the FIFO");
    assert_eq!(
        result.expect_err("a FIFO is not a spec"),
        format!("{}: is a FIFO, not a regular file", fifo.display())
    );
}

/// Symlinks within the spec folder are followed (ConfigMap mounts are made
/// of them); a symlink leading out of it is an error and is not read.
#[cfg(unix)]
#[test]
fn symlinks_are_followed_only_within_the_folder() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("..data");
    fs::create_dir(&data).expect("mkdir");
    fs::write(data.join("fleet.yaml"), MINIMAL).expect("write");
    symlink("..data/fleet.yaml", dir.path().join("fleet.yaml")).expect("symlink");
    let fleet = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fleet.clusters.len(), 1);
    let file = load(&dir.path().join("fleet.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        file, fleet,
        "the spec file itself may be a link within its folder"
    );

    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.yaml");
    fs::write(&secret, "clusters: [{ name: TOP-SECRET }]\n").expect("write");
    let link = dir.path().join("z-outside.yaml");
    symlink(&secret, &link).expect("symlink");
    let text = load_error(dir.path());
    assert_eq!(
        text,
        format!(
            "{}: is a symlink leading outside its folder (only links within the folder are followed)",
            link.display()
        )
    );
    assert!(!text.contains("TOP-SECRET"), "{text}");
    let text = load_error(&link);
    assert!(text.contains("leading outside its folder"), "{text}");
}

/// Files that are not UTF-8 or absurdly large are errors, not guesses.
#[test]
fn binary_and_huge_files_are_errors() {
    let dir = folder_with_minimal();
    let binary = dir.path().join("b.yaml");
    fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let huge = dir.path().join("h.yaml");
    let file = fs::File::create(&huge).expect("create");
    file.set_len(flotilla_fleet::MAX_FILE_BYTES + 1)
        .expect("grow");
    assert_eq!(
        load_error(dir.path()),
        format!(
            "{}: is not UTF-8 text\n{}: is larger than 16 MiB, too large for a fleet spec",
            binary.display(),
            huge.display()
        )
    );
}

/// An unreadable file is an error naming it (skipped when running as root,
/// which reads it anyway).
#[cfg(unix)]
#[test]
fn an_unreadable_file_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder_with_minimal();
    let locked = dir.path().join("locked.yaml");
    fs::write(&locked, "clusters: []\n").expect("write");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    if fs::read(&locked).is_ok() {
        eprintln!("skipped: this user reads mode-000 files (root)");
        return;
    }
    assert_eq!(
        load_error(dir.path()),
        format!("{}: cannot read: permission denied", locked.display())
    );
}

/// Each of these alone used to load and render a manifest the API server
/// (or the controller reading it) rejects; now each is an error at its line.
#[test]
fn numbers_out_of_range_do_not_load() {
    for (setting, line) in [
        ("ingress: { replicas: 4294967295 }", "replicas"),
        ("ingress: { replicas: 2147483648 }", "replicas"),
        ("git: { interval: 5000000000h }", "interval"),
        (
            "git: { kustomizationInterval: 0s }",
            "kustomizationInterval",
        ),
        ("kured: { period: 2562048h }", "period"),
        (
            "kured: { startTime: \"02:00\", endTime: \"02:00\" }",
            "endTime",
        ),
        ("auditor: { interval: 106752d }", "interval"),
        ("policies: { maxCpu: \"0\" }", "maxCpu"),
        ("policies: { maxMemory: 1e30 }", "maxMemory"),
        ("images: { registry: \"acr.contoso.com:0\" }", "registry"),
    ] {
        let spec = MINIMAL.replace(
            "region: eastus2 }",
            &format!("region: eastus2, {setting} }}"),
        );
        let err = load_str("ranges.yaml", &spec)
            .expect_err(setting)
            .to_string();
        assert_eq!(err.lines().count(), 1, "{setting}: {err}");
        assert!(err.contains(line), "{setting}: {err}");
    }
}
