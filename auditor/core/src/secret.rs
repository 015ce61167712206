//! Secret values never leave this module in the clear.
//!
//! Both sides of the diff pass Secrets through a [`Sealer`] as soon as they
//! are read: `stringData` is folded into `data` (as the API server does), and
//! every `data` value is replaced by a keyed digest of its decoded bytes,
//! `sealed:hmac-sha256:<hex>` (HMAC-SHA256, RFC 2104, with a random 32-byte
//! key). The diff then compares digests; reports print `***`. No secret
//! value is kept in memory past loading, so none can reach a log, report or
//! pull request.
//!
//! Why keyed: an unsalted SHA-256 of a password lets anyone holding it test
//! guesses offline with precomputed tables, and shows equal passwords on two
//! clusters as equal digests. With a key drawn at random per run (and per
//! recorded snapshot), equal values give different digests under different
//! keys and no table built in advance applies. Both sides of one comparison
//! must use the same key: `audit` picks one per target (the snapshot's own
//! key when the live side is a flotilla snapshot). Whoever holds a snapshot
//! also holds its key, so a snapshot still lets them test a guessed value;
//! [`Sealer::omitting`] records no value at all.
//!
//! Three other sealers exist for what older or reduced snapshots hold:
//! [`Sealer::legacy`] (the unsalted `sealed:sha256:<hex>` of snapshots
//! recorded before keys existed, so they still compare) and
//! [`Sealer::omitting`] (every value becomes [`OMITTED`]: only key names
//! remain, and values are not compared).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// What reports print in place of a secret value.
pub const MASK: &str = "***";

/// Start of every sealed value, whichever sealer made it.
pub const SEALED_PREFIX: &str = "sealed:";

/// Prefix of keyed digests (HMAC-SHA256 with the sealer's key).
pub const KEYED_PREFIX: &str = "sealed:hmac-sha256:";

/// Prefix of unsalted digests, as snapshots recorded before keyed digests
/// hold them.
pub const LEGACY_PREFIX: &str = "sealed:sha256:";

/// What a value recorded with `--secret-values omit` becomes.
pub const OMITTED: &str = "sealed:omitted";

/// Length of a sealer key in bytes (the HMAC-SHA256 block-size-friendly 256 bits).
pub const KEY_LEN: usize = 32;

/// Whether an object is a core `v1` Secret.
pub fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Whether `s` is a sealed value (a digest of any kind, or [`OMITTED`]).
/// A real `data` value never is: base64 has no `:`.
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(KEYED_PREFIX)
        || s.starts_with(LEGACY_PREFIX)
        || s.starts_with(TAINTED_PREFIX)
        || s == OMITTED
}

/// Whether a sealed value appears anywhere inside `s` (a whole Secret
/// rendered into a string, a List of Secrets).
pub fn contains_sealed(s: &str) -> bool {
    s.contains(KEYED_PREFIX)
        || s.contains(LEGACY_PREFIX)
        || s.contains(TAINTED_PREFIX)
        || s.contains(OMITTED)
}

/// Prefix of a value in an object other than a Secret that was derived from
/// a Secret (a `postBuild` variable from a Secret, a decrypted SOPS value):
/// see [`tainted`].
pub const TAINTED_PREFIX: &str = "sealed:tainted:";

/// What stands for a value flotilla cannot know (a Secret it may not read,
/// SOPS without a key), a private-use code point; the renderer's substitution
/// writes it for any expression that depends on such a value. A desired
/// value that is (or contains) it is not compared and never printed.
pub const UNKNOWN: &str = "\u{F8F2}";

/// Whether a desired value is unknown (see [`UNKNOWN`]).
pub fn is_unknown(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.contains(UNKNOWN))
}

/// The sealed form of a value derived from a Secret that lands in another
/// object's field (a ConfigMap value, a hostname): `sealed:tainted:` and an
/// HMAC-SHA256 of `bytes` under a key made once per process.
///
/// It never leaves the process (every printer masks `sealed:` values) and
/// is only compared with [`tainted`] of the live value of the same field,
/// in the same process; so one process-wide key is enough, and no caller
/// has to carry one.
pub fn tainted(bytes: &[u8]) -> String {
    static KEY: std::sync::OnceLock<Sealer> = std::sync::OnceLock::new();
    let digest = KEY.get_or_init(Sealer::random).digest(bytes);
    let hex = digest.strip_prefix(KEYED_PREFIX).unwrap_or(&digest);
    format!("{TAINTED_PREFIX}{hex}")
}

/// The bytes a field's value is tainted by: a string's own bytes, any other
/// value's JSON text (`3`, `true`), so `replicas: ${N}` with N from a
/// Secret compares with the live number.
pub fn taint_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// Whether a desired scalar (tainted or unknown) matches a live value:
/// `None` when `desired` is neither, so the caller compares as usual.
///
/// Prevents: a ConfigMap value substituted from a Secret reported as
/// changed because Git's side holds its digest; a value flotilla cannot
/// know reported at all ("not compared").
pub fn sealed_scalar_matches(desired: &Value, live: &Value) -> Option<bool> {
    let s = desired.as_str()?;
    if s.contains(UNKNOWN) {
        return Some(true);
    }
    s.starts_with(TAINTED_PREFIX)
        .then(|| s == tainted(&taint_bytes(live)))
}

/// A fresh random key from the operating system's generator.
///
/// # Panics
/// When the operating system has no random source to give (`getrandom`
/// fails only on platforms flotilla does not run on): digests made with a
/// predictable key would defeat their purpose, so there is no fallback.
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).expect("the operating system provides random bytes");
    key
}

/// Turns Secret values into digests (or markers). Cheap to clone; its key
/// never appears in `Debug` output.
#[derive(Clone)]
pub struct Sealer {
    how: How,
}

#[derive(Clone)]
enum How {
    /// HMAC-SHA256 with a key; `id` names the key without revealing it.
    Keyed { mac: Box<Hmac<Sha256>>, id: String },
    /// Unsalted SHA-256 (older snapshots).
    Legacy,
    /// Every value becomes [`OMITTED`].
    Omit,
}

impl Default for Sealer {
    /// A sealer with a fresh random key.
    fn default() -> Sealer {
        Sealer::random()
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sealer").field(&self.id()).finish()
    }
}

impl Sealer {
    /// HMAC-SHA256 digests with a fresh random key.
    pub fn random() -> Sealer {
        Sealer::keyed(&random_key())
    }

    /// HMAC-SHA256 digests with `key` (a snapshot's recorded key).
    pub fn keyed(key: &[u8; KEY_LEN]) -> Sealer {
        let mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes keys of any length");
        // The id is a digest of the key under a fixed label: it tells two
        // keys apart (caches, mismatch checks) and reveals nothing of it.
        let mut id_hash = Sha256::new();
        id_hash.update(b"flotilla sealer key id\0");
        id_hash.update(key);
        let id = format!("hmac-sha256:{}", &hex::encode(id_hash.finalize())[..16]);
        Sealer {
            how: How::Keyed {
                mac: Box::new(mac),
                id,
            },
        }
    }

    /// Unsalted SHA-256, `sealed:sha256:<hex>`: only to compare against a
    /// snapshot recorded before keyed digests.
    pub fn legacy() -> Sealer {
        Sealer { how: How::Legacy }
    }

    /// Every value becomes [`OMITTED`]: key names stay, values are gone.
    pub fn omitting() -> Sealer {
        Sealer { how: How::Omit }
    }

    /// Names this sealer (its key by a digest, never the key): two sealers
    /// with the same id seal alike.
    pub fn id(&self) -> &str {
        match &self.how {
            How::Keyed { id, .. } => id,
            How::Legacy => "sha256 (unsalted)",
            How::Omit => "omit",
        }
    }

    /// Whether this sealer makes unsalted digests.
    pub fn is_legacy(&self) -> bool {
        matches!(self.how, How::Legacy)
    }

    /// Whether this sealer records no values.
    pub fn is_omitting(&self) -> bool {
        matches!(self.how, How::Omit)
    }

    /// Whether `s` is a value this sealer could have made (so it is kept as
    /// it is when read again), as opposed to a digest of another kind.
    pub fn made(&self, s: &str) -> bool {
        match &self.how {
            How::Keyed { .. } => s.starts_with(KEYED_PREFIX),
            How::Legacy => s.starts_with(LEGACY_PREFIX),
            How::Omit => s == OMITTED,
        }
    }

    /// The sealed form of `bytes`.
    pub fn digest(&self, bytes: &[u8]) -> String {
        match &self.how {
            How::Keyed { mac, .. } => {
                let mut mac = Hmac::<Sha256>::clone(mac);
                mac.update(bytes);
                format!("{KEYED_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
            }
            How::Legacy => format!("{LEGACY_PREFIX}{}", hex::encode(Sha256::digest(bytes))),
            How::Omit => OMITTED.to_owned(),
        }
    }

    /// Fold `stringData` into `data` and replace every `data` value by its
    /// sealed form. Values already sealed are kept as they are (a snapshot
    /// recorded by flotilla holds them; sealing again would digest the
    /// digest and hide every change), except that an omitting sealer
    /// replaces them too. Does nothing to objects that are not Secrets.
    pub fn seal(&self, obj: &mut Value) {
        if !is_secret(obj) {
            return;
        }
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        let omit = self.is_omitting();
        let mut data: Map<String, Value> = match map.remove("data") {
            Some(Value::Object(d)) => d
                .into_iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) if !omit && is_sealed(s) => (k, v),
                    // A value flotilla cannot know stays unknown (not compared).
                    Some(s) if s.contains(UNKNOWN) => (k, Value::String(UNKNOWN.to_owned())),
                    s => {
                        let bytes = s.and_then(|s| STANDARD.decode(s).ok()).unwrap_or_default();
                        (k, Value::String(self.digest(&bytes)))
                    }
                })
                .collect(),
            _ => Map::new(),
        };
        if let Some(Value::Object(sd)) = map.remove("stringData") {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or_default();
                let sealed = if s.contains(UNKNOWN) {
                    UNKNOWN.to_owned()
                } else {
                    self.digest(s.as_bytes())
                };
                data.insert(k, Value::String(sealed));
            }
        }
        if !data.is_empty() {
            map.insert("data".into(), Value::Object(data));
        }
        // The last-applied annotation would carry the plain value.
        if let Some(Value::Object(ann)) = map
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
        {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

/// How many `data` values of a sealed Secret are [`OMITTED`] (0 for other
/// objects).
pub fn omitted_values(obj: &Value) -> usize {
    if !is_secret(obj) {
        return 0;
    }
    obj.get("data").and_then(Value::as_object).map_or(0, |d| {
        d.values().filter(|v| v.as_str() == Some(OMITTED)).count()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret_with(data: Value) -> Value {
        json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":data})
    }

    #[test]
    fn string_data_and_data_seal_to_the_same_digest() {
        let sealer = Sealer::random();
        let mut a = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"users":"admin:x"}});
        let mut b = secret_with(json!({"users": STANDARD.encode("admin:x")}));
        sealer.seal(&mut a);
        sealer.seal(&mut b);
        assert_eq!(a["data"], b["data"]);
        let text = a.to_string();
        assert!(!text.contains("admin:x"));
        assert!(!text.contains(&STANDARD.encode("admin:x")));
        assert!(
            a["data"]["users"]
                .as_str()
                .unwrap()
                .starts_with(KEYED_PREFIX)
        );
    }

    #[test]
    fn sealing_twice_changes_nothing() {
        let sealer = Sealer::random();
        let mut a = secret_with(json!({"k": STANDARD.encode("v1")}));
        sealer.seal(&mut a);
        let once = a.clone();
        sealer.seal(&mut a);
        assert_eq!(a, once);
    }

    #[test]
    fn other_kinds_are_untouched() {
        let mut cm = json!({"apiVersion":"v1","kind":"ConfigMap","data":{"k":"v"}});
        let before = cm.clone();
        Sealer::random().seal(&mut cm);
        assert_eq!(cm, before);
    }

    /// The digest is HMAC-SHA256 as RFC 4231 defines it (test case 2).
    #[test]
    fn keyed_digests_are_rfc_4231_hmac_sha256() {
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        // RFC 4231 keys shorter than the block are zero-padded by HMAC
        // itself, so "Jefe" and "Jefe" + 28 zero bytes are the same key.
        let digest = Sealer::keyed(&key).digest(b"what do ya want for nothing?");
        assert_eq!(
            digest,
            format!(
                "{KEYED_PREFIX}5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            )
        );
    }

    #[test]
    fn two_keys_give_different_digests_and_one_key_the_same() {
        let (a, b) = (Sealer::random(), Sealer::random());
        assert_ne!(a.digest(b"hunter2"), b.digest(b"hunter2"));
        assert_eq!(a.digest(b"hunter2"), a.clone().digest(b"hunter2"));
        assert_ne!(a.id(), b.id());
        let legacy = Sealer::legacy().digest(b"hunter2");
        assert_eq!(
            legacy,
            format!("{LEGACY_PREFIX}{}", hex::encode(Sha256::digest(b"hunter2")))
        );
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = [0xabu8; KEY_LEN];
        let text = format!("{:?}", Sealer::keyed(&key));
        assert!(!text.contains("abab"), "{text}");
        assert!(text.contains("hmac-sha256:"), "{text}");
    }

    #[test]
    fn omitting_keeps_key_names_and_drops_every_value() {
        let mut s = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},
            "data":{"a": STANDARD.encode("x"), "b": Sealer::random().digest(b"y")},
            "stringData":{"c":"z"}});
        Sealer::omitting().seal(&mut s);
        assert_eq!(s["data"], json!({"a": OMITTED, "b": OMITTED, "c": OMITTED}));
        assert_eq!(omitted_values(&s), 3);
    }

    #[test]
    fn sealed_values_are_recognised_and_plain_ones_are_not() {
        let sealer = Sealer::random();
        assert!(is_sealed(&sealer.digest(b"x")));
        assert!(is_sealed(&Sealer::legacy().digest(b"x")));
        assert!(is_sealed(OMITTED));
        assert!(!is_sealed("c2VjcmV0"));
        assert!(contains_sealed(&format!(
            "{{\"k\":\"{}\"}}",
            sealer.digest(b"x")
        )));
        assert!(!contains_sealed("unsealed: true"));
        assert!(sealer.made(&sealer.digest(b"x")));
        assert!(!sealer.made(&Sealer::legacy().digest(b"x")));
    }
}
