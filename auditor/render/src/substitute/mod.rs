//! `postBuild` variable substitution: Flux's envsubst dialect, whole, with
//! taint for values flotilla must not print or cannot know.
//!
//! kustomize-controller substitutes the YAML text of each built object with
//! fluxcd/pkg `envsubst` v1.7.0 (a fork of drone/envsubst), after
//! `kustomize build` and SOPS decryption and before apply. This module is a
//! port of that package, file for file: `scan` (scanner),
//! [`parse`] (the tree upstream builds), `eval` (evaluation), [`funcs`]
//! (one function per operator) and `glob` (its modified `path.Match`). Every
//! operator, nesting, escape and quirk follows upstream; the cases of
//! upstream's own tests and 176 observed edge cases in
//! `shared/fixtures/envsubst/` pass whole (`auditor/tests/envsubst.rs`).
//! In short: only `${…}` expands (`$var` is text); `$$` is `$`; `${#v}`,
//! `${v:pos:len}` count bytes; `#`, `##`, `%`, `%%` trim globs; `/`, `//`,
//! `/#`, `/%` replace literal text; `^`, `^^`, `,`, `,,` change case; `=`,
//! `:=`, `:-`, `:?`, `:+` all mean "the value, or the word when empty";
//! words and arguments nest `${…}` to any depth.
//!
//! Why hand-written: no crate has this dialect. Checked on crates.io:
//! `envsubst` (0.2) replaces plain `${VAR}` only, and `subst` (0.3) follows
//! POSIX shell (`$VAR` expands, no `${v/a/b}`, `${v^^}` or substrings):
//! either would render different manifests than kustomize-controller, and
//! neither can carry taint through an expansion.
//!
//! Where this differs from upstream, on purpose:
//!
//! - **Errors are returned, never the input.** On a parse error upstream's
//!   `Eval` returns the text unchanged with the error; kustomize-controller
//!   then fails the build, and so does the renderer with [`SubstituteError`].
//!   Where v1.7.0 panics (`${v:2:-1}`, a negative substring length) the
//!   build fails too, and this is an error as well.
//! - **Errors never quote the text.** A [`SubstituteError`] names the kind
//!   (upstream's message), the line and column of the `${` it concerns, and
//!   at most a variable name: manifests can hold Secret values.
//! - **Taint.** A variable is [`Origin::Plain`], [`Origin::Secret`] (its
//!   value comes from a Secret: `data`, `stringData`, a `substituteFrom`
//!   Secret, SOPS) or [`Origin::Unknown`] (flotilla cannot read it). A
//!   top-level `${…}` whose evaluation read a Secret variable (as the value,
//!   in a default word, a pattern, anywhere) is written as
//!   [`TAINT_START`] + result + [`TAINT_END`]; one that read an Unknown
//!   variable is written as [`UNKNOWN`], whatever its operators. Plain text
//!   and plain expressions are untouched, so with only Plain variables the
//!   output is byte for byte upstream's. Taint is conservative: a default
//!   word is evaluated, and so read, even when the variable is set.
//! - The sentinels are private-use code points. Text or values that would
//!   put one in the output where this module did not (to forge a mask or
//!   a marker, or to break out of one) are an error.
//! - Values are Go byte strings internally; an output that is not valid
//!   UTF-8 (a substring cut through a character) is an error, as Flux's
//!   YAML decoder rejects it.
//! - `${…}` nested deeper than [`parse::MAX_DEPTH`] is an error.
//!
//! The rest of kustomize-controller's rules (fluxcd/pkg
//! `kustomize/kustomize_varsub.go`) are the caller's, with the helpers
//! here: substitution runs only when the Kustomization has at least one
//! variable, never on objects labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled`
//! ([`is_substitution_disabled`]), variable names must match
//! `^[_[:alpha:]][_[:alpha:][:digit:]]*$` ([`check_var_names`]) and values
//! lose every newline ([`flux_value`]).

mod eval;
pub mod funcs;
mod glob;
pub mod parse;
mod runes;
mod scan;

use flotilla_core::object::meta_str;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The label/annotation that opts an object out of substitution.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Start of a value derived from a Secret (private-use code point).
pub const TAINT_START: char = '\u{F8F0}';
/// End of a value derived from a Secret.
pub const TAINT_END: char = '\u{F8F1}';
/// What replaces any expression whose value depends on an Unknown variable.
pub const UNKNOWN: &str = flotilla_core::secret::UNKNOWN;

/// Where a variable's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Readable and printable (inline `substitute`, a ConfigMap).
    Plain,
    /// From a Secret: usable, never printed.
    Secret,
    /// A value flotilla cannot know (a Secret it may not read, SOPS without a key).
    Unknown,
}

/// One variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// The value (`""` for [`Origin::Unknown`]).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Var {
    /// A plain variable.
    pub fn plain(value: impl Into<String>) -> Var {
        Var {
            value: value.into(),
            origin: Origin::Plain,
        }
    }
}

/// Variables of one Kustomization, by name.
pub type Vars = BTreeMap<String, Var>;

/// The result of [`envsubst`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    /// The substituted text, with taint sentinels.
    pub text: String,
    /// Unset variables read without a default operator (non-strict mode;
    /// Flux substitutes `""` for them).
    pub unresolved: BTreeSet<String>,
}

/// What went wrong, with upstream's message where upstream has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A `${` that does not form an expression (`${v^^x}`, `${v/a}`, …).
    #[error("bad substitution")]
    BadSubstitution,
    /// `${v` without `}`, or a character the name cannot hold (`${a.b}`).
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// No variable name after `${` (`${}`, `${ v }`, `${!v}`).
    #[error("unable to parse variable name")]
    ParseVariableName,
    /// An empty or unterminated argument (`${v:}`, `${v#}`, `${v:=x`).
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    /// A malformed default operator.
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    /// Strict mode: a variable without a value, read without a default.
    #[error("variable not set (strict mode): {name:?}")]
    VariableNotSet {
        /// The variable.
        name: String,
    },
    /// A variable name kustomize-controller rejects.
    #[error("'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName {
        /// The variable.
        name: String,
    },
    /// `${v:pos:len}` whose end falls before its start (envsubst v1.7.0 panics).
    #[error("substring with a negative length (flux's envsubst v1.7.0 panics)")]
    NegativeSubstringLength,
    /// `${…}` nested deeper than [`parse::MAX_DEPTH`].
    #[error("expressions nested deeper than {}", parse::MAX_DEPTH)]
    TooDeep,
    /// The result is not UTF-8 (Flux's YAML decoder rejects it).
    #[error("result is not valid utf-8 (a substring cuts through a character)")]
    InvalidUtf8,
    /// A taint sentinel (U+F8F0–U+F8F2) in the text or produced by it.
    #[error("reserved private-use character U+F8F0, U+F8F1 or U+F8F2 in the text or a value")]
    ReservedCharacter,
}

/// Line and column (1-based, in characters) of the `${` an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
}

/// Why a text could not be substituted. Its `Display` holds the kind, the
/// position and at most a variable name: never any other part of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SubstituteError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where (`None` when no place in the text applies, e.g. a bad name).
    pub position: Option<Position>,
}

impl std::fmt::Display for SubstituteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(p) = self.position {
            write!(f, " at line {}, column {}", p.line, p.column)?;
        }
        Ok(())
    }
}

impl SubstituteError {
    fn at(kind: ErrorKind, text: &str, offset: usize) -> SubstituteError {
        SubstituteError {
            kind,
            position: Some(position(text, offset)),
        }
    }
}

/// Line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> Position {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    Position {
        line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
        column: 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count(),
    }
}

/// Whether an object opted out of substitution (label or annotation equal
/// to `disabled`, case-sensitive; fluxcd/pkg `kustomize/kustomize_varsub.go`).
pub fn is_substitution_disabled(obj: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|map| meta_str(obj, map, SUBSTITUTE_KEY) == Some("disabled"))
}

/// Check every variable name as kustomize-controller does before it
/// substitutes anything (`varsubRegex`, ASCII classes in Go's RE2).
pub fn check_var_names(vars: &Vars) -> Result<(), SubstituteError> {
    match vars.keys().find(|name| !is_valid_name(name)) {
        Some(bad) => Err(SubstituteError {
            kind: ErrorKind::InvalidName { name: bad.clone() },
            position: None,
        }),
        None => Ok(()),
    }
}

/// A value as Flux stores it: every `"\n"` removed.
pub fn flux_value(value: &str) -> String {
    value.replace('\n', "")
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Parse `text` into upstream's tree (see [`parse::Node::to_json`]).
pub fn parse_text(text: &str) -> Result<parse::Node, SubstituteError> {
    parse::parse_tree(text).map_err(|f| SubstituteError::at(f.kind, text, f.at))
}

/// Substitute every `${…}` in `text` as Flux's envsubst does, with taint
/// (see the module documentation). `strict` is kustomize-controller's
/// `StrictPostBuildSubstitutions`: an unset variable read without a default
/// operator is an error instead of `""`.
pub fn envsubst(text: &str, vars: &Vars, strict: bool) -> Result<Substituted, SubstituteError> {
    if let Some(offset) = text.find([TAINT_START, TAINT_END, UNKNOWN_CHAR]) {
        return Err(SubstituteError::at(
            ErrorKind::ReservedCharacter,
            text,
            offset,
        ));
    }
    let root = parse_text(text)?;
    let top: &[parse::Node] = match &root {
        parse::Node::List(nodes) => nodes,
        single => std::slice::from_ref(single),
    };
    let mut evaluator = eval::Evaluator {
        vars,
        strict,
        unresolved: BTreeSet::new(),
    };
    let mut out = Vec::with_capacity(text.len());
    // Output ranges written by each top-level expression, and the offsets
    // of the sentinels this function wrote.
    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    let mut sentinels: Vec<usize> = Vec::new();
    for node in top {
        let (value, taint) = evaluator
            .eval(node)
            .map_err(|f| SubstituteError::at(f.kind, text, f.at))?;
        let parse::Node::Func(func) = node else {
            out.extend_from_slice(&value);
            continue;
        };
        let start = out.len();
        match taint {
            eval::Taint::Plain => out.extend_from_slice(&value),
            eval::Taint::Secret => {
                sentinels.push(out.len());
                push_char(&mut out, TAINT_START);
                out.extend_from_slice(&value);
                sentinels.push(out.len());
                push_char(&mut out, TAINT_END);
            }
            eval::Taint::Unknown => {
                sentinels.push(out.len());
                push_char(&mut out, UNKNOWN_CHAR);
            }
        }
        spans.push((start, out.len(), func.at));
    }
    let expression_at = |offset: usize| {
        spans
            .iter()
            .find(|(start, end, _)| (*start..*end).contains(&offset))
            .map_or(0, |&(_, _, at)| at)
    };
    let out = match String::from_utf8(out) {
        Ok(out) => out,
        Err(e) => {
            let at = expression_at(e.utf8_error().valid_up_to());
            return Err(SubstituteError::at(ErrorKind::InvalidUtf8, text, at));
        }
    };
    if let Some((offset, _)) = out
        .match_indices([TAINT_START, TAINT_END, UNKNOWN_CHAR])
        .find(|(offset, _)| sentinels.binary_search(offset).is_err())
    {
        let at = expression_at(offset);
        return Err(SubstituteError::at(ErrorKind::ReservedCharacter, text, at));
    }
    Ok(Substituted {
        text: out,
        unresolved: evaluator.unresolved,
    })
}

const UNKNOWN_CHAR: char = '\u{F8F2}';

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests;
