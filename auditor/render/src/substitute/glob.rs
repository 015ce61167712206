//! The glob matcher of `${v#p}`, `${v##p}`, `${v%p}` and `${v%%p}`.
//!
//! A port of fluxcd/pkg `envsubst/path/match.go` (forked, through
//! drone/envsubst, from Go's `path.Match`, whose Go 1.10-era algorithm it
//! keeps): `*` matches any run of bytes **including `/`**, `?` any one rune
//! (also `/`), `[…]`/`[^…]` a rune in a class with `a-z` ranges, `\c` the
//! character `c`. A malformed pattern is reported only when the matcher
//! reaches the malformed part, which decides whether a trim leaves the value
//! unchanged. Names are Go byte strings: `*` may stop inside a character.
//! No maintained crate implements this modified matcher, hence the port.

use super::runes::{RUNE_ERROR, decode_rune};

/// Upstream's `ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadPattern;

/// Whether `name` matches all of `pattern`.
pub(super) fn matches(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest, `/` included.
            return Ok(true);
        }
        // Look for a match at the current position.
        let (t, ok, err) = match_chunk(chunk, name);
        // The last chunk must exhaust the name, else a star may still match.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if let Some(err) = err {
            return Err(err);
        }
        if star {
            // Look for a match skipping i+1 bytes.
            for i in 0..name.len() {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if let Some(err) = err {
                    return Err(err);
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// The next segment of the pattern: a star flag and the run of non-star
/// terms after it.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // Error checked in match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Whether `chunk` matches the start of `s`: the rest of `s`, whether it
/// matched, and a pattern error met on the way.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, Option<BadPattern>) {
    while let Some(&c) = chunk.first() {
        if s.is_empty() {
            return (s, false, None);
        }
        match c {
            b'[' => {
                let (r, n) = decode_rune(s);
                s = &s[n..];
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = match get_esc(chunk) {
                        Ok(v) => v,
                        Err(e) => return (&[], false, Some(e)),
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        match get_esc(&chunk[1..]) {
                            Ok((h, rest)) => {
                                hi = h;
                                chunk = rest;
                            }
                            Err(e) => return (&[], false, Some(e)),
                        }
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    return (&[], false, None);
                }
            }
            b'?' => {
                let (_, n) = decode_rune(s);
                s = &s[n..];
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (&[], false, Some(BadPattern));
                    }
                }
                if chunk[0] != s[0] {
                    return (&[], false, None);
                }
                s = &s[1..];
                chunk = &chunk[1..];
            }
        }
    }
    (s, true, None)
}

/// A possibly escaped character of a class, and the rest of the chunk.
fn get_esc(mut chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(chunk);
    if r == RUNE_ERROR && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_crosses_slashes_and_question_mark_takes_one_rune() {
        assert_eq!(matches(b"*", b"a/b"), Ok(true));
        assert_eq!(matches(b"a*c", b"a/b/c"), Ok(true));
        assert_eq!(matches(b"?", "é".as_bytes()), Ok(true));
        assert_eq!(matches(b"?", b"/"), Ok(true));
        assert_eq!(matches(b"[a-c]x", b"bx"), Ok(true));
        assert_eq!(matches(b"[^a-c]x", b"bx"), Ok(false));
        assert_eq!(matches(br"\*", b"*"), Ok(true));
    }

    #[test]
    fn malformed_patterns_fail_only_when_reached() {
        assert!(matches(b"[", b"a").is_err());
        assert!(matches(b"\\", b"a").is_err());
        assert_eq!(matches(b"b[", b"a"), Ok(false), "never reaches the class");
    }
}
