//! Variable interpolation in compose values: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`, and `$$` for a
//! literal `$`. Defaults and alternatives may themselves contain variables.

use std::collections::BTreeMap;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InterpError {
    /// `${` without a matching `}`, or a bad name inside `${...}`.
    Syntax(String),
    /// `:?` / `?` with the variable missing.
    Missing { name: String, message: String },
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Interpolate `s` with `env`.
pub(crate) fn interpolate(s: &str, env: &BTreeMap<String, String>) -> Result<String, InterpError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // find the matching brace, counting nested ${...}
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(InterpError::Syntax(format!("invalid interpolation format for {s:?}: unterminated \"${{\"")));
                }
                let inner: String = chars[start..j].iter().collect();
                out.push_str(&expand_braced(&inner, s, env)?);
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(env.get(&name).map(String::as_str).unwrap_or(""));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn expand_braced(inner: &str, whole: &str, env: &BTreeMap<String, String>) -> Result<String, InterpError> {
    let name_len = inner.chars().take_while(|&c| is_name_char(c)).count();
    let name = &inner[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(InterpError::Syntax(format!("invalid interpolation format for {whole:?}: \"${{{inner}}}\"")));
    }
    let rest = &inner[name_len..];
    let value = env.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(InterpError::Syntax(format!("invalid interpolation format for {whole:?}: \"${{{inner}}}\"")));
    };
    let current = value.cloned().unwrap_or_default();
    Ok(match op {
        "" => current,
        ":-" if !non_empty => interpolate(arg, env)?,
        "-" if !set => interpolate(arg, env)?,
        ":?" if !non_empty => {
            return Err(InterpError::Missing { name: name.to_string(), message: interpolate(arg, env)? })
        }
        "?" if !set => return Err(InterpError::Missing { name: name.to_string(), message: interpolate(arg, env)? }),
        ":+" => {
            if non_empty {
                interpolate(arg, env)?
            } else {
                String::new()
            }
        }
        "+" => {
            if set {
                interpolate(arg, env)?
            } else {
                String::new()
            }
        }
        _ => current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let env: BTreeMap<String, String> =
            [("A", "a"), ("E", ""), ("N", "1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let table: &[(&str, Result<&str, InterpError>)] = &[
            ("plain", Ok("plain")),
            ("$A", Ok("a")),
            ("x${A}y", Ok("xay")),
            ("$A$N", Ok("a1")),
            ("$UNSET-", Ok("-")),
            ("$$A", Ok("$A")),
            ("$$$A", Ok("$a")),
            ("a $ b", Ok("a $ b")),
            ("${UNSET:-def}", Ok("def")),
            ("${E:-def}", Ok("def")),
            ("${E-def}", Ok("")),
            ("${UNSET-def}", Ok("def")),
            ("${A:-def}", Ok("a")),
            ("${UNSET:-${A}}", Ok("a")),
            ("${UNSET:-${UNSET2:-deep}}", Ok("deep")),
            ("${A:+alt}", Ok("alt")),
            ("${E:+alt}", Ok("")),
            ("${E+alt}", Ok("alt")),
            ("${UNSET+alt}", Ok("")),
            ("${A:?boom}", Ok("a")),
            ("${E?boom}", Ok("")),
            (
                "${E:?need a value}",
                Err(InterpError::Missing { name: "E".into(), message: "need a value".into() }),
            ),
            (
                "${DB_PASSWORD?need a password}",
                Err(InterpError::Missing { name: "DB_PASSWORD".into(), message: "need a password".into() }),
            ),
            ("${A", Err(InterpError::Syntax("invalid interpolation format for \"${A\": unterminated \"${\"".into()))),
            ("${}", Err(InterpError::Syntax("invalid interpolation format for \"${}\": \"${}\"".into()))),
            ("${A!x}", Err(InterpError::Syntax("invalid interpolation format for \"${A!x}\": \"${A!x}\"".into()))),
        ];
        for (input, want) in table {
            let got = interpolate(input, &env);
            assert_eq!(&got.as_ref().map(String::as_str).map_err(Clone::clone), want, "input {input:?}");
        }
    }
}
