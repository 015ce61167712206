//! Benchmark: the diff engine on a large synthetic cluster, and the printers
//! on its findings. Prints figures; asserts nothing about time.
//!
//! `cargo bench -p flotilla-auditor --bench diff` (release). Goal: 10 000
//! objects diffed in well under a second of CPU.
//!
//! The cluster: 100 governed namespaces, each with 25 Deployments (two
//! containers, env, ports, resources in non-canonical quantities, an HPA on
//! every fifth), 50 ConfigMaps and 25 Services, all with `managedFields`
//! like a real server's; 1% of objects drifted, a few hand-made extras.

use flotilla_core::diff::{DiffOptions, diff};
use flotilla_core::findings::{ClusterReport, REPORT_VERSION, Report};
use flotilla_core::report::{json, markdown, text};
use flotilla_live::Live;
use flotilla_render::{Desired, DesiredObject, KustomizationRef};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

const NAMESPACES: usize = 100;
const DEPLOYMENTS: usize = 25;
const CONFIGMAPS: usize = 50;
const SERVICES: usize = 25;

fn managed(manager: &str, fields: Value) -> Value {
    json!([{"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields, "manager": manager,
            "operation": "Apply", "time": "2026-11-20T09:00:00Z"}])
}

fn deployment(ns: &str, i: usize, live: bool, drift: bool) -> Value {
    let name = format!("app-{i}");
    let image = if drift {
        "registry/app:2.0"
    } else {
        "registry/app:1.0"
    };
    let (cpu, memory) = if live {
        ("500m", "1Gi")
    } else {
        ("0.5", "1024Mi")
    };
    let mut container = json!({
        "name": "app", "image": image,
        "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": "2", "memory": memory}}
    });
    let mut obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [container.clone(),
                                  {"name": "proxy", "image": "envoy:1.30", "args": ["--port", "9901"]}]}}}
    });
    if live {
        container["ports"][0]["protocol"] = json!("TCP");
        container["terminationMessagePath"] = json!("/dev/termination-log");
        obj["spec"]["template"]["spec"]["containers"] = json!([{"name": "proxy", "image": "envoy:1.30", "args": ["--port", "9901"]}, container]);
        obj["spec"]["replicas"] = json!(if i.is_multiple_of(5) { 4 } else { 2 });
        obj["metadata"]["uid"] = json!(format!("{ns}-{i}"));
        obj["metadata"]["managedFields"] = managed(
            "kustomize-controller",
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}}}}}}}),
        );
        obj["status"] = json!({"replicas": 2, "readyReplicas": 2});
    }
    obj
}

fn hpa(ns: &str, i: usize) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": format!("app-{i}"), "namespace": ns},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("app-{i}")},
                    "minReplicas": 2, "maxReplicas": 6}})
}

fn configmap(ns: &str, i: usize, live: bool, drift: bool) -> Value {
    let body: String = (0..40).map(|l| format!("key{l} = value{l}\n")).collect();
    let body = if drift {
        body.replace("value20", "changed")
    } else {
        body
    };
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": format!("config-{i}"), "namespace": ns},
                         "data": {"app.conf": body, "mode": "prod"}});
    if live {
        obj["metadata"]["managedFields"] = managed(
            "kustomize-controller",
            json!({"f:data": {"f:app.conf": {}, "f:mode": {}}}),
        );
    }
    obj
}

fn service(ns: &str, i: usize, live: bool) -> Value {
    let mut port = json!({"name": "http", "port": 80, "targetPort": 8080});
    if live {
        port["protocol"] = json!("TCP");
    }
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": format!("svc-{i}"), "namespace": ns},
           "spec": {"selector": {"app": format!("app-{i}")}, "ports": [port]}})
}

fn cluster() -> (Desired, Live) {
    let ks = KustomizationRef {
        namespace: "flux-system".into(),
        name: "apps".into(),
    };
    let mut desired = Vec::new();
    let mut live = Vec::new();
    let mut n = 0usize;
    let mut drift = || {
        n += 1;
        n.is_multiple_of(100)
    };
    for ns_i in 0..NAMESPACES {
        let ns = format!("team-{ns_i}");
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        desired.push(namespace.clone());
        live.push(namespace);
        for i in 0..DEPLOYMENTS {
            desired.push(deployment(&ns, i, false, false));
            live.push(deployment(&ns, i, true, drift()));
            if i.is_multiple_of(5) {
                desired.push(hpa(&ns, i));
                live.push(hpa(&ns, i));
            }
        }
        for i in 0..CONFIGMAPS {
            desired.push(configmap(&ns, i, false, false));
            live.push(configmap(&ns, i, true, drift()));
        }
        for i in 0..SERVICES {
            desired.push(service(&ns, i, false));
            live.push(service(&ns, i, true));
        }
        let mut extra = configmap(&ns, 999, true, false);
        extra["metadata"]["managedFields"][0]["manager"] = json!("kubectl-create");
        live.push(extra);
    }
    let objects = desired
        .into_iter()
        .map(|object| DesiredObject {
            object,
            kustomization: Some(ks.clone()),
        })
        .collect();
    (
        Desired {
            objects,
            ..Desired::default()
        },
        Live {
            objects: live,
            ..Live::default()
        },
    )
}

/// CPU time of this thread so far (Linux `schedstat`), when available: the
/// goal is about CPU, and the build machine is shared, so wall time alone
/// would measure the neighbours.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Best of `rounds`: (wall, CPU if known, last result).
fn time<T>(rounds: u32, mut f: impl FnMut() -> T) -> (Duration, Option<Duration>, T) {
    let mut best = Duration::MAX;
    let mut best_cpu: Option<Duration> = None;
    let mut out = None;
    for _ in 0..rounds {
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        let value = black_box(f());
        best = best.min(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu()) {
            let cpu = b.saturating_sub(a);
            best_cpu = Some(best_cpu.map_or(cpu, |c| c.min(cpu)));
        }
        out = Some(value);
    }
    (best, best_cpu, out.expect("at least one round"))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".to_owned(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    )
}

fn main() {
    let (desired, live) = cluster();
    let opts = DiffOptions::default();
    let (took, cpu, findings) = time(5, || diff(&desired, &live, &opts));
    println!(
        "diff: {} desired, {} live objects -> {} findings: wall {}, cpu {} (best of 5)",
        desired.objects.len(),
        live.objects.len(),
        findings.len(),
        ms(Some(took)),
        ms(cpu)
    );
    let report = Report {
        version: REPORT_VERSION,
        clusters: vec![ClusterReport {
            cluster: "bench".into(),
            revision: Some("main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93".into()),
            findings,
            ..ClusterReport::default()
        }],
    };
    type Printer = fn(&Report, &mut Vec<u8>);
    let printers: [(&str, Printer); 3] = [
        ("text", |r, w| text::print(r, w, true).unwrap()),
        ("json", |r, w| json::print(r, w).unwrap()),
        ("markdown", |r, w| markdown::print(r, w).unwrap()),
    ];
    for (name, print) in printers {
        let (took, _, bytes) = time(5, || {
            let mut out = Vec::new();
            print(&report, &mut out);
            out.len()
        });
        println!(
            "{name}: {bytes} bytes in {:.2} ms",
            took.as_secs_f64() * 1000.0
        );
    }
}
