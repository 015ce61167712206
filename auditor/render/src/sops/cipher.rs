//! The value layer: `ENC[AES256_GCM,…]` values, typed plaintext, the MAC.
//!
//! Mirrors getsops/sops `aes/cipher.go`: a value is
//! `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`, AES-256-GCM with
//! the IV as nonce (32 bytes as sops writes it; any length is accepted, as
//! Go's `cipher.NewGCMWithNonceSize(len(iv))` does) and the key path joined by
//! `:` plus a trailing `:` as AAD. The empty string is stored as `""` and
//! decrypts to `""`. The MAC is SHA-512 over the plaintext bytes of the leaves
//! in document order (`sops.go` `Tree.Decrypt`, `ToBytes`), upper-case hex,
//! stored encrypted with `lastmodified` as AAD.

use super::error::{Result, SopsError};
use aes_gcm::aead::consts::{U12, U16, U32};
use aes_gcm::aead::generic_array::ArrayLength;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha512};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Go's `base64.StdEncoding`, which sops decodes with: padded, and lenient
/// about non-zero trailing bits (it is not `.Strict()`).
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 32-byte SOPS data key that encrypts every value of one document.
/// Zeroized on drop, never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A data key from its bytes (what a master key unwraps).
    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SopsError::DataKeyLength { len: bytes.len() })?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    /// A data key from 64 hex digits (test vectors list them so).
    pub fn from_hex(hex: &str) -> Result<DataKey> {
        let hex = hex.trim();
        let mut bytes = Zeroizing::new(Vec::with_capacity(32));
        let digits = hex.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err(SopsError::DataKeyLength {
                len: digits.len() / 2,
            });
        }
        for pair in digits.chunks(2) {
            let text = std::str::from_utf8(pair).unwrap_or("zz");
            let byte = u8::from_str_radix(text, 16).map_err(|_| SopsError::DataKeyLength {
                len: digits.len() / 2,
            })?;
            bytes.push(byte);
        }
        DataKey::from_bytes(&bytes)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// What an encrypted value decrypts to, by its `type:`.
pub(crate) enum Plain {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Comment(String),
}

impl Drop for Plain {
    fn drop(&mut self) {
        match self {
            Plain::Str(s) | Plain::Comment(s) => s.zeroize(),
            Plain::Bytes(b) => b.zeroize(),
            Plain::Int(i) => i.zeroize(),
            Plain::Float(f) => f.zeroize(),
            Plain::Bool(b) => b.zeroize(),
        }
    }
}

impl Plain {
    /// The bytes sops' `ToBytes` feeds the MAC with.
    pub(crate) fn mac_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Plain::Str(s) | Plain::Comment(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => go_format_float(*f).into_bytes(),
            Plain::Bool(true) => b"True".to_vec(),
            Plain::Bool(false) => b"False".to_vec(),
            Plain::Bytes(b) => b.clone(),
        })
    }
}

struct EncValue {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    datatype: String,
}

/// Whether a string is (the start of) a SOPS encrypted value.
pub(crate) fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

/// Parse `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` as sops' regular
/// expression `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`
/// does (greedy, not anchored at the end).
fn parse(value: &str, path: &str) -> Result<EncValue> {
    let malformed = |reason| SopsError::MalformedValue {
        path: path.to_owned(),
        reason,
    };
    let body = value
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or_else(|| malformed("does not start with ENC[AES256_GCM,data:"))?;
    let close = body
        .rfind(']')
        .ok_or_else(|| malformed("has no closing ]"))?;
    let body = &body[..close];
    // Greedy groups: each separator is the last one that still leaves the
    // later ones room.
    let type_at = body
        .rfind(",type:")
        .ok_or_else(|| malformed("has no type"))?;
    let tag_at = body[..type_at]
        .rfind(",tag:")
        .ok_or_else(|| malformed("has no tag"))?;
    let iv_at = body[..tag_at]
        .rfind(",iv:")
        .ok_or_else(|| malformed("has no iv"))?;
    let (data, iv, tag, datatype) = (
        &body[..iv_at],
        &body[iv_at + 4..tag_at],
        &body[tag_at + 5..type_at],
        &body[type_at + 6..],
    );
    if data.is_empty() || iv.is_empty() || tag.is_empty() || datatype.is_empty() {
        return Err(malformed("has an empty part"));
    }
    Ok(EncValue {
        data: STANDARD
            .decode(data)
            .map_err(|_| malformed("data is not base64"))?,
        iv: STANDARD
            .decode(iv)
            .map_err(|_| malformed("iv is not base64"))?,
        tag: STANDARD
            .decode(tag)
            .map_err(|_| malformed("tag is not base64"))?,
        datatype: datatype.to_owned(),
    })
}

fn open<N: ArrayLength<u8>>(key: &DataKey, enc: &EncValue, aad: &str) -> Option<Vec<u8>> {
    let cipher = AesGcm::<Aes256, N>::new_from_slice(&key.0[..]).ok()?;
    let mut sealed = Vec::with_capacity(enc.data.len() + enc.tag.len());
    sealed.extend_from_slice(&enc.data);
    sealed.extend_from_slice(&enc.tag);
    cipher
        .decrypt(
            Nonce::<N>::from_slice(&enc.iv),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .ok()
}

/// A key path as messages show it: `stringData:key:` → `stringData.key`
/// (the dotted form Flux's own messages use, `data..dockerconfigjson`).
fn shown(aad: &str) -> String {
    match aad.strip_suffix(':').unwrap_or(aad) {
        "" => "(top level)".to_owned(),
        path => path.replace(':', "."),
    }
}

/// Decrypt one value. `aad` is the key path plus `:` (e.g. `stringData:key:`).
pub(crate) fn decrypt(value: &str, key: &DataKey, aad: &str) -> Result<Plain> {
    if value.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let enc = parse(value, &shown(aad))?;
    if enc.tag.len() != 16 {
        return Err(SopsError::MalformedValue {
            path: shown(aad),
            reason: "tag is not 16 bytes",
        });
    }
    let bytes = match enc.iv.len() {
        32 => open::<U32>(key, &enc, aad),
        16 => open::<U16>(key, &enc, aad),
        12 => open::<U12>(key, &enc, aad),
        _ => {
            return Err(SopsError::MalformedValue {
                path: shown(aad),
                reason: "iv is neither 32, 16 nor 12 bytes",
            });
        }
    }
    .ok_or_else(|| SopsError::Decrypt { path: shown(aad) })?;
    let bytes = Zeroizing::new(bytes);
    let bad = |datatype| SopsError::BadPlaintext {
        path: shown(aad),
        datatype,
    };
    let text = || std::str::from_utf8(&bytes).ok();
    Ok(match enc.datatype.as_str() {
        // Go's string(bytes) keeps invalid UTF-8; a JSON/YAML document cannot,
        // so invalid sequences become U+FFFD as Go's encoders write them.
        "str" => Plain::Str(String::from_utf8_lossy(&bytes).into_owned()),
        // `time` (sops 3.9+) round-trips an RFC 3339 string; kept as text.
        "time" => Plain::Str(text().ok_or_else(|| bad("time"))?.to_owned()),
        "int" | "int64" => Plain::Int(
            text()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("int"))?,
        ),
        "float" => Plain::Float(
            text()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad("float"))?,
        ),
        // Go's strconv.ParseBool.
        "bool" => Plain::Bool(match text().unwrap_or("") {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(bad("bool")),
        }),
        "bytes" => Plain::Bytes(bytes.to_vec()),
        "comment" => Plain::Comment(String::from_utf8_lossy(&bytes).into_owned()),
        other => {
            return Err(SopsError::UnsupportedType {
                path: shown(aad),
                datatype: other.chars().take(16).collect(),
            });
        }
    })
}

/// The running MAC of one document.
pub(crate) struct Mac {
    hash: Sha512,
    only_encrypted: bool,
}

/// sops `MACOnlyEncryptedInitialization`: SHA-256 of `sops`, hashed first when
/// the MAC covers only encrypted values.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

impl Mac {
    pub(crate) fn new(only_encrypted: bool) -> Mac {
        let mut hash = Sha512::new();
        if only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Mac {
            hash,
            only_encrypted,
        }
    }

    /// Add a leaf (not a comment, not null).
    pub(crate) fn add(&mut self, bytes: &[u8], encrypted: bool) {
        if encrypted || !self.only_encrypted {
            self.hash.update(bytes);
        }
    }

    /// Whether the document's stored MAC matches. A stored MAC that does not
    /// decrypt counts as a mismatch: Flux does not check the MAC, so this is
    /// a signal, never an error.
    pub(crate) fn matches(self, stored: Option<&str>, last_modified: &str, key: &DataKey) -> bool {
        let Some(stored) = stored else {
            return false;
        };
        let Some(aad) = super::metadata::rfc3339(last_modified) else {
            return false;
        };
        let computed = Zeroizing::new(
            self.hash
                .finalize()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>(),
        );
        match decrypt(stored, key, &aad) {
            Ok(Plain::Str(ref s)) => *s == *computed,
            _ => false,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that
/// round-trips, never an exponent — what Rust's `Display` for `f64` prints.
pub(crate) fn go_format_float(f: f64) -> String {
    format!("{f}")
}

/// Go's `encoding/json` float encoding: `'f'` format, or `'e'` below 1e-6 and
/// from 1e21 up, with `e-07` cleaned to `e-7` (`encode.go` `floatEncoder`).
pub(crate) fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1.5e-7`; Go writes `1e+21` / `1.5e-7`.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    } else {
        go_format_float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_greedy_like_sops_regex() {
        let v = parse("ENC[AES256_GCM,data:YQ==,iv:YWFh,tag:YmJi,type:str]", "k:").unwrap();
        assert_eq!(v.data, b"a");
        assert_eq!(v.iv, b"aaa");
        assert_eq!(v.tag, b"bbb");
        assert_eq!(v.datatype, "str");
        assert!(parse("ENC[AES256_GCM,data:,iv:,tag:,type:]", "k:").is_err());
        assert!(parse("plain", "k:").is_err());
    }

    #[test]
    fn floats_format_as_go() {
        assert_eq!(go_format_float(1234568000.0), "1234568000");
        assert_eq!(go_format_float(25.4), "25.4");
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1.5e-7), "1.5e-7");
        assert_eq!(go_json_float(25.4), "25.4");
    }

    #[test]
    fn data_key_is_never_printed() {
        let key = DataKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
        assert!(matches!(
            DataKey::from_hex("abcd"),
            Err(SopsError::DataKeyLength { len: 2 })
        ));
    }
}
