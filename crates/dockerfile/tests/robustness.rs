//! Bad input never panics: pseudo-random Dockerfile-ish text through every entry point.

use berth_dockerfile::ignore::{glob_match, Matcher};
use berth_dockerfile::shell::{expand, expand_words};
use berth_dockerfile::{parse, parse_instruction};

const TOKENS: &[&str] = &[
    "RUN",
    "FROM",
    "COPY",
    "ADD",
    "ONBUILD",
    "HEALTHCHECK",
    "CMD",
    "ENV",
    "ARG",
    "LABEL",
    "SHELL",
    "NONE",
    " AS ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\\",
    "`",
    "#",
    "# escape=`\n",
    "# syntax=x\n",
    "<<",
    "<<-",
    "EOF",
    "\nEOF\n",
    "-",
    "--",
    "--mount=",
    "--from=",
    "--interval=",
    "type=cache",
    ",",
    "=",
    "\"",
    "'",
    "$",
    "${",
    "}",
    ":",
    ":-",
    ":?",
    "#",
    "%",
    "[",
    "]",
    "[\"a\"]",
    "*",
    "**",
    "?",
    "!",
    "/",
    ".",
    "..",
    "é",
    "한",
    "0",
    "1s",
    "a",
    "b",
];

/// A small deterministic generator (no extra dependencies).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = Lcg(0x5eed);
    let env = |name: &str| name.len().is_multiple_of(2).then(|| "v w".to_string());
    for _ in 0..3_000 {
        let len = rng.next() % 24;
        let text: String = (0..len)
            .map(|_| TOKENS[rng.next() % TOKENS.len()])
            .collect();
        let _ = parse(&text);
        let _ = parse(&format!("FROM a\n{text}"));
        let _ = parse_instruction(&text, '\\');
        let _ = parse_instruction(&text, '`');
        let _ = expand(&text, '\\', &env);
        let _ = expand_words(&text, '`', &env);
        let _ = Matcher::parse(&text).map(|m| (m.excluded(&text), m.skip_dir(&text)));
        let _ = glob_match(&text, "a/b.c");
    }
}

#[test]
fn many_stars_stay_fast() {
    let pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    let name = "a".repeat(200);
    let start = std::time::Instant::now();
    assert!(!glob_match(pattern, &name));
    let m = Matcher::new(&[format!("**/{pattern}")]).unwrap();
    assert!(!m.excluded(&format!("x/{name}")));
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}
