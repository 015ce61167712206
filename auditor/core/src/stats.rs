//! What an audit cost (`flotilla audit --stats`): per cluster the render,
//! live read and diff times, the API requests by verb and resource, and the
//! objects desired, live and compared; for the run the kustomize builds and
//! cache hits, the wall time and the process's peak memory.
//!
//! Kept apart from [`crate::findings::Report`] on purpose: timings differ
//! on every run, while a report must be reproducible (tests compare it, the
//! drift bot fingerprints it). The JSON printer adds a `stats` object only
//! when asked ([`crate::report::json::print_with_stats`]).
//!
//! Peak memory is the kernel's `VmHWM` (the resident set's high-water mark)
//! of the whole process from `/proc/self/status` (read by the audit): no crate reads it without
//! pulling in a system-information library for one line of one file, and it
//! is the figure the benches report.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

/// A whole `audit` run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStats {
    /// Wall time of the run, from the first render to the last diff (ms).
    pub wall_ms: f64,
    /// kustomize builds run (one per distinct path and Kustomization fields
    /// and revision; shared by all clusters of the run).
    pub kustomize_builds: u64,
    /// Builds answered from the run's cache instead of kustomize.
    pub kustomize_cache_hits: u64,
    /// Peak resident memory of the process (`VmHWM`), in bytes; absent
    /// where the system does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// One entry per cluster, in the report's order.
    pub clusters: Vec<ClusterStats>,
}

/// One cluster's audit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStats {
    /// Cluster name.
    pub cluster: String,
    /// Rendering Git's desired state, kustomize included (ms); absent when
    /// the audit stopped before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_ms: Option<f64>,
    /// Reading live state: discovery and LISTs, or the snapshot (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_read_ms: Option<f64>,
    /// The diff, `reverts` included (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_ms: Option<f64>,
    /// API requests made (0 for a snapshot); a LIST of N pages counts N.
    pub requests: u64,
    /// The same requests by verb and resource, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests_by: Vec<RequestCount>,
    /// Objects rendered, read and compared.
    pub objects: ObjectCounts,
}

/// Requests of one verb on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequestCount {
    /// `get`, `list` or `watch`.
    pub verb: String,
    /// `discovery`, `openapi`, or a resource (`pods`, `deployments.apps`).
    pub resource: String,
    /// How many.
    pub count: u64,
}

/// How many objects an audit handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ObjectCounts {
    /// Objects Git declares (rendered).
    pub desired: u64,
    /// Objects read live.
    pub live: u64,
    /// Desired objects found live and compared field by field (not those
    /// Flux is told to leave alone).
    pub compared: u64,
}

impl ClusterStats {
    /// Set the request counts from a live read's `(verb, resource)` map.
    pub fn set_requests(&mut self, total: u64, by: &BTreeMap<(String, String), u64>) {
        self.requests = total;
        self.requests_by = by
            .iter()
            .map(|((verb, resource), count)| RequestCount {
                verb: verb.clone(),
                resource: resource.clone(),
                count: *count,
            })
            .collect();
    }
}

/// A duration in milliseconds, to a tenth.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The peak resident memory (`VmHWM`) in bytes, from the text of
/// `/proc/self/status` (the audit reads the file: this crate does no I/O).
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kb: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kb.checked_mul(1024)
}

/// The `--stats` block for a terminal (written to stderr, so the report on
/// stdout stays what it was):
///
/// ```text
/// stats: 1 cluster in 2.41 s; kustomize 6 builds, 0 cache hits; peak memory 41.2 MiB
///   aks-eastus2-01: render 1.83 s, live read 0.21 s, diff 12.3 ms; objects 57 desired, 289 live, 55 compared
///     31 requests: get discovery 2, list configmaps 1, list deployments.apps 1, …
/// ```
pub fn print_text(stats: &RunStats, w: &mut dyn Write) -> io::Result<()> {
    let n = stats.clusters.len();
    let mut head = format!(
        "stats: {n} cluster{} in {}; kustomize {} builds, {} cache hits",
        if n == 1 { "" } else { "s" },
        time(stats.wall_ms),
        stats.kustomize_builds,
        stats.kustomize_cache_hits
    );
    if let Some(bytes) = stats.peak_memory_bytes {
        head.push_str(&format!(
            "; peak memory {:.1} MiB",
            bytes as f64 / 1_048_576.0
        ));
    }
    writeln!(w, "{head}")?;
    for c in &stats.clusters {
        let step = |name: &str, t: Option<f64>| match t {
            Some(t) => format!("{name} {}", time(t)),
            None => format!("{name} -"),
        };
        writeln!(
            w,
            "  {}: {}, {}, {}; objects {} desired, {} live, {} compared",
            crate::report::text::clean(&c.cluster),
            step("render", c.render_ms),
            step("live read", c.live_read_ms),
            step("diff", c.diff_ms),
            c.objects.desired,
            c.objects.live,
            c.objects.compared
        )?;
        let by: Vec<String> = c
            .requests_by
            .iter()
            .map(|r| format!("{} {} {}", r.verb, r.resource, r.count))
            .collect();
        match c.requests {
            0 => writeln!(w, "    0 requests (snapshot)")?,
            n => writeln!(w, "    {n} requests: {}", by.join(", "))?,
        }
    }
    Ok(())
}

/// `12.3 ms` below a second, `2.41 s` above.
fn time(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\tflotilla\nVmPeak:\t  200 kB\nVmHWM:\t   41236 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(41236 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 1 kB"), None);
    }

    #[test]
    fn the_text_block_names_every_figure() {
        let mut by = BTreeMap::new();
        by.insert(("get".to_owned(), "discovery".to_owned()), 2);
        by.insert(("list".to_owned(), "deployments.apps".to_owned()), 1);
        let mut c = ClusterStats {
            cluster: "c1".into(),
            render_ms: Some(1830.0),
            live_read_ms: Some(210.4),
            diff_ms: Some(12.3),
            objects: ObjectCounts {
                desired: 57,
                live: 289,
                compared: 55,
            },
            ..ClusterStats::default()
        };
        c.set_requests(3, &by);
        let stats = RunStats {
            wall_ms: 2410.0,
            kustomize_builds: 6,
            kustomize_cache_hits: 0,
            peak_memory_bytes: Some(41236 * 1024),
            clusters: vec![c],
        };
        let mut out = Vec::new();
        print_text(&stats, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "stats: 1 cluster in 2.41 s; kustomize 6 builds, 0 cache hits; peak memory 40.3 MiB\n\
             \x20 c1: render 1.83 s, live read 210.4 ms, diff 12.3 ms; objects 57 desired, 289 live, 55 compared\n\
             \x20   3 requests: get discovery 2, list deployments.apps 1\n"
        );
    }
}
