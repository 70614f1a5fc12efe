//! Docker's shell-word lexer (`ProcessWord` / `ProcessWords`): quotes, escapes and variable
//! substitution as the builder applies them to instruction arguments.

/// A word could not be expanded (bad substitution, `${V:?msg}` with V unset, unterminated quote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    /// Docker's message, e.g. `missing '}'` or `V: is not allowed to be unset`.
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
    let _ = (word, escape, lookup);
    Err(ExpandError { message: "not yet".into() })
}

/// Docker's ProcessWords: split on unquoted whitespace, each word expanded (EXPOSE, VOLUME...).
pub fn expand_words(
    s: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    let _ = (s, escape, lookup);
    Err(ExpandError { message: "not yet".into() })
}
