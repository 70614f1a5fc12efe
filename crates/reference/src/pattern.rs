//! Shell patterns over slash-separated names, with the semantics of Go's `path.Match`.

use crate::Error;

#[derive(Debug, Clone)]
enum Token {
    /// `*`: any run of characters other than `/`.
    Star,
    /// `?`: one character other than `/`.
    Any,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A literal character (possibly escaped with `\`).
    Lit(char),
}

fn tokenize(pattern: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // One character of a class: `\c` or a plain character other than `-` and `]`.
    let class_char = |i: &mut usize| -> Result<char, Error> {
        match chars.get(*i) {
            None | Some('-') | Some(']') => Err(Error::BadPattern),
            Some('\\') => {
                let c = *chars.get(*i + 1).ok_or(Error::BadPattern)?;
                *i += 2;
                Ok(c)
            }
            Some(&c) => {
                *i += 1;
                Ok(c)
            }
        }
    };
    while i < chars.len() {
        match chars[i] {
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            '?' => {
                out.push(Token::Any);
                i += 1;
            }
            '\\' => {
                let c = *chars.get(i + 1).ok_or(Error::BadPattern)?;
                out.push(Token::Lit(c));
                i += 2;
            }
            '[' => {
                i += 1;
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    if chars.get(i) == Some(&']') && !ranges.is_empty() {
                        i += 1;
                        break;
                    }
                    let lo = class_char(&mut i)?;
                    let hi = if chars.get(i) == Some(&'-') {
                        i += 1;
                        let hi = class_char(&mut i)?;
                        if hi < lo {
                            return Err(Error::BadPattern);
                        }
                        hi
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                out.push(Token::Class { negated, ranges });
            }
            c => {
                out.push(Token::Lit(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether `name` matches the shell `pattern` as a whole: `*` matches any run of characters
/// except `/`, `?` one character except `/`, `[a-z]`/`[^a-z]` a character class, `\c` the
/// character `c`. A malformed pattern is [`Error::BadPattern`], even when it cannot match.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, Error> {
    let toks = tokenize(pattern)?;
    let name: Vec<char> = name.chars().collect();
    // reach[j]: the first k tokens can match name[..j].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for tok in &toks {
        let mut next = vec![false; name.len() + 1];
        match tok {
            Token::Star => {
                for j in 0..=name.len() {
                    if reach[j] || (j > 0 && next[j - 1] && name[j - 1] != '/') {
                        next[j] = true;
                    }
                }
            }
            _ => {
                for j in 0..name.len() {
                    if !reach[j] {
                        continue;
                    }
                    let c = name[j];
                    let ok = match tok {
                        Token::Any => c != '/',
                        Token::Lit(l) => c == *l,
                        Token::Class { negated, ranges } => {
                            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                        }
                        Token::Star => false,
                    };
                    if ok {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    Ok(reach[name.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_table() {
        let cases: &[(&str, &str, Result<bool, Error>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a[", "a", Err(Error::BadPattern)),
            ("a[]", "a", Err(Error::BadPattern)),
            ("[a-]", "a", Err(Error::BadPattern)),
            ("[z-a]", "a", Err(Error::BadPattern)),
            ("a\\", "a", Err(Error::BadPattern)),
            ("x[", "abc", Err(Error::BadPattern)),
            ("", "", Ok(true)),
            ("", "a", Ok(false)),
        ];
        for (p, n, want) in cases {
            assert_eq!(path_match(p, n), *want, "{p:?} ~ {n:?}");
        }
    }
}
