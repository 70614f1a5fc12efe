//! The Dockerfile parser: lines, directives, continuations, heredocs, instructions.

use crate::{Dockerfile, Instruction, ParseError};

/// Parses a whole Dockerfile.
pub fn parse(src: &str) -> Result<Dockerfile, ParseError> {
    let _ = src;
    Err(ParseError::new(0, "not yet"))
}

/// Parses one instruction line (e.g. an ONBUILD trigger from an image config) with `escape` as
/// the escape character. FROM is refused (it is not an [`Instruction`]).
pub fn parse_instruction(line: &str, escape: char) -> Result<Instruction, ParseError> {
    let _ = (line, escape);
    Err(ParseError::new(1, "not yet"))
}
