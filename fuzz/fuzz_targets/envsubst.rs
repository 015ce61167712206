//! Fuzz Flux's envsubst port: no panic, no hang, errors that never show a
//! Secret value, and taint as non-interference — changing the value of a
//! Secret or Unknown variable changes nothing outside the sentinels.
//!
//! Input: byte 0 holds flags (bit 0: strict mode), the rest is UTF-8:
//! extra variables before the first U+0001 (`name=value;…`, a name
//! starting with `!` is a Secret, with `?` Unknown), the text after it.
//! A few variables are always defined so the text can use them by name.

#![no_main]

use flotilla_render::substitute::{
    ErrorKind, Origin, TAINT_END, TAINT_START, Var, Vars, envsubst,
};
use libfuzzer_sys::fuzz_target;

const SECRET_A: &str = "Zq9/sécret.CANARY-1";
const SECRET_B: &str = "-2";

fn vars(spec: &str, secret: &str) -> Vars {
    let mut vars = Vars::new();
    let mut put = |name: &str, value: &str, origin| {
        vars.insert(
            name.to_owned(),
            Var {
                value: if origin == Origin::Unknown {
                    String::new()
                } else {
                    value.to_owned()
                },
                origin,
            },
        );
    };
    put("P", "plain.example/path", Origin::Plain);
    put("E", "", Origin::Plain);
    put("N", "3", Origin::Plain);
    put("M", "-4", Origin::Plain);
    put("H", "héllo wörld ß", Origin::Plain);
    put("S", secret, Origin::Secret);
    put("U", "", Origin::Unknown);
    for entry in spec.split(';') {
        let Some((name, value)) = entry.split_once('=') else {
            continue;
        };
        match (name.strip_prefix('!'), name.strip_prefix('?')) {
            (Some(name), _) => put(name, &format!("{secret}{value}"), Origin::Secret),
            (_, Some(name)) => put(name, value, Origin::Unknown),
            _ => put(name, value, Origin::Plain),
        }
    }
    vars
}

/// The output with every tainted span replaced by one marker.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in text.chars() {
        match c {
            TAINT_START => {
                assert!(!inside, "nested taint");
                inside = true;
                out.push('▒');
            }
            TAINT_END => {
                assert!(inside, "taint end without start");
                inside = false;
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    assert!(!inside, "unterminated taint");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let strict = flags & 1 == 1;
    let (spec, text) = input.split_once('\u{1}').unwrap_or(("", input));
    let a = envsubst(text, &vars(spec, SECRET_A), strict);
    let b = envsubst(text, &vars(spec, SECRET_B), strict);
    for result in [&a, &b] {
        if let Err(e) = result {
            let mut shown = e.to_string();
            // A variable name is the one part of the text an error may show.
            if let ErrorKind::VariableNotSet { name } = &e.kind {
                assert!(text.contains(name.as_str()), "name not from the text");
                shown = shown.replace(name.as_str(), "");
            }
            assert!(!shown.contains("Zq9"), "error shows a Secret: {shown}");
            assert!(!shown.contains("CANARY"), "error shows a Secret: {shown}");
        }
    }
    if let (Ok(a), Ok(b)) = (&a, &b) {
        assert_eq!(masked(&a.text), masked(&b.text), "a Secret leaks past its taint");
        assert_eq!(a.unresolved, b.unresolved);
    }
});
