//! SOPS documents: detect them, list their keys without a key, decrypt them
//! with age as Flux's kustomize-controller would.
//!
//! Secrets encrypted with SOPS are stored in Git with their key names in
//! clear and every value as `ENC[AES256_GCM,…]`, plus a `sops` block (master
//! keys, MAC). Flux decrypts them on the way to the cluster
//! (`spec.decryption`), so neither the ciphertext nor the `sops` block is
//! desired state. This module gives the renderer three things:
//!
//! - **Detection**, as kustomize-controller `internal/decryptor/decryptor.go`
//!   does it: [`is_encrypted_object`] (a resource with a non-empty
//!   `sops.mac`, any kind), [`is_encrypted_bytes`] / [`Format::detect`] (the
//!   marker bytes of a Secret `data` value or a generator source),
//!   [`Format::for_path`] (the format Flux picks from a file or data key
//!   name), [`is_decryption_disabled`] (the opt-out annotation).
//! - **Without a key**, [`strip`]: the document's shape with every encrypted
//!   value replaced by a marker and the `sops` block removed, so keys are
//!   compared and values reported as not compared. [`Metadata`] names the
//!   master keys (age recipients, PGP fingerprints, Key Vault keys, …).
//! - **With a key**, [`decrypt_value`] (a resource, as the controller's JSON
//!   path) and [`decrypt_bytes`] (a file or data value in any store, written
//!   out in the format Flux would write). The MAC is not checked by Flux
//!   (`checkSopsMac` is never set), so a mismatch is reported as
//!   [`Decrypted::mac_ok`], never as an error.
//!
//! Plaintext is held in [`PlainValue`] and [`Plaintext`], which zeroize on
//! drop and print as `<redacted>`; errors ([`SopsError`]) never carry a value,
//! plaintext or ciphertext.
//!
//! What is not decrypted: PGP, AWS/GCP KMS, Azure Key Vault and Vault master
//! keys (flotilla holds none of them; such documents fail with
//! [`SopsError::UnsupportedKeyType`], and the caller compares keys only),
//! age post-quantum, plugin and SSH recipients, Shamir key groups, INI files.
//! YAML comments are not kept, so `*_comment_regex` rules fall back to
//! "decrypt what is `ENC[…]`", and YAML output is equal in content but not
//! byte for byte what sops' go-yaml emitter writes ([`Plaintext::byte_exact`]).
//!
//! Crates: `age` (the rage project) unwraps data keys, `aes-gcm` opens values
//! (`AesGcm<Aes256, U32>` for sops' 32-byte IV), `sha2` computes the MAC.
//! `age` 0.11 rather than 0.12: 0.12 adds only encryption-only tag recipients
//! and pulls in `hpke`, `p256` and `ml-kem`; neither version reads
//! post-quantum identities. The `rops` crate (a SOPS-like library) is not
//! used: it reads YAML, JSON and TOML but not the dotenv and binary stores
//! Flux decrypts generator sources with, pulls in the AWS SDK by default, and
//! has none of what Flux-faithful reading needs here (markers, MAC as a
//! signal, stripping without a key, Go's output formatting).

mod cipher;
mod emit;
mod error;
mod keyring;
mod metadata;
mod tree;

pub use cipher::DataKey;
pub use error::{Result, SopsError};
pub use keyring::{Keyring, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE};
pub use metadata::{KeyKind, MasterKey, Metadata, Rules};

use serde_json::Value;
use std::fmt;
use tree::Body;
use zeroize::{Zeroize, Zeroizing};

/// The annotation that opts a resource out of decryption
/// (kustomize-controller `IsDecryptionDisabled`).
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// The largest encrypted source file (generator source, patch) Flux
/// decrypts: 5 MiB (kustomize-controller `maxEncryptedFileSize`; larger files
/// fail the build). Resources and Secret data values have no such limit.
pub const MAX_ENCRYPTED_FILE_SIZE: u64 = 5 << 20;

/// A SOPS store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML document.
    Yaml,
    /// JSON document.
    Json,
    /// `KEY=value` lines, metadata flattened into `sops_*` keys.
    Dotenv,
    /// Any file, encrypted whole as the `data` value of a JSON document.
    Binary,
    /// INI: detected, not read.
    Ini,
}

impl Format {
    /// The format sops picks from a path (`cmd/sops/formats` `FormatForPath`:
    /// `.yaml`/`.yml`, `.json`, `.env`, `.ini`, else binary), with Flux's
    /// exception that a name ending `.dockerconfigjson` is JSON
    /// (kustomize-controller `formatForPath`). Flux applies it to the key of
    /// a `secretGenerator` file source (`key=path` → `key`), to a patch path
    /// and to a Secret data key.
    pub fn for_path(path: &str) -> Format {
        if path.ends_with(".dockerconfigjson") || path.ends_with(".json") {
            Format::Json
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            Format::Yaml
        } else if path.ends_with(".env") {
            Format::Dotenv
        } else if path.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The format of a `secretGenerator` `envs` source: [`Format::for_path`],
    /// with binary read as dotenv (kustomize-controller
    /// `decryptKustomizationSources`).
    pub fn for_env_path(path: &str) -> Format {
        match Format::for_path(path) {
            Format::Binary => Format::Dotenv,
            other => other,
        }
    }

    /// The bytes whose presence makes Flux treat content of this format as
    /// SOPS-encrypted (kustomize-controller `sopsFormatToMarkerBytes`).
    pub fn marker(self) -> &'static [u8] {
        match self {
            Format::Yaml => b"mac: ENC[",
            Format::Json | Format::Binary => b"\"mac\": \"ENC[",
            Format::Dotenv => b"sops_mac=ENC[",
            Format::Ini => b"[sops]",
        }
    }

    /// The input format of a Secret data value, from the markers it
    /// contains (kustomize-controller `detectFormatFromMarkerBytes`; JSON and
    /// binary share a marker and load the same way, JSON is returned).
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini]
            .into_iter()
            .find(|f| contains(bytes, f.marker()))
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Binary => "binary",
            Format::Ini => "ini",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether Flux decrypts this resource as a whole: a top-level `sops` with a
/// non-empty `mac` (kustomize-controller `isSOPSEncryptedResource`), whatever
/// its kind. A document without `sops.mac` is not SOPS-encrypted for Flux.
pub fn is_encrypted_object(obj: &Value) -> bool {
    match obj.get("sops").and_then(|s| s.get("mac")) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// Whether bytes (a Secret data value after base64 decoding, or a file)
/// carry a SOPS marker of any format Flux knows.
pub fn is_encrypted_bytes(bytes: &[u8]) -> bool {
    Format::detect(bytes).is_some()
}

/// Whether a resource opted out of decryption with
/// `kustomize.toolkit.fluxcd.io/decrypt: disabled` (compared ignoring case,
/// as Go's `strings.EqualFold`).
pub fn is_decryption_disabled(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(DECRYPT_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// A decryption result, with the MAC verdict beside it.
pub struct Decrypted<T> {
    /// The plaintext.
    pub value: T,
    /// Whether the document's MAC matches its plaintext. Flux does not check
    /// it, so a mismatch does not stop decryption; the caller may report it.
    pub mac_ok: bool,
}

impl<T> fmt::Debug for Decrypted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("value", &"<redacted>")
            .field("mac_ok", &self.mac_ok)
            .finish()
    }
}

/// A decrypted document as JSON. Every string in it is zeroized on drop.
pub struct PlainValue(Value);

impl PlainValue {
    /// The document.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The document, to seal or substitute in place.
    pub fn as_value_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    /// Take the document out; from here the caller must keep its values out
    /// of every output (seal them, see [`flotilla_core::secret::seal_secret`]).
    pub fn into_value(mut self) -> Value {
        std::mem::take(&mut self.0)
    }
}

impl Drop for PlainValue {
    fn drop(&mut self) {
        zeroize_value(&mut self.0);
    }
}

impl fmt::Debug for PlainValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainValue(<redacted>)")
    }
}

fn zeroize_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_value),
        Value::Object(map) => map.values_mut().for_each(zeroize_value),
        _ => {}
    }
}

/// A decrypted file or data value, as Flux would write it. Zeroized on drop.
pub struct Plaintext {
    bytes: Zeroizing<Vec<u8>>,
    byte_exact: bool,
}

impl Plaintext {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether these are the bytes sops writes for this output format
    /// (binary, dotenv, JSON), or only the same content (YAML, whose layout
    /// sops leaves to go-yaml). A digest of a non-exact plaintext may differ
    /// from the digest of what Flux applied.
    pub fn byte_exact(&self) -> bool {
        self.byte_exact
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plaintext")
            .field("bytes", &"<redacted>")
            .field("len", &self.bytes.len())
            .field("byte_exact", &self.byte_exact)
            .finish()
    }
}

/// A parsed SOPS document: its metadata and its (still encrypted) content.
pub struct Document {
    metadata: Metadata,
    body: Body,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Document {
    /// A resource Flux decrypts as a whole (see [`is_encrypted_object`]).
    pub fn from_object(obj: &Value) -> Result<Document> {
        if !is_encrypted_object(obj) {
            return Err(SopsError::NotEncrypted);
        }
        tree::from_value(obj.clone())
    }

    /// A file or data value in `format`.
    pub fn parse(bytes: &[u8], format: Format) -> Result<Document> {
        tree::parse(bytes, format)
    }

    /// The `sops` block.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The document without its `sops` block, every encrypted value replaced
    /// by `marker`. Dotenv documents become a JSON object of their keys.
    pub fn strip(&self, marker: &str) -> Value {
        tree::strip(&self.body, &self.metadata, marker)
    }

    /// Decrypt with a data key (see [`Keyring::data_key`]).
    pub fn decrypt_with(&self, key: &DataKey) -> Result<Decrypted<PlainDocument>> {
        tree::decrypt(&self.body, &self.metadata, key)
    }

    /// Decrypt with the keyring's identities.
    pub fn decrypt(&self, keys: &Keyring) -> Result<Decrypted<PlainDocument>> {
        let key = keys.data_key(&self.metadata)?;
        self.decrypt_with(&key)
    }
}

/// A decrypted document, before it is written out.
pub struct PlainDocument(Body);

impl PlainDocument {
    /// The document as JSON (a dotenv document becomes an object of strings).
    pub fn into_value(self) -> PlainValue {
        PlainValue(self.0.to_value())
    }

    /// The document written in `format`, as sops' store for it writes it
    /// (`EmitPlainFile`).
    pub fn emit(&self, format: Format) -> Result<Plaintext> {
        emit::emit(&self.0, format)
    }
}

impl fmt::Debug for PlainDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainDocument(<redacted>)")
    }
}

/// Without a key: `doc` (a resource with `sops` metadata) with every
/// encrypted value replaced by `marker` and the `sops` block removed.
pub fn strip(doc: &Value, marker: &str) -> Result<Value> {
    Ok(Document::from_object(doc)?.strip(marker))
}

/// With a key: the plaintext resource, `sops` block removed, typed values
/// restored, as kustomize-controller's `DecryptResource` (JSON in, JSON out).
pub fn decrypt_value(doc: &Value, keys: &Keyring) -> Result<Decrypted<PlainValue>> {
    let decrypted = Document::from_object(doc)?.decrypt(keys)?;
    Ok(Decrypted {
        value: decrypted.value.into_value(),
        mac_ok: decrypted.mac_ok,
    })
}

/// With a key: a file or Secret data value read in `input` and written in
/// `output`, as kustomize-controller's `SopsDecryptWithFormat`. Generator
/// sources and patches are decrypted with `input == output`; a Secret data
/// value with `input` from [`Format::detect`] and `output` from
/// [`Format::for_path`] of its key.
pub fn decrypt_bytes(
    bytes: &[u8],
    input: Format,
    output: Format,
    keys: &Keyring,
) -> Result<Decrypted<Plaintext>> {
    let decrypted = Document::parse(bytes, input)?.decrypt(keys)?;
    Ok(Decrypted {
        value: decrypted.value.emit(output)?,
        mac_ok: decrypted.mac_ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_follow_flux_for_path() {
        assert_eq!(Format::for_path("file.txt"), Format::Binary);
        assert_eq!(Format::for_path("a.yml"), Format::Yaml);
        assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
        assert_eq!(Format::for_env_path("env"), Format::Dotenv);
        assert_eq!(Format::for_env_path("x.env"), Format::Dotenv);
        assert_eq!(Format::for_env_path("x.json"), Format::Json);
    }

    #[test]
    fn markers_detect_formats() {
        assert_eq!(Format::detect(b"sops:\n  mac: ENC[x"), Some(Format::Yaml));
        assert_eq!(Format::detect(b"{\"mac\": \"ENC[x"), Some(Format::Json));
        assert_eq!(Format::detect(b"sops_mac=ENC[x"), Some(Format::Dotenv));
        assert_eq!(Format::detect(b"[sops]\nmac"), Some(Format::Ini));
        assert_eq!(Format::detect(b"mac=ENC["), None);
    }

    #[test]
    fn only_a_non_empty_mac_makes_a_sops_object() {
        assert!(is_encrypted_object(&json!({"sops": {"mac": "ENC[x]"}})));
        assert!(!is_encrypted_object(&json!({"sops": {"mac": ""}})));
        assert!(!is_encrypted_object(&json!({"sops": {"version": "3"}})));
        assert!(!is_encrypted_object(&json!({"data": {}})));
    }

    #[test]
    fn decrypt_opt_out_ignores_case() {
        let obj = json!({"metadata": {"annotations": {DECRYPT_ANNOTATION: "Disabled"}}});
        assert!(is_decryption_disabled(&obj));
        assert!(!is_decryption_disabled(&json!({"metadata": {}})));
    }
}
