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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// One gate per key being built, so two threads asking for the same
    /// build at once run kustomize once (the second waits, then hits).
    in_flight: Mutex<HashMap<CacheKey, Arc<Mutex<()>>>>,
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
        let Some(key) = key else {
            self.builds.fetch_add(1, Ordering::Relaxed);
            return Ok(build()?.into());
        };
        if let Some(found) = self.lookup(&key) {
            return Ok(found);
        }
        let gate = lock(&self.in_flight)
            .entry(key.clone())
            .or_default()
            .clone();
        let _building = lock(&gate);
        if let Some(found) = self.lookup(&key) {
            return Ok(found);
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let result = build().map(Arc::<str>::from);
        if let Ok(output) = &result {
            lock(&self.entries).insert(key.clone(), output.clone());
        }
        lock(&self.in_flight).remove(&key);
        result
    }

    fn lookup(&self, key: &CacheKey) -> Option<Arc<str>> {
        let found = lock(&self.entries).get(key).cloned();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
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
        lock(&self.entries).len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every build of another commit, so a long-running service keeps
    /// only what the current commit can reuse.
    pub fn retain_commit(&self, commit: &str) {
        lock(&self.entries).retain(|k, _| k.commit == commit);
    }
}

/// A panic while holding one of these locks cannot leave the data
/// inconsistent (single inserts and removals), so a poisoned lock is usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    fn concurrent_requests_for_one_key_build_once() {
        let cache = RenderCache::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    cache
                        .get_or_build(key("c1"), || {
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok("out".into())
                        })
                        .unwrap()
                });
            }
        });
        assert_eq!((cache.builds(), cache.hits()), (1, 3));
    }

    #[test]
    fn without_a_commit_nothing_is_stored() {
        let cache = RenderCache::new();
        cache.get_or_build(None, || Ok("out".into())).unwrap();
        cache.get_or_build(None, || Ok("out".into())).unwrap();
        assert_eq!((cache.builds(), cache.len()), (2, 0));
    }
}
