//! What can be wrong with a fleet spec, and where.
//!
//! Loading never stops at the first problem: every [`Diagnostic`] found in
//! every file is collected into one [`SpecErrors`], so a platform engineer
//! fixes a whole spec in one round instead of one error per run.
//!
//! Messages never repeat a value that could be a secret: names of Secrets are
//! checked without echoing them, and type errors name the kind of value found,
//! not its text.

use std::fmt;

/// Problems found while loading a fleet spec, one line each when displayed,
/// sorted by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors {
    diagnostics: Vec<Diagnostic>,
}

impl SpecErrors {
    /// Sorts the diagnostics and folds identical ones (the same inherited value
    /// breaking several clusters) into one line naming every cluster.
    pub(crate) fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut folded: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
        for d in diagnostics {
            match folded.last_mut() {
                Some(last) if last.same_place_and_problem(&d) => {
                    for c in d.clusters {
                        if !last.clusters.contains(&c) {
                            last.clusters.push(c);
                        }
                    }
                }
                _ => folded.push(d),
            }
        }
        SpecErrors {
            diagnostics: folded,
        }
    }

    /// Every diagnostic, sorted by file, line and column.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    /// Always false for an error returned by [`crate::load`]; present for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// How many inheriting clusters a message names before it only counts them,
/// so a bad default in a 1,000-cluster fleet stays one readable line.
const MAX_NAMED: usize = 5;

/// One problem at one place: `file:line:column: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec file, as the caller named it (or `dir/file.yaml` for a folder).
    pub file: String,
    /// 1-based line; 0 when the problem is the file itself (e.g. unreadable).
    pub line: u32,
    /// 1-based column; 0 when the problem is the file itself.
    pub column: u32,
    /// Field path in the spec, e.g. `clusters[2].ingress.loadBalancer.subnet`;
    /// empty for problems with the whole file.
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
    /// Clusters that inherit the faulty value, when it is written in
    /// `defaults`, `kinds` or `environments` rather than on the cluster.
    pub clusters: Vec<String>,
}

impl Diagnostic {
    fn sort_key(&self) -> (&str, u32, u32, &str, String) {
        (
            &self.file,
            self.line,
            self.column,
            &self.field,
            self.problem.to_string(),
        )
    }

    fn same_place_and_problem(&self, other: &Diagnostic) -> bool {
        self.file == other.file
            && self.line == other.line
            && self.column == other.column
            && self.field == other.field
            && self.problem == other.problem
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.problem)?;
        match self.clusters.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " (inherited by cluster {one})"),
            many if many.len() <= MAX_NAMED => {
                write!(f, " (inherited by clusters {})", many.join(", "))
            }
            many => write!(
                f,
                " (inherited by clusters {} and {} more)",
                many[..MAX_NAMED].join(", "),
                many.len() - MAX_NAMED
            ),
        }
    }
}

/// What is wrong with a value, a key or a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file or folder could not be read.
    #[error("cannot read: {0}")]
    Read(String),
    /// A folder holds no `*.yaml`/`*.yml` file.
    #[error("no *.yaml or *.yml files in this folder")]
    EmptyFolder,
    /// A spec path that is not a regular file (a directory named like a
    /// spec file, a FIFO, a socket, a device).
    #[error("is {0}, not a regular file")]
    NotRegularFile(&'static str),
    /// A symlink whose target does not exist.
    #[error("is a dangling symlink (its target does not exist)")]
    DanglingSymlink,
    /// A symlink that leads back to itself.
    #[error("is a symlink loop")]
    SymlinkLoop,
    /// A symlink that resolves outside the folder holding it.
    #[error("is a symlink leading outside its folder (only links within the folder are followed)")]
    SymlinkOutside,
    /// A spec file larger than flotilla reads.
    #[error("is larger than {limit_mib} MiB, too large for a fleet spec")]
    TooLarge {
        /// The limit, in MiB.
        limit_mib: u64,
    },
    /// A spec file that is not UTF-8 text.
    #[error("is not UTF-8 text")]
    NotUtf8,
    /// The YAML itself is malformed.
    #[error("yaml syntax error: {0}")]
    Syntax(String),
    /// A second `---` document in one file.
    #[error("a fleet file holds one yaml document; put more in a folder instead")]
    ExtraDocument,
    /// A mapping key that is not a scalar.
    #[error("mapping keys must be plain strings")]
    ComplexKey,
    /// The same key twice in one mapping.
    #[error("duplicate key (first written on line {first_line})")]
    DuplicateKey {
        /// Line of the first occurrence.
        first_line: u32,
    },
    /// A key the spec does not know.
    #[error("unknown field{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The closest known field, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A value of the wrong shape (a string where a list belongs, ...).
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the spec wants.
        expected: &'static str,
        /// What the file has (never the value itself).
        found: &'static str,
    },
    /// A value outside a closed set (`kind`, `mode`, days of the week, ...).
    #[error("unknown value {value:?}, expected one of: {expected}")]
    UnknownValue {
        /// The value written.
        value: String,
        /// The allowed values, comma separated.
        expected: String,
    },
    /// A value serde rejected for a reason of its own.
    #[error("{0}")]
    Decode(String),
    /// Nothing set the value: not the cluster, its environment, its kind, the
    /// defaults, nor a built-in default.
    #[error(
        "missing required value (set it on the cluster, in its environment, its kind or the defaults)"
    )]
    Missing,
    /// A cluster's own identity value (name, kind, environment, region or
    /// site) is not written; no other layer can set it.
    #[error("missing required value")]
    MissingOnCluster,
    /// A value with the right type but the wrong form.
    #[error("{value:?} is not {what}")]
    Invalid {
        /// The value written.
        value: String,
        /// What it should be, e.g. `a DNS-1123 label (lower-case letters, digits and '-', at most 63)`.
        what: &'static str,
    },
    /// A value with the wrong form whose text must not be shown (a Secret name
    /// may be a secret pasted into the wrong field).
    #[error("the value is not {what} (not shown: it may be a secret)")]
    InvalidHidden {
        /// What it should be.
        what: &'static str,
    },
    /// A number (a count, a duration, a quantity) of the right form but
    /// outside what Kubernetes or the component reading it accepts.
    #[error("{value} is out of range: {expected}")]
    OutOfRange {
        /// The value as written.
        value: String,
        /// The range, and why, e.g. `must be from 1 to 2147483647 (a Kubernetes int32)`.
        expected: String,
    },
    /// A constraint between values, explained in words.
    #[error("{0}")]
    Rule(String),
    /// Two clusters with one name.
    #[error("duplicate cluster {name:?} (first declared at {first})")]
    DuplicateCluster {
        /// The name.
        name: String,
        /// `file:line:column` of the first declaration.
        first: String,
    },
    /// Two namespaces with one name in one cluster.
    #[error("duplicate namespace {name:?} (first declared at {first})")]
    DuplicateNamespace {
        /// The name.
        name: String,
        /// `file:line:column` of the first declaration.
        first: String,
    },
    /// A section that may be written once per fleet, written again.
    #[error("{section} is already defined at {first}")]
    DuplicateSection {
        /// The section, e.g. `defaults` or `environments.production`.
        section: String,
        /// `file:line:column` of the first definition.
        first: String,
    },
    /// A setting that only exists in Azure, on an aks-hybrid cluster.
    #[error("aks-hybrid clusters have no {0}")]
    AzureOnly(&'static str),
    /// A setting that only exists on Azure Local, on an aks cluster.
    #[error("aks clusters have no {0}")]
    HybridOnly(&'static str),
    /// The ingress namespace is not one of the cluster's namespaces.
    #[error("ingress namespace {0:?} is not one of the cluster's namespaces")]
    UndeclaredIngressNamespace(String),
    /// A cluster names an environment the fleet does not declare.
    #[error("environment {name:?} is not declared under `environments` (declared: {declared})")]
    UnknownEnvironment {
        /// The environment named by the cluster.
        name: String,
        /// The declared environments, comma separated.
        declared: String,
    },
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}
