//! Hearing about a run over many clusters as it goes.
//!
//! `audit --targets` and `preview` run every cluster concurrently and print
//! nothing until the last one is done; on a large fleet that is minutes of
//! silence. [`audit_all_with`](crate::audit::audit_all_with) and
//! [`preview_all_with`](crate::preview::run::preview_all_with) tell a
//! [`Progress`] when the run starts and as each cluster ends; how that is
//! shown (a redrawn line on a terminal, one final line in a CI log) is the
//! binary's business, so the library stays free of terminal handling.

/// Told when a run starts and as each cluster of it ends. Called from the
/// run's tasks, concurrently: implementations synchronise themselves.
pub trait Progress: Sync {
    /// The run is about to audit or preview this many clusters.
    fn start(&self, clusters: usize) {
        let _ = clusters;
    }

    /// One cluster is done; `failed` when it could not be (fully) audited,
    /// or its preview fails.
    fn finished(&self, cluster: &str, failed: bool) {
        let _ = (cluster, failed);
    }
}

/// Tells no one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
