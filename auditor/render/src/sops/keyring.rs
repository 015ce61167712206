//! age identities, and unwrapping a document's data key with them.
//!
//! Identity files are read as sops reads them (getsops/sops
//! `age/keysource.go` `parseIdentities`, kustomize-controller
//! `ParsedIdentities.Import` for `.agekey` Secret entries): one identity per
//! line, empty lines and lines starting with `#` ignored. `AGE-SECRET-KEY-1…`
//! is an X25519 identity. `AGE-SECRET-KEY-PQ-1…` (age v1.3 post-quantum) is
//! recognised and counted but cannot be used: the `age` crate has no
//! ML-KEM-768 + X25519 identity yet (str4d/rage pull request #632 is open).
//! `AGE-PLUGIN-…` identities would run a plugin program, which flotilla never
//! does. Passphrase-encrypted identity files are refused for the same reason
//! sops asks for a passphrase: there is nobody to ask.
//!
//! From the environment ([`Keyring::from_env`]) only `SOPS_AGE_KEY` (the
//! identities themselves) and `SOPS_AGE_KEY_FILE` (a path) are read. sops
//! also runs `SOPS_AGE_KEY_CMD`, reads SSH keys
//! (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519`) and the user's
//! `sops/age/keys.txt`; flotilla runs no command and reads no key the user
//! did not name.

use super::cipher::DataKey;
use super::error::{Result, SopsError};
use super::metadata::{KeyKind, MasterKey, Metadata};
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// The environment variable holding age identities (sops `SopsAgeKeyEnv`).
pub const SOPS_AGE_KEY: &str = "SOPS_AGE_KEY";
/// The environment variable naming an age identity file (sops `SopsAgeKeyFileEnv`).
pub const SOPS_AGE_KEY_FILE: &str = "SOPS_AGE_KEY_FILE";

/// Key files larger than this are refused (sops caps encrypted identity
/// files at 16 MiB; a plain one is a few hundred bytes per key).
const MAX_KEY_FILE: u64 = 1 << 20;

/// The age identities flotilla may decrypt with.
#[derive(Default, Clone)]
pub struct Keyring {
    identities: Vec<(age::x25519::Identity, String)>,
    post_quantum: usize,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("recipients", &self.recipients())
            .field("post_quantum", &self.post_quantum)
            .finish()
    }
}

impl Keyring {
    /// A keyring with no identity.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Read an age identity file (`age-keygen` output: comments, one or
    /// more keys).
    pub fn from_age_file(path: &Path) -> Result<Keyring> {
        let io = |source| SopsError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_KEY_FILE + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(SopsError::KeyFile {
                origin: path.display().to_string(),
                line: 1,
                reason: "file is larger than 1 MiB",
            });
        }
        Keyring::from_age_keys(&text, &path.display().to_string())
    }

    /// Parse age identities from text; `origin` names it in errors (a file,
    /// an environment variable, a serve config field).
    pub fn from_age_keys(text: &str, origin: &str) -> Result<Keyring> {
        let mut ring = Keyring::new();
        let err = |line, reason| SopsError::KeyFile {
            origin: origin.to_owned(),
            line,
            reason,
        };
        if text.trim_start().starts_with("age-encryption.org/")
            || text
                .trim_start()
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
        {
            return Err(err(
                1,
                "passphrase-encrypted identity files are not supported",
            ));
        }
        for (i, line) in text.lines().enumerate() {
            // Go's bufio.ScanLines drops a \r before the \n too; surrounding
            // blanks (an indented key in a config file) are dropped as well.
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("AGE-SECRET-KEY-PQ-1") {
                ring.post_quantum += 1;
            } else if upper.starts_with("AGE-SECRET-KEY-1") {
                let identity: age::x25519::Identity = line
                    .parse()
                    .map_err(|_| err(i + 1, "invalid age X25519 identity"))?;
                let recipient = identity.to_public().to_string();
                ring.identities.push((identity, recipient));
            } else if upper.starts_with("AGE-PLUGIN-") {
                return Err(err(i + 1, "age plugin identities are not supported"));
            } else {
                return Err(err(i + 1, "unknown identity type"));
            }
        }
        Ok(ring)
    }

    /// The identities of `SOPS_AGE_KEY` and `SOPS_AGE_KEY_FILE`, both when
    /// both are set (sops merges every source). `None` when neither is set.
    pub fn from_env() -> Result<Option<Keyring>> {
        Keyring::from_vars(|name| std::env::var_os(name))
    }

    /// [`Keyring::from_env`] with the environment given as a function.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<Option<Keyring>> {
        let mut ring: Option<Keyring> = None;
        if let Some(keys) = var(SOPS_AGE_KEY) {
            let keys = Zeroizing::new(keys.to_string_lossy().into_owned());
            ring.get_or_insert_default()
                .extend(Keyring::from_age_keys(&keys, SOPS_AGE_KEY)?);
        }
        if let Some(path) = var(SOPS_AGE_KEY_FILE) {
            ring.get_or_insert_default()
                .extend(Keyring::from_age_file(Path::new(&path))?);
        }
        Ok(ring)
    }

    /// Add another keyring's identities.
    pub fn extend(&mut self, other: Keyring) {
        self.identities.extend(other.identities);
        self.post_quantum += other.post_quantum;
    }

    /// Public keys (age recipients) of the usable identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities.iter().map(|(_, r)| r.clone()).collect()
    }

    /// How many post-quantum identities were found and cannot be used.
    pub fn unusable_post_quantum(&self) -> usize {
        self.post_quantum
    }

    /// Whether the keyring holds no usable identity.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// Unwrap a document's data key, trying its age X25519 master keys
    /// whose recipient the keyring holds (sops tries age before pgp,
    /// `DefaultDecryptionOrder`, and only identities matching the recipient).
    pub fn data_key(&self, metadata: &Metadata) -> Result<DataKey> {
        let all: Vec<MasterKey> = metadata.master_keys().cloned().collect();
        if metadata.key_groups.len() > 1 {
            return Err(SopsError::KeyGroups {
                groups: metadata.key_groups.len(),
            });
        }
        let age_keys: Vec<&MasterKey> = metadata
            .master_keys()
            .filter(|k| k.kind == KeyKind::Age)
            .collect();
        if age_keys.is_empty() {
            return Err(SopsError::UnsupportedKeyType { encrypted_to: all });
        }
        let mut first_error = None;
        for key in age_keys {
            let Some((identity, _)) = self.identities.iter().find(|(_, r)| *r == key.id) else {
                continue;
            };
            match unwrap(identity, key.encrypted_data_key()) {
                Ok(data_key) => return Ok(data_key),
                Err(reason) => {
                    first_error.get_or_insert(SopsError::DataKey {
                        recipient: key.id.clone(),
                        reason,
                    });
                }
            }
        }
        Err(first_error.unwrap_or(SopsError::NoMatchingKey {
            encrypted_to: all,
            held: self.recipients(),
        }))
    }
}

/// Decrypt an armored age file holding a data key.
fn unwrap(identity: &age::x25519::Identity, armored: &str) -> Result<DataKey, String> {
    // age's messages carry no key material; lower-case them as ours are.
    let msg = |e: &dyn std::fmt::Display| e.to_string().to_lowercase();
    // Go's armor reader tolerates surrounding whitespace; the Rust one does
    // not, so trim it.
    let armored = format!("{}\n", armored.trim());
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| msg(&e))?;
    let mut plain = Zeroizing::new(Vec::with_capacity(32));
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| msg(&e))?
        .take(1024)
        .read_to_end(&mut plain)
        .map_err(|e| msg(&e))?;
    DataKey::from_bytes(&plain).map_err(|e| msg(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn key_files_skip_comments_and_count_post_quantum() {
        let id = age::x25519::Identity::generate();
        let secret = id.to_string();
        let text = format!(
            "# created: now\n# public key: {}\n{}\n\nAGE-SECRET-KEY-PQ-1XYZ\n",
            id.to_public(),
            secret.expose_secret()
        );
        let ring = Keyring::from_age_keys(&text, "test").unwrap();
        assert_eq!(ring.recipients(), vec![id.to_public().to_string()]);
        assert_eq!(ring.unusable_post_quantum(), 1);
    }

    #[test]
    fn a_bad_line_is_named_by_number_not_content() {
        let err = Keyring::from_age_keys("# c\nAGE-SECRET-KEY-1NOTAKEY\n", "f.txt").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("NOTAKEY"), "{text}");
    }

    #[test]
    fn environment_variables_merge() {
        let id = age::x25519::Identity::generate();
        let secret = id.to_string().expose_secret().to_owned();
        let ring = Keyring::from_vars(|name| (name == SOPS_AGE_KEY).then(|| secret.clone().into()))
            .unwrap()
            .unwrap();
        assert_eq!(ring.recipients().len(), 1);
        assert!(Keyring::from_vars(|_| None).unwrap().is_none());
        let missing = Keyring::from_vars(|name| {
            (name == SOPS_AGE_KEY_FILE).then(|| "/nonexistent/keys.txt".into())
        });
        assert!(matches!(missing, Err(SopsError::Io { .. })));
    }
}
