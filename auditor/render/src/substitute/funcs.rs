//! The string functions behind each envsubst operator.
//!
//! A port of fluxcd/pkg `envsubst/funcs.go` (v1.7.0) on Go's byte strings
//! (see `runes.rs`): lengths, offsets and slices count bytes, case
//! functions use Go's simple case mapping, `%`/`%%` reverse value and
//! pattern by runes (which breaks `[…]` and `\c` in suffix patterns, as
//! upstream does). Each function takes the variable's value and the
//! evaluated arguments; [`lookup_func`] picks one by operator as upstream's
//! `lookupFunc` does.

use super::ErrorKind;
use super::glob;
use super::runes::{self, push_rune};

/// A substitution function: value and arguments to result.
pub type SubstituteFn = fn(&[u8], &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind>;

/// The function of operator `name` called with `args` arguments
/// (fluxcd/pkg `envsubst/template.go` `lookupFunc`). Every default-style
/// operator (`=`, `:=`, `:-`, `:?`, `:+`) and any unknown one is
/// [`to_default`].
pub fn lookup_func(name: &str, args: usize) -> SubstituteFn {
    match name {
        "," => to_lower_first,
        ",," => to_lower,
        "^" => to_upper_first,
        "^^" => to_upper,
        "#" if args == 0 => to_len,
        "#" => trim_shortest_prefix,
        "##" => trim_longest_prefix,
        "%" => trim_shortest_suffix,
        "%%" => trim_longest_suffix,
        ":" => to_substr,
        "/#" => replace_prefix,
        "/%" => replace_suffix,
        "/" => replace_first,
        "//" => replace_all,
        _ => to_default,
    }
}

/// `toLen`: the length in bytes.
pub fn to_len(s: &[u8], _: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(s.len().to_string().into_bytes())
}

/// `toLower`: `strings.ToLower`.
pub fn to_lower(s: &[u8], _: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(runes::map_runes(s, runes::to_lower))
}

/// `toUpper`: `strings.ToUpper`.
pub fn to_upper(s: &[u8], _: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(runes::map_runes(s, runes::to_upper))
}

/// `toLowerFirst`: the first rune lower-cased.
pub fn to_lower_first(s: &[u8], _: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(map_first(s, runes::to_lower))
}

/// `toUpperFirst`: the first rune upper-cased.
pub fn to_upper_first(s: &[u8], _: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(map_first(s, runes::to_upper))
}

fn map_first(s: &[u8], f: fn(char) -> char) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    let (r, width) = runes::decode_rune(s);
    let mut out = Vec::with_capacity(s.len());
    push_rune(&mut out, f(r));
    out.extend_from_slice(&s[width..]);
    out
}

/// `toDefault`: the value when not empty, else the arguments joined with
/// nothing between them.
pub fn to_default(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    if s.is_empty() && !args.is_empty() {
        return Ok(args.concat());
    }
    Ok(s.to_vec())
}

/// `toSubstr`: `${v:pos}` / `${v:pos:len}` by byte offsets. A position or
/// length that is not a number returns the value; a negative position
/// counts from the end.
///
/// A negative length makes v1.7.0 slice backwards and panic (fixed after
/// it, fluxcd/pkg pull request 1275); the build fails, so this is an error.
pub fn to_substr(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    let Some(first) = args.first() else {
        return Ok(s.to_vec());
    };
    let Some(mut pos) = atoi(first) else {
        return Ok(s.to_vec());
    };
    let len = s.len() as i64;
    if pos < 0 {
        pos = len.wrapping_add(pos).max(0);
    }
    let from = |p: i64| s.get(usize::try_from(p).unwrap_or(usize::MAX)..);
    let Some(length) = args.get(1) else {
        return Ok(if pos < len {
            from(pos).unwrap_or_default().to_vec()
        } else {
            Vec::new()
        });
    };
    let Some(length) = atoi(length) else {
        return Ok(s.to_vec());
    };
    // Go's int arithmetic wraps.
    let end = pos.wrapping_add(length);
    if end >= len {
        return Ok(if pos < len {
            from(pos).unwrap_or_default().to_vec()
        } else {
            Vec::new()
        });
    }
    if end < pos {
        return Err(ErrorKind::NegativeSubstringLength);
    }
    // Here 0 <= pos <= end < len.
    Ok(s[pos as usize..end as usize].to_vec())
}

/// `strconv.Atoi`: optional sign, decimal digits, 64-bit range.
fn atoi(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `replaceAll`: every occurrence of the literal pattern replaced.
pub fn replace_all(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args {
        [] => s.to_vec(),
        [pattern] => go_replace(s, pattern, b"", -1),
        [pattern, with, ..] => go_replace(s, pattern, with, -1),
    })
}

/// `replaceFirst`: the first occurrence of the literal pattern replaced.
pub fn replace_first(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args {
        [] => s.to_vec(),
        [pattern] => go_replace(s, pattern, b"", 1),
        [pattern, with, ..] => go_replace(s, pattern, with, 1),
    })
}

/// `replacePrefix`: the pattern replaced when it is a prefix. Needs both
/// arguments: `${v/#p/}` leaves the value as it is.
pub fn replace_prefix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    match args {
        [pattern, with] if s.starts_with(pattern) => Ok(go_replace(s, pattern, with, 1)),
        _ => Ok(s.to_vec()),
    }
}

/// `replaceSuffix`: the pattern replaced when it is a suffix. Needs both
/// arguments, as [`replace_prefix`].
pub fn replace_suffix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    match args {
        [pattern, with] if s.ends_with(pattern) => {
            let mut out = s[..s.len() - pattern.len()].to_vec();
            out.extend_from_slice(with);
            Ok(out)
        }
        _ => Ok(s.to_vec()),
    }
}

/// `trimShortestPrefix`: `${v#p}`.
pub fn trim_shortest_prefix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args.first() {
        Some(pattern) => trim_shortest(s, pattern),
        None => s.to_vec(),
    })
}

/// `trimShortestSuffix`: `${v%p}`, by reversing value and pattern.
pub fn trim_shortest_suffix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args.first() {
        Some(pattern) => {
            runes::reverse(&trim_shortest(&runes::reverse(s), &runes::reverse(pattern)))
        }
        None => s.to_vec(),
    })
}

/// `trimLongestPrefix`: `${v##p}`.
pub fn trim_longest_prefix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args.first() {
        Some(pattern) => trim_longest(s, pattern),
        None => s.to_vec(),
    })
}

/// `trimLongestSuffix`: `${v%%p}`, by reversing value and pattern.
pub fn trim_longest_suffix(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, ErrorKind> {
    Ok(match args.first() {
        Some(pattern) => {
            runes::reverse(&trim_longest(&runes::reverse(s), &runes::reverse(pattern)))
        }
        None => s.to_vec(),
    })
}

/// The value without its shortest prefix that matches `pattern` (tried on
/// every non-empty prefix, byte by byte); unchanged on a malformed pattern.
fn trim_shortest(s: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut shortest = 0;
    for i in 0..s.len() {
        match glob::matches(pattern, &s[..s.len() - i]) {
            Err(glob::BadPattern) => return s.to_vec(),
            Ok(true) => shortest = s.len() - i,
            Ok(false) => {}
        }
    }
    s[shortest..].to_vec()
}

/// The value without its longest prefix that matches `pattern`.
fn trim_longest(s: &[u8], pattern: &[u8]) -> Vec<u8> {
    for i in 0..s.len() {
        match glob::matches(pattern, &s[..s.len() - i]) {
            Err(glob::BadPattern) => return s.to_vec(),
            Ok(true) => return s[s.len() - i..].to_vec(),
            Ok(false) => {}
        }
    }
    s.to_vec()
}

/// Go's `strings.Replace(s, old, new, n)`; `n < 0` replaces all. An empty
/// `old` matches before every rune and at the end.
fn go_replace(s: &[u8], old: &[u8], new: &[u8], n: i64) -> Vec<u8> {
    if old == new || n == 0 {
        return s.to_vec();
    }
    let count = if old.is_empty() {
        runes::rune_count(s) + 1
    } else {
        count(s, old)
    };
    if count == 0 {
        return s.to_vec();
    }
    let n = if n < 0 { count } else { count.min(n as usize) };
    let mut out = Vec::with_capacity(s.len());
    let mut start = 0;
    for i in 0..n {
        let mut j = start;
        if old.is_empty() {
            if i > 0 {
                j += runes::decode_rune(&s[start..]).1;
            }
        } else {
            j += find(&s[start..], old).unwrap_or(0);
        }
        out.extend_from_slice(&s[start..j]);
        out.extend_from_slice(new);
        start = j + old.len();
    }
    out.extend_from_slice(&s[start..]);
    out
}

/// Non-overlapping occurrences of a non-empty `needle`.
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = haystack;
    while let Some(i) = find(rest, needle) {
        n += 1;
        rest = &rest[i + needle.len()..];
    }
    n
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: SubstituteFn, s: &str, args: &[&str]) -> String {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        String::from_utf8(f(s.as_bytes(), &args).unwrap()).unwrap()
    }

    #[test]
    fn replace_follows_go_strings_replace() {
        assert_eq!(call(replace_all, "abc", &["", "-"]), "-a-b-c-");
        assert_eq!(call(replace_first, "abc", &["", "-"]), "-abc");
        assert_eq!(call(replace_all, "aaaa", &["aa", "b"]), "bb");
        assert_eq!(
            call(replace_prefix, "abc", &["a"]),
            "abc",
            "needs two arguments"
        );
        assert_eq!(call(replace_suffix, "abca", &["a", "X"]), "abcX");
    }

    #[test]
    fn substring_by_bytes_with_go_edge_cases() {
        assert_eq!(call(to_substr, "abcdef", &["-3", "2"]), "de");
        assert_eq!(call(to_substr, "abcdef", &["2", "0"]), "");
        assert_eq!(call(to_substr, "abcdef", &["+1", "2"]), "bc");
        assert_eq!(call(to_substr, "abcdef", &["1", "100"]), "bcdef");
        assert_eq!(call(to_substr, "abcdef", &["9", "1"]), "");
        // Go's `pos+length` wraps to a negative end: upstream panics.
        assert_eq!(
            to_substr(b"abcdef", &[b"1".to_vec(), b"9223372036854775807".to_vec()]),
            Err(ErrorKind::NegativeSubstringLength)
        );
        assert_eq!(
            to_substr(b"abcdef", &[b"2".to_vec(), b"-1".to_vec()]),
            Err(ErrorKind::NegativeSubstringLength)
        );
    }

    #[test]
    fn glob_trims() {
        assert_eq!(call(trim_shortest_prefix, "a/b/c", &["*/"]), "b/c");
        assert_eq!(call(trim_longest_prefix, "a/b/c", &["*/"]), "c");
        assert_eq!(
            call(trim_shortest_prefix, "abc", &["["]),
            "abc",
            "bad pattern"
        );
    }
}
