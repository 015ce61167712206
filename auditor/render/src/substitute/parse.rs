//! The parser of Flux's envsubst: text → tree of text, function and list
//! nodes.
//!
//! A port of fluxcd/pkg `envsubst/parse/parse.go` and `node.go` (v1.7.0),
//! function for function, so that whatever upstream accepts, rejects or
//! mis-parses, this does too (the table test compares the trees with
//! upstream's `parse_test.go`). Two differences, neither visible in a tree:
//!
//! - the top-level sequence is kept flat in [`Node::List`]; upstream nests
//!   it to the right two nodes at a time, which [`Node::to_json`] reproduces.
//!   A manifest with thousands of expressions would otherwise be a tree
//!   thousands deep;
//! - `${…}` nested deeper than [`MAX_DEPTH`] is an error instead of a deeper
//!   recursion (upstream's Go stack grows; ours does not).
//!
//! v1.7.0 has no empty replace pattern: `${v/#/x}` is "unable to parse
//! substitution within function" (fluxcd/pkg issue 947; fixed after the
//! version kustomize-controller pins).

use super::ErrorKind;
use super::scan::{
    self, DOLLAR, ESCAPE_ALL, SCAN_ESCAPE, SCAN_IDENT, SCAN_LBRACK, SCAN_RBRACK, Scanner, Token,
};
use serde_json::{Value, json};

/// How deep `${…}` may nest inside another's arguments.
pub const MAX_DEPTH: usize = 64;

/// A node of the parse tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Literal text (escapes applied).
    Text(Vec<u8>),
    /// A `${…}` expression.
    Func(Func),
    /// A sequence of two or more nodes (only at the top).
    List(Vec<Node>),
}

/// One `${…}` expression (upstream's `FuncNode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    /// The variable name.
    pub param: String,
    /// The operator: `""` for `${v}`, `#` for `${#v}` and `${v#p}`, `:-`, `//`, ….
    pub name: String,
    /// Arguments (upstream's `nil` when empty).
    pub args: Vec<Node>,
    /// Byte offset of the `${` in the text.
    pub at: usize,
}

impl Node {
    /// The node in the JSON shape of `shared/fixtures/envsubst/cases.json`
    /// (upstream's tree: lists right-nested, `args` `null` when empty).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Text(text) => json!({"type": "text", "value": String::from_utf8_lossy(text)}),
            Node::Func(func) => json!({
                "type": "func",
                "param": func.param,
                "name": func.name,
                "args": if func.args.is_empty() {
                    Value::Null
                } else {
                    func.args.iter().map(Node::to_json).collect()
                },
            }),
            Node::List(nodes) => {
                let mut rest = nodes.iter().rev().map(Node::to_json);
                let last = rest.next().unwrap_or(Value::Null);
                rest.fold(
                    last,
                    |right, left| json!({"type": "list", "nodes": [left, right]}),
                )
            }
        }
    }
}

/// A parse failure: what and at which `${` (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub(super) kind: ErrorKind,
    pub(super) at: usize,
}

type Parsed<T> = Result<T, Failure>;

/// Parse `text` into its tree (upstream's `parse.Parse`).
pub(super) fn parse_tree(text: &str) -> Parsed<Node> {
    let mut parser = Parser {
        s: Scanner::new(text.as_bytes()),
        open: Vec::new(),
    };
    let nodes = parser.parse_any()?;
    Ok(match nodes.len() {
        0 => Node::Text(Vec::new()),
        1 => nodes.into_iter().next().unwrap_or(Node::Text(Vec::new())),
        _ => Node::List(nodes),
    })
}

struct Parser<'a> {
    s: Scanner<'a>,
    /// Offsets of the `${` being parsed, innermost last.
    open: Vec<usize>,
}

impl Parser<'_> {
    fn fail<T>(&self, kind: ErrorKind) -> Parsed<T> {
        let at = self.open.last().copied().unwrap_or(self.s.start);
        Err(Failure { kind, at })
    }

    /// `parseAny`, as a loop: upstream recurses once per token.
    fn parse_any(&mut self) -> Parsed<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.s.accept = scan::accept_rune;
            self.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.s.escape_chars = DOLLAR;
            match self.s.scan() {
                Token::Ident => nodes.push(Node::Text(self.s.string())),
                Token::Eof => return Ok(nodes),
                Token::Lbrack => {
                    let at = self.s.start;
                    nodes.push(self.parse_func(at)?);
                }
                _ => return self.fail(ErrorKind::BadSubstitution),
            }
        }
    }

    fn parse_func(&mut self, at: usize) -> Parsed<Node> {
        if self.open.len() >= MAX_DEPTH {
            return self.fail(ErrorKind::TooDeep);
        }
        self.open.push(at);
        let node = self.parse_func_body(at)?;
        self.open.pop();
        Ok(node)
    }

    fn parse_func_body(&mut self, at: usize) -> Parsed<Node> {
        // Turn on all escape characters.
        self.s.escape_chars = ESCAPE_ALL;
        if self.s.peek() == '#' {
            return self.parse_len_func(at);
        }
        self.s.accept = scan::accept_ident;
        self.s.mode = SCAN_IDENT;
        let name = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return self.fail(ErrorKind::ParseVariableName),
        };
        let func = Func {
            param: String::from_utf8_lossy(&name).into_owned(),
            name: String::new(),
            args: Vec::new(),
            at,
        };
        match self.s.peek() {
            ':' => return self.parse_default_or_substr(func),
            '=' => return self.parse_default_func(func),
            ',' | '^' => return self.parse_casing_func(func),
            '/' => return self.parse_replace_func(func),
            '#' => return self.parse_remove_func(func, scan::accept_hash_func),
            '%' => return self.parse_remove_func(func, scan::accept_percent_func),
            _ => {}
        }
        self.s.accept = scan::accept_ident;
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Node::Func(func)),
            _ => self.fail(ErrorKind::MissingClosingBrace),
        }
    }

    /// A function argument: a nested `${…}` or text.
    fn parse_param(&mut self, accept: scan::Accept, mode: u8) -> Parsed<Node> {
        self.s.accept = accept;
        self.s.mode = mode | SCAN_LBRACK;
        match self.s.scan() {
            Token::Lbrack => {
                let at = self.s.start;
                self.parse_func(at)
            }
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.s.string())),
            _ => self.fail(ErrorKind::ParseFuncSubstitution),
        }
    }

    /// `${v:…}`: a default (`:=`, `:-`, `:?`, `:+`) or a substring.
    fn parse_default_or_substr(&mut self, func: Func) -> Parsed<Node> {
        // Upstream reads the `:`, peeks, then unreads by the width of the
        // *peeked* rune: after `${v:é` the scanner stands before the `:`,
        // and the substring parse below fails with "bad substitution".
        self.s.read();
        let r = self.s.peek();
        self.s.unread();
        match r {
            '=' | '-' | '?' | '+' => self.parse_default_func(func),
            _ => self.parse_substr_func(func),
        }
    }

    /// `${v:pos}`, `${v:pos:len}`.
    fn parse_substr_func(&mut self, mut func: Func) -> Parsed<Node> {
        self.s.accept = scan::accept_one_colon;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        func.args
            .push(self.parse_param(scan::reject_colon_close, SCAN_IDENT)?);
        // Expect a delimiter or the close.
        self.s.accept = scan::accept_colon;
        self.s.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(Node::Func(func)),
            Token::Ident => {}
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        func.args
            .push(self.parse_param(scan::accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func(func))
    }

    /// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`.
    fn parse_remove_func(&mut self, mut func: Func, accept: scan::Accept) -> Parsed<Node> {
        self.s.accept = accept;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        func.args
            .push(self.parse_param(scan::accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func(func))
    }

    /// `${v/p/r}`, `${v//p/r}`, `${v/#p/r}`, `${v/%p/r}`.
    fn parse_replace_func(&mut self, mut func: Func) -> Parsed<Node> {
        self.s.accept = scan::accept_replace_func;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        func.args
            .push(self.parse_param(scan::accept_not_slash, SCAN_IDENT | SCAN_ESCAPE)?);
        // Expect the delimiter.
        self.s.accept = scan::accept_slash;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => {}
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        // A blank replacement.
        if self.s.peek() == '}' {
            self.consume_rbrack()?;
            return Ok(Node::Func(func));
        }
        func.args
            .push(self.parse_param(scan::accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        self.consume_rbrack()?;
        Ok(Node::Func(func))
    }

    /// `${v=w}`, `${v:=w}`, `${v:-w}`, `${v:?w}`, `${v:+w}`.
    fn parse_default_func(&mut self, mut func: Func) -> Parsed<Node> {
        self.s.accept = if self.s.peek() == '=' {
            scan::accept_one_equal
        } else {
            scan::accept_default_func
        };
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::ParseDefaultFunction),
        }
        // Every part of the word up to the closing brace.
        loop {
            if self.s.peek() == '}' {
                self.consume_rbrack()?;
                return Ok(Node::Func(func));
            }
            func.args
                .push(self.parse_param(scan::accept_not_closing, SCAN_IDENT)?);
        }
    }

    /// `${v,}`, `${v,,}`, `${v^}`, `${v^^}`.
    fn parse_casing_func(&mut self, mut func: Func) -> Parsed<Node> {
        self.s.accept = scan::accept_casing_func;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        self.consume_rbrack()?;
        Ok(Node::Func(func))
    }

    /// `${#v}`.
    fn parse_len_func(&mut self, at: usize) -> Parsed<Node> {
        let mut func = Func {
            param: String::new(),
            name: String::new(),
            args: Vec::new(),
            at,
        };
        self.s.accept = scan::accept_one_hash;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.name = self.op(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        self.s.accept = scan::accept_ident;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => func.param = String::from_utf8_lossy(&self.s.string()).into_owned(),
            _ => return self.fail(ErrorKind::BadSubstitution),
        }
        self.consume_rbrack()?;
        Ok(Node::Func(func))
    }

    fn consume_rbrack(&mut self) -> Parsed<()> {
        self.s.mode = SCAN_RBRACK;
        if self.s.scan() == Token::Rbrack {
            Ok(())
        } else {
            self.fail(ErrorKind::BadSubstitution)
        }
    }

    /// The operator token just scanned.
    fn op(&self) -> String {
        String::from_utf8_lossy(&self.s.string()).into_owned()
    }
}
