//! A serde deserializer over the spanned tree that records problems instead
//! of stopping at the first one.
//!
//! Three tricks make one pass report everything:
//! - `deserialize_struct` receives the struct's field names, so unknown keys
//!   are reported (all of them, each at its own line) and skipped before the
//!   derived visitor sees them;
//! - every spec value is a [`Val`]. Its deserializer catches a failure inside
//!   the value, records it with the value's position and path, and yields
//!   [`Val::Invalid`], so the surrounding struct goes on with its next field;
//! - a [`Val`] that is set carries an [`OriginId`]: where it was written, so a
//!   problem found later, after defaults and overrides are merged, still
//!   points at the right `file:line:column`.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::value::{StrDeserializer, U32Deserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use crate::error::{Diagnostic, Problem};
use crate::yaml::{Node, Path, Pos, Value, parse_bool};

/// The newtype name by which [`Val`] asks [`NodeDe`] for its origin.
const VAL_MARKER: &str = "$flotilla::Val";

/// The newtype name by which [`Integer`] asks [`NodeDe`] for a plain
/// integer scalar.
const INTEGER_MARKER: &str = "$flotilla::Integer";

/// A whole number as written: an unquoted, optionally signed run of decimal
/// digits (YAML 1.2 core schema `int`, decimal form), of any length. Its
/// range is checked during validation, so `replicas: 4294967295` and
/// `replicas: 99999999999999999999` get the same message naming the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Integer(String);

impl Integer {
    /// The text as written.
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl From<u32> for Integer {
    fn from(n: u32) -> Self {
        Integer(n.to_string())
    }
}

/// `[-+]?[0-9]+`.
fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(INTEGER_MARKER, IntegerVisitor)
    }
}

struct IntegerVisitor;

impl<'de> Visitor<'de> for IntegerVisitor {
    type Value = Integer;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Integer, E> {
        if is_integer_text(text) {
            Ok(Integer(text.to_owned()))
        } else {
            Err(E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Integer, E> {
        Ok(Integer(n.to_string()))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Integer, E> {
        Ok(Integer(n.to_string()))
    }

    /// Any other deserializer.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Integer, D::Error> {
        d.deserialize_any(self)
    }
}

/// A spec value as written in one layer of the spec.
#[derive(Debug, Clone, Default)]
pub(crate) enum Val<T> {
    /// Not written here (or written as `null`): inherit from the layer below.
    #[default]
    Absent,
    /// Written, but of the wrong type; the problem is already recorded.
    Invalid,
    /// Written, and where.
    Set(T, OriginId),
}

impl<T> Val<T> {
    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        match self {
            Val::Set(v, _) => Some(v),
            _ => None,
        }
    }

    /// Whether the spec wrote something here (even something invalid).
    pub fn is_written(&self) -> bool {
        !matches!(self, Val::Absent)
    }

    /// A value no spec file wrote.
    pub fn builtin(value: T) -> Self {
        Val::Set(value, OriginId::BUILTIN)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Val<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(VAL_MARKER, ValVisitor(PhantomData))
    }
}

struct ValVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ValVisitor<T> {
    type Value = Val<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a spec value")
    }

    /// [`NodeDe`] hands over `(origin, value)`; a failed value was recorded
    /// by [`ValAccess`], so it only needs to become [`Val::Invalid`] here.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Val<T>, A::Error> {
        let origin: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        Ok(match seq.next_element::<T>() {
            Ok(Some(v)) => Val::Set(v, OriginId(origin)),
            Ok(None) => Val::Absent,
            Err(_) => Val::Invalid,
        })
    }

    /// Any other deserializer: no positions, no recovery.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Val<T>, D::Error> {
        T::deserialize(d).map(|v| Val::Set(v, OriginId::BUILTIN))
    }
}

/// Index of an [`Origin`] in [`Recorder::origins`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct OriginId(u32);

impl OriginId {
    /// Values from the built-in defaults (and from foreign deserializers).
    pub const BUILTIN: OriginId = OriginId(0);
}

/// Where a value was written.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: Rc<str>,
    pub pos: Pos,
    /// Field path, e.g. `environments.production.ingress.replicas`.
    pub path: String,
}

/// Collects diagnostics and origins across every file of one load.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub diagnostics: RefCell<Vec<Diagnostic>>,
    pub origins: RefCell<Vec<Origin>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            diagnostics: RefCell::new(Vec::new()),
            // Slot 0 is OriginId::BUILTIN.
            origins: RefCell::new(vec![Origin {
                file: Rc::from("<built-in>"),
                pos: Pos::default(),
                path: String::new(),
            }]),
        }
    }

    pub fn record(&self, file: &str, pos: Pos, field: String, problem: Problem) {
        self.diagnostics.borrow_mut().push(Diagnostic {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            field,
            problem,
            clusters: Vec::new(),
        });
    }

    /// Records `problem` where the value `origin` was written; `cluster`
    /// names the cluster that inherits it, when it was written in a shared layer.
    pub fn report_at(&self, origin: OriginId, problem: Problem, cluster: Option<&str>) {
        let at = self.origin(origin);
        self.diagnostics.borrow_mut().push(Diagnostic {
            file: at.file.to_string(),
            line: at.pos.line,
            column: at.pos.column,
            field: at.path,
            problem,
            clusters: cluster.map(str::to_owned).into_iter().collect(),
        });
    }

    /// `file:line:column` of a value, for "first declared at" messages.
    pub fn place(&self, origin: OriginId) -> String {
        let at = self.origin(origin);
        format!("{}:{}:{}", at.file, at.pos.line, at.pos.column)
    }

    fn add_origin(&self, origin: Origin) -> u32 {
        let mut origins = self.origins.borrow_mut();
        origins.push(origin);
        u32::try_from(origins.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn origin(&self, id: OriginId) -> Origin {
        self.origins.borrow()[id.0 as usize].clone()
    }

    pub fn has_errors(&self) -> bool {
        !self.diagnostics.borrow().is_empty()
    }
}

/// Decodes `root` of `file` into `T`, recording every problem; `None` when
/// the document as a whole has the wrong shape.
pub(crate) fn decode<'de, T: Deserialize<'de>>(
    root: &Node,
    file: &Rc<str>,
    recorder: &Recorder,
) -> Option<T> {
    let de = NodeDe {
        node: root,
        path: Path::Root,
        file,
        recorder,
    };
    T::deserialize(de).ok()
}

/// Why decoding stopped; `recorded` tells whether a diagnostic was already
/// written (with a better position than the caller has).
#[derive(Debug)]
pub(crate) struct DecodeError {
    recorded: bool,
    message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        DecodeError {
            recorded: false,
            message: msg.to_string(),
        }
    }
}

/// Deserializes one node.
struct NodeDe<'a> {
    node: &'a Node,
    path: Path<'a>,
    file: &'a Rc<str>,
    recorder: &'a Recorder,
}

impl<'a> NodeDe<'a> {
    fn fail(&self, problem: Problem) -> DecodeError {
        self.recorder
            .record(self.file, self.node.pos, self.path.to_string(), problem);
        DecodeError {
            recorded: true,
            message: String::new(),
        }
    }

    fn wrong_type(&self, expected: &'static str) -> DecodeError {
        self.fail(Problem::WrongType {
            expected,
            found: self.node.describe(),
        })
    }

    /// The text of a non-null scalar.
    fn scalar(&self, expected: &'static str) -> Result<(&'a str, bool), DecodeError> {
        match &self.node.value {
            Value::Scalar { text, plain } if !self.node.is_null() => Ok((text, *plain)),
            _ => Err(self.wrong_type(expected)),
        }
    }

    fn unsigned(&self, max: u64, expected: &'static str) -> Result<u64, DecodeError> {
        match self.scalar(expected)? {
            (text, true) => match text.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(self.wrong_type(expected)),
            },
            (_, false) => Err(self.wrong_type(expected)),
        }
    }

    fn child<'b>(&'b self, node: &'b Node, path: Path<'b>) -> NodeDe<'b> {
        NodeDe {
            node,
            path,
            file: self.file,
            recorder: self.recorder,
        }
    }
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            _ if self.node.is_null() => visitor.visit_unit(),
            Value::Scalar { text, .. } => visitor.visit_str(text),
            Value::Seq(_) => self.deserialize_seq(visitor),
            Value::Map(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.scalar("true or false")? {
            (text, true) => match parse_bool(text) {
                Some(b) => visitor.visit_bool(b),
                None => Err(self.wrong_type("true or false")),
            },
            (_, false) => Err(self.wrong_type("true or false")),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u64(self.unsigned(u8::MAX.into(), "a whole number from 0 to 255")?)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u64(self.unsigned(u16::MAX.into(), "a whole number from 0 to 65535")?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u64(self.unsigned(u32::MAX.into(), "a whole number from 0 to 4294967295")?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_u64(self.unsigned(u64::MAX, "a whole number")?)
    }

    /// Any scalar is a string (its text as written); `null` is not.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let (text, _) = self.scalar("a string")?;
        visitor.visit_str(text)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if name == INTEGER_MARKER {
            return match self.scalar("a whole number")? {
                (text, true) if is_integer_text(text) => visitor.visit_str(text),
                _ => Err(self.wrong_type("a whole number")),
            };
        }
        if name != VAL_MARKER {
            return visitor.visit_newtype_struct(self);
        }
        let origin = self.recorder.add_origin(Origin {
            file: self.file.clone(),
            pos: self.node.pos,
            path: self.path.to_string(),
        });
        visitor.visit_seq(ValAccess {
            de: Some(self),
            origin,
            origin_sent: false,
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let Value::Seq(items) = &self.node.value else {
            return Err(self.wrong_type("a list"));
        };
        visitor.visit_seq(SeqAccess {
            parent: &self,
            items: items.iter().enumerate(),
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.wrong_type("a mapping"));
        };
        visitor.visit_map(MapAccess {
            parent: &self,
            entries: entries.iter(),
            value: None,
        })
    }

    /// Reports every key not in `fields` and hides it from the derived
    /// visitor, which would otherwise stop at the first.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.wrong_type("a mapping"));
        };
        let mut known = Vec::with_capacity(entries.len());
        for entry @ (key, _) in entries {
            if fields.contains(&key.text.as_str()) {
                known.push(entry);
            } else {
                self.recorder.record(
                    self.file,
                    key.pos,
                    Path::Key(&self.path, &key.text).to_string(),
                    Problem::UnknownField {
                        suggestion: closest(&key.text, fields),
                    },
                );
            }
        }
        visitor.visit_map(MapAccess {
            parent: &self,
            entries: known.into_iter(),
            value: None,
        })
    }

    /// Unit variants from a closed set of strings; the set is checked here
    /// so the message can list it.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let (text, _) = self.scalar("a string")?;
        if !variants.contains(&text) {
            return Err(self.fail(Problem::UnknownValue {
                value: text.to_owned(),
                expected: variants.join(", "),
            }));
        }
        visitor.visit_enum(text.into_deserializer())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct identifier
    }
}

/// Hands a [`ValVisitor`] its origin, then its value, recording a failure of
/// the value at the value's position.
struct ValAccess<'a> {
    de: Option<NodeDe<'a>>,
    origin: u32,
    origin_sent: bool,
}

impl<'de> de::SeqAccess<'de> for ValAccess<'_> {
    type Error = DecodeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DecodeError> {
        if !self.origin_sent {
            self.origin_sent = true;
            return seed
                .deserialize(U32Deserializer::new(self.origin))
                .map(Some);
        }
        let Some(de) = self.de.take() else {
            return Ok(None);
        };
        if de.node.is_null() {
            return Ok(None);
        }
        let recorder = de.recorder;
        let origin = OriginId(self.origin);
        seed.deserialize(de).map(Some).inspect_err(|e| {
            if !e.recorded {
                let at = recorder.origin(origin);
                recorder.record(
                    &at.file,
                    at.pos,
                    at.path,
                    Problem::Decode(e.message.clone()),
                );
            }
        })
    }
}

struct SeqAccess<'p, 'a, I> {
    parent: &'p NodeDe<'a>,
    items: I,
}

impl<'de, 'p, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de>
    for SeqAccess<'p, 'a, I>
{
    type Error = DecodeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DecodeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(&self.parent.path, i);
        seed.deserialize(self.parent.child(node, path)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.items.size_hint().1
    }
}

struct MapAccess<'p, 'a, I> {
    parent: &'p NodeDe<'a>,
    entries: I,
    value: Option<&'a (crate::yaml::Key, Node)>,
}

impl<'de, 'p, 'a, I: Iterator<Item = &'a (crate::yaml::Key, Node)>> de::MapAccess<'de>
    for MapAccess<'p, 'a, I>
{
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key: StrDeserializer<'_, DecodeError> = entry.0.text.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, DecodeError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value without a key"))?;
        let path = Path::Key(&self.parent.path, &key.text);
        seed.deserialize(self.parent.child(node, path))
    }
}

/// The known field closest to a misspelt one, if it is close enough to be a
/// likely typo (case slips, one or two letters off).
fn closest(key: &str, fields: &[&'static str]) -> Option<&'static str> {
    fields
        .iter()
        .map(|f| {
            (
                edit_distance(&key.to_ascii_lowercase(), &f.to_ascii_lowercase()),
                *f,
            )
        })
        .filter(|(d, f)| *d <= 2.max(f.len() / 4))
        .min()
        .map(|(_, f)| f)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}
