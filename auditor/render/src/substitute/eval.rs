//! Evaluation of a parsed text against the variables, with taint.
//!
//! A port of fluxcd/pkg `envsubst/template.go` (`evalFunc`, `isDefaultOp`):
//! a function's arguments are evaluated first (so a nested unset variable
//! fails in strict mode even where the default is not used), then its
//! variable is looked up and its function applied. Strict mode fails on an
//! unset variable unless the operator is one of the default family; in
//! non-strict mode an unset variable reads as `""` and its name is recorded.
//!
//! On top of upstream, each value carries its [`Taint`]: an expression that
//! read a `Secret` variable anywhere inside it is tainted as a whole, one
//! that read an `Unknown` variable has no value. Only top-level expressions
//! are wrapped in sentinels, so nested functions see raw values.

use super::funcs::lookup_func;
use super::parse::{Failure, Func, Node};
use super::{ErrorKind, Origin, Vars};
use std::collections::BTreeSet;

/// What a value depends on; the highest wins when values combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Taint {
    /// Only text and plain variables.
    Plain,
    /// A Secret variable was read.
    Secret,
    /// A variable whose value flotilla cannot know was read.
    Unknown,
}

impl From<&Origin> for Taint {
    fn from(origin: &Origin) -> Taint {
        match origin {
            Origin::Plain => Taint::Plain,
            Origin::Secret => Taint::Secret,
            Origin::Unknown => Taint::Unknown,
        }
    }
}

/// One evaluation.
pub(super) struct Evaluator<'a> {
    pub(super) vars: &'a Vars,
    pub(super) strict: bool,
    /// Unset variables read without a default operator (non-strict).
    pub(super) unresolved: BTreeSet<String>,
}

impl Evaluator<'_> {
    /// The value of one node.
    pub(super) fn eval(&mut self, node: &Node) -> Result<(Vec<u8>, Taint), Failure> {
        match node {
            Node::Text(text) => Ok((text.clone(), Taint::Plain)),
            Node::Func(func) => self.eval_func(func),
            Node::List(nodes) => {
                let mut out = Vec::new();
                let mut taint = Taint::Plain;
                for node in nodes {
                    let (value, t) = self.eval(node)?;
                    out.extend_from_slice(&value);
                    taint = taint.max(t);
                }
                Ok((out, taint))
            }
        }
    }

    fn eval_func(&mut self, func: &Func) -> Result<(Vec<u8>, Taint), Failure> {
        let mut args = Vec::with_capacity(func.args.len());
        let mut taint = Taint::Plain;
        for arg in &func.args {
            let (value, t) = self.eval(arg)?;
            args.push(value);
            taint = taint.max(t);
        }
        let var = self.vars.get(&func.param);
        if var.is_none() && !is_default_op(&func.name) {
            if self.strict {
                return Err(Failure {
                    kind: ErrorKind::VariableNotSet {
                        name: func.param.clone(),
                    },
                    at: func.at,
                });
            }
            self.unresolved.insert(func.param.clone());
        }
        let value = match var {
            Some(var) => {
                taint = taint.max(Taint::from(&var.origin));
                var.value.as_bytes()
            }
            None => b"",
        };
        if taint == Taint::Unknown {
            return Ok((Vec::new(), Taint::Unknown));
        }
        let out = lookup_func(&func.name, args.len())(value, &args)
            .map_err(|kind| Failure { kind, at: func.at })?;
        Ok((out, taint))
    }
}

/// Operators that supply their own value for an unset variable and so
/// never fail in strict mode (fluxcd/pkg `envsubst/template.go`
/// `isDefaultOp`; `-`, `+` and `?` cannot be parsed but are listed there).
pub(super) fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}
