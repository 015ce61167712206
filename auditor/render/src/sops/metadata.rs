//! The `sops` metadata block: master keys, encryption rules, MAC.
//!
//! Read the way getsops/sops `stores/stores.go` (`Metadata`, `ToInternal`,
//! `internalKeygroups`) reads it, from the same JSON/YAML shape. The dotenv
//! store flattens it into `sops_*` keys; [`unflatten`] undoes that as
//! `stores/flatten.go` (`Unflatten`, `DecodeNewLines`, `DecodeNonStrings`) does.

use super::error::{Result, SopsError};
use regex::Regex;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::LazyLock;

/// Kinds of SOPS master key. Only [`KeyKind::Age`] (X25519) is decrypted by
/// flotilla; documents encrypted only to the others have their keys compared
/// and their values reported as not compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// age X25519 recipient (`age1…`).
    Age,
    /// age hybrid post-quantum recipient (`age1pq1…`, ML-KEM-768 + X25519).
    AgePostQuantum,
    /// age plugin (`age1<plugin>1…`) or tagged recipient.
    AgePlugin,
    /// age recipient that is an SSH public key (`ssh-ed25519 …`, `ssh-rsa …`).
    AgeSsh,
    /// OpenPGP key, by fingerprint.
    Pgp,
    /// Azure Key Vault key.
    AzureKeyVault,
    /// AWS KMS key.
    AwsKms,
    /// GCP KMS key.
    GcpKms,
    /// HashiCorp Vault / OpenBao transit key.
    HcVault,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Age => "age",
            KeyKind::AgePostQuantum => "age post-quantum",
            KeyKind::AgePlugin => "age plugin",
            KeyKind::AgeSsh => "age ssh",
            KeyKind::Pgp => "pgp",
            KeyKind::AzureKeyVault => "azure_kv",
            KeyKind::AwsKms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::HcVault => "hc_vault",
        })
    }
}

/// One master key of a document: its kind and public identity. The data key
/// it wraps is kept private and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// The kind.
    pub kind: KeyKind,
    /// Public identity: age recipient, PGP fingerprint, Key Vault
    /// `vault_url/keys/name/version`, KMS ARN, GCP resource id, Vault
    /// `address/engine_path/keys/key_name`.
    pub id: String,
    enc: String,
}

impl MasterKey {
    pub(crate) fn encrypted_data_key(&self) -> &str {
        &self.enc
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for MasterKey {
    /// `age age1l44x…`; identities longer than 64 characters (post-quantum
    /// recipients are 1959) are cut.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id.char_indices().nth(64) {
            Some((cut, _)) => write!(f, "{} {}…", self.kind, &self.id[..cut]),
            None => write!(f, "{} {}", self.kind, self.id),
        }
    }
}

/// The age recipient kind, as sops' `age/keysource.go` `parseRecipient`
/// tells them apart: `age1pq1…` is post-quantum (age v1.3), any other `age1…`
/// with a second `1` is a plugin (Bech32 data never contains `1`), `ssh-…` is
/// an SSH key.
fn age_kind(recipient: &str) -> KeyKind {
    if recipient.starts_with("age1pq1") {
        KeyKind::AgePostQuantum
    } else if recipient.starts_with("ssh-") {
        KeyKind::AgeSsh
    } else if recipient.starts_with("age1") && recipient.matches('1').count() == 1 {
        KeyKind::Age
    } else {
        KeyKind::AgePlugin
    }
}

/// Which leaves SOPS encrypted: at most one of the suffix/regex rules (the
/// default is `unencrypted_suffix: _unencrypted`), as `ToInternal` sets them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `unencrypted_suffix`.
    pub unencrypted_suffix: Option<String>,
    /// `encrypted_suffix`.
    pub encrypted_suffix: Option<String>,
    /// `unencrypted_regex`.
    pub unencrypted_regex: Option<Regex>,
    /// `encrypted_regex`.
    pub encrypted_regex: Option<Regex>,
    /// `unencrypted_comment_regex` or `encrypted_comment_regex` is set. They
    /// depend on YAML comments, which flotilla does not keep; such a document
    /// is decrypted wherever a value is an `ENC[…]` string.
    pub comment_rules: bool,
}

impl Rules {
    /// Whether SOPS encrypts the leaf at `path` (list indices are not part of
    /// the path). Mirrors sops `Tree.shouldBeEncrypted` (`sops.go`) for the
    /// suffix and regex rules; Go's `regexp.Match` is an unanchored search, as
    /// `Regex::is_match` is.
    pub fn should_encrypt(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = self.unencrypted_suffix.as_deref().filter(|s| !s.is_empty())
            && path.iter().any(|p| p.ends_with(suffix))
        {
            encrypted = false;
        }
        if let Some(suffix) = self.encrypted_suffix.as_deref().filter(|s| !s.is_empty()) {
            encrypted = path.iter().any(|p| p.ends_with(suffix));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        encrypted
    }
}

/// The `sops` block of a document.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Master keys, one list per key group (one group unless Shamir is used).
    pub key_groups: Vec<Vec<MasterKey>>,
    /// `shamir_threshold`, when set.
    pub shamir_threshold: Option<u64>,
    /// `lastmodified` as written.
    pub last_modified: String,
    /// `version` of sops that wrote the file.
    pub version: Option<String>,
    /// `mac_only_encrypted`: the MAC covers only encrypted leaves.
    pub mac_only_encrypted: bool,
    /// Which leaves are encrypted.
    pub rules: Rules,
    mac: Option<String>,
}

impl Metadata {
    /// Every master key, in document order.
    pub fn master_keys(&self) -> impl Iterator<Item = &MasterKey> {
        self.key_groups.iter().flatten()
    }

    /// The distinct kinds of master key the document is encrypted to.
    pub fn key_kinds(&self) -> Vec<KeyKind> {
        let mut kinds: Vec<KeyKind> = self.master_keys().map(|k| k.kind).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The encrypted MAC, when the document has one.
    pub(crate) fn mac(&self) -> Option<&str> {
        self.mac.as_deref().filter(|m| !m.is_empty())
    }

    /// Read a `sops` block (YAML/JSON shape).
    pub fn from_value(sops: &Value) -> Result<Metadata> {
        let Some(map) = sops.as_object() else {
            return Err(meta_err("sops", "is not a mapping"));
        };
        let last_modified = str_field(map, "lastmodified")?
            .ok_or_else(|| meta_err("lastmodified", "is missing"))?;
        if rfc3339(&last_modified).is_none() {
            return Err(meta_err("lastmodified", "is not an RFC 3339 time"));
        }
        let mut key_groups = Vec::new();
        let top = keys_of(map, "")?;
        if !top.is_empty() {
            key_groups.push(top);
        } else if let Some(groups) = map.get("key_groups").filter(|v| !v.is_null()) {
            let Some(groups) = groups.as_array() else {
                return Err(meta_err("key_groups", "is not a list"));
            };
            for (i, group) in groups.iter().enumerate() {
                let Some(group) = group.as_object() else {
                    return Err(meta_err(format!("key_groups[{i}]"), "is not a mapping"));
                };
                key_groups.push(keys_of(group, &format!("key_groups[{i}]."))?);
            }
        }
        if key_groups.iter().all(Vec::is_empty) {
            return Err(meta_err("sops", "no master keys found"));
        }
        let shamir_threshold = match map.get("shamir_threshold") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => Some(
                s.parse()
                    .map_err(|_| meta_err("shamir_threshold", "is not an integer"))?,
            ),
            Some(_) => return Err(meta_err("shamir_threshold", "is not an integer")),
        };
        let mac_only_encrypted = match map.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            Some(_) => return Err(meta_err("mac_only_encrypted", "is not a boolean")),
        };
        let rules = rules_of(map)?;
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            last_modified,
            version: str_field(map, "version")?,
            mac_only_encrypted,
            rules,
            mac: str_field(map, "mac")?,
        })
    }
}

fn meta_err(field: impl Into<String>, reason: &'static str) -> SopsError {
    SopsError::Metadata {
        field: field.into(),
        reason,
    }
}

fn str_field(map: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(meta_err(field, "is not a string")),
    }
}

/// The rules, checked as `ToInternal` checks them: at most one of them. The
/// comment regexes (sops 3.9+) count as rules too.
fn rules_of(map: &Map<String, Value>) -> Result<Rules> {
    let nonempty = |field: &str| -> Result<Option<String>> {
        Ok(str_field(map, field)?.filter(|s| !s.is_empty()))
    };
    let regex = |field: &str| -> Result<Option<Regex>> {
        nonempty(field)?
            .map(|s| {
                Regex::new(&s).map_err(|_| meta_err(field, "is not a valid regular expression"))
            })
            .transpose()
    };
    let mut rules = Rules {
        unencrypted_suffix: nonempty("unencrypted_suffix")?,
        encrypted_suffix: nonempty("encrypted_suffix")?,
        unencrypted_regex: regex("unencrypted_regex")?,
        encrypted_regex: regex("encrypted_regex")?,
        comment_rules: nonempty("unencrypted_comment_regex")?.is_some()
            || nonempty("encrypted_comment_regex")?.is_some(),
    };
    let count = [
        rules.unencrypted_suffix.is_some(),
        rules.encrypted_suffix.is_some(),
        rules.unencrypted_regex.is_some(),
        rules.encrypted_regex.is_some(),
        rules.comment_rules,
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if count > 1 {
        return Err(meta_err(
            "sops",
            "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex and the comment regexes",
        ));
    }
    if count == 0 {
        rules.unencrypted_suffix = Some("_unencrypted".to_owned());
    }
    Ok(rules)
}

/// The master keys of one group (or of the top level), in the order of
/// sops' `internalGroupFrom`: kms, gcp_kms, azure_kv, hc_vault, pgp, age.
fn keys_of(map: &Map<String, Value>, prefix: &str) -> Result<Vec<MasterKey>> {
    type IdOf = fn(&Map<String, Value>) -> Option<String>;
    let sections: [(&str, IdOf); 6] = [
        ("kms", |k| s(k, "arn")),
        ("gcp_kms", |k| s(k, "resource_id")),
        ("azure_kv", |k| {
            Some(format!(
                "{}/keys/{}/{}",
                s(k, "vault_url")?.trim_end_matches('/'),
                s(k, "name")?,
                s(k, "version").unwrap_or_default()
            ))
        }),
        ("hc_vault", |k| {
            Some(format!(
                "{}/{}/keys/{}",
                s(k, "vault_address")?.trim_end_matches('/'),
                s(k, "engine_path").unwrap_or_default(),
                s(k, "key_name")?
            ))
        }),
        ("pgp", |k| s(k, "fp")),
        ("age", |k| s(k, "recipient")),
    ];
    let mut keys = Vec::new();
    for (section, id_of) in sections {
        let list = match map.get(section) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(list)) => list,
            Some(_) => return Err(meta_err(format!("{prefix}{section}"), "is not a list")),
        };
        for (i, key) in list.iter().enumerate() {
            let field = || format!("{prefix}{section}[{i}]");
            let key = key
                .as_object()
                .ok_or_else(|| meta_err(field(), "is not a mapping"))?;
            let id = id_of(key)
                .map(|id| id.trim().to_owned())
                .ok_or_else(|| meta_err(field(), "lacks its key identity"))?;
            let enc = s(key, "enc").unwrap_or_default();
            let kind = match section {
                "kms" => KeyKind::AwsKms,
                "gcp_kms" => KeyKind::GcpKms,
                "azure_kv" => KeyKind::AzureKeyVault,
                "hc_vault" => KeyKind::HcVault,
                "pgp" => KeyKind::Pgp,
                _ => age_kind(&id),
            };
            keys.push(MasterKey { kind, id, enc });
        }
    }
    Ok(keys)
}

fn s(map: &Map<String, Value>, field: &str) -> Option<String> {
    map.get(field)?.as_str().map(str::to_owned)
}

/// Undo the dotenv store's flattening: `age__list_0__map_recipient` →
/// `{"age": [{"recipient": …}]}`, `\n` escapes decoded (sops
/// `stores/flatten.go`).
pub fn unflatten(flat: &[(String, String)]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in flat {
        let value = value.replace("\\n", "\n");
        let mut node = &mut root;
        for token in tokenize(key) {
            node = match token {
                Token::Map(k) => {
                    if !node.is_object() {
                        *node = Value::Object(Map::new());
                    }
                    node.as_object_mut()
                        .expect("just made an object")
                        .entry(k)
                        .or_insert(Value::Null)
                }
                Token::List(i) => {
                    if !node.is_array() {
                        *node = Value::Array(Vec::new());
                    }
                    let list = node.as_array_mut().expect("just made a list");
                    // Cap the index so a hostile key cannot allocate much.
                    let i = i.min(1024);
                    if list.len() <= i {
                        list.resize(i + 1, Value::Null);
                    }
                    &mut list[i]
                }
            };
        }
        *node = Value::String(value);
    }
    root
}

enum Token {
    Map(String),
    List(usize),
}

fn tokenize(path: &str) -> Vec<Token> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut current = Token::Map(String::new());
    loop {
        let next_map = rest.find(MAP);
        let next_list = rest.find(LIST);
        let (cut, sep_len, is_map) = match (next_map, next_list) {
            (Some(m), Some(l)) if m < l => (m, MAP.len(), true),
            (Some(m), None) => (m, MAP.len(), true),
            (_, Some(l)) => (l, LIST.len(), false),
            (None, None) => (rest.len(), 0, true),
        };
        let text = &rest[..cut];
        tokens.push(match current {
            Token::Map(_) => Token::Map(text.to_owned()),
            Token::List(_) => Token::List(text.parse().unwrap_or(0)),
        });
        if sep_len == 0 {
            break;
        }
        rest = &rest[cut + sep_len..];
        current = if is_map {
            Token::Map(String::new())
        } else {
            Token::List(0)
        };
    }
    tokens
}

/// A time as Go's `time.Parse(time.RFC3339, …)` accepts it, formatted back
/// with `Format(time.RFC3339)` (fractional seconds dropped, a zero offset
/// written `Z`): sops encrypts the MAC with that string as AAD
/// (`decrypt/decrypt.go`, kustomize-controller `SopsDecryptWithFormat`).
pub(crate) fn rfc3339(text: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")
            .expect("valid regex")
    });
    let caps = RE.captures(text)?;
    let offset = match &caps[2] {
        "+00:00" | "-00:00" => "Z",
        other => other,
    };
    Some(format!("{}{offset}", &caps[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn age_recipients_are_told_apart_as_sops_does() {
        assert_eq!(
            age_kind("age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"),
            KeyKind::Age
        );
        assert_eq!(age_kind("age1pq1ehusfwsv"), KeyKind::AgePostQuantum);
        assert_eq!(age_kind("age1yubikey1qwerty"), KeyKind::AgePlugin);
        assert_eq!(age_kind("ssh-ed25519 AAAA"), KeyKind::AgeSsh);
    }

    #[test]
    fn rules_follow_should_be_encrypted() {
        let default = rules_of(&Map::new()).unwrap();
        assert!(default.should_encrypt(&["a".into(), "b".into()]));
        assert!(!default.should_encrypt(&["a_unencrypted".into(), "b".into()]));
        let meta = json!({"encrypted_regex": "^(data|stringData)$"});
        let regex = rules_of(meta.as_object().unwrap()).unwrap();
        assert!(regex.should_encrypt(&["stringData".into(), "key".into()]));
        assert!(!regex.should_encrypt(&["metadata".into(), "name".into()]));
        let meta = json!({"unencrypted_regex": "^public$"});
        let unregex = rules_of(meta.as_object().unwrap()).unwrap();
        assert!(!unregex.should_encrypt(&["public".into(), "x".into()]));
        assert!(unregex.should_encrypt(&["private".into()]));
        let meta = json!({"encrypted_suffix": "_secret"});
        let suffix = rules_of(meta.as_object().unwrap()).unwrap();
        assert!(suffix.should_encrypt(&["a_secret".into(), "b".into()]));
        assert!(!suffix.should_encrypt(&["a".into()]));
        let two = json!({"encrypted_regex": "x", "unencrypted_suffix": "_u"});
        assert!(rules_of(two.as_object().unwrap()).is_err());
    }

    #[test]
    fn dotenv_metadata_unflattens() {
        let flat = vec![
            (
                "age__list_0__map_recipient".to_owned(),
                "age1abc".to_owned(),
            ),
            ("age__list_0__map_enc".to_owned(), "a\\nb".to_owned()),
            ("lastmodified".to_owned(), "2024-11-12T13:33:42Z".to_owned()),
        ];
        assert_eq!(
            unflatten(&flat),
            json!({"age": [{"recipient": "age1abc", "enc": "a\nb"}], "lastmodified": "2024-11-12T13:33:42Z"})
        );
    }

    #[test]
    fn lastmodified_is_formatted_as_go_does() {
        assert_eq!(
            rfc3339("2024-11-12T13:33:42Z").unwrap(),
            "2024-11-12T13:33:42Z"
        );
        assert_eq!(
            rfc3339("2024-11-12T13:33:42.5+00:00").unwrap(),
            "2024-11-12T13:33:42Z"
        );
        assert_eq!(
            rfc3339("2024-11-12T13:33:42+02:00").unwrap(),
            "2024-11-12T13:33:42+02:00"
        );
        assert!(rfc3339("yesterday").is_none());
    }
}
