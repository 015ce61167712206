//! `postBuild` variable substitution, with the rules of Flux's envsubst.
//!
//! Flux substitutes on the YAML text of each object after `kustomize build`
//! and before apply. The rules replicated here, from
//! `fluxcd/pkg/kustomize/kustomize_varsub.go` and Flux's envsubst:
//!
//! - Only `${var}` is an expression; a bare `$var` is left alone (Flux's
//!   envsubst does not expand it, which is why an htpasswd hash such as
//!   `$apr1$…` survives).
//! - `$$` is an escape for `$`, so `$${var}` renders as the literal `${var}`.
//! - `${var:-default}` / `${var:=default}`: `default` when `var` is unset or
//!   empty; `${var-default}` / `${var=default}`: `default` when unset.
//!   `${#var}` (length), `${var^^}`, `${var,,}`, `${var^}`, `${var,}` (case)
//!   are understood too.
//! - Strict mode is off (Flux's default): an unset `${var}` becomes the empty
//!   string. Its name is recorded so the caller can report it.
//! - Substitution runs only when the Kustomization has at least one variable,
//!   and never on objects labelled or annotated
//!   `kustomize.toolkit.fluxcd.io/substitute: disabled`.
//! - Variable names must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`, and
//!   newlines are removed from values.

use crate::object::meta_str;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The label/annotation that opts an object out of substitution.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Variables of one Kustomization, name → value.
pub type Vars = BTreeMap<String, String>;

/// Why a text could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A variable name Flux would reject.
    #[error("variable name '{0}' is invalid, must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$")]
    InvalidName(String),
    /// `${` without a closing `}`.
    #[error("missing closing brace in '{0}'")]
    Unclosed(String),
    /// A `${…}` expression this implementation (and Flux) cannot evaluate.
    #[error("bad substitution '{0}'")]
    BadSubstitution(String),
}

/// Whether an object opted out of substitution (label or annotation).
pub fn is_substitution_disabled(obj: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|map| meta_str(obj, map, SUBSTITUTE_KEY) == Some("disabled"))
}

/// Check every variable name as Flux does before substituting anything.
pub fn check_var_names(vars: &Vars) -> Result<(), SubstituteError> {
    match vars.keys().find(|name| !is_valid_name(name)) {
        Some(bad) => Err(SubstituteError::InvalidName(bad.clone())),
        None => Ok(()),
    }
}

/// A value as Flux stores it: newlines removed.
pub fn flux_value(value: &str) -> String {
    value.replace('\n', "")
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Substitute `${…}` expressions in `text`; names of unset variables used
/// without a default are added to `unresolved`.
pub fn envsubst(
    text: &str,
    vars: &Vars,
    unresolved: &mut BTreeSet<String>,
) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = body_start
                .find('}')
                .ok_or_else(|| SubstituteError::Unclosed(excerpt(&rest[pos..])))?;
            let body = &body_start[..end];
            out.push_str(&evaluate(body, vars, unresolved)?);
            rest = &body_start[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The first characters of an expression, for an error message (never a value).
fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}

fn evaluate(
    body: &str,
    vars: &Vars,
    unresolved: &mut BTreeSet<String>,
) -> Result<String, SubstituteError> {
    let bad = || SubstituteError::BadSubstitution(format!("${{{body}}}"));
    if let Some(name) = body.strip_prefix('#') {
        if !is_valid_name(name) {
            return Err(bad());
        }
        return Ok(lookup(name, vars, unresolved).chars().count().to_string());
    }
    let name_len = body
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(body.len(), |(i, _)| i);
    let (name, op) = body.split_at(name_len);
    if name.is_empty() {
        return Err(bad());
    }
    let value = vars.get(name);
    let set_and_non_empty = value.is_some_and(|v| !v.is_empty());
    let resolved = match op {
        "" => lookup(name, vars, unresolved),
        "^^" => lookup(name, vars, unresolved).to_uppercase(),
        ",," => lookup(name, vars, unresolved).to_lowercase(),
        "^" => map_first(&lookup(name, vars, unresolved), |c| {
            c.to_uppercase().collect()
        }),
        "," => map_first(&lookup(name, vars, unresolved), |c| {
            c.to_lowercase().collect()
        }),
        _ => {
            if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix(":=")) {
                if set_and_non_empty {
                    value.cloned().unwrap_or_default()
                } else {
                    default.to_owned()
                }
            } else if let Some(default) = op.strip_prefix('-').or_else(|| op.strip_prefix('=')) {
                value.cloned().unwrap_or_else(|| default.to_owned())
            } else {
                return Err(bad());
            }
        }
    };
    Ok(resolved)
}

fn lookup(name: &str, vars: &Vars, unresolved: &mut BTreeSet<String>) -> String {
    match vars.get(name) {
        Some(v) => v.clone(),
        None => {
            unresolved.insert(name.to_owned());
            String::new()
        }
    }
}

fn map_first(s: &str, f: impl Fn(char) -> String) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => f(c) + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn subst(text: &str, v: &Vars) -> (String, BTreeSet<String>) {
        let mut unresolved = BTreeSet::new();
        let out = envsubst(text, v, &mut unresolved).unwrap();
        (out, unresolved)
    }

    #[test]
    fn plain_expression_is_replaced_and_unset_is_empty_and_recorded() {
        let (out, unresolved) = subst("a: ${x}-${missing}", &vars(&[("x", "1")]));
        assert_eq!(out, "a: 1-");
        assert_eq!(unresolved.into_iter().collect::<Vec<_>>(), ["missing"]);
    }

    #[test]
    fn defaults_follow_bash_rules() {
        let v = vars(&[("empty", ""), ("set", "v")]);
        let (out, unresolved) = subst(
            "${unset:=d1} ${empty:=d2} ${empty:-d3} ${empty-d4} ${unset=d5} ${set:-no}",
            &v,
        );
        assert_eq!(out, "d1 d2 d3  d5 v");
        assert!(
            unresolved.is_empty(),
            "defaults are not unresolved: {unresolved:?}"
        );
    }

    #[test]
    fn double_dollar_escapes_and_bare_dollar_is_literal() {
        let (out, _) = subst("$${x} $$ $apr1$fake ${x}", &vars(&[("x", "1")]));
        assert_eq!(out, "${x} $ $apr1$fake 1");
    }

    #[test]
    fn length_and_case_operators() {
        let (out, _) = subst("${#x} ${x^^} ${x^}", &vars(&[("x", "abc")]));
        assert_eq!(out, "3 ABC Abc");
    }

    #[test]
    fn unclosed_and_bad_expressions_are_errors() {
        let mut u = BTreeSet::new();
        assert!(matches!(
            envsubst("${x", &Vars::new(), &mut u),
            Err(SubstituteError::Unclosed(_))
        ));
        assert!(matches!(
            envsubst("${x:1:2}", &Vars::new(), &mut u),
            Err(SubstituteError::BadSubstitution(_))
        ));
    }

    #[test]
    fn invalid_variable_names_are_rejected() {
        assert!(check_var_names(&vars(&[("ok_1", "")])).is_ok());
        assert_eq!(
            check_var_names(&vars(&[("1bad", "")])),
            Err(SubstituteError::InvalidName("1bad".into()))
        );
    }

    #[test]
    fn opt_out_by_label_or_annotation() {
        let by_label = json!({"metadata": {"labels": {SUBSTITUTE_KEY: "disabled"}}});
        let by_annotation = json!({"metadata": {"annotations": {SUBSTITUTE_KEY: "disabled"}}});
        let neither = json!({"metadata": {"labels": {SUBSTITUTE_KEY: "enabled"}}});
        assert!(is_substitution_disabled(&by_label));
        assert!(is_substitution_disabled(&by_annotation));
        assert!(!is_substitution_disabled(&neither));
    }
}
