//! Errors of the SOPS reader.
//!
//! No variant carries a value of the document: not the plaintext, not the
//! ciphertext, not the encrypted data key, not a line of a key file. They name
//! the place (key path such as `stringData.key`, metadata field, key file line)
//! and the reason, and the master keys by their public identity (age recipient,
//! PGP fingerprint, Key Vault URL), which SOPS itself stores in clear.
//! [`SopsError::at`] adds the file or object the document came from.

use super::metadata::{KeyKind, MasterKey};
use std::path::PathBuf;

/// `Result` with [`SopsError`].
pub type Result<T, E = SopsError> = std::result::Result<T, E>;

/// Why a SOPS document could not be read, stripped or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The document has no `sops` metadata with a non-empty `mac`, so Flux
    /// does not treat it as SOPS-encrypted.
    #[error("not a sops document: no sops metadata with a mac")]
    NotEncrypted,
    /// The document does not parse in its format.
    #[error("invalid {format} document{}", at_line(*line, *column))]
    Parse {
        /// `yaml`, `json`, `dotenv`.
        format: &'static str,
        /// 1-based line, when the parser knows it.
        line: Option<u64>,
        /// 1-based column, when the parser knows it.
        column: Option<u64>,
    },
    /// A format flotilla does not read (INI).
    #[error("sops {format} documents are not supported")]
    UnsupportedFormat {
        /// The format's name.
        format: &'static str,
    },
    /// The `sops` metadata is malformed.
    #[error("sops metadata field {field}: {reason}")]
    Metadata {
        /// The metadata field, e.g. `lastmodified` or `age[0].recipient`.
        field: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A value that must be an `ENC[AES256_GCM,…]` string is not one, or one of
    /// its parts does not decode.
    #[error("value at {path} is not a valid sops encrypted value: {reason}")]
    MalformedValue {
        /// Key path, dotted (`stringData.key`).
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A value in a position SOPS encrypts is not a string at all.
    #[error("value at {path} should be encrypted but is not a string")]
    NotAString {
        /// Key path.
        path: String,
    },
    /// The `type:` of an encrypted value is not one SOPS writes.
    #[error("value at {path} has unsupported sops type '{datatype}'")]
    UnsupportedType {
        /// Key path.
        path: String,
        /// The type as written (at most 16 characters kept).
        datatype: String,
    },
    /// AES-GCM refused the value: wrong data key, or the value, its IV or tag,
    /// or its key path was changed.
    #[error("value at {path} does not decrypt with the data key (tampered value or wrong key)")]
    Decrypt {
        /// Key path.
        path: String,
    },
    /// The decrypted bytes are not a valid value of the declared type.
    #[error("value at {path} does not decrypt to a valid {datatype}")]
    BadPlaintext {
        /// Key path.
        path: String,
        /// The declared type.
        datatype: &'static str,
    },
    /// The document is encrypted to age X25519 recipients, and the keyring
    /// holds none of their identities.
    #[error(
        "no key to decrypt the data key: the document is encrypted to {}; {}",
        list(encrypted_to),
        held_keys(held)
    )]
    NoMatchingKey {
        /// Every master key of the document.
        encrypted_to: Vec<MasterKey>,
        /// Public keys of the identities the keyring holds.
        held: Vec<String>,
    },
    /// The document is encrypted only to master keys flotilla cannot use
    /// (PGP, cloud KMS, Vault, age post-quantum, age plugins or SSH keys):
    /// its keys can be compared, its values cannot.
    #[error(
        "the document is encrypted only to key types flotilla cannot decrypt ({}): {}",
        kinds(encrypted_to),
        list(encrypted_to)
    )]
    UnsupportedKeyType {
        /// Every master key of the document.
        encrypted_to: Vec<MasterKey>,
    },
    /// An identity matches a recipient, but the data key does not decrypt.
    #[error("age data key for recipient {recipient} does not decrypt: {reason}")]
    DataKey {
        /// The recipient whose stanza was tried.
        recipient: String,
        /// What age reported (no key material).
        reason: String,
    },
    /// The data key has the wrong length.
    #[error("data key has {len} bytes, sops data keys have 32")]
    DataKeyLength {
        /// Its length.
        len: usize,
    },
    /// The document splits its data key over several key groups (Shamir).
    #[error(
        "the data key is split over {groups} key groups (shamir), which flotilla does not combine"
    )]
    KeyGroups {
        /// Number of key groups.
        groups: usize,
    },
    /// The decrypted document cannot be written in the requested format.
    #[error("cannot write the decrypted document as {format}: {reason}")]
    Emit {
        /// The output format.
        format: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Reading an age key file.
    #[error("age key file {}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An age key file (or `SOPS_AGE_KEY`) with a line that is not an identity.
    #[error("age keys in {origin}, line {line}: {reason}")]
    KeyFile {
        /// The file, or the environment variable.
        origin: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (the line itself is never shown).
        reason: &'static str,
    },
    /// The same error, in a named file or object.
    #[error("{origin}")]
    At {
        /// The file (repository-relative) or object (`Secret ns/name`), with
        /// the data key when the document is one value of a Secret.
        origin: String,
        /// The error.
        #[source]
        source: Box<SopsError>,
    },
}

impl SopsError {
    /// This error, located in `origin` (a file or an object).
    pub fn at(self, origin: impl Into<String>) -> SopsError {
        SopsError::At {
            origin: origin.into(),
            source: Box::new(self),
        }
    }

    /// The error without its location.
    pub fn kind(&self) -> &SopsError {
        match self {
            SopsError::At { source, .. } => source.kind(),
            other => other,
        }
    }

    /// Whether the document could not be decrypted only for want of a key
    /// (no matching age identity, or key types flotilla cannot use): the
    /// caller compares its keys and reports its values as not compared.
    pub fn is_missing_key(&self) -> bool {
        matches!(
            self.kind(),
            SopsError::NoMatchingKey { .. } | SopsError::UnsupportedKeyType { .. }
        )
    }
}

fn at_line(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

fn list(keys: &[MasterKey]) -> String {
    if keys.is_empty() {
        return "no master key".to_owned();
    }
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kinds(keys: &[MasterKey]) -> String {
    let mut kinds: Vec<KeyKind> = keys.iter().map(|k| k.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn held_keys(held: &[String]) -> String {
    if held.is_empty() {
        "no age identity is loaded".to_owned()
    } else {
        format!("the age identities loaded are {}", held.join(", "))
    }
}
