//! Go's view of a string as bytes and runes, which the envsubst functions
//! depend on.
//!
//! Go strings are byte strings: `len` counts bytes, slicing cuts bytes (even
//! inside a character), and decoding an invalid byte yields the replacement
//! rune U+FFFD with width 1 (`unicode/utf8.DecodeRuneInString`). The
//! evaluator keeps values as bytes so `${#v}`, `${v:1:2}` and the glob trims
//! give upstream's exact results on non-ASCII text. Character classes and
//! case mapping follow Go's `unicode` package: `IsLetter` is general category
//! L, `IsDigit` is Nd (from `icu_properties`), and `ToUpper`/`ToLower` are
//! the one-to-one *simple* mappings of UnicodeData (from `icu_casemap`), so
//! `straße` upper-cases to `STRAßE` as in Go, not to `STRASSE` as Rust's
//! `str::to_uppercase` would.

use icu_casemap::CaseMapper;
use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};

/// Go's `utf8.RuneError`.
pub(crate) const RUNE_ERROR: char = '\u{FFFD}';

/// `utf8.DecodeRuneInString`: the first rune of `s` and its width in bytes;
/// `(RUNE_ERROR, 1)` for an invalid byte, `(RUNE_ERROR, 0)` for `""`.
pub(crate) fn decode_rune(s: &[u8]) -> (char, usize) {
    let Some(&first) = s.first() else {
        return (RUNE_ERROR, 0);
    };
    if first < 0x80 {
        return (char::from(first), 1);
    }
    let width = match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (RUNE_ERROR, 1),
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(text)) => text.chars().next().map_or((RUNE_ERROR, 1), |c| (c, width)),
        _ => (RUNE_ERROR, 1),
    }
}

/// The runes of `s` as Go's `for range` / `[]rune(s)` sees them.
pub(crate) fn runes(mut s: &[u8]) -> impl Iterator<Item = char> + '_ {
    std::iter::from_fn(move || {
        if s.is_empty() {
            return None;
        }
        let (r, width) = decode_rune(s);
        s = &s[width..];
        Some(r)
    })
}

/// `utf8.RuneCountInString`.
pub(crate) fn rune_count(s: &[u8]) -> usize {
    runes(s).count()
}

/// Append the UTF-8 encoding of `r` (`string(r)` / `WriteRune`).
pub(crate) fn push_rune(out: &mut Vec<u8>, r: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(r.encode_utf8(&mut buf).as_bytes());
}

/// `unicode.IsLetter`: general category L (Lu, Ll, Lt, Lm, Lo).
pub(crate) fn is_letter(r: char) -> bool {
    GeneralCategoryGroup::Letter.contains(CodePointMapData::<GeneralCategory>::new().get(r))
}

/// `unicode.IsDigit`: general category Nd.
pub(crate) fn is_digit(r: char) -> bool {
    CodePointMapData::<GeneralCategory>::new().get(r) == GeneralCategory::DecimalNumber
}

/// `unicode.ToUpper`: the simple (one rune to one rune) mapping.
pub(crate) fn to_upper(r: char) -> char {
    CaseMapper::new().simple_uppercase(r)
}

/// `unicode.ToLower`: the simple (one rune to one rune) mapping.
pub(crate) fn to_lower(r: char) -> char {
    CaseMapper::new().simple_lowercase(r)
}

/// `strings.Map(f, s)` for a mapping that keeps every rune: each rune
/// mapped, each invalid byte written as U+FFFD.
pub(crate) fn map_runes(s: &[u8], f: impl Fn(char) -> char) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for r in runes(s) {
        push_rune(&mut out, f(r));
    }
    out
}

/// `string(reverse([]rune(s)))`: the runes in reverse order (invalid bytes
/// become U+FFFD first).
pub(crate) fn reverse(s: &[u8]) -> Vec<u8> {
    let all: Vec<char> = runes(s).collect();
    let mut out = Vec::with_capacity(s.len());
    for &r in all.iter().rev() {
        push_rune(&mut out, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_decode_one_at_a_time_as_go_does() {
        assert_eq!(decode_rune(b"\xe2\x82"), (RUNE_ERROR, 1));
        assert_eq!(decode_rune("é".as_bytes()), ('é', 2));
        assert_eq!(decode_rune(b"\xed\xa0\x80"), (RUNE_ERROR, 1), "surrogate");
        assert_eq!(decode_rune(b""), (RUNE_ERROR, 0));
        assert_eq!(rune_count(b"a\xe2\x82b"), 4);
        assert_eq!(map_runes(b"a\xffb", to_upper), "A\u{FFFD}B".as_bytes());
    }

    #[test]
    fn case_mapping_is_go_simple_mapping() {
        assert_eq!(to_upper('ß'), 'ß');
        assert_eq!(to_lower('İ'), 'i');
        assert_eq!(to_upper('ǅ'), 'Ǆ');
        assert_eq!(to_lower('Σ'), 'σ');
    }

    #[test]
    fn letters_and_digits_are_go_categories() {
        assert!(is_letter('é') && is_letter('ª') && is_letter('中'));
        assert!(
            !is_letter('\u{0903}'),
            "a spacing mark is Alphabetic but not a letter"
        );
        assert!(is_digit('٣') && !is_digit('½') && !is_digit('Ⅷ'));
    }
}
