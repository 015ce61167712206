//! The scanner of Flux's envsubst, rune for rune.
//!
//! A port of fluxcd/pkg `envsubst/parse/scan.go` (v1.7.0, forked from
//! drone/envsubst): the parser drives it by setting a *mode* (which tokens
//! it may produce), an *accept* function (which runes an identifier token
//! may hold) and the escapes in force, then calls [`Scanner::scan`]. Its
//! quirks are upstream's and kept on purpose, because they decide what a
//! manifest renders to:
//!
//! - rune 0 is the end-of-file marker, so a NUL character ends the text;
//! - an escape (`$$` → `$`, `\/` → `/`, `\\` → `\`) drops the escape
//!   character and takes the next one *without* asking the accept function;
//! - [`Scanner::unread`] steps back by the width of the *last rune read*,
//!   which after a `peek` of a multi-byte rune is not the rune the caller
//!   meant (see `parse.rs`, `parse_default_or_substr`).
//!
//! Upstream deletes an escape character from its buffer (`skip`); this port
//! keeps the text and remembers the offsets it dropped from the current
//! token instead, which gives the same tokens without copying the text at
//! every escape.

use super::runes::decode_rune;

/// Rune 0: upstream's `eof`.
pub(super) const EOF: char = '\0';

/// Mode bit: identifier tokens.
pub(super) const SCAN_IDENT: u8 = 1;
/// Mode bit: `${`.
pub(super) const SCAN_LBRACK: u8 = 1 << 1;
/// Mode bit: `}`.
pub(super) const SCAN_RBRACK: u8 = 1 << 2;
/// Mode bit: escapes inside identifiers.
pub(super) const SCAN_ESCAPE: u8 = 1 << 3;

/// Escape bit: `$$`.
pub(super) const DOLLAR: u8 = 1;
/// Escape bit: `\/` and `\\`.
pub(super) const BACKSLASH: u8 = 1 << 1;
/// Both escapes.
pub(super) const ESCAPE_ALL: u8 = DOLLAR | BACKSLASH;

/// A lexical token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

/// Whether rune `r`, ending `i` bytes into the token, belongs to it.
pub(super) type Accept = fn(char, usize) -> bool;

/// The scanner state (`scanner` in upstream).
pub(super) struct Scanner<'a> {
    buf: &'a [u8],
    /// Byte offset of the next rune.
    pub(super) pos: usize,
    /// Byte offset where the current token starts.
    pub(super) start: usize,
    width: usize,
    pub(super) mode: u8,
    pub(super) escape_chars: u8,
    pub(super) accept: Accept,
    /// Offsets of escape characters dropped from the current token.
    dropped: Vec<usize>,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Scanner<'a> {
        Scanner {
            buf,
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escape_chars: 0,
            accept: accept_rune,
            dropped: Vec::new(),
        }
    }

    /// The next rune, or [`EOF`] at the end.
    pub(super) fn read(&mut self) -> char {
        if self.pos >= self.buf.len() {
            self.width = 0;
            return EOF;
        }
        let (r, width) = decode_rune(&self.buf[self.pos..]);
        self.width = width;
        self.pos += width;
        r
    }

    /// Step back by the width of the last rune read.
    pub(super) fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
    }

    /// Upstream's `skip`: drop the escape character just read; the escaped
    /// character after it joins the token unexamined.
    fn skip(&mut self) {
        self.dropped.push(self.pos - 1);
        self.pos += 1;
    }

    /// The next rune without consuming it.
    pub(super) fn peek(&mut self) -> char {
        let r = self.read();
        self.unread();
        r
    }

    /// The text of the token just scanned, escapes applied.
    pub(super) fn string(&self) -> Vec<u8> {
        let end = self.pos.min(self.buf.len());
        let mut text = Vec::with_capacity(end.saturating_sub(self.start));
        let mut from = self.start.min(end);
        // `dropped` is ascending: offsets are recorded as the scan advances.
        for &i in self.dropped.iter().filter(|&&i| i < end) {
            text.extend_from_slice(&self.buf[from..i]);
            from = i + 1;
        }
        text.extend_from_slice(&self.buf[from..end]);
        text
    }

    /// Bytes of the current token so far, as upstream's `pos - start` counts
    /// them in its edited buffer.
    fn offset(&self) -> usize {
        // Every dropped offset lies in the current token (cleared by `scan`).
        (self.pos.saturating_sub(self.start)).saturating_sub(self.dropped.len())
    }

    /// Read the next token.
    pub(super) fn scan(&mut self) -> Token {
        self.start = self.pos;
        self.dropped.clear();
        let r = self.read();
        if r == EOF {
            Token::Eof
        } else if self.scan_lbrack(r) {
            Token::Lbrack
        } else if self.scan_rbrack(r) {
            Token::Rbrack
        } else if self.scan_ident(r) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, r: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(r) {
            self.skip();
        } else if !(self.accept)(r, self.offset()) {
            return false;
        }
        loop {
            let r = self.read();
            if r == EOF {
                self.unread();
                break;
            }
            if self.scan_lbrack(r) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(r) {
                self.skip();
                continue;
            }
            if !(self.accept)(r, self.offset()) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, r: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 {
            return false;
        }
        if r == '$' {
            if self.read() == '{' {
                return true;
            }
            self.unread();
        }
        false
    }

    fn scan_rbrack(&self, r: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && r == '}'
    }

    fn scan_escaped(&mut self, r: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        if r == '$' && self.escape_chars & DOLLAR != 0 && self.peek() == '$' {
            return true;
        }
        if r == '\\' && self.escape_chars & BACKSLASH != 0 {
            return matches!(self.peek(), '/' | '\\');
        }
        false
    }
}

// Accept functions, one per upstream function of the same name.

pub(super) fn accept_rune(_: char, _: usize) -> bool {
    true
}

pub(super) fn accept_ident(r: char, _: usize) -> bool {
    super::runes::is_letter(r) || super::runes::is_digit(r) || r == '_'
}

pub(super) fn accept_colon(r: char, _: usize) -> bool {
    r == ':'
}

pub(super) fn accept_one_hash(r: char, i: usize) -> bool {
    r == '#' && i == 1
}

pub(super) fn accept_not_closing(r: char, _: usize) -> bool {
    r != '}'
}

pub(super) fn accept_hash_func(r: char, i: usize) -> bool {
    r == '#' && i < 3
}

pub(super) fn accept_percent_func(r: char, i: usize) -> bool {
    r == '%' && i < 3
}

pub(super) fn accept_default_func(r: char, i: usize) -> bool {
    (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+'))
}

pub(super) fn accept_replace_func(r: char, i: usize) -> bool {
    (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%'))
}

pub(super) fn accept_one_equal(r: char, i: usize) -> bool {
    i == 1 && r == '='
}

pub(super) fn accept_one_colon(r: char, i: usize) -> bool {
    i == 1 && r == ':'
}

pub(super) fn reject_colon_close(r: char, _: usize) -> bool {
    r != ':' && r != '}'
}

pub(super) fn accept_slash(r: char, _: usize) -> bool {
    r == '/'
}

pub(super) fn accept_not_slash(r: char, _: usize) -> bool {
    r != '/'
}

pub(super) fn accept_casing_func(r: char, i: usize) -> bool {
    (r == ',' || r == '^') && i < 3
}
