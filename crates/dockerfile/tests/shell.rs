//! Shell-word tables: (word, expected) against a fixed environment.

use berth_dockerfile::shell::{expand, expand_heredoc, expand_words};

fn env(name: &str) -> Option<String> {
    let v = match name {
        "PWD" => "/home",
        "A" => "a b",
        "EMPTY" => "",
        "P" => "a/b/c.tar.gz",
        "KOREAN" => "한국어",
        "_x1" => "under",
        _ => return None,
    };
    Some(v.to_string())
}

#[test]
fn expand_table() {
    let cases: &[(&str, &str)] = &[
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he\"ll\"o", "hello"),
        (r"he\'llo", "he'llo"),
        (r"abc\\de", r"abc\de"),
        (r"abc\de", "abcde"),
        (r#""abc\\de""#, r"abc\de"),
        (r#""abc\de""#, r"abc\de"),
        (r#""a\"b""#, r#"a"b"#),
        (r#"'a\"b'"#, r#"a\"b"#),
        (r#""it's""#, "it's"),
        ("'\"'", "\""),
        (r"abc\", "abc"),
        (r"a\ b", "a b"),
        // Variables.
        ("$PWD", "/home"),
        ("${PWD}", "/home"),
        ("${PWD}x", "/homex"),
        ("$PWDx", ""),
        ("$PWD/x", "/home/x"),
        ("$_x1", "under"),
        ("$KOREAN", "한국어"),
        (r"\$PWD", "$PWD"),
        (r#""\$PWD""#, "$PWD"),
        ("'$PWD'", "$PWD"),
        ("\"$PWD\"", "/home"),
        ("\"${A}\"", "a b"),
        ("$NOPE", ""),
        ("${NOPE}", ""),
        ("$", "$"),
        ("a$ b", "a$ b"),
        ("$/", "$/"),
        ("$1", ""),
        ("a$@b", "ab"),
        // Modifiers.
        ("${NOPE:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${PWD:-def}", "/home"),
        ("${NOPE-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${PWD:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${NOPE:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${NOPE+alt}", ""),
        ("${NOPE:-${PWD}/x}", "/home/x"),
        ("${NOPE:-'a  b'}", "a  b"),
        ("${NOPE:-\"q}\"}", "q}"),
        ("${NOPE:-a\\}b}", "a}b"),
        ("${EMPTY?}", ""),
        ("${PWD:?}", "/home"),
        // Prefix / suffix removal.
        ("${P#*/}", "b/c.tar.gz"),
        ("${P##*/}", "c.tar.gz"),
        ("${P%.*}", "a/b/c.tar"),
        ("${P%%.*}", "a/b/c"),
        ("${P#x}", "a/b/c.tar.gz"),
        ("${PWD#/h}", "ome"),
        ("${NOPE#x}", ""),
        // Pattern replacement: first (longest) match, or all.
        (r"${P/\//_}", "a_b/c.tar.gz"),
        (r"${P//\//_}", "a_b_c.tar.gz"),
        ("${P/b*c/X}", "a/X.tar.gz"),
        ("${P//[a-c]/-}", "-/-/-.t-r.gz"),
        ("${P/nomatch/x}", "a/b/c.tar.gz"),
        ("${P/.tar}", "a/b/c.gz"),
        ("${NOPE/a/b}", ""),
    ];
    for (word, want) in cases {
        assert_eq!(
            expand(word, '\\', &env).as_deref(),
            Ok(*want),
            "word: {word:?}"
        );
    }
}

#[test]
fn expand_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "he'llo",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            r"he\\'llo",
            "unexpected end of statement while looking for matching single-quote",
        ),
        ("${", "syntax error: missing '}'"),
        ("${PWD", "syntax error: missing '}'"),
        ("${NOPE:-abc", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${PWD:x}", "unsupported modifier (x) in substitution"),
        ("${NOPE:?}", "NOPE: is not allowed to be unset"),
        ("${NOPE?}", "NOPE: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${NOPE:?set it}", "NOPE: set it"),
        ("${NOPE?oops}", "NOPE: oops"),
    ];
    for (word, want) in cases {
        let got = expand(word, '\\', &env).map_err(|e| e.message);
        assert_eq!(
            got,
            Err(format!("failed to process {word:?}: {want}")),
            "word: {word:?}"
        );
    }
}

#[test]
fn backtick_escape() {
    let cases: &[(&str, &str)] = &[
        (r"c:\dir\file", r"c:\dir\file"),
        ("a`$PWD", "a$PWD"),
        ("a`\"b", "a\"b"),
        ("\"x`\"y\"", "x\"y"),
        ("\"x\\y\"", "x\\y"),
        ("a` b", "a b"),
        ("$PWD\\x", "/home\\x"),
    ];
    for (word, want) in cases {
        assert_eq!(
            expand(word, '`', &env).as_deref(),
            Ok(*want),
            "word: {word:?}"
        );
    }
}

#[test]
fn words_table() {
    let cases: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        ("  a\tb  ", &["a", "b"]),
        ("\"a b\" c", &["a b", "c"]),
        ("'a b'c d", &["a bc", "d"]),
        ("$A", &["a", "b"]),
        ("\"$A\"", &["a b"]),
        ("x${A}y", &["xa", "by"]),
        (r"a\ b c", &["a b", "c"]),
        ("\"\"", &[]),
        ("\"\" a", &["a"]),
        ("", &[]),
        ("80/tcp ${NOPE:-443}", &["80/tcp", "443"]),
        ("$EMPTY", &[]),
    ];
    for (input, want) in cases {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            expand_words(input, '\\', &env),
            Ok(want),
            "input: {input:?}"
        );
    }
}

#[test]
fn heredoc_table() {
    let cases: &[(&str, &str)] = &[
        ("echo \"$PWD\" '$A'\n", "echo \"/home\" 'a b'\n"),
        ("x=${NOPE:-d}\n\n  y\n", "x=d\n\n  y\n"),
        ("it's \\$PWD\n", "it's $PWD\n"),
        ("a\\\\b\n", "a\\b\n"),
    ];
    for (content, want) in cases {
        assert_eq!(
            expand_heredoc(content, &env).as_deref(),
            Ok(*want),
            "content: {content:?}"
        );
    }
}
