//! What renders share: staged trees, kustomize builds and the slots
//! kustomize processes run in.
//!
//! A fleet repository is rendered once per cluster and, by the service, once
//! per cycle; many clusters share component paths (`infrastructure/ingress`
//! with the same overlay fields), and a commit's tree never changes. So one
//! [`RenderCache`] serves a whole `audit` run (every cluster), a whole
//! `preview` (both revisions, every cluster) and `flotilla serve` across
//! cycles (dropping other commits when the commit changes):
//!
//! - one [`Stage`] per tree: per commit, or — for a working tree without
//!   one — per repository folder for the cache's lifetime (the stage is a
//!   copy, immutable for the run, whatever happens to the folder);
//! - one build per (tree, path, overlay fields, remote bases allowed),
//!   built once even when several renders ask at the same moment;
//! - at most `parallelism` kustomize processes at once across every render
//!   sharing the cache (default: the available cores), so clusters rendered
//!   concurrently share the cores instead of each taking them all;
//! - the threads builds run on: a rayon pool of `parallelism` threads owned
//!   by the cache ([`RenderCache::spawn`]), so a render queues its builds
//!   instead of starting a thread per build. The pool is the cache's own,
//!   not rayon's global one: builds block on kustomize processes and on each
//!   other's gates, which must never hold up the CPU-bound work that uses
//!   the global pool.

use super::error::Result;
use super::kustomize::Built;
use super::stage::Stage;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// What identifies one kustomize build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The tree: a commit hex, or the id [`RenderCache::stage`] gave a working tree.
    pub commit: String,
    /// Repository-relative path built.
    pub path: String,
    /// [`super::kustomize::Overlay::fingerprint`] of the Kustomization's fields.
    pub overlay: String,
    /// Whether remote bases could be fetched.
    pub remote: bool,
}

/// Which tree a stage is a copy of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TreeKey {
    Commit(String),
    Folder(PathBuf),
}

/// One staged tree, made once (the gate keeps concurrent renders waiting
/// for the copy instead of making their own).
type StageGate = Arc<Mutex<Option<(Arc<Stage>, String)>>>;

/// Thread-safe store of stages and kustomize output.
#[derive(Debug)]
pub struct RenderCache {
    entries: Mutex<HashMap<CacheKey, Arc<Built>>>,
    /// One gate per key being built, so two threads asking for the same
    /// build at once run kustomize once (the second waits, then hits).
    in_flight: Mutex<HashMap<CacheKey, Arc<Mutex<()>>>>,
    stages: Mutex<HashMap<TreeKey, StageGate>>,
    slots: Slots,
    parallelism: usize,
    /// Where builds run; `None` when the pool's threads could not be made
    /// (builds then queue on rayon's global pool).
    pool: Option<rayon::ThreadPool>,
    builds: AtomicU64,
    hits: AtomicU64,
    folders: AtomicU64,
}

impl Default for RenderCache {
    fn default() -> Self {
        RenderCache::new()
    }
}

impl RenderCache {
    /// An empty cache running as many kustomize processes at once as there are cores.
    pub fn new() -> RenderCache {
        let cores = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        RenderCache::with_parallelism(cores)
    }

    /// An empty cache running at most `parallelism` kustomize processes at once.
    pub fn with_parallelism(parallelism: NonZeroUsize) -> RenderCache {
        RenderCache {
            entries: Mutex::default(),
            in_flight: Mutex::default(),
            stages: Mutex::default(),
            slots: Slots::new(parallelism.get()),
            parallelism: parallelism.get(),
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(parallelism.get())
                .thread_name(|i| format!("flotilla-build-{i}"))
                .build()
                .ok(),
            builds: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            folders: AtomicU64::new(0),
        }
    }

    /// kustomize processes run at once, at most.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Run `work` on one of the cache's build threads (it waits for a free
    /// one). `work` must not panic: a panic on a rayon thread aborts the
    /// process, so callers catch it and hand it back.
    pub(crate) fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        match &self.pool {
            Some(pool) => pool.spawn(work),
            None => rayon::spawn(work),
        }
    }

    /// The stage of `root` at `commit` (made on first use), and the tree id
    /// that keys its builds: the commit, or for a working tree an id of its own.
    pub fn stage(&self, root: &Path, commit: Option<&str>) -> Result<(Arc<Stage>, String)> {
        let key = match commit {
            Some(c) => TreeKey::Commit(c.to_owned()),
            None => {
                TreeKey::Folder(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()))
            }
        };
        let gate = lock(&self.stages).entry(key.clone()).or_default().clone();
        let mut slot = lock(&gate);
        if let Some((stage, tree)) = slot.as_ref() {
            return Ok((Arc::clone(stage), tree.clone()));
        }
        let stage = Arc::new(Stage::new(root)?);
        let tree = match key {
            TreeKey::Commit(c) => c,
            TreeKey::Folder(_) => {
                format!("folder:{}", self.folders.fetch_add(1, Ordering::Relaxed))
            }
        };
        *slot = Some((Arc::clone(&stage), tree.clone()));
        Ok((stage, tree))
    }

    /// The cached output for `key`, or the output of `build` (stored when it
    /// succeeds and `key` is given), run in one of the cache's kustomize
    /// slots. Failures are not cached: the next cycle retries them.
    pub fn get_or_build(
        &self,
        key: Option<CacheKey>,
        build: impl FnOnce() -> Result<Built>,
    ) -> Result<Arc<Built>> {
        let Some(key) = key else {
            self.builds.fetch_add(1, Ordering::Relaxed);
            let _slot = self.slots.acquire();
            return Ok(Arc::new(build()?));
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
        let result = {
            let _slot = self.slots.acquire();
            build().map(Arc::new)
        };
        if let Ok(output) = &result {
            lock(&self.entries).insert(key.clone(), Arc::clone(output));
        }
        lock(&self.in_flight).remove(&key);
        result
    }

    fn lookup(&self, key: &CacheKey) -> Option<Arc<Built>> {
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

    /// Number of staged trees held.
    pub fn stages(&self) -> usize {
        lock(&self.stages).len()
    }

    /// Drop every build and stage of another commit (and of working trees),
    /// so a long-running service keeps only what the current commit can
    /// reuse. A stage still used by a render is removed when that ends.
    pub fn retain_commit(&self, commit: &str) {
        lock(&self.entries).retain(|k, _| k.commit == commit);
        lock(&self.stages).retain(|k, _| matches!(k, TreeKey::Commit(c) if c == commit));
    }
}

/// A counting semaphore: kustomize processes running at once.
#[derive(Debug)]
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Slot<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

/// A held slot, given back on drop (also when the build panics).
struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.freed.notify_one();
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
    use std::sync::atomic::AtomicUsize;

    fn key(commit: &str) -> Option<CacheKey> {
        Some(CacheKey {
            commit: commit.into(),
            path: "p".into(),
            overlay: "{}".into(),
            remote: false,
        })
    }

    fn built(text: &str) -> Built {
        Built {
            output: text.into(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn second_build_of_a_key_is_a_hit_and_retain_drops_other_commits() {
        let cache = RenderCache::new();
        let a = cache.get_or_build(key("c1"), || Ok(built("out"))).unwrap();
        let b = cache
            .get_or_build(key("c1"), || panic!("must not rebuild"))
            .unwrap();
        assert_eq!((a.output.as_str(), b.output.as_str()), ("out", "out"));
        assert_eq!((cache.builds(), cache.hits()), (1, 1));
        cache.get_or_build(key("c2"), || Ok(built("x"))).unwrap();
        cache.retain_commit("c2");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn concurrent_requests_for_one_key_build_once() {
        let cache = RenderCache::new();
        let callers = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        callers.scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    cache
                        .get_or_build(key("c1"), || {
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok(built("out"))
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!((cache.builds(), cache.hits()), (1, 3));
    }

    #[test]
    fn without_a_key_nothing_is_stored() {
        let cache = RenderCache::new();
        cache.get_or_build(None, || Ok(built("out"))).unwrap();
        cache.get_or_build(None, || Ok(built("out"))).unwrap();
        assert_eq!((cache.builds(), cache.len()), (2, 0));
    }

    #[test]
    fn builds_never_exceed_the_slots() {
        let cache = RenderCache::with_parallelism(NonZeroUsize::new(2).unwrap());
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let callers = rayon::ThreadPoolBuilder::new()
            .num_threads(8)
            .build()
            .unwrap();
        callers.scope(|s| {
            for i in 0..8 {
                let (cache, running, most) = (&cache, &running, &most);
                s.spawn(move |_| {
                    cache
                        .get_or_build(key(&format!("c{i}")), || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(built("x"))
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn one_stage_per_commit_and_per_working_tree() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("a.yaml"), "a: 1\n").unwrap();
        let cache = RenderCache::new();
        let (s1, t1) = cache.stage(repo.path(), Some("abc")).unwrap();
        let (s2, t2) = cache.stage(repo.path(), Some("abc")).unwrap();
        assert!(Arc::ptr_eq(&s1, &s2));
        assert_eq!((t1.as_str(), t2.as_str()), ("abc", "abc"));
        let (w1, f1) = cache.stage(repo.path(), None).unwrap();
        let (w2, f2) = cache.stage(repo.path(), None).unwrap();
        assert!(Arc::ptr_eq(&w1, &w2) && f1 == f2 && f1.starts_with("folder:"));
        cache.retain_commit("def");
        assert_eq!(cache.stages(), 0);
    }

    /// Builds handed to [`RenderCache::spawn`] run on the cache's own
    /// threads, at most `parallelism` at once.
    #[test]
    fn spawned_builds_run_on_the_cache_threads() {
        let cache = Arc::new(RenderCache::with_parallelism(NonZeroUsize::new(2).unwrap()));
        let (sender, done) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let sender = sender.clone();
            cache.spawn(move || {
                let name = std::thread::current().name().map(str::to_owned);
                sender.send(name).unwrap();
            });
        }
        for _ in 0..4 {
            let name = done.recv().unwrap().unwrap_or_default();
            assert!(name.starts_with("flotilla-build-"), "{name}");
        }
    }
}
