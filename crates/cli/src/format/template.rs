//! `--format` templates: Go template syntax executed by `gtmpl`, with docker's functions.
//!
//! Data is a `serde_json::Value` (the object's API JSON, or a formatter context for `ps` and
//! `images`), converted to a `gtmpl::Value`. Two things gtmpl does differently from Go's
//! `text/template` are bridged here, without touching its parser or executor:
//!
//! * gtmpl prints lists and maps with Rust's `Debug`; Go prints `[a b]` and `map[k:v]`. Every
//!   printing action `{{PIPELINE}}` is therefore rewritten to `{{PIPELINE | berthPrint}}`, whose
//!   result is the Go rendering as a string.
//! * gtmpl cannot pass arguments to fields, so docker's method call `.Label "key"` is rewritten
//!   to the function call `berthLabel . "key"`, reading the hidden `__labels` map of the context.
//!
//! Go sorts map keys when printing and in `range`; gtmpl ranges over maps in hash order.

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Template as GoTemplate, Value};
use serde_json::Value as Json;

/// Hidden context key holding labels for `.Label "key"`; never printed by `json`.
pub const LABELS_KEY: &str = "__labels";

/// A parsed template, with a twin for rendering table headers.
pub struct Template {
    body: GoTemplate,
    header: GoTemplate,
}

/// A template that failed to parse or execute.
#[derive(Debug)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parse `text` (Go template syntax).
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let rewritten = rewrite(text);
        let mut body = GoTemplate::default();
        body.add_funcs(&BODY_FUNCS);
        body.parse(rewritten.clone()).map_err(|e| TemplateError(format!("template parsing error: {e}")))?;
        let mut header = GoTemplate::default();
        header.add_funcs(&HEADER_FUNCS);
        header.parse(rewritten).map_err(|e| TemplateError(format!("template parsing error: {e}")))?;
        Ok(Template { body, header })
    }

    /// Execute against `data`.
    pub fn render(&self, data: &Json) -> Result<String, TemplateError> {
        self.body
            .render(&Context::from(to_value(data)))
            .map_err(|e| TemplateError(format!("template: executing: {e}")))
    }

    /// Execute against a header context (field name -> column title), with docker's header
    /// functions (which return their first argument unchanged).
    pub fn render_header(&self, headers: &Json) -> Result<String, TemplateError> {
        self.header
            .render(&Context::from(to_value(headers)))
            .map_err(|e| TemplateError(format!("template: executing: {e}")))
    }
}

/// serde_json -> gtmpl value. Objects become maps (missing keys print `<no value>`).
pub fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        Json::Object(o) => Value::Map(o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect()),
    }
}

/// gtmpl value -> serde_json, dropping hidden keys.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null)
            }
        }
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Object(m) | Value::Map(m) => Json::Object(
            m.iter().filter(|(k, _)| !k.starts_with("__")).map(|(k, v)| (k.clone(), to_json(v))).collect(),
        ),
    }
}

/// Go's `%v` rendering of a value.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Function(_) => "<func>".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                crate::format::humanize::go_g(n.as_f64().unwrap_or(0.0), 17).to_string()
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(m) | Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| !k.starts_with("__")).collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_print(&m[*k]))).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Keywords that start non-printing actions.
const KEYWORDS: &[&str] =
    &["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

/// Rewrite printing actions to go through `berthPrint`, and `.Label "k"` to `berthLabel`.
fn rewrite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = find_action_end(after) else {
            // Unterminated: leave it for the parser to report.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        out.push_str("{{");
        out.push_str(&rewrite_action(inner));
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the `}}` closing an action, skipping string, raw-string and char literals.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn rewrite_action(inner: &str) -> String {
    // Split off trim markers: "- " at the start, " -" at the end.
    let (lead, body) = match inner.strip_prefix("- ") {
        Some(r) => ("- ", r),
        None => ("", inner),
    };
    let (body, trail) = match body.strip_suffix(" -") {
        Some(r) => (r, " -"),
        None => (body, ""),
    };
    let trimmed = body.trim_start();
    let first_word: String =
        trimmed.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$').collect();
    let is_comment = trimmed.starts_with("/*");
    let is_keyword = KEYWORDS.contains(&first_word.as_str());
    let is_decl = first_word.starts_with('$') && {
        let after = trimmed[first_word.len()..].trim_start();
        after.starts_with(":=") || (after.starts_with('=') && !after.starts_with("=="))
            || after.starts_with(',')
    };
    let body = rewrite_label_calls(body);
    if is_comment || is_keyword || is_decl || body.trim().is_empty() {
        return format!("{lead}{body}{trail}");
    }
    format!("{lead}{} | berthPrint{trail}", body.trim_end())
}

/// `.Label "k"` (a method call on dot in docker's formatter contexts) -> `berthLabel . "k"`.
fn rewrite_label_calls(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut in_str: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = in_str {
            out.push(c as char);
            if c == b'\\' && q != b'`' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            if c == q {
                in_str = None;
            }
            i += 1;
            continue;
        }
        if c == b'"' || c == b'`' || c == b'\'' {
            in_str = Some(c);
            out.push(c as char);
            i += 1;
            continue;
        }
        let prev_ok = i == 0 || matches!(bytes[i - 1], b' ' | b'(' | b'\t');
        if prev_ok && body[i..].starts_with(".Label") {
            let after = &body[i + 6..];
            if after.starts_with(' ') && after.trim_start().starts_with(['"', '`']) {
                out.push_str("berthLabel .");
                i += 6;
                continue;
            }
        }
        // Push the whole char (may be multi-byte).
        let ch = body[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, n: usize) -> Result<&'a Value, FuncError> {
    args.get(i).ok_or_else(|| FuncError::ExactlyXArgs(name.into(), n))
}

fn string_arg(args: &[Value], i: usize, name: &str, n: usize) -> Result<String, FuncError> {
    match arg(args, i, name, n)? {
        Value::String(s) => Ok(s.clone()),
        other => Ok(go_print(other)),
    }
}

fn int_arg(args: &[Value], i: usize, name: &str, n: usize) -> Result<i64, FuncError> {
    match arg(args, i, name, n)? {
        Value::Number(num) => num.as_i64().ok_or(FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn f_print(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_print(args.first().unwrap_or(&Value::NoValue))))
}

fn f_label(args: &[Value]) -> Result<Value, FuncError> {
    let key = string_arg(args, 1, "Label", 2)?;
    let found = match arg(args, 0, "Label", 2)? {
        Value::Map(m) | Value::Object(m) => match m.get(LABELS_KEY) {
            Some(Value::Map(l)) | Some(Value::Object(l)) => l.get(&key).cloned(),
            _ => None,
        },
        _ => None,
    };
    Ok(found.unwrap_or_else(|| Value::String(String::new())))
}

fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(args, 0, "json", 1)?;
    Ok(Value::String(serde_json::to_string(&to_json(v)).map_err(|e| FuncError::Generic(e.to_string()))?))
}

fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = string_arg(args, 1, "join", 2)?;
    let parts: Vec<String> = match arg(args, 0, "join", 2)? {
        Value::Array(a) => a.iter().map(go_print).collect(),
        Value::Nil | Value::NoValue => vec![],
        other => return Err(FuncError::Generic(format!("wrong type for value; expected []string; got {}", go_print(other)))),
    };
    Ok(Value::String(parts.join(&sep)))
}

fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "split", 2)?;
    let sep = string_arg(args, 1, "split", 2)?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(|p| Value::String(p.to_string())).collect()
    };
    Ok(Value::Array(parts))
}

fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(string_arg(args, 0, "lower", 1)?.to_lowercase()))
}

fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(string_arg(args, 0, "upper", 1)?.to_uppercase()))
}

/// Go's deprecated `strings.Title`: upper-case the first letter of each word.
fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "title", 1)?;
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    Ok(Value::String(out))
}

fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "truncate", 2)?;
    let n = int_arg(args, 1, "truncate", 2)?.max(0) as usize;
    if s.len() < n {
        return Ok(Value::String(s));
    }
    // Go slices bytes; stay on a char boundary.
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_string()))
}

fn f_pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "pad", 3)?;
    if s.is_empty() {
        return Ok(Value::String(s));
    }
    let pre = int_arg(args, 1, "pad", 3)?.max(0) as usize;
    let suf = int_arg(args, 2, "pad", 3)?.max(0) as usize;
    Ok(Value::String(format!("{}{s}{}", " ".repeat(pre), " ".repeat(suf))))
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn f_goprint(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&go_print(a));
    }
    Ok(Value::String(out))
}

/// Go's `fmt.Sprintln`: always spaces, then a newline.
fn f_goprintln(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_print).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

fn f_first(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args.first().cloned().unwrap_or(Value::NoValue))
}

static BODY_FUNCS: [(&str, Func); 13] = [
    ("berthPrint", f_print as Func),
    ("berthLabel", f_label as Func),
    ("json", f_json as Func),
    ("join", f_join as Func),
    ("split", f_split as Func),
    ("lower", f_lower as Func),
    ("upper", f_upper as Func),
    ("title", f_title as Func),
    ("truncate", f_truncate as Func),
    ("pad", f_pad as Func),
    ("print", f_goprint as Func),
    ("println", f_goprintln as Func),
    ("berthFirst", f_first as Func),
];

/// docker's `HeaderFunctions`: each returns its first argument.
static HEADER_FUNCS: [(&str, Func); 13] = [
    ("berthPrint", f_print as Func),
    ("berthLabel", f_header_label as Func),
    ("json", f_first as Func),
    ("join", f_first as Func),
    ("split", f_first as Func),
    ("lower", f_first as Func),
    ("upper", f_first as Func),
    ("title", f_first as Func),
    ("truncate", f_first as Func),
    ("pad", f_first as Func),
    ("print", f_goprint as Func),
    ("println", f_goprintln as Func),
    ("berthFirst", f_first as Func),
];

/// docker's `SubHeaderContext.Label`: the title of a `.Label "com.example.my-key"` column is
/// the key's last dot-separated part with `-` and `_` as spaces (`my key`).
fn f_header_label(args: &[Value]) -> Result<Value, FuncError> {
    let name = string_arg(args, 1, "Label", 2)?;
    let last = name.rsplit('.').next().unwrap_or("");
    Ok(Value::String(last.replace(['-', '_'], " ")))
}

/// Build a header context from `(field, title)` pairs.
pub fn header_context(pairs: &[(&str, &str)]) -> Json {
    let m: serde_json::Map<String, Json> =
        pairs.iter().map(|(k, v)| (k.to_string(), Json::String(v.to_string()))).collect();
    Json::Object(m)
}

/// Labels as the hidden map `.Label "k"` reads.
pub fn labels_json(labels: &HashMap<String, String>) -> Json {
    Json::Object(labels.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, data: &Json) -> String {
        Template::parse(t).unwrap().render(data).unwrap()
    }

    #[test]
    fn renders_inspect_fields_like_go() {
        let c = json!({
            "Id": "0123456789abcdef",
            "State": {"Status": "running", "Running": true, "ExitCode": 0, "Pid": 42},
            "Config": {"Env": ["A=1", "B=2"], "Cmd": null, "Labels": {"b": "2", "a": "1"}, "Tty": false},
            "Args": ["-c", "echo hi"],
            "Name": "/web"
        });
        let cases: &[(&str, &str)] = &[
            ("{{.State.Status}}", "running"),
            ("{{.State.Running}} {{.State.Pid}}", "true 42"),
            ("{{.Config.Env}}", "[A=1 B=2]"),
            ("{{.Config.Labels}}", "map[a:1 b:2]"),
            ("{{.Config.Cmd}}", "<nil>"),
            ("{{.Config.Missing}}", "<no value>"),
            ("{{join .Args \",\"}}", "-c,echo hi"),
            ("{{json .Config.Env}}", r#"["A=1","B=2"]"#),
            ("{{json .State.Status}}", r#""running""#),
            ("{{index .Config.Labels \"a\"}}", "1"),
            ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
            ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1><B=2>"),
            ("{{$n := .Name}}{{$n}}", "/web"),
            ("{{upper .State.Status}} {{title \"hello world\"}}", "RUNNING Hello World"),
            ("{{truncate .Id 4}}|{{pad .Name 1 2}}|", "0123| /web  |"),
            ("{{split \"a:b\" \":\"}}", "[a b]"),
            ("{{println .Name}}", "/web\n"),
            ("{{- .Name -}}  ", "/web"),
            ("{{/* comment */}}x", "x"),
            ("{{len .Args}}", "2"),
            ("{{.State.Status | printf \"%s!\"}}", "running!"),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, &c), *want, "template {t}");
        }
    }

    #[test]
    fn more_go_template_forms() {
        let c = json!({
            "Name": "/web",
            "State": {"Status": "exited", "ExitCode": 3},
            "Config": {"Labels": {"com.x": "y"}, "Env": ["A=1"]},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}
        });
        let cases: &[(&str, &str)] = &[
            ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}", "com.x=y"),
            ("{{if eq .State.Status \"exited\"}}{{.State.ExitCode}}{{end}}", "3"),
            ("{{(index .NetworkSettings.Networks \"bridge\").IPAddress}}", "172.17.0.2"),
            ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "172.17.0.2"),
            ("{{printf \"%s:%d\" .Name .State.ExitCode}}", "/web:3"),
            ("{{with .State}}{{.Status}}{{end}}", "exited"),
            ("{{.Config.Labels}}", "map[com.x:y]"),
            ("{{json .NetworkSettings}}", r#"{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}}}"#),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, &c), *want, "template {t}");
        }
    }

    #[test]
    fn json_of_objects_has_sorted_keys() {
        let c = json!({"Config": {"Tty": false, "Env": ["A=1"], "Image": "busybox"}});
        assert_eq!(render("{{json .Config}}", &c), r#"{"Env":["A=1"],"Image":"busybox","Tty":false}"#);
    }

    #[test]
    fn label_method_reads_hidden_labels() {
        let ctx = json!({"ID": "abc", "Labels": "a=1", LABELS_KEY: {"com.x": "y"}});
        assert_eq!(render("{{.Label \"com.x\"}}|{{.Label \"nope\"}}", &ctx), "y|");
        assert_eq!(render("{{json .}}", &ctx), r#"{"ID":"abc","Labels":"a=1"}"#);
    }

    #[test]
    fn headers_render_with_header_functions() {
        let t = Template::parse("{{.ID}}\t{{upper .Names}}\t{{truncate .Image 3}}").unwrap();
        let h = header_context(&[("ID", "CONTAINER ID"), ("Names", "NAMES"), ("Image", "IMAGE")]);
        assert_eq!(t.render_header(&h).unwrap(), "CONTAINER ID\tNAMES\tIMAGE");
    }

    #[test]
    fn rewrite_leaves_control_actions_alone() {
        assert_eq!(rewrite("{{if .A}}{{.B}}{{end}}"), "{{if .A}}{{.B | berthPrint}}{{end}}");
        assert_eq!(rewrite("{{- .A -}}"), "{{- .A | berthPrint -}}");
        assert_eq!(rewrite("{{$x := .A}}{{$x}}"), "{{$x := .A}}{{$x | berthPrint}}");
        assert_eq!(rewrite("{{\"}}\"}}"), "{{\"}}\" | berthPrint}}");
        assert_eq!(rewrite("{{.Label \"a\"}}"), "{{berthLabel . \"a\" | berthPrint}}");
        assert_eq!(rewrite("{{.Labels}}"), "{{.Labels | berthPrint}}");
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(Template::parse("{{.A").is_err() || Template::parse("{{.A").unwrap().render(&json!({})).is_err());
        assert!(Template::parse("{{nosuchfunc .A}}").is_err());
    }
}
