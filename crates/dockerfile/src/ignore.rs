//! `.dockerignore` matching (moby/patternmatcher rules) and Go's `filepath.Match`.
//!
//! Rules, as the docker CLI applies them when it builds the context tar:
//! - lines starting with `#` are comments; blank lines are skipped; each line is trimmed;
//! - `!pattern` is an exception: patterns are evaluated in order and the last one that matches
//!   decides;
//! - patterns are cleaned like Go's `filepath.Clean` and a leading `/` is dropped (everything is
//!   relative to the context root);
//! - `*` matches any run of characters except `/`, `?` one character except `/`, `[a-z]` a
//!   class, `\x` the literal `x`, and `**` any number of directories (including none);
//! - a path is excluded when it, or any of its parent directories, matches.

/// A `.dockerignore` pattern is malformed (e.g. an unclosed `[`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid .dockerignore pattern {pattern:?}: {message}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong.
    pub message: String,
}

impl berth_errdefs::HasKind for PatternError {
    fn kind(&self) -> berth_errdefs::Kind {
        berth_errdefs::Kind::InvalidArgument
    }
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters, not crossing `/` when separators count.
    Star,
    /// `?`: one character, not `/` when separators count.
    Quest,
    /// `[...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**` at the end: anything.
    AnyDeep,
    /// `**/` (or `**` inside a pattern): any number of leading directories, including none.
    DeepDir,
}

/// How a `.dockerignore` pattern matches, as patternmatcher decides.
#[derive(Debug, Clone)]
enum How {
    /// No wildcards: the whole path equals the pattern.
    Exact,
    /// `**suffix` with no other wildcards: the path ends with `suffix` (or equals it without its
    /// leading `/`).
    Suffix(String),
    /// Anything else: the compiled tokens must match the whole path.
    Tokens(Vec<Tok>),
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    cleaned: String,
    how: How,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.how {
            How::Exact => path == self.cleaned,
            How::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| s == path)
            }
            How::Tokens(toks) => {
                let chars: Vec<char> = path.chars().collect();
                match_toks(toks, &chars, true)
            }
        }
    }

    /// Whether this pattern could match some path strictly below `dir` (segments) without
    /// matching `dir` or one of its parents (conservative: `**` anywhere says yes).
    fn could_match_below(&self, dir: &[&str]) -> bool {
        if self.cleaned.contains("**") {
            return true;
        }
        let segs: Vec<&str> = self.cleaned.split('/').collect();
        if segs.len() <= dir.len() {
            return false;
        }
        dir.iter().zip(&segs).all(|(d, p)| glob_match_lenient(p, d))
    }
}

/// `.dockerignore` with moby/patternmatcher's rules: comments, blank lines, `!` exceptions
/// (last match wins), patterns cleaned and leading `/` dropped, `**`, Go filepath.Match syntax;
/// a path is excluded when it or any parent matches.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Reads `.dockerignore` content: one pattern per line, `#` comments and blank lines skipped.
    pub fn parse(content: &str) -> Result<Matcher, PatternError> {
        Matcher::new(&read_patterns(content))
    }

    /// Builds a matcher from patterns as given (already split; `!` marks exceptions).
    pub fn new(patterns: &[String]) -> Result<Matcher, PatternError> {
        let mut out = Matcher::default();
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let (exclusion, body) = match p.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, p),
            };
            if exclusion && body.is_empty() {
                return Err(PatternError {
                    pattern: raw.clone(),
                    message: "illegal exclusion pattern: \"!\"".into(),
                });
            }
            let mut cleaned = clean(body);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned = cleaned.trim_start_matches('/').to_string();
            }
            let chars: Vec<char> = cleaned.chars().collect();
            if parse_glob(&chars).is_err() {
                return Err(PatternError {
                    pattern: raw.clone(),
                    message: "syntax error in pattern".into(),
                });
            }
            let how = compile(&cleaned).map_err(|message| PatternError {
                pattern: raw.clone(),
                message,
            })?;
            out.exclusions |= exclusion;
            out.patterns.push(Pattern {
                exclusion,
                cleaned,
                how,
            });
        }
        Ok(out)
    }

    /// True when there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `rel_path` (slash-separated, relative to the context) is excluded.
    pub fn excluded(&self, rel_path: &str) -> bool {
        let path = clean_rel(rel_path);
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            // An inclusion only matters while not yet excluded, an exception only once excluded.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&path);
            if !hit {
                for i in 1..=parents.len() {
                    if pattern.matches(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// True when `rel_dir` is excluded and no `!` pattern could re-include something below it,
    /// so a walker may skip the whole directory.
    pub fn skip_dir(&self, rel_dir: &str) -> bool {
        if !self.excluded(rel_dir) {
            return false;
        }
        if !self.exclusions {
            return true;
        }
        let dir = clean_rel(rel_dir);
        let segs: Vec<&str> = dir.split('/').collect();
        !self
            .patterns
            .iter()
            .any(|p| p.exclusion && p.could_match_below(&segs))
    }
}

/// The patterns of a `.dockerignore` file as the docker CLI reads them (`!` kept as a prefix).
pub fn read_patterns(content: &str) -> Vec<String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for line in content.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// Go's `filepath.Match` (COPY source globs): `*`, `?`, `[a-z]`, `[^a]`, `\` escapes; `*` and
/// `?` do not match `/`. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    match_chars(&p, &s, true).unwrap_or(false)
}

/// True when `pattern` contains glob syntax (`*`, `?`, `[`), as the builder checks before
/// walking a COPY source.
pub fn has_glob(pattern: &str) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn glob_match_lenient(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    match_chars(&p, &s, true).unwrap_or(true)
}

/// Go-glob match of `s` against `pattern`; `sep` makes `*`/`?` stop at `/`. Err: bad pattern.
pub(crate) fn match_chars(pattern: &[char], s: &[char], sep: bool) -> Result<bool, ()> {
    let toks = parse_glob(pattern)?;
    Ok(match_toks(&toks, s, sep))
}

/// Parses Go `filepath.Match` syntax.
fn parse_glob(p: &[char]) -> Result<Vec<Tok>, ()> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
                i += 1;
            }
            '?' => {
                toks.push(Tok::Quest);
                i += 1;
            }
            '\\' => {
                let c = *p.get(i + 1).ok_or(())?;
                toks.push(Tok::Lit(c));
                i += 2;
            }
            '[' => {
                let (tok, next) = parse_class(p, i + 1)?;
                toks.push(tok);
                i = next;
            }
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Ok(toks)
}

/// Parses a class body starting after `[`; returns the token and the index after `]`.
fn parse_class(p: &[char], mut i: usize) -> Result<(Tok, usize), ()> {
    let mut negated = false;
    if p.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        match p.get(i) {
            None => return Err(()),
            Some(']') if !ranges.is_empty() => return Ok((Tok::Class { negated, ranges }, i + 1)),
            _ => {}
        }
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), ()> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(()),
        Some('\\') => p.get(i + 1).map(|c| (*c, i + 2)).ok_or(()),
        Some(c) => Ok((*c, i + 1)),
    }
}

/// Compiles a cleaned `.dockerignore` pattern the way patternmatcher does.
fn compile(pattern: &str) -> Result<How, String> {
    let p: Vec<char> = pattern.chars().collect();
    let wild = |c: &char| matches!(c, '*' | '?' | '[' | ']');
    if !p.iter().any(wild) {
        return Ok(How::Exact);
    }
    if pattern.starts_with("**") && !p[2..].iter().any(wild) {
        return Ok(How::Suffix(pattern[2..].to_string()));
    }
    let mut toks = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' if p.get(i + 1) == Some(&'*') => {
                i += 2;
                if p.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i == p.len() {
                    Tok::AnyDeep
                } else {
                    Tok::DeepDir
                });
            }
            '*' => {
                toks.push(Tok::Star);
                i += 1;
            }
            '?' => {
                toks.push(Tok::Quest);
                i += 1;
            }
            '\\' => {
                toks.push(Tok::Lit(p.get(i + 1).copied().unwrap_or('\\')));
                i += 2;
            }
            '[' => {
                let (tok, next) =
                    parse_class(&p, i + 1).map_err(|_| "syntax error in pattern".to_string())?;
                toks.push(tok);
                i = next;
            }
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Ok(How::Tokens(toks))
}

/// Whether `toks` match all of `s`: a table over (token, position), so patterns with many
/// stars stay O(tokens x length) instead of backtracking exponentially.
fn match_toks(toks: &[Tok], s: &[char], sep: bool) -> bool {
    let n = s.len();
    // next[j]: toks[i + 1..] matches s[j..]; cur[j]: toks[i..] matches s[j..].
    let mut next = vec![false; n + 1];
    next[n] = true;
    for tok in toks.iter().rev() {
        let mut cur = vec![false; n + 1];
        // For DeepDir: some k >= j with s[k] == '/' and next[k + 1].
        let mut slash_then_rest = false;
        for j in (0..=n).rev() {
            let c = s.get(j).copied();
            let one = |ok: bool| ok && next[j + 1];
            cur[j] = match tok {
                Tok::Lit(l) => one(c == Some(*l)),
                Tok::Quest => one(c.is_some_and(|c| !(sep && c == '/'))),
                Tok::Class { negated, ranges } => one(c.is_some_and(|c| {
                    ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
                })),
                Tok::Star => next[j] || (c.is_some_and(|c| !(sep && c == '/')) && cur[j + 1]),
                Tok::AnyDeep => next[j] || (c.is_some() && cur[j + 1]),
                Tok::DeepDir => {
                    if c == Some('/') && next[j + 1] {
                        slash_then_rest = true;
                    }
                    next[j] || slash_then_rest
                }
            };
        }
        next = cur;
    }
    next[0]
}

/// Go's `path.Clean`: one `/` between elements, no `.` elements, `..` resolved, no trailing `/`;
/// the empty path is `.`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A context-relative path: cleaned, without a leading `/` or `./`.
fn clean_rel(p: &str) -> String {
    let c = clean(p);
    match c.strip_prefix('/') {
        Some("") => ".".into(),
        Some(rest) => rest.to_string(),
        None => c,
    }
}
