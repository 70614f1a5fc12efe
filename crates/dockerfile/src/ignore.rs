//! `.dockerignore` matching (moby/patternmatcher rules) and Go's `filepath.Match`.

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

/// `.dockerignore` with moby/patternmatcher's rules: comments, blank lines, `!` exceptions
/// (last match wins), patterns cleaned and leading `/` dropped, `**`, Go filepath.Match syntax;
/// a path is excluded when it or any parent matches.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<String>,
}

impl Matcher {
    /// Reads `.dockerignore` content: one pattern per line, `#` comments and blank lines skipped.
    pub fn parse(content: &str) -> Result<Matcher, PatternError> {
        let _ = content;
        Ok(Matcher::default())
    }

    /// Builds a matcher from patterns as given (already split; `!` marks exceptions).
    pub fn new(patterns: &[String]) -> Result<Matcher, PatternError> {
        Ok(Matcher { patterns: patterns.to_vec() })
    }

    /// Whether `rel_path` (slash-separated, relative to the context) is excluded.
    pub fn excluded(&self, rel_path: &str) -> bool {
        let _ = (rel_path, &self.patterns);
        false
    }

    /// True when no `!` pattern could re-include something below `rel_dir`, so a walker may
    /// skip the whole directory once it is excluded.
    pub fn skip_dir(&self, rel_dir: &str) -> bool {
        let _ = rel_dir;
        false
    }
}

/// Go's `filepath.Match` (COPY source globs): `*`, `?`, `[a-z]`, `[^a]`, `\` escapes; `*` and
/// `?` do not match `/`. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let _ = (pattern, name);
    false
}
