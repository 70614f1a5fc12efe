//! Go's `json.Indent` and `json.Compact` over raw bytes: docker's `inspect` prints the
//! daemon's own JSON, keys in the daemon's order, re-spaced only.

/// Re-space `src` with Go's `json.Indent(dst, src, "", indent)`: empty objects and arrays stay
/// `{}`/`[]`, `": "` after keys, one element per line. `None` if `src` is not JSON-shaped
/// (unbalanced brackets or an unterminated string).
pub fn indent(src: &[u8], indent: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len() * 2);
    let mut depth: usize = 0;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(indent.as_bytes());
        }
    };
    for &c in src {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if need_indent && c != b'}' && c != b']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                need_indent = true;
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b'}' | b']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.checked_sub(1)?;
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (!in_string && depth == 0 && !need_indent).then_some(out)
}

/// Go's `json.Compact`: `src` without insignificant whitespace.
pub fn compact(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut in_string = false;
    let mut escaped = false;
    for &c in src {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// docker's inspect output of raw elements: `[a,b]` indented by four spaces (or compacted
/// for `--format json`), then a newline; `[]` when there are none.
pub fn inspect_array(elements: &[Vec<u8>], compact_output: bool) -> Vec<u8> {
    if elements.is_empty() {
        return b"[]\n".to_vec();
    }
    let mut joined = vec![b'['];
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(e);
    }
    joined.push(b']');
    let mut out = if compact_output { compact(&joined) } else { indent(&joined, "    ").unwrap_or(joined) };
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let cases = [
            ("{}", "{}"),
            ("[]", "[]"),
            ("{\"a\":1}", "{\n  \"a\": 1\n}"),
            ("{\"b\":[],\"a\":{}}", "{\n  \"b\": [],\n  \"a\": {}\n}"),
            (" [1, 2 ,{\"x\" : \"a, b: {c}\"}] ", "[\n  1,\n  2,\n  {\n    \"x\": \"a, b: {c}\"\n  }\n]"),
            ("{\"q\":\"say \\\"hi\\\", \\\\\"}", "{\n  \"q\": \"say \\\"hi\\\", \\\\\"\n}"),
        ];
        for (src, want) in cases {
            let got = indent(src.as_bytes(), "  ").unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want, "{src}");
        }
        assert!(indent(b"{\"a\":1", "  ").is_none());
        assert!(indent(b"]", "  ").is_none());
    }

    #[test]
    fn compacts_like_go() {
        assert_eq!(compact(b"{ \"a b\" : [ 1, 2 ] }\n"), b"{\"a b\":[1,2]}");
    }

    #[test]
    fn inspect_arrays() {
        assert_eq!(inspect_array(&[], false), b"[]\n");
        let els = vec![b"{\"Name\":\"a\",\"Id\":\"1\"}\n".to_vec(), b"{\"Name\":\"b\"}".to_vec()];
        let want = "[\n    {\n        \"Name\": \"a\",\n        \"Id\": \"1\"\n    },\n    {\n        \"Name\": \"b\"\n    }\n]\n";
        assert_eq!(String::from_utf8(inspect_array(&els, false)).unwrap(), want);
        assert_eq!(String::from_utf8(inspect_array(&els, true)).unwrap(), "[{\"Name\":\"a\",\"Id\":\"1\"},{\"Name\":\"b\"}]\n");
    }
}
