//! Which remote URLs flotilla accepts, and how credentials are kept out of
//! them and out of every message that names one.
//!
//! A URL is shown in logs, errors, metrics labels and pull requests, so it
//! must never carry a secret. Three rules, applied wherever a URL comes in
//! (`--repo`, `repo.url`, `--github-url`, `pr.github.url`) and again where
//! it is used (git checkout, the GitHub client):
//!
//! - **No credentials in a URL** ([`check_git_url`], [`check_api_url`]). Any
//!   userinfo is refused, whatever the spelling of the scheme (`HTTPS://`,
//!   `git+https://`), percent-encoded (`%40`) or not. The one exception is a
//!   bare user name for SSH (`ssh://git@host/…`, `git@host:…`), which is not a
//!   secret: the key is.
//! - **Where userinfo ends** is the *last* `@` of the URL, not the first `/`
//!   after the scheme: a password may hold `/`, `?`, `#`, `:` and `@`, and
//!   stopping at the first `/` leaves the rest of it in the text. A URL whose
//!   path holds an `@` is therefore refused too (as credentials), and scrubbed
//!   a little too much; no Git host needs one.
//! - **Tokens only over TLS** ([`check_api_url`], [`token_may_travel`]):
//!   `http://` is accepted for the GitHub API, and a git token is handed to an
//!   `http://` remote, only when the host is loopback (`127.0.0.0/8`, `::1`,
//!   `localhost`), where the tests' doubles run.
//!
//! Hosts are read with the `url` crate (the WHATWG parser also behind git2 and
//! octocrab's redirect handling), so `http://127.1`, `http://[::1]` and
//! `http://LOCALHOST` are judged the way a client would connect. The userinfo
//! rule is lexical on purpose: a parser that ends the authority at the first
//! `/` (as WHATWG does) would find no password in `https://user:a/b@host/r`,
//! while the text still carries one.

use std::net::IpAddr;

/// Why a URL is refused. Messages never repeat the URL (it may hold a
/// secret); callers name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL holds a password, a token, or any userinfo outside SSH.
    #[error(
        "credentials in the URL are not allowed (give the token by file or environment variable)"
    )]
    Credentials,
    /// `http://` to a host that is not loopback.
    #[error(
        "plain http would send the credential in clear: use https:// (http:// only to a loopback host: 127.0.0.0/8, ::1, localhost)"
    )]
    PlainHttp,
    /// The GitHub API URL is not `http(s)://`.
    #[error("not an https:// URL")]
    NotHttps,
    /// The URL does not parse.
    #[error("not a valid URL ({reason})")]
    Invalid {
        /// The parser's reason (never the URL itself).
        reason: String,
    },
}

/// Check a git remote (`--repo`, `repo.url`): local paths and `file://` are
/// fine; remote URLs must carry no credentials (SSH may name a user).
pub fn check_git_url(url: &str) -> Result<(), UrlError> {
    let Some(userinfo) = userinfo(url) else {
        return Ok(());
    };
    let ssh = match scheme(url) {
        Some(s) => ["ssh", "git+ssh", "ssh+git"]
            .iter()
            .any(|ssh| s.eq_ignore_ascii_case(ssh)),
        // scp-like `user@host:path` is SSH.
        None => true,
    };
    let has_password = userinfo.contains(':') || contains_ignore_case(userinfo, "%3a");
    if ssh && !has_password && !userinfo.is_empty() {
        Ok(())
    } else {
        Err(UrlError::Credentials)
    }
}

/// Check a GitHub API URL (`--github-url`, `pr.github.url`): `https://`
/// without userinfo, or `http://` to a loopback host.
pub fn check_api_url(url: &str) -> Result<(), UrlError> {
    if userinfo(url).is_some() {
        return Err(UrlError::Credentials);
    }
    let parsed = url::Url::parse(url).map_err(|e| UrlError::Invalid {
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(UrlError::PlainHttp),
        _ => Err(UrlError::NotHttps),
    }
}

/// Whether a token may be sent to the remote at `url`: anything but plain
/// `http://` to a host that is not loopback. libgit2 hands the credential
/// callback the URL it is about to send to (after a redirect, the new one).
pub fn token_may_travel(url: &str) -> Result<(), UrlError> {
    match scheme(url) {
        Some(s) if s.eq_ignore_ascii_case("http") => match url::Url::parse(url) {
            Ok(parsed) if is_loopback(&parsed) => Ok(()),
            _ => Err(UrlError::PlainHttp),
        },
        _ => Ok(()),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// The scheme of `scheme://…`, if the text has one.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The userinfo of a URL: what lies between `scheme://` (or the start of
/// an scp-like `user@host:path`) and the last `@` or `%40`. Local paths
/// (`/…`, `./…`, `../…`) have none.
fn userinfo(url: &str) -> Option<&str> {
    let rest = match url.find("://") {
        Some(pos) => &url[pos + 3..],
        None if url.starts_with(['/', '.']) => return None,
        None => url,
    };
    last_at(rest).map(|(at, _)| &rest[..at])
}

/// Position and length of the last `@` or `%40` in `text`.
fn last_at(text: &str) -> Option<(usize, usize)> {
    let plain = text.rfind('@').map(|i| (i, 1));
    let encoded = text.to_ascii_lowercase().rfind("%40").map(|i| (i, 3));
    plain.into_iter().chain(encoded).max_by_key(|(i, _)| *i)
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.to_ascii_lowercase().contains(needle)
}

/// Mask the userinfo of every URL in `text` (`https://user:secret@host` →
/// `https://***@host`), wherever it ends: everything between `://` and the
/// last `@` (or `%40`) of the same whitespace-free word. An scp-like
/// `user:secret@host:path` word loses what precedes its last `@` too. SSH
/// user names are masked as well: simpler than telling them apart, and a
/// message loses nothing that matters.
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), word_start) {
            (true, Some(start)) => {
                out.push_str(&scrub_word(&text[start..i]));
                out.push(c);
                word_start = None;
            }
            (true, None) => out.push(c),
            (false, None) => word_start = Some(i),
            (false, Some(_)) => {}
        }
    }
    if let Some(start) = word_start {
        out.push_str(&scrub_word(&text[start..]));
    }
    out
}

fn scrub_word(word: &str) -> String {
    let (head, rest) = match word.find("://") {
        Some(pos) => word.split_at(pos + 3),
        None => ("", word),
    };
    match last_at(rest) {
        // scp-like words only when a password is there: `main@sha1:…`
        // (a Flux revision) or `git@host:path` stay readable.
        Some((at, _)) if !head.is_empty() || rest[..at].contains(':') => {
            format!("{head}***{}", &rest[at..])
        }
        _ => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_refused_in_every_spelling() {
        let refused = [
            "https://x-access-token:TOKEN@github.com/o/r.git",
            "HTTPS://x-access-token:TOKEN@github.com/o/r.git",
            "Https://TOKEN@github.com/o/r.git",
            "git+https://user:pw@host/o/r",
            "http://user:pw@127.0.0.1/r",
            "ssh://git:pw@github.com/o/r.git",
            "SSH://git:pw@github.com/o/r.git",
            "ssh://git%3Apw@github.com/o/r.git",
            "https://user:p%40ss@host/r",
            "https://user%40corp:pw@host/r",
            "https://tok%40github.com/o/r",
            "https://user:p@ss@host/r",
            "https://user:pa/ss@host/r",
            "https://user:pa#ss@host/r",
            "https://user:pa?ss@host/r",
            "https://tok/en@host/r",
            "git://user@host/r",
            "git:pw@github.com:o/r.git",
            "ssh://@host/r",
        ];
        for url in refused {
            assert_eq!(check_git_url(url), Err(UrlError::Credentials), "{url}");
        }
    }

    #[test]
    fn ssh_user_names_paths_and_plain_urls_pass() {
        let accepted = [
            "ssh://git@github.com/contoso/fleet.git",
            "SSH://git@github.com:22/contoso/fleet.git",
            "git+ssh://git@host/r",
            "git@github.com:contoso/fleet.git",
            "https://github.com/contoso/fleet.git",
            "HTTPS://github.com/contoso/fleet.git",
            "git://127.0.0.1:9418/contoso/fleet",
            "/srv/git/fleet.git",
            "./fleet",
            "../a@b/fleet",
            "file:///srv/git/fleet.git",
        ];
        for url in accepted {
            assert_eq!(check_git_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn errors_never_repeat_the_url() {
        let err = check_git_url("https://u:hunter2@h/r").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = check_api_url("https://h:notaport/x").unwrap_err();
        assert!(!err.to_string().contains("notaport"), "{err}");
    }

    #[test]
    fn api_urls_need_tls_except_to_loopback() {
        for ok in [
            "https://api.github.com",
            "https://ghe.example.com/api/v3",
            "http://127.0.0.1:8080",
            "http://127.9.8.7/api/v3",
            "http://127.1:80",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]:8080",
            "http://localhost:3000",
            "HTTP://LOCALHOST:3000",
        ] {
            assert_eq!(check_api_url(ok), Ok(()), "{ok}");
        }
        for (bad, want) in [
            ("http://example.com", UrlError::PlainHttp),
            ("HTTP://example.com/api/v3", UrlError::PlainHttp),
            ("http://10.0.0.1", UrlError::PlainHttp),
            ("http://0.0.0.0:8080", UrlError::PlainHttp),
            ("http://localhost.example.com", UrlError::PlainHttp),
            ("http://127.0.0.1.nip.io", UrlError::PlainHttp),
            ("https://x:tok@api.github.com", UrlError::Credentials),
            ("http://tok@127.0.0.1", UrlError::Credentials),
            ("ftp://api.github.com", UrlError::NotHttps),
        ] {
            assert_eq!(check_api_url(bad), Err(want), "{bad}");
        }
        assert!(matches!(
            check_api_url("not a url"),
            Err(UrlError::Invalid { .. })
        ));
    }

    #[test]
    fn tokens_travel_over_tls_or_to_loopback_only() {
        assert_eq!(token_may_travel("https://github.com/o/r"), Ok(()));
        assert_eq!(token_may_travel("http://127.0.0.1:9/r"), Ok(()));
        assert_eq!(token_may_travel("http://localhost/r"), Ok(()));
        assert_eq!(
            token_may_travel("http://git.example.com/r"),
            Err(UrlError::PlainHttp)
        );
        assert_eq!(
            token_may_travel("HTTP://git.example.com/r"),
            Err(UrlError::PlainHttp)
        );
        assert_eq!(
            token_may_travel("http://0.0.0.0:9/r"),
            Err(UrlError::PlainHttp)
        );
    }

    #[test]
    fn scrub_masks_userinfo_up_to_the_last_at() {
        let cases = [
            (
                "failed https://x-access-token:ghp_S@github.com/o/r and ssh://git@host/r, ok",
                "failed https://***@github.com/o/r and ssh://***@host/r, ok",
            ),
            ("HTTPS://u:a/b/c@h/r", "HTTPS://***@h/r"),
            ("https://u:a#b?c@h/r", "https://***@h/r"),
            ("https://u:p@s@s@h/r", "https://***@h/r"),
            ("https://u:p%40ss%40h/r", "https://***%40h/r"),
            ("url \"https://u:p@h/r\": no", "url \"https://***@h/r\": no"),
            ("git:pw@github.com:o/r", "***@github.com:o/r"),
            (
                "main@sha1:0123 and git@github.com:o/r stay",
                "main@sha1:0123 and git@github.com:o/r stay",
            ),
            ("no url here", "no url here"),
            ("https://h/r", "https://h/r"),
        ];
        for (text, want) in cases {
            assert_eq!(scrub_userinfo(text), want, "{text}");
        }
    }
}
