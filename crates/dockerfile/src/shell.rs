//! Docker's shell-word lexer (`ProcessWord` / `ProcessWords`): quotes, escapes and variable
//! substitution as the builder applies them to instruction arguments.
//!
//! The rules, as Docker applies them (not a full POSIX shell):
//! - `'...'` is literal (no escapes inside); `"..."` expands `$` and lets the escape character
//!   escape `"`, `$` and itself (other escapes stay literal).
//! - Outside quotes the escape character makes the next character literal; a trailing escape
//!   character is dropped.
//! - `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`,
//!   `${NAME:?msg}`, `${NAME?msg}`, `${NAME#pat}`, `${NAME##pat}`, `${NAME%pat}`,
//!   `${NAME%%pat}`, `${NAME/pat/repl}`, `${NAME//pat/repl}`. An unset variable expands to
//!   nothing; `$` not followed by a name stays `$`.
//! - [`expand_words`] splits on unquoted whitespace *after* substitution (a value containing
//!   spaces becomes several words), and drops empty words (`""` alone yields no word).

/// A word could not be expanded (bad substitution, `${V:?msg}` with V unset, unterminated quote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    /// Docker's message, e.g. `failed to process "${A:?boom}": A: boom`.
    pub message: String,
}

impl berth_errdefs::HasKind for ExpandError {
    fn kind(&self) -> berth_errdefs::Kind {
        berth_errdefs::Kind::InvalidArgument
    }
}

/// Docker's ProcessWord: quotes removed, escapes applied, `$V ${V} ${V:-d} ${V-d} ${V:+a}
/// ${V+a} ${V:?msg} ${V?msg}` (and `${V#p} ${V##p} ${V%p} ${V%%p}`) substituted from `lookup`.
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    Lexer::new(word, escape, Options::default(), lookup)
        .run(word)
        .map(|(w, _)| w)
}

/// Docker's ProcessWords: split on unquoted whitespace, each word expanded (EXPOSE, VOLUME...).
pub fn expand_words(
    s: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(s, escape, Options::default(), lookup)
        .run(s)
        .map(|(_, ws)| ws)
}

/// Expands a heredoc body whose delimiter was unquoted ([`crate::Heredoc::expand`]) as Docker
/// does for `COPY <<EOF`: `$V`/`${V...}` substituted and `\` escapes applied (the escape is
/// always `\` here), but quote characters are ordinary text.
pub fn expand_heredoc(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let options = Options {
        skip_quotes: true,
        ..Options::default()
    };
    Lexer::new(content, '\\', options, lookup)
        .run(content)
        .map(|(w, _)| w)
}

/// Lexer switches used by the parser itself (heredoc detection), as Docker's `Lex` fields.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
    /// Treat quote characters as ordinary text.
    pub skip_quotes: bool,
}

/// Splits like [`expand_words`] with `options` (used for heredoc detection).
pub(crate) fn words_with(
    s: &str,
    escape: char,
    options: Options,
) -> Result<Vec<String>, ExpandError> {
    let none = |_: &str| None;
    Lexer::new(s, escape, options, &none)
        .run(s)
        .map(|(_, ws)| ws)
}

/// Accumulates words as ProcessWords does.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    options: Options,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

fn err(message: impl Into<String>) -> ExpandError {
    ExpandError {
        message: message.into(),
    }
}

impl<'a> Lexer<'a> {
    fn new(
        s: &str,
        escape: char,
        options: Options,
        lookup: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Lexer {
            chars: s.chars().collect(),
            pos: 0,
            escape,
            options,
            lookup,
        }
    }

    fn run(mut self, source: &str) -> Result<(String, Vec<String>), ExpandError> {
        self.stop_on(&[])
            .map(|(w, ws, _)| (w, ws))
            .map_err(|e| err(format!("failed to process {source:?}: {}", e.message)))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (consumed) or the end of input; returns the word and the words.
    /// Processes until one of `stops` (consumed, and returned) or the end of input.
    fn stop_on(
        &mut self,
        stops: &[char],
    ) -> Result<(String, Vec<String>, Option<char>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stops.contains(&ch) {
                self.pos += 1;
                return Ok((result, words.finish(), Some(ch)));
            }
            match ch {
                '\'' | '"' if self.options.skip_quotes => {
                    self.pos += 1;
                    words.add_char(ch);
                    result.push(ch);
                }
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.options.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        let Some(next) = self.next() else { break };
                        words.add_raw_char(next);
                        result.push(next);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stops.first() {
            Some(c) => Err(err(format!(
                "unexpected end of statement while looking for matching {c}"
            ))),
            None => Ok((result, words.finish(), None)),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        if self.options.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(err(
                        "unexpected end of statement while looking for matching single-quote",
                    ))
                }
                Some('\'') => {
                    if self.options.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        let mut result = String::new();
        if self.options.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(err(
                        "unexpected end of statement while looking for matching double-quote",
                    ))
                }
                Some('"') => {
                    self.pos += 1;
                    if self.options.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                }
                Some(ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        match self.peek() {
                            // An escape at the very end is dropped.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                if self.options.raw_escapes {
                                    result.push(ch);
                                }
                                self.pos += 1;
                                result.push(n);
                            }
                            Some(_) => result.push(ch),
                        }
                    } else {
                        result.push(ch);
                    }
                }
            }
        }
    }

    /// Reads the word of a `${NAME<op>word}` up to its `}`.
    fn brace_word(&mut self) -> Result<String, ExpandError> {
        self.brace_word_until(&['}']).map(|(w, _)| w)
    }

    /// Reads a word inside `${...}` up to one of `stops` (the first being `}`).
    fn brace_word_until(&mut self, stops: &[char]) -> Result<(String, Option<char>), ExpandError> {
        match self.stop_on(stops) {
            Ok((w, _, hit)) => Ok((w, hit)),
            Err(e) => {
                if self.peek().is_none() {
                    Err(err("syntax error: missing '}'"))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match (self.lookup)(&name) {
                Some(v) => v,
                None if self.options.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // '{'
        match self.peek() {
            None => return Err(err("syntax error: missing '}'")),
            Some('{') | Some('}') | Some(':') => return Err(err("syntax error: bad substitution")),
            _ => {}
        }
        let name = self.name();
        let value = (self.lookup)(&name);
        let skip = value.is_none() && self.options.skip_unset;
        match self.next() {
            None => Err(err("syntax error: missing '}'")),
            Some('}') => Ok(match value {
                Some(v) => v,
                None if skip => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(op @ ('-' | '+' | '?')) => {
                let word = self.brace_word()?;
                if skip {
                    return Ok(format!("${{{name}{op}{word}}}"));
                }
                Self::apply(&name, op, value, false, word)
            }
            Some(':') => {
                let op = self.next();
                match op {
                    Some(op @ ('-' | '+' | '?')) => {
                        let word = self.brace_word()?;
                        if skip {
                            return Ok(format!("${{{name}:{op}{word}}}"));
                        }
                        Self::apply(&name, op, value, true, word)
                    }
                    Some(c) => Err(err(format!("unsupported modifier ({c}) in substitution"))),
                    None => Err(err("syntax error: missing '}'")),
                }
            }
            Some(op @ ('#' | '%')) => {
                let greedy = self.peek() == Some(op);
                if greedy {
                    self.pos += 1;
                }
                let pattern = self.brace_word()?;
                if skip {
                    let ops = if greedy {
                        format!("{op}{op}")
                    } else {
                        op.to_string()
                    };
                    return Ok(format!("${{{name}{ops}{pattern}}}"));
                }
                let v = value.unwrap_or_default();
                Ok(if op == '#' {
                    trim_prefix(&v, &pattern, greedy)
                } else {
                    trim_suffix(&v, &pattern, greedy)
                })
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let (pattern, hit) = self.brace_word_until(&['}', '/'])?;
                let replacement = if hit == Some('/') {
                    self.brace_word()?
                } else {
                    String::new()
                };
                if skip {
                    let op = if all { "//" } else { "/" };
                    return Ok(format!("${{{name}{op}{pattern}/{replacement}}}"));
                }
                Ok(replace(
                    &value.unwrap_or_default(),
                    &pattern,
                    &replacement,
                    all,
                ))
            }
            Some(c) => Err(err(format!("unsupported modifier ({c}) in substitution"))),
        }
    }

    /// `${name<op>word}` with `colon` meaning "empty counts as unset".
    fn apply(
        name: &str,
        op: char,
        value: Option<String>,
        colon: bool,
        word: String,
    ) -> Result<String, ExpandError> {
        let unset = match &value {
            None => true,
            Some(v) => colon && v.is_empty(),
        };
        match op {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            _ => {
                if !unset {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".into()
                } else {
                    "is not allowed to be empty".into()
                };
                Err(err(format!("{name}: {message}")))
            }
        }
    }

    /// A variable name: a run of digits, one special parameter, or letters/digits/`_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// Shell pattern match where `*` matches any run of characters (including `/`), `?` one.
fn shell_pattern_match(pattern: &[char], s: &[char]) -> bool {
    crate::ignore::match_chars(pattern, s, false).unwrap_or(false)
}

/// `${V/pattern/replacement}` (first, longest match) and `${V//pattern/replacement}` (all).
fn replace(value: &str, pattern: &str, replacement: &str, all: bool) -> String {
    if pattern.is_empty() {
        return value.to_string();
    }
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut replaced = false;
    while i < v.len() {
        if !replaced || all {
            if let Some(j) = (i + 1..=v.len())
                .rev()
                .find(|&j| shell_pattern_match(&p, &v[i..j]))
            {
                out.push_str(replacement);
                i = j;
                replaced = true;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn trim_prefix(value: &str, pattern: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let mut ends: Vec<usize> = (0..=v.len()).collect();
    if greedy {
        ends.reverse();
    }
    for end in ends {
        if shell_pattern_match(&p, &v[..end]) {
            return v[end..].iter().collect();
        }
    }
    value.to_string()
}

fn trim_suffix(value: &str, pattern: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let mut starts: Vec<usize> = (0..=v.len()).collect();
    if !greedy {
        starts.reverse();
    }
    for start in starts {
        if shell_pattern_match(&p, &v[start..]) {
            return v[..start].iter().collect();
        }
    }
    value.to_string()
}
