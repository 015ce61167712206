//! The generated repository as a value: relative path → file contents.
//!
//! Rendering produces a [`Tree`]; planning compares it with the disk. Keeping
//! the tree a plain ordered map makes output deterministic by construction.

use std::collections::BTreeMap;

/// A generated file tree. Keys are `/`-separated paths relative to the
/// repository root (never absolute, never `..`); values are full file
/// contents including the generated-file header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, String>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a file.
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.files.insert(path.into(), contents.into());
    }

    /// Contents of `path`, if generated.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Files in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree has no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Move every file of `other` into this tree.
    pub fn extend(&mut self, other: Tree) {
        self.files.extend(other.files);
    }
}
