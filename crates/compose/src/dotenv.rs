//! `.env` and `env_file` parsing: `KEY=VALUE` lines, `export` prefixes, `#` comments, single
//! quotes (literal), double quotes (escapes and variables), unquoted values (variables, trailing
//! ` #comment` dropped). A line with a name only takes the value from the environment.

use std::collections::BTreeMap;

use crate::interpolate::{interpolate, InterpError};

/// Variables in file order; `None`: a bare name not set in the environment.
pub(crate) type Vars = Vec<(String, Option<String>)>;

/// Parse `content`; `lookup` is the environment used for `$VAR` in values and bare names
/// (earlier lines of the same file are visible too). `None` values: a bare name not set.
pub(crate) fn parse(
    content: &str,
    lookup: &BTreeMap<String, String>,
) -> Result<Vars, (usize, String)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut env = lookup.clone();
    let lines: Vec<&str> = content.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            let key = line.trim();
            if !valid_key(key) {
                return Err((lineno, format!("invalid variable name {key:?}")));
            }
            out.push((key.to_string(), lookup.get(key).cloned()));
            continue;
        };
        let key = key.trim();
        if !valid_key(key) {
            return Err((lineno, format!("invalid variable name {key:?}")));
        }
        let raw = raw.trim_start();
        let value = if let Some(body) = raw.strip_prefix('\'') {
            let mut body = body.to_string();
            while !body.contains('\'') && i < lines.len() {
                body.push('\n');
                body.push_str(lines[i]);
                i += 1;
            }
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => return Err((lineno, "unterminated single quote".to_string())),
            }
        } else if let Some(body) = raw.strip_prefix('"') {
            let mut body = body.to_string();
            let closing = |b: &str| {
                let mut esc = false;
                for (idx, c) in b.char_indices() {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        return Some(idx);
                    }
                }
                None
            };
            while closing(&body).is_none() && i < lines.len() {
                body.push('\n');
                body.push_str(lines[i]);
                i += 1;
            }
            let Some(end) = closing(&body) else {
                return Err((lineno, "unterminated double quote".to_string()));
            };
            let mut unescaped = String::new();
            let mut chars = body[..end].chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => unescaped.push('\n'),
                        Some('t') => unescaped.push('\t'),
                        Some('r') => unescaped.push('\r'),
                        Some(o) => unescaped.push(o),
                        None => unescaped.push('\\'),
                    }
                } else {
                    unescaped.push(c);
                }
            }
            expand(&unescaped, &env, lineno)?
        } else {
            let v = match raw.find(" #") {
                Some(p) => &raw[..p],
                None => raw,
            };
            expand(v.trim_end(), &env, lineno)?
        };
        env.insert(key.to_string(), value.clone());
        out.push((key.to_string(), Some(value)));
    }
    Ok(out)
}

fn expand(v: &str, env: &BTreeMap<String, String>, lineno: usize) -> Result<String, (usize, String)> {
    interpolate(v, env).map_err(|e| match e {
        InterpError::Syntax(m) => (lineno, m),
        InterpError::Missing { name, message } => {
            (lineno, format!("required variable {name} is missing a value: {message}"))
        }
    })
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && !k.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let env: BTreeMap<String, String> = [("HOME".to_string(), "/root".to_string())].into();
        let got = parse(
            "# comment\n\nA=1\nexport B = two words \nC='lit $HOME'\nD=\"q\\n$A\"\nE=$HOME/x # note\nF\nHOME\nG=\"multi\nline\"\nH=\n",
            &env,
        )
        .unwrap();
        let want: Vec<(String, Option<String>)> = vec![
            ("A".into(), Some("1".into())),
            ("B".into(), Some("two words".into())),
            ("C".into(), Some("lit $HOME".into())),
            ("D".into(), Some("q\n1".into())),
            ("E".into(), Some("/root/x".into())),
            ("F".into(), None),
            ("HOME".into(), Some("/root".into())),
            ("G".into(), Some("multi\nline".into())),
            ("H".into(), Some("".into())),
        ];
        assert_eq!(got, want);
        assert_eq!(parse("A='x", &env), Err((1, "unterminated single quote".to_string())));
        assert_eq!(parse("ok=1\nbad key=1", &env), Err((2, "invalid variable name \"bad key\"".to_string())));
    }
}
