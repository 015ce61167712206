//! Loading and validating a large fleet: `cargo bench -p flotilla-fleet`.
//!
//! Prints the time to load a generated 1,000-cluster spec (two thirds aks,
//! one third aks-hybrid, two environments, per-cluster overrides) from text,
//! best and median of several runs. The target is well under a second.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

const CLUSTERS: usize = 1_000;
const RUNS: usize = 15;

fn main() {
    let spec = fleet_spec(CLUSTERS);
    let fleet = flotilla_fleet::load_str("bench.yaml", &spec).expect("generated fleet is valid");
    assert_eq!(fleet.clusters.len(), CLUSTERS);

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let fleet = flotilla_fleet::load_str("bench.yaml", &spec).expect("valid");
            let elapsed = start.elapsed();
            std::hint::black_box(fleet);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "fleet/load_str: {CLUSTERS} clusters, {} KiB of YAML: best {:.1} ms, median {:.1} ms ({RUNS} runs)",
        spec.len() / 1024,
        ms(times[0]),
        ms(times[RUNS / 2]),
    );

    let broken = spec.replace("replicas: 3", "replicas: three");
    let start = Instant::now();
    let errors = flotilla_fleet::load_str("bench.yaml", &broken).expect_err("invalid");
    println!(
        "fleet/load_str with {} errors: {:.1} ms",
        errors.len(),
        ms(start.elapsed())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fleet_spec(clusters: usize) -> String {
    let mut s = String::from(
        r#"defaults:
  git: { url: "ssh://git@github.com/contoso/fleet-gitops", secretRef: flux-system }
  images: { registry: acraksbaseline01.azurecr.io }
  ingress: { domain: aks-ingress.contoso.com }
  secrets: { tenantId: 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f }
kinds:
  aks:
    ingress: { nodeSelector: { agentpool: npuser01 }, loadBalancer: { subnet: snet-clusteringressservices } }
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
        if i % 3 == 2 {
            let _ = write!(
                s,
                "  - name: aksh-store-{i:04}\n    kind: aks-hybrid\n    environment: {env}\n    site: store-{i:04}\n    ingress: {{ loadBalancer: {{ ip: 192.168.10.{} }} }}\n    secrets: {{ keyvaultName: kv-store-{i:04} }}\n",
                i % 250 + 1
            );
        } else {
            let _ = write!(
                s,
                "  - name: aks-eus2-{i:04}\n    kind: aks\n    environment: {env}\n    region: eastus2\n    ingress:\n      replicas: 3\n      loadBalancer: {{ ip: 10.240.4.{} }}\n    secrets:\n      keyvaultName: kv-aks-{i:04}\n      workloadIdentityClientId: 0e9d8c7b-6a5f-4e3d-8c2b-{i:012}\n    namespaces:\n      - {{ name: a0008, receivesIngress: true, quota: {{ requests.cpu: \"2\", limits.memory: 4Gi }} }}\n      - {{ name: cluster-baseline-settings, podSecurity: privileged }}\n",
                i % 250 + 1
            );
        }
    }
    s
}
