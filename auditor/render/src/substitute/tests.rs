//! Unit tests of substitution: the dialect's headline cases, taint and
//! error hygiene. The full upstream table is `auditor/tests/envsubst.rs`.

use super::*;
use serde_json::json;

fn plain(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Var::plain(*v)))
        .collect()
}

fn with(mut vars: Vars, name: &str, value: &str, origin: Origin) -> Vars {
    vars.insert(
        name.to_owned(),
        Var {
            value: value.to_owned(),
            origin,
        },
    );
    vars
}

fn subst(text: &str, vars: &Vars) -> Substituted {
    envsubst(text, vars, false).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn tainted(value: &str) -> String {
    format!("{TAINT_START}{value}{TAINT_END}")
}

#[test]
fn unknown_marker_is_the_unknown_char() {
    assert_eq!(UNKNOWN, UNKNOWN_CHAR.to_string());
}

#[test]
fn nested_default_and_replace_that_used_to_fail() {
    // `${A:-${B}}` left `${B}` behind; `${SECRET_DOMAIN/./-}` was a "bad
    // substitution" that dropped the cluster template's objects.
    let vars = plain(&[("B", "b-value"), ("SECRET_DOMAIN", "example.com")]);
    assert_eq!(subst("${A:-${B}}", &vars).text, "b-value");
    assert_eq!(subst("${SECRET_DOMAIN/./-}", &vars).text, "example-com");
    assert_eq!(
        subst("${SECRET_DOMAIN//./-}-tls", &vars).text,
        "example-com-tls"
    );
}

#[test]
fn unset_is_empty_and_recorded_unless_a_default_operator_reads_it() {
    let out = subst(
        "a: ${x}-${missing}-${opt:-d}-${#gone}",
        &plain(&[("x", "1")]),
    );
    assert_eq!(out.text, "a: 1--d-0");
    assert_eq!(
        out.unresolved.into_iter().collect::<Vec<_>>(),
        ["gone", "missing"]
    );
}

#[test]
fn strict_mode_fails_on_the_first_unset_variable_with_its_position() {
    let err = envsubst("a: 1\nb: x${missing}", &Vars::new(), true).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::VariableNotSet {
            name: "missing".into()
        }
    );
    assert_eq!(err.position, Some(Position { line: 2, column: 5 }));
    assert_eq!(
        err.to_string(),
        "variable not set (strict mode): \"missing\" at line 2, column 5"
    );
    assert!(envsubst("${missing:=d}", &Vars::new(), true).is_ok());
}

#[test]
fn escapes_and_bare_dollars() {
    let out = subst("$${x} $$ $apr1$fake ${x} \\${x}", &plain(&[("x", "1")]));
    assert_eq!(out.text, "${x} $ $apr1$fake 1 \\1");
}

#[test]
fn parse_errors_name_the_innermost_open_expression() {
    let err = envsubst("k: ${a:=${b}\n", &Vars::new(), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ParseFuncSubstitution);
    assert_eq!(err.position, Some(Position { line: 1, column: 4 }));
    let err = envsubst("k: ${a:=${b.c}}", &Vars::new(), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::MissingClosingBrace);
    assert_eq!(err.position, Some(Position { line: 1, column: 9 }));
}

#[test]
fn invalid_variable_names_are_rejected() {
    assert!(check_var_names(&plain(&[("ok_1", ""), ("_X", "")])).is_ok());
    let err = check_var_names(&plain(&[("1bad", "")])).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::InvalidName {
            name: "1bad".into()
        }
    );
    assert!(check_var_names(&plain(&[("é", "")])).is_err(), "ASCII only");
}

#[test]
fn flux_value_removes_newlines() {
    assert_eq!(flux_value("\na\nb\n"), "ab");
}

#[test]
fn opt_out_by_label_or_annotation() {
    let by_label = json!({"metadata": {"labels": {SUBSTITUTE_KEY: "disabled"}}});
    let by_annotation = json!({"metadata": {"annotations": {SUBSTITUTE_KEY: "disabled"}}});
    let other = json!({"metadata": {"labels": {SUBSTITUTE_KEY: "Disabled"}}});
    assert!(is_substitution_disabled(&by_label));
    assert!(is_substitution_disabled(&by_annotation));
    assert!(!is_substitution_disabled(&other), "case-sensitive");
}

// ---- taint ----------------------------------------------------------------

const CANARY: &str = "s3cr3t.CANARY/value";

fn secret_vars() -> Vars {
    let vars = plain(&[("P", "plain.example"), ("EMPTY", ""), ("N", "2")]);
    let vars = with(vars, "S", CANARY, Origin::Secret);
    let vars = with(vars, "SN", "3", Origin::Secret);
    with(vars, "U", "", Origin::Unknown)
}

#[test]
fn a_secret_read_anywhere_taints_the_whole_expression() {
    let vars = secret_vars();
    let cases = [
        ("${S}", CANARY.to_owned()),
        ("${#S}", CANARY.len().to_string()),
        ("${S^^}", CANARY.to_uppercase()),
        ("${S,}", CANARY.to_owned()),
        ("${S:2}", CANARY[2..].to_owned()),
        ("${S:0:6}", CANARY[..6].to_owned()),
        ("${S#*.}", "CANARY/value".to_owned()),
        ("${S%%/*}", "s3cr3t.CANARY".to_owned()),
        ("${S/./-}", "s3cr3t-CANARY/value".to_owned()),
        ("${S:-x}", CANARY.to_owned()),
        ("${unset:-${S}}", CANARY.to_owned()),
        ("${EMPTY:=pre-${S}-post}", format!("pre-{CANARY}-post")),
        // The default word is read even when the variable is set.
        ("${P:-${S}}", "plain.example".to_owned()),
        ("${P/${S}/x}", "plain.example".to_owned()),
        ("${P:${SN}}", "in.example".to_owned()),
        ("${P:${N}:${SN}}", "ain".to_owned()),
    ];
    for (text, want) in cases {
        assert_eq!(subst(text, &vars).text, tainted(&want), "{text}");
    }
    let out = subst("host: ${P}.${S:-x}.$${S}", &vars);
    assert_eq!(
        out.text,
        format!("host: plain.example.{}.${{S}}", tainted(CANARY))
    );
}

#[test]
fn an_unknown_read_anywhere_makes_the_expression_unknown() {
    let vars = secret_vars();
    for text in [
        "${U}",
        "${#U}",
        "${U:-x}",
        "${P:-${U}}",
        "${P/${U}/x}",
        "${U:${S}}",
        "${S:-${U}}",
    ] {
        assert_eq!(subst(text, &vars).text, UNKNOWN, "{text}");
    }
    assert_eq!(
        envsubst("a ${U} b", &vars, true).unwrap().text,
        format!("a {UNKNOWN} b"),
        "an Unknown variable is set: strict mode does not fail"
    );
}

#[test]
fn plain_variables_give_upstreams_bytes() {
    let vars = secret_vars();
    let text = "a: ${P} b: ${P^^} c: ${N:-x} d: ${P/./-} $${P}";
    assert_eq!(
        subst(text, &vars).text,
        "a: plain.example b: PLAIN.EXAMPLE c: 2 d: plain-example ${P}"
    );
}

/// A tiny deterministic generator, so the property tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "${", "}", "$", "{", ":", "=", "-", "+", "?", "/", "//", "#", "%", "^", ",", "\\", " ", "\n",
    "é", "S", "P", "U", "N", "EMPTY", "unset", "CANARY", "0", "2", "-1", "*", "[", "]", "$$", "\0",
];

fn random_text(rng: &mut Rng) -> String {
    (0..1 + rng.next(10))
        .map(|_| PIECES[rng.next(PIECES.len())])
        .collect()
}

#[test]
fn a_secret_value_never_appears_outside_the_sentinels() {
    let vars = secret_vars();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    for _ in 0..20_000 {
        let text = random_text(&mut rng);
        for strict in [false, true] {
            let Ok(out) = envsubst(&text, &vars, strict) else {
                continue;
            };
            checked += 1;
            let mut outside = String::new();
            let mut inside = false;
            for c in out.text.chars() {
                match c {
                    TAINT_START => {
                        assert!(!inside, "{text:?}: nested sentinels");
                        inside = true;
                    }
                    TAINT_END => {
                        assert!(inside, "{text:?}: unbalanced sentinels");
                        inside = false;
                    }
                    c if !inside => outside.push(c),
                    _ => {}
                }
            }
            assert!(!inside, "{text:?}: unterminated taint");
            for fragment in ["s3cr3t", "CANARY/value", "S3CR3T"] {
                assert!(
                    !outside.contains(fragment),
                    "{text:?} leaked {fragment}: {:?}",
                    out.text
                );
            }
        }
    }
    assert!(checked > 10_000, "only {checked} inputs substituted");
}

#[test]
fn no_error_message_quotes_the_text_or_a_value() {
    let vars = secret_vars();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut errors = 0;
    for _ in 0..20_000 {
        // The canary sits in the text in every position a piece can take.
        let text = format!(
            "{}Zq9-canary{}",
            random_text(&mut rng),
            random_text(&mut rng)
        );
        for strict in [false, true] {
            let Err(err) = envsubst(&text, &vars, strict) else {
                continue;
            };
            errors += 1;
            let mut shown = err.to_string();
            // A variable name is the one part of the text an error may show.
            if let ErrorKind::VariableNotSet { name } = &err.kind {
                assert!(text.contains(name.as_str()));
                shown = shown.replace(name.as_str(), "");
            }
            assert!(!shown.contains("Zq9"), "{text:?}: {shown}");
            assert!(!shown.contains("s3cr3t"), "{text:?}: {shown}");
            // Only upstream's fixed message, a variable name and a position.
            let position = err.position.map(|p| p.line + p.column).unwrap_or(0);
            assert!(position > 0, "{text:?}: no position in {shown}");
        }
    }
    assert!(errors > 5_000, "only {errors} malformed inputs");
}

#[test]
fn reserved_characters_cannot_forge_or_break_a_mask() {
    let vars = secret_vars();
    for text in [
        format!("x{TAINT_END}${{S}}"),
        UNKNOWN.to_string(),
        format!("${{P:-{TAINT_START}}}"),
    ] {
        let err = envsubst(&text, &vars, false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReservedCharacter, "{text:?}");
    }
    // A value holding a sentinel, or bytes that join into one.
    let vars = with(
        secret_vars(),
        "T",
        &format!("a{TAINT_END}b"),
        Origin::Secret,
    );
    let err = envsubst("${T}", &vars, false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReservedCharacter);
    let vars = plain(&[("A", "\u{F8F3}"), ("B", "°")]);
    let err = envsubst("${A:0:2}${B:1:1}", &vars, false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReservedCharacter);
}

#[test]
fn a_substring_through_a_character_is_an_error_not_a_broken_string() {
    let vars = plain(&[("v", "héllo")]);
    assert_eq!(subst("${v:1:2}", &vars).text, "é");
    let err = envsubst("ok\n  ${v:1:1}", &vars, false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidUtf8);
    assert_eq!(err.position, Some(Position { line: 2, column: 3 }));
    // Two halves that join again are fine, as in Go.
    assert_eq!(subst("${v:1:1}${v:2:1}", &vars).text, "é");
}

#[test]
fn deep_nesting_is_an_error_and_long_texts_are_fine() {
    let deep = "${a:-".repeat(parse::MAX_DEPTH + 1) + &"}".repeat(parse::MAX_DEPTH + 1);
    let err = envsubst(&deep, &Vars::new(), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooDeep);
    let ok = "${a:-".repeat(parse::MAX_DEPTH) + "x" + &"}".repeat(parse::MAX_DEPTH);
    assert_eq!(subst(&ok, &Vars::new()).text, "x");
    let long = "k: ${P}\n".repeat(50_000);
    assert_eq!(subst(&long, &secret_vars()).text.len(), 50_000 * 17);
}
