//! Reading the stores and walking the document: strip or decrypt each leaf.
//!
//! The walk follows sops `Tree.Decrypt` (`sops.go`): maps and lists in
//! document order, the key path grows with map keys only (list items share
//! their list's path), nulls are left alone and stay out of the MAC, a leaf
//! in a position the rules encrypt must be an `ENC[…]` string (or `""`).
//! The YAML and JSON stores drop the top-level `sops` key
//! (`stores/json/store.go` `LoadEncryptedFile`); the dotenv store takes
//! every `sops_*` line as metadata and keeps comment lines
//! (`stores/dotenv/store.go`); the binary store is the JSON store.

use super::cipher::{self, DataKey, Mac, Plain, looks_encrypted};
use super::error::{Result, SopsError};
use super::metadata::{Metadata, unflatten};
use super::{Decrypted, Document, Format, PlainDocument};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Number, Value};

/// The content of a document, without its metadata.
pub(crate) enum Body {
    /// YAML, JSON and binary documents.
    Tree(Value),
    /// Dotenv lines, comments kept.
    Dotenv(Vec<Line>),
}

/// One dotenv line.
pub(crate) enum Line {
    Comment(String),
    Pair(String, String),
}

impl Body {
    /// The content as JSON (dotenv: an object of its pairs).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Body::Tree(v) => v.clone(),
            Body::Dotenv(lines) => Value::Object(
                lines
                    .iter()
                    .filter_map(|line| match line {
                        Line::Pair(k, v) => Some((k.clone(), Value::String(v.clone()))),
                        Line::Comment(_) => None,
                    })
                    .collect(),
            ),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            Body::Tree(v) => super::zeroize_value(v),
            Body::Dotenv(lines) => {
                for line in lines {
                    match line {
                        Line::Comment(c) => c.zeroize(),
                        Line::Pair(_, v) => v.zeroize(),
                    }
                }
            }
        }
    }
}

/// A YAML/JSON document as a value: its `sops` key becomes the metadata.
pub(crate) fn from_value(mut value: Value) -> Result<Document> {
    let Some(map) = value.as_object_mut() else {
        return Err(SopsError::Parse {
            format: "json",
            line: None,
            column: None,
        });
    };
    let sops = map.shift_remove("sops").ok_or(SopsError::NotEncrypted)?;
    let metadata = Metadata::from_value(&sops)?;
    Ok(Document {
        metadata,
        body: Body::Tree(std::mem::take(&mut value)),
    })
}

/// Parse a file or data value in its store.
pub(crate) fn parse(bytes: &[u8], format: Format) -> Result<Document> {
    let parse_err = |format, line, column| SopsError::Parse {
        format,
        line,
        column,
    };
    match format {
        Format::Json | Format::Binary => {
            // Only the position: serde_json messages may quote the input.
            let value: Value = serde_json::from_slice(bytes)
                .map_err(|e| parse_err("json", Some(e.line() as u64), Some(e.column() as u64)))?;
            if !value.is_object() {
                return Err(parse_err("json", None, None));
            }
            from_value(value)
        }
        Format::Yaml => {
            let text = std::str::from_utf8(bytes).map_err(|_| parse_err("yaml", None, None))?;
            // Only the position: parser messages may quote the input.
            let value: Value = serde_saphyr::from_str(text).map_err(|e| {
                let at = e.location();
                parse_err("yaml", at.map(|l| l.line()), at.map(|l| l.column()))
            })?;
            if !value.is_object() {
                return Err(parse_err("yaml", None, None));
            }
            from_value(value)
        }
        Format::Dotenv => parse_dotenv(bytes),
        Format::Ini => Err(SopsError::UnsupportedFormat { format: "ini" }),
    }
}

/// The dotenv store: lines split on `\n`, empty lines skipped, `#…` a
/// comment, else `KEY=value` split at the first `=`, `\n` escapes decoded.
fn parse_dotenv(bytes: &[u8]) -> Result<Document> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Parse {
        format: "dotenv",
        line: None,
        column: None,
    })?;
    let mut lines = Vec::new();
    let mut flat = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            lines.push(Line::Comment(comment.to_owned()));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(SopsError::Parse {
                format: "dotenv",
                line: Some(i as u64 + 1),
                column: None,
            });
        };
        if let Some(meta_key) = key.strip_prefix("sops_") {
            flat.push((meta_key.to_owned(), value.to_owned()));
        } else {
            lines.push(Line::Pair(key.to_owned(), value.replace("\\n", "\n")));
        }
    }
    let sops = unflatten(&flat);
    if sops.get("mac").is_none() {
        return Err(SopsError::NotEncrypted);
    }
    Ok(Document {
        metadata: Metadata::from_value(&sops)?,
        body: Body::Dotenv(lines),
    })
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// Whether the leaf at `path` is encrypted: by the rules, or (when the
/// rules depend on comments flotilla does not keep) by its look.
fn encrypted_at(meta: &Metadata, path: &[String], leaf: &Value) -> bool {
    if meta.rules.comment_rules {
        matches!(leaf, Value::String(s) if looks_encrypted(s))
    } else {
        meta.rules.should_encrypt(path)
    }
}

/// The bytes sops' `ToBytes` gives an unencrypted leaf.
fn leaf_bytes(leaf: &Value) -> Vec<u8> {
    match leaf {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string().into_bytes(),
            (_, Some(u), _) => u.to_string().into_bytes(),
            (_, _, Some(f)) => cipher::go_format_float(f).into_bytes(),
            _ => Vec::new(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => Vec::new(),
    }
}

/// Replace every encrypted value by `marker`. A string that looks like an
/// `ENC[…]` value is replaced wherever it is, so no ciphertext survives
/// even when the rules say the position is in clear.
pub(crate) fn strip(body: &Body, meta: &Metadata, marker: &str) -> Value {
    fn walk(v: &Value, path: &mut Vec<String>, meta: &Metadata, marker: &str) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, child)| {
                        path.push(k.clone());
                        let out = walk(child, path, meta, marker);
                        path.pop();
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| walk(item, path, meta, marker))
                    .collect(),
            ),
            Value::String(s)
                if looks_encrypted(s) || (!s.is_empty() && encrypted_at(meta, path, v)) =>
            {
                Value::String(marker.to_owned())
            }
            other => other.clone(),
        }
    }
    match body {
        Body::Tree(v) => walk(v, &mut Vec::new(), meta, marker),
        Body::Dotenv(lines) => {
            let mut out = Map::new();
            for line in lines {
                if let Line::Pair(k, v) = line {
                    let leaf = Value::String(v.clone());
                    let stripped = walk(&leaf, &mut vec![k.clone()], meta, marker);
                    out.insert(k.clone(), stripped);
                }
            }
            Value::Object(out)
        }
    }
}

/// Decrypt every encrypted leaf and compute the MAC on the way.
pub(crate) fn decrypt(
    body: &Body,
    meta: &Metadata,
    key: &DataKey,
) -> Result<Decrypted<PlainDocument>> {
    let mut mac = Mac::new(meta.mac_only_encrypted);
    let body = match body {
        Body::Tree(v) => Body::Tree(decrypt_tree(v, &mut Vec::new(), meta, key, &mut mac)?),
        Body::Dotenv(lines) => {
            let mut out = Vec::with_capacity(lines.len());
            for line in lines {
                out.push(match line {
                    Line::Comment(c) => {
                        // Comments use the enclosing path (none: `:`); one
                        // that does not decrypt was written in clear
                        // (sops `Tree.Decrypt` keeps it).
                        let text = if meta.rules.should_encrypt(&[]) && looks_encrypted(c) {
                            match cipher::decrypt(c, key, ":") {
                                Ok(mut plain) => plain_string(&mut plain),
                                Err(_) => c.clone(),
                            }
                        } else {
                            c.clone()
                        };
                        Line::Comment(text)
                    }
                    Line::Pair(k, v) => {
                        let path = vec![k.clone()];
                        let leaf = Value::String(v.clone());
                        let value = decrypt_leaf(&leaf, &path, meta, key, &mut mac)?;
                        let text = match value {
                            Value::String(s) => s,
                            other => super::emit::value_to_string(&other),
                        };
                        Line::Pair(k.clone(), text)
                    }
                });
            }
            Body::Dotenv(out)
        }
    };
    let mac_ok = mac.matches(meta.mac(), &meta.last_modified, key);
    Ok(Decrypted {
        value: PlainDocument(body),
        mac_ok,
    })
}

fn decrypt_tree(
    v: &Value,
    path: &mut Vec<String>,
    meta: &Metadata,
    key: &DataKey,
    mac: &mut Mac,
) -> Result<Value> {
    Ok(match v {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, child) in map {
                path.push(k.clone());
                let value = decrypt_tree(child, path, meta, key, mac);
                path.pop();
                out.insert(k.clone(), value?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| decrypt_tree(item, path, meta, key, mac))
                .collect::<Result<_>>()?,
        ),
        Value::Null => Value::Null,
        leaf => decrypt_leaf(leaf, path, meta, key, mac)?,
    })
}

fn decrypt_leaf(
    leaf: &Value,
    path: &[String],
    meta: &Metadata,
    key: &DataKey,
    mac: &mut Mac,
) -> Result<Value> {
    if !encrypted_at(meta, path, leaf) {
        mac.add(&leaf_bytes(leaf), false);
        return Ok(leaf.clone());
    }
    let Value::String(s) = leaf else {
        return Err(SopsError::NotAString {
            path: path.join("."),
        });
    };
    let mut plain = cipher::decrypt(s, key, &aad(path))?;
    mac.add(&plain.mac_bytes(), true);
    Ok(match &mut plain {
        Plain::Str(s) | Plain::Comment(s) => Value::String(std::mem::take(s)),
        Plain::Int(i) => Value::Number((*i).into()),
        Plain::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Plain::Bool(b) => Value::Bool(*b),
        // Go's json.Marshal writes []byte as base64.
        Plain::Bytes(b) => Value::String(STANDARD.encode(b)),
    })
}

fn plain_string(plain: &mut Plain) -> String {
    match plain {
        Plain::Str(s) | Plain::Comment(s) => std::mem::take(s),
        _ => String::from_utf8_lossy(&plain.mac_bytes()).into_owned(),
    }
}
