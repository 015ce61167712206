//! A YAML document as a tree whose every node remembers its line and column.
//!
//! The tree is built from the event parser that serde-saphyr uses
//! (`serde_saphyr::granit_parser`) rather than through `serde_saphyr::from_str`
//! because a fleet spec must report *every* problem with its position: a
//! serde deserializer stops at the first error, while a tree can be decoded
//! field by field ([`crate::decode`]) and keeps going. Scalars keep their
//! original text, so `tag: 1.10` stays `1.10` and `startTime: 21:00` is never
//! read as a YAML 1.1 sexagesimal number.

use std::collections::HashMap;
use std::fmt;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput};

use crate::error::Problem;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The three YAML node shapes. Mapping entries stay in file order.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// `plain` is false for quoted and block scalars and `!!str`, which are
    /// always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub text: String,
    pub pos: Pos,
}

impl Node {
    /// Number of nodes in this subtree.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.size() + 1).sum(),
        }
    }

    /// YAML 1.2 core-schema null: `~`, `null` or nothing, unquoted.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What kind of value this is, for "expected X, found Y" messages. Never
    /// the value itself: it could be a secret in the wrong place.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "null",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar { text, plain: true } if parse_bool(text).is_some() => "a boolean",
            Value::Scalar { text, plain: true } if text.parse::<f64>().is_ok() => "a number",
            Value::Scalar { .. } => "a string",
        }
    }
}

/// YAML 1.2 core-schema booleans (no `yes`/`on`: those are strings).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Where a node sits in the document, as a linked list on the stack, turned
/// into text (`clusters[2].ingress.tls`) only when a message needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => write_key(f, key, false),
            Path::Key(parent, key) => {
                write!(f, "{parent}")?;
                write_key(f, key, true)
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Keys that are not identifiers (`requests.cpu`, `kubernetes.io/os`) are
/// quoted in brackets so the path stays unambiguous.
fn write_key(f: &mut fmt::Formatter<'_>, key: &str, dot: bool) -> fmt::Result {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match (simple, dot) {
        (true, true) => write!(f, ".{key}"),
        (true, false) => write!(f, "{key}"),
        (false, _) => write!(f, "[{key:?}]"),
    }
}

/// Most nodes aliases may copy in one document; far beyond any real fleet.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// A problem found while building the tree, with its place.
#[derive(Debug)]
pub(crate) struct TreeProblem {
    pub pos: Pos,
    pub path: String,
    pub problem: Problem,
}

/// The parsed document (`None` for an empty file or a syntax error) and the
/// problems found on the way (syntax errors, duplicate keys, extra documents).
pub(crate) fn parse(text: &str) -> (Option<Node>, Vec<TreeProblem>) {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        expanded: 0,
        problems: Vec::new(),
    };
    let root = match builder.document() {
        Ok(root) => root,
        Err(e) => {
            builder.problems.push(syntax_problem(&e));
            None
        }
    };
    (root, builder.problems)
}

fn syntax_problem(e: &ScanError) -> TreeProblem {
    let mark = e.marker();
    TreeProblem {
        pos: Pos {
            line: u32::try_from(mark.line()).unwrap_or(u32::MAX),
            column: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
        },
        path: String::new(),
        problem: Problem::Syntax(e.info()),
    }
}

struct Builder<'t> {
    parser: Parser<'t, StrInput<'t>>,
    /// Anchored nodes by anchor ID, so aliases expand to copies.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far; capped so that nested aliases (the
    /// "billion laughs") cannot exhaust memory.
    expanded: usize,
    problems: Vec<TreeProblem>,
}

/// The parser ran out of events in the middle of a node.
fn truncated() -> ScanError {
    ScanError::new(
        serde_saphyr::granit_parser::Marker::new(0, 0, 0),
        "unexpected end of input",
    )
}

impl<'t> Builder<'t> {
    fn next(&mut self) -> Result<(Event<'t>, Span), ScanError> {
        self.parser.next_event().unwrap_or_else(|| Err(truncated()))
    }

    /// The first document's root; later documents are reported, not read.
    fn document(&mut self) -> Result<Option<Node>, ScanError> {
        let mut root = None;
        let mut documents = 0;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamEnd => return Ok(root),
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        self.problems.push(TreeProblem {
                            pos: Pos::of(&span),
                            path: String::new(),
                            problem: Problem::ExtraDocument,
                        });
                    }
                }
                Event::DocumentEnd | Event::StreamStart => {}
                _ if event.is_node() => {
                    let node = self.node(event, span, &Path::Root)?;
                    if documents <= 1 {
                        root = Some(node);
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads the node that starts with `event`, children included.
    fn node(&mut self, event: Event<'t>, span: Span, path: &Path<'_>) -> Result<Node, ScanError> {
        let pos = Pos::of(&span);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.is_some_and(|t| t.is_yaml_core_schema_tag("str"));
                let plain = matches!(style, ScalarStyle::Plain) && !forced_string;
                let value = Value::Scalar {
                    text: text.into_owned(),
                    plain,
                };
                (Node { pos, value }, anchor)
            }
            Event::SequenceStart(_, anchor, _) => (self.sequence(pos, path)?, anchor),
            Event::MappingStart(_, anchor, _) => (self.mapping(pos, path)?, anchor),
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(ScanError::new(span.start, "alias to an unknown anchor"));
                };
                self.expanded += size;
                if self.expanded > MAX_ALIAS_NODES {
                    return Err(ScanError::new(
                        span.start,
                        "aliases expand to too many nodes",
                    ));
                }
                let mut node = node.clone();
                node.pos = pos;
                (node, 0)
            }
            _ => return Err(truncated()),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
        Ok(node)
    }

    /// The next node event, skipping comments and other presentation events.
    fn next_node_or_end(&mut self) -> Result<Option<(Event<'t>, Span)>, ScanError> {
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
                return Ok(None);
            }
            if event.is_node() {
                return Ok(Some((event, span)));
            }
        }
    }

    fn sequence(&mut self, pos: Pos, path: &Path<'_>) -> Result<Node, ScanError> {
        let mut items = Vec::new();
        while let Some((event, span)) = self.next_node_or_end()? {
            let item_path = Path::Index(path, items.len());
            items.push(self.node(event, span, &item_path)?);
        }
        Ok(Node {
            pos,
            value: Value::Seq(items),
        })
    }

    fn mapping(&mut self, pos: Pos, path: &Path<'_>) -> Result<Node, ScanError> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        while let Some((event, span)) = self.next_node_or_end()? {
            let key = self.node(event, span, path)?;
            let (value_event, value_span) = self.next_node_or_end()?.ok_or_else(truncated)?;
            let Value::Scalar { text, .. } = key.value else {
                self.problems.push(TreeProblem {
                    pos: key.pos,
                    path: path.to_string(),
                    problem: Problem::ComplexKey,
                });
                self.node(value_event, value_span, path)?;
                continue;
            };
            let value = self.node(value_event, value_span, &Path::Key(path, &text))?;
            if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == text) {
                self.problems.push(TreeProblem {
                    pos: key.pos,
                    path: Path::Key(path, &text).to_string(),
                    problem: Problem::DuplicateKey {
                        first_line: first.pos.line,
                    },
                });
                continue;
            }
            entries.push((Key { text, pos: key.pos }, value));
        }
        Ok(Node {
            pos,
            value: Value::Map(entries),
        })
    }
}
