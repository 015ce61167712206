//! Writing a decrypted document in the format Flux writes it.
//!
//! The bytes matter: a decrypted generator source or Secret data value
//! becomes a Secret value whose digest is compared with the cluster's. The
//! emitters mirror sops' `EmitPlainFile` of each store:
//! - binary (`stores/json/store.go` `BinaryStore`): the `data` value as is;
//! - dotenv (`stores/dotenv/store.go`): `KEY=value\n`, newlines written `\n`,
//!   comments `#…\n`, nested values refused;
//! - JSON (`stores/json/store.go` `encodeTree` + `json.Indent` with a tab,
//!   then `\n`): Go's `encoding/json` escaping and number formatting;
//! - YAML: sops leaves the layout to go-yaml v3; flotilla writes the same
//!   content with serde-saphyr and says it is not byte-exact.

use super::cipher::{go_format_float, go_json_float};
use super::error::{Result, SopsError};
use super::tree::{Body, Line};
use super::{Format, Plaintext};
use serde_json::Value;
use zeroize::Zeroizing;

pub(crate) fn emit(body: &Body, format: Format) -> Result<Plaintext> {
    let exact = |bytes: Vec<u8>| Plaintext {
        bytes: Zeroizing::new(bytes),
        byte_exact: true,
    };
    match format {
        Format::Binary => binary(body).map(exact),
        Format::Dotenv => dotenv(body).map(exact),
        Format::Json => {
            let value = Zeroizing::new(PlainTmp(body.to_value()));
            let mut out = String::new();
            write_json(&value.0, 0, &mut out);
            out.push('\n');
            Ok(exact(out.into_bytes()))
        }
        Format::Yaml => {
            let value = Zeroizing::new(PlainTmp(body.to_value()));
            let text = serde_saphyr::to_string(&value.0).map_err(|_| SopsError::Emit {
                format: "yaml",
                reason: "the document cannot be written as yaml",
            })?;
            Ok(Plaintext {
                bytes: Zeroizing::new(text.into_bytes()),
                byte_exact: false,
            })
        }
        Format::Ini => Err(SopsError::UnsupportedFormat { format: "ini" }),
    }
}

/// A temporary plaintext value, zeroized when dropped.
struct PlainTmp(Value);

impl zeroize::Zeroize for PlainTmp {
    fn zeroize(&mut self) {
        super::zeroize_value(&mut self.0);
    }
}

fn binary(body: &Body) -> Result<Vec<u8>> {
    let err = |reason| SopsError::Emit {
        format: "binary",
        reason,
    };
    let data = match body {
        Body::Tree(Value::Object(map)) => match map.get("data") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(err("'data' is not a string")),
            None => return Err(err("no 'data' value")),
        },
        Body::Tree(_) => return Err(err("no 'data' value")),
        Body::Dotenv(lines) => lines
            .iter()
            .find_map(|line| match line {
                Line::Pair(k, v) if k == "data" => Some(v.clone()),
                _ => None,
            })
            .ok_or_else(|| err("no 'data' value"))?,
    };
    Ok(data.into_bytes())
}

fn dotenv(body: &Body) -> Result<Vec<u8>> {
    let mut out = String::new();
    match body {
        Body::Dotenv(lines) => {
            for line in lines {
                match line {
                    Line::Comment(c) => {
                        out.push('#');
                        out.push_str(c);
                    }
                    Line::Pair(k, v) => {
                        out.push_str(k);
                        out.push('=');
                        out.push_str(&v.replace('\n', "\\n"));
                    }
                }
                out.push('\n');
            }
        }
        Body::Tree(Value::Object(map)) => {
            for (k, v) in map {
                if v.is_object() || v.is_array() {
                    return Err(SopsError::Emit {
                        format: "dotenv",
                        reason: "nested values cannot be written as dotenv",
                    });
                }
                out.push_str(k);
                out.push('=');
                out.push_str(&value_to_string(v).replace('\n', "\\n"));
                out.push('\n');
            }
        }
        Body::Tree(_) => {
            return Err(SopsError::Emit {
                format: "dotenv",
                reason: "the document is not a mapping",
            });
        }
    }
    Ok(out.into_bytes())
}

/// sops `stores.ValueToString`: strings as is, floats `'f'`, bools
/// `true`/`false`, anything else as Go's `%v`.
pub(crate) fn value_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_format_float(f),
            _ => String::new(),
        },
        Value::Null => "<nil>".to_owned(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn indent(depth: usize, out: &mut String) {
    out.extend(std::iter::repeat_n('\t', depth));
}

/// Go's `json.Indent(…, "", "\t")` of sops' compact encoding.
fn write_json(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&go_json_float(f)),
            _ => out.push_str("null"),
        },
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(depth + 1, out);
                write_json(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, item)) in map.iter().enumerate() {
                indent(depth + 1, out);
                write_json_string(k, out);
                out.push_str(": ");
                write_json(item, depth + 1, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            indent(depth, out);
            out.push('}');
        }
    }
}

/// Go's `encoding/json` string encoding: HTML-safe (`<`, `>`, `&` as
/// `\u003c`…), U+2028/U+2029 escaped, `\b` and `\f` short (Go 1.22+).
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(v: Value) -> String {
        let mut out = String::new();
        write_json(&v, 0, &mut out);
        out
    }

    #[test]
    fn json_is_indented_and_escaped_as_go() {
        assert_eq!(json_of(json!({"foo": "bar"})), "{\n\t\"foo\": \"bar\"\n}");
        assert_eq!(
            json_of(json!({"a": [1, {"b": null}], "e": {}, "l": [], "s": "<&>\u{1}"})),
            "{\n\t\"a\": [\n\t\t1,\n\t\t{\n\t\t\t\"b\": null\n\t\t}\n\t],\n\t\"e\": {},\n\t\"l\": [],\n\t\"s\": \"\\u003c\\u0026\\u003e\\u0001\"\n}"
        );
    }
}
