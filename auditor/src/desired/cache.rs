//! A cache of kustomize builds, keyed by commit and what was built.
//!
//! A fleet repository is rendered once per cluster and, by the service, once
//! per cycle; many clusters share component paths (`infrastructure/ingress`
//! with the same overlay fields), and a commit's tree never changes. So a
//! build is identified by (commit, path, overlay fields) and done once. The
//! cache is shared between threads (`Arc<RenderCache>`); without a commit
//! (a working tree) nothing is cached, since files may change.

use super::error::Result;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What identifies one kustomize build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Commit hex of the repository tree.
    pub commit: String,
    /// Repository-relative path built.
    pub path: String,
    /// [`super::kustomize::Overlay::fingerprint`] of the Kustomization's fields.
    pub overlay: String,
}

/// Thread-safe store of kustomize output by [`CacheKey`].
#[derive(Debug, Default)]
pub struct RenderCache {
    entries: Mutex<HashMap<CacheKey, Arc<str>>>,
    builds: AtomicU64,
    hits: AtomicU64,
}

impl RenderCache {
    /// An empty cache.
    pub fn new() -> RenderCache {
        RenderCache::default()
    }

    /// The cached output for `key`, or the output of `build` (stored when it
    /// succeeds and `key` is given). Failures are not cached: the next cycle
    /// retries them.
    pub fn get_or_build(
        &self,
        key: Option<CacheKey>,
        build: impl FnOnce() -> Result<String>,
    ) -> Result<Arc<str>> {
        if let Some(found) = key.as_ref().and_then(|k| self.lock().get(k).cloned()) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let output: Arc<str> = build()?.into();
        if let Some(key) = key {
            self.lock().insert(key, output.clone());
        }
        Ok(output)
    }

    /// How many kustomize builds ran through this cache.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// How many builds were answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Number of stored builds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every build of another commit, so a long-running service keeps
    /// only what the current commit can reuse.
    pub fn retain_commit(&self, commit: &str) {
        self.lock().retain(|k, _| k.commit == commit);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<str>>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (single insert), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(commit: &str) -> Option<CacheKey> {
        Some(CacheKey {
            commit: commit.into(),
            path: "p".into(),
            overlay: "{}".into(),
        })
    }

    #[test]
    fn second_build_of_a_key_is_a_hit_and_retain_drops_other_commits() {
        let cache = RenderCache::new();
        let a = cache.get_or_build(key("c1"), || Ok("out".into())).unwrap();
        let b = cache
            .get_or_build(key("c1"), || panic!("must not rebuild"))
            .unwrap();
        assert_eq!((&*a, &*b), ("out", "out"));
        assert_eq!((cache.builds(), cache.hits()), (1, 1));
        cache.get_or_build(key("c2"), || Ok("x".into())).unwrap();
        cache.retain_commit("c2");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn without_a_commit_nothing_is_stored() {
        let cache = RenderCache::new();
        cache.get_or_build(None, || Ok("out".into())).unwrap();
        cache.get_or_build(None, || Ok("out".into())).unwrap();
        assert_eq!((cache.builds(), cache.len()), (2, 0));
    }
}
