//! Generation speed: `cargo bench -p flotilla-bootstrap --bench generate`.
//!
//! For synthetic fleets of 10, 100 and 1,000 clusters (two thirds aks, one
//! third aks-hybrid, two environments), prints one row per size:
//!
//! - load: `flotilla_fleet::load_str` of the generated spec;
//! - render: fleet → tree;
//! - write: first plan + apply into an empty directory (every file written
//!   atomically: temp file, fsync, rename);
//! - rerun: plan of the same tree again, nothing to write (best of 3);
//! - total: load + render + write, the cost of a first bootstrap;
//! - noop: load + render + rerun, the cost of `flotilla bootstrap` (or
//!   `--check`) when nothing changed.
//!
//! Targets: 1,000 clusters in under 2 s total; a no-change re-run under 0.5 s.
//!
//! Files are written under `$FLOTILLA_BENCH_DIR` (default: the system temp
//! directory). The first write is bound by the file system's cost of
//! creating a file, so run it on the disk you care about, and on a tmpfs
//! (`FLOTILLA_BENCH_DIR=/dev/shm`) to see flotilla's own share.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use flotilla_bootstrap::render::render;
use flotilla_bootstrap::{Tree, apply, plan};

const SIZES: [usize; 3] = [10, 100, 1_000];
const RERUNS: usize = 3;

fn main() {
    let base = std::env::var_os("FLOTILLA_BENCH_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    println!("writing under {}", base.display());
    println!(
        "{:>8} {:>7} {:>8} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "clusters", "files", "load ms", "render ms", "write ms", "rerun ms", "total ms", "noop ms"
    );
    for clusters in SIZES {
        bench_size(clusters, &base);
    }
}

fn bench_size(clusters: usize, base: &std::path::Path) {
    let spec = fleet_spec(clusters);
    let (fleet, load) = timed(|| flotilla_fleet::load_str("bench.yaml", &spec));
    let fleet = fleet.unwrap_or_else(|e| panic!("generated fleet is invalid:\n{e}"));
    assert_eq!(fleet.clusters.len(), clusters);

    let (tree, render_time) = timed(|| render(&fleet));
    let out = tempfile::tempdir_in(base).expect("temp dir");
    let (summary, write) = timed(|| write_tree(&tree, out.path()));
    assert_eq!(
        summary.created,
        tree.len(),
        "first write creates every file"
    );

    let rerun = (0..RERUNS)
        .map(|_| {
            let (planned, took) = timed(|| plan(&tree, out.path()).expect("plan"));
            assert!(planned.is_up_to_date(), "re-run finds nothing to do");
            took
        })
        .min()
        .unwrap_or_default();

    println!(
        "{clusters:>8} {:>7} {:>8.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>8.1}",
        tree.len(),
        ms(load),
        ms(render_time),
        ms(write),
        ms(rerun),
        ms(load + render_time + write),
        ms(load + render_time + rerun),
    );
}

fn write_tree(tree: &Tree, root: &std::path::Path) -> flotilla_bootstrap::Summary {
    let planned = plan(tree, root).expect("plan");
    apply(&planned, tree, root).expect("apply")
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = std::hint::black_box(f());
    (value, start.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fleet like a real one at scale: shared defaults, kind and environment
/// layers, and per-cluster values (IPs, Key Vaults, identities, namespaces).
fn fleet_spec(clusters: usize) -> String {
    let mut s = String::from(
        r#"defaults:
  git: { url: "ssh://git@github.com/contoso/fleet-gitops", secretRef: flux-system }
  images: { registry: acraksbaseline01.azurecr.io }
  ingress: { domain: aks-ingress.contoso.com }
  secrets:
    tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f
    certificates: [{ objectName: traefik-ingress-internal-aks-ingress-tls, alias: tls.crt }]
kinds:
  aks:
    ingress: { nodeSelector: { agentpool: npuser01 }, loadBalancer: { subnet: snet-clusteringressservices }, upstreamCidrs: [10.240.5.0/24] }
  aks-hybrid:
    ingress: { replicas: 1, upstreamCidrs: [192.168.10.0/28], loadBalancer: { pool: store-ingress } }
    secrets: { servicePrincipalSecret: secrets-store-creds }
environments:
  production:
    policies: { mode: deny }
    kured: { rebootDays: [fri, sat, sun] }
  staging: {}
clusters:
"#,
    );
    for i in 0..clusters {
        let env = if i % 4 == 0 { "staging" } else { "production" };
        let ip = i % 250 + 1;
        if i % 3 == 2 {
            let _ = write!(
                s,
                "  - name: aksh-store-{i:04}\n    kind: aks-hybrid\n    environment: {env}\n    site: store-{i:04}\n    ingress: {{ loadBalancer: {{ ip: 192.168.10.{ip} }} }}\n    secrets: {{ keyvaultName: kv-store-{i:04} }}\n",
            );
        } else {
            let _ = write!(
                s,
                "  - name: aks-eus2-{i:04}\n    kind: aks\n    environment: {env}\n    region: eastus2\n    ingress:\n      replicas: 3\n      loadBalancer: {{ ip: 10.240.4.{ip} }}\n    secrets:\n      keyvaultName: kv-aks-{i:04}\n      workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-{i:012}\n",
            );
        }
    }
    s
}
