//! User ignore rules: fields a team has decided are not drift.
//!
//! The file is a YAML list; unknown fields are errors, so a typo cannot
//! silently ignore nothing (or everything):
//!
//! ```yaml
//! - kind: Deployment
//!   group: apps                 # optional; "" is the core group
//!   namespace: a0008            # optional
//!   name: "traefik-*"           # optional glob: * and ?
//!   paths:                      # RFC 6901 pointers into the live object;
//!     - /spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt
//!     - /spec/template/spec/containers/*/image   # * matches one list index
//! - kind: Secret                # no paths: the whole object is ignored
//!   namespace: a0008            # (not reported as unmanaged, missing,
//!   name: "cert-*"              # modified, or by Flux health)
//! - kind: "*"                   # kind is a glob too
//!   managers: [my-injector]     # items these field managers add to lists
//!                               # Git defines are not drift (here: in any
//!                               # object); `paths` narrow it further
//! ```
//!
//! A path also covers everything below it. A rule with `managers` only
//! excuses items those managers added (beside the built-in
//! [`super::ownership::KNOWN_WRITERS`]); it never ignores a whole object.

use super::keyed_path::pointer_tokens;
use crate::object::ObjectKey;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Errors reading an ignore file.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// The file could not be read.
    #[error("cannot read ignore file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is not a list of rules (the message carries line and column).
    #[error("invalid ignore file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser error, with its location (boxed: it is large).
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A path is not a JSON pointer.
    #[error(
        "invalid ignore file {path}: rule {rule} ({kind}): path {pointer:?} must start with '/'"
    )]
    Pointer {
        /// The file.
        path: PathBuf,
        /// 1-based rule number.
        rule: usize,
        /// The rule's kind.
        kind: String,
        /// The offending path.
        pointer: String,
    },
}

/// One rule, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// Kind, a glob (`*`, `?`); exact in practice.
    pub kind: String,
    /// API group; any group when absent.
    #[serde(default)]
    pub group: Option<String>,
    /// Namespace; any when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name glob (`*`, `?`); any when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// JSON pointers; `*` matches any single token. Empty or absent: the
    /// whole object.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Field managers whose additions to lists Git defines are not drift in
    /// the matching objects (under `paths`, when given).
    #[serde(default)]
    pub managers: Vec<String>,
}

/// A set of ignore rules; empty by default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IgnoreRules {
    /// The rules, in file order.
    pub rules: Vec<IgnoreRule>,
}

impl IgnoreRules {
    /// Read and check an ignore file.
    pub fn load(path: &Path) -> Result<IgnoreRules, IgnoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| IgnoreError::Read {
            path: path.to_owned(),
            source,
        })?;
        IgnoreRules::parse(&text, path)
    }

    /// Parse ignore rules from YAML text; `path` names the origin in errors.
    pub fn parse(text: &str, path: &Path) -> Result<IgnoreRules, IgnoreError> {
        let rules: Option<Vec<IgnoreRule>> =
            serde_saphyr::from_str(text).map_err(|source| IgnoreError::Parse {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        let rules = rules.unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            if let Some(bad) = rule.paths.iter().find(|p| !p.starts_with('/')) {
                return Err(IgnoreError::Pointer {
                    path: path.to_owned(),
                    rule: i + 1,
                    kind: rule.kind.clone(),
                    pointer: bad.clone(),
                });
            }
        }
        Ok(IgnoreRules { rules })
    }

    /// Whether the field at `pointer` (live) of the object `key` is ignored.
    pub fn ignores(&self, key: &ObjectKey, pointer: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.managers.is_empty() && rule.applies_to(key) && rule.covers(pointer))
    }

    /// Whether the whole object is ignored (a matching rule without paths).
    pub fn ignores_object(&self, key: &ObjectKey) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.paths.is_empty() && rule.managers.is_empty() && rule.applies_to(key))
    }

    /// Whether an item `manager` added at `pointer` (live) of the object
    /// `key` is excused by a rule naming that manager.
    pub fn excuses(&self, key: &ObjectKey, pointer: &str, manager: &str) -> bool {
        self.rules.iter().any(|rule| {
            rule.managers.iter().any(|m| m == manager)
                && rule.applies_to(key)
                && rule.covers(pointer)
        })
    }
}

impl IgnoreRule {
    fn covers(&self, pointer: &str) -> bool {
        self.paths.is_empty() || self.paths.iter().any(|p| pointer_covers(p, pointer))
    }

    fn applies_to(&self, key: &ObjectKey) -> bool {
        glob_matches(&self.kind, &key.kind)
            && self.group.as_ref().is_none_or(|g| *g == key.group)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| key.namespace.as_ref() == Some(ns))
            && self
                .name
                .as_ref()
                .is_none_or(|glob| glob_matches(glob, &key.name))
    }
}

/// Whether `pattern` (tokens may be `*`) equals `pointer` or is an ancestor.
pub fn pointer_covers(pattern: &str, pointer: &str) -> bool {
    let want = pointer_tokens(pattern);
    let have = pointer_tokens(pointer);
    want.len() <= have.len() && want.iter().zip(&have).all(|(w, h)| w == "*" || w == h)
}

/// Shell-style glob with `*` (any run) and `?` (one character).
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: "apps".into(),
            kind: kind.into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }
    }

    #[test]
    fn rules_match_kind_namespace_glob_and_wildcard_index() {
        let rules = IgnoreRules::parse(
            "- kind: Deployment\n  group: apps\n  name: \"traefik-*\"\n  paths: [/spec/template/spec/containers/*/image]\n",
            Path::new("ignore.yaml"),
        )
        .unwrap();
        let k = key("Deployment", "a0008", "traefik-ingress");
        assert!(rules.ignores(&k, "/spec/template/spec/containers/3/image"));
        assert!(!rules.ignores(&k, "/spec/template/spec/containers/3/args"));
        assert!(!rules.ignores(
            &key("Deployment", "a0008", "kured"),
            "/spec/template/spec/containers/0/image"
        ));
        assert!(!rules.ignores(
            &key("DaemonSet", "a0008", "traefik-x"),
            "/spec/template/spec/containers/0/image"
        ));
    }

    #[test]
    fn rules_without_paths_ignore_whole_objects() {
        let rules =
            IgnoreRules::parse("- kind: Deployment\n  name: tmp-*\n", Path::new("i.yaml")).unwrap();
        assert!(rules.ignores_object(&key("Deployment", "x", "tmp-1")));
        assert!(rules.ignores(&key("Deployment", "x", "tmp-1"), "/spec"));
        assert!(!rules.ignores_object(&key("Deployment", "x", "web")));
    }

    #[test]
    fn manager_rules_excuse_additions_only() {
        let rules = IgnoreRules::parse(
            "- kind: \"*\"\n  managers: [my-injector]\n  paths: [/spec/template]\n",
            Path::new("i.yaml"),
        )
        .unwrap();
        let k = key("Deployment", "x", "web");
        assert!(rules.excuses(&k, "/spec/template/spec/containers/1", "my-injector"));
        assert!(!rules.excuses(&k, "/spec/template/spec/containers/1", "kubectl-edit"));
        assert!(!rules.excuses(&k, "/metadata/labels/x", "my-injector"));
        assert!(!rules.ignores(&k, "/spec/template/spec/containers/1"));
        assert!(!rules.ignores_object(&k));
    }

    #[test]
    fn ancestors_cover_descendants() {
        assert!(pointer_covers(
            "/metadata/annotations",
            "/metadata/annotations/a~1b"
        ));
        assert!(!pointer_covers(
            "/metadata/annotations/x",
            "/metadata/annotations"
        ));
    }

    #[test]
    fn unknown_fields_and_bad_pointers_are_errors() {
        let err =
            IgnoreRules::parse("- kind: X\n  pathz: [/a]\n", Path::new("i.yaml")).unwrap_err();
        assert!(matches!(err, IgnoreError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("i.yaml"));
        let err =
            IgnoreRules::parse("- kind: X\n  paths: [spec]\n", Path::new("i.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ignore file i.yaml: rule 1 (X): path \"spec\" must start with '/'"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*c", "abbbc"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "abbc"));
        assert!(!glob_matches("traefik-*", "kured"));
        assert!(glob_matches("exact", "exact"));
    }

    #[test]
    fn empty_file_is_no_rules() {
        assert_eq!(
            IgnoreRules::parse("", Path::new("e.yaml")).unwrap(),
            IgnoreRules::default()
        );
    }
}
