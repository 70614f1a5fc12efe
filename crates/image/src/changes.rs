//! Dockerfile-like changes applied to an image's run config, as `docker import --change` and
//! `docker commit --change` do (moby's `BuildFromConfig`).
//!
//! The changes are joined with newlines and read as a Dockerfile: `\` continues a line, `#`
//! starts a comment. Allowed instructions: `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`,
//! `HEALTHCHECK`, `LABEL`, `ONBUILD`, `STOPSIGNAL`, `USER`, `VOLUME`, `WORKDIR` (Docker itself
//! refuses `STOPSIGNAL` here; we accept it). `CMD`/`ENTRYPOINT` take the JSON (exec) or the
//! shell form; `ENV`, `LABEL`, `EXPOSE`, `USER`, `VOLUME`, `WORKDIR` and `STOPSIGNAL` expand
//! `$VAR`/`${VAR}` from the environment built so far, and quotes and `\` escapes are removed.

use berth_errdefs::{HasKind, Kind};

use crate::config::{Empty, HealthConfig, RunConfig};
use crate::duration::parse_go_duration;

/// Why a change cannot be applied. Every variant is an invalid argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The instruction is not allowed in a change (`RUN`, `COPY`, ...) or unknown.
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    /// The instruction needs an argument.
    #[error("{0} requires at least one argument")]
    MissingArgument(String),
    /// The instruction takes exactly one argument.
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(String),
    /// The legacy `ENV name value` form lacks the value.
    #[error("{0} must have two arguments")]
    TwoArguments(String),
    /// A `name=value` list has an entry without `=`.
    #[error("syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    /// A `name=value` entry has an empty name.
    #[error("{0} names can not be blank")]
    BlankName(String),
    /// A JSON array holds something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// A quote or `${` is not closed.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    /// `${VAR:?message}` with `VAR` unset.
    #[error("{0}")]
    UnsetVariable(String),
    /// An `EXPOSE` port is not a number or range.
    #[error("invalid containerPort: {0}")]
    InvalidPort(String),
    /// An `EXPOSE` protocol is not tcp, udp or sctp.
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    /// `VOLUME ""`.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `STOPSIGNAL` names no signal.
    #[error("invalid signal: {0}")]
    InvalidSignal(String),
    /// A malformed `HEALTHCHECK` or `ONBUILD`, with Docker's message.
    #[error("{0}")]
    Invalid(String),
    /// A `--flag` the instruction does not know.
    #[error("unknown flag: {0}")]
    UnknownFlag(String),
}

impl HasKind for ChangeError {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

const ALLOWED: &[&str] = &[
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Apply `changes` to `config`. On error `config` may be partly changed; callers discard it.
pub fn apply_changes(config: &mut RunConfig, changes: &[String]) -> Result<(), ChangeError> {
    if changes.is_empty() {
        return Ok(());
    }
    let lines = logical_lines(&changes.join("\n"));
    let mut parsed = Vec::with_capacity(lines.len());
    for line in &lines {
        let (word, rest) = split_first_word(line);
        let instr = word.to_lowercase();
        if !ALLOWED.contains(&instr.as_str()) {
            return Err(ChangeError::NotAllowed(instr));
        }
        parsed.push((instr, rest.trim().to_string()));
    }
    let mut cmd_set = false;
    for (instr, rest) in parsed {
        dispatch(config, &instr, &rest, &mut cmd_set)?;
    }
    Ok(())
}

fn dispatch(
    config: &mut RunConfig,
    instr: &str,
    rest: &str,
    cmd_set: &mut bool,
) -> Result<(), ChangeError> {
    let upper = instr.to_uppercase();
    match instr {
        "cmd" => {
            config.cmd = Some(command_line(rest)?);
            *cmd_set = true;
        }
        "entrypoint" => {
            config.entrypoint = Some(command_line(rest)?);
            if !*cmd_set {
                config.cmd = None;
            }
        }
        "env" => {
            for (k, v) in name_values(rest, &upper, &config.env)? {
                let entry = format!("{k}={v}");
                match config
                    .env
                    .iter_mut()
                    .find(|e| e.split('=').next() == Some(k.as_str()))
                {
                    Some(existing) => *existing = entry,
                    None => config.env.push(entry),
                }
            }
        }
        "label" => {
            for (k, v) in name_values(rest, &upper, &config.env)? {
                config.labels.insert(k, v);
            }
        }
        "expose" => {
            if rest.is_empty() {
                return Err(ChangeError::MissingArgument(upper));
            }
            for word in parse_words(rest) {
                for spec in expand_word(&word, &config.env)?.split_whitespace() {
                    for port in parse_port_spec(spec)? {
                        config.exposed_ports.insert(port, Empty {});
                    }
                }
            }
        }
        "user" => {
            if rest.is_empty() {
                return Err(ChangeError::ExactlyOneArgument(upper));
            }
            config.user = expand_word(rest, &config.env)?;
        }
        "workdir" => {
            if rest.is_empty() {
                return Err(ChangeError::ExactlyOneArgument(upper));
            }
            let requested = expand_word(rest, &config.env)?;
            config.working_dir = if requested.starts_with('/') {
                clean_abs_path(&requested)
            } else {
                clean_abs_path(&format!("/{}/{}", config.working_dir, requested))
            };
        }
        "volume" => {
            let list = match json_string_array(rest)? {
                Some(v) => v,
                None => parse_words(rest),
            };
            if list.is_empty() {
                return Err(ChangeError::MissingArgument(upper));
            }
            for v in list {
                let v = expand_word(&v, &config.env)?;
                if v.trim().is_empty() {
                    return Err(ChangeError::EmptyVolume);
                }
                config.volumes.insert(v, Empty {});
            }
        }
        "stopsignal" => {
            if rest.is_empty() {
                return Err(ChangeError::ExactlyOneArgument(upper));
            }
            let sig = expand_word(rest, &config.env)?;
            if !is_valid_signal(&sig) {
                return Err(ChangeError::InvalidSignal(sig));
            }
            config.stop_signal = sig;
        }
        "onbuild" => {
            let (trigger, _) = split_first_word(rest);
            match trigger.to_uppercase().as_str() {
                "" => return Err(ChangeError::MissingArgument(upper)),
                "ONBUILD" => {
                    return Err(ChangeError::Invalid(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                    ))
                }
                t @ ("FROM" | "MAINTAINER") => {
                    return Err(ChangeError::Invalid(format!(
                        "{t} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => config.on_build.push(rest.to_string()),
            }
        }
        "healthcheck" => config.healthcheck = Some(healthcheck(rest)?),
        other => return Err(ChangeError::NotAllowed(other.to_string())),
    }
    Ok(())
}

/// Join continued lines and drop comments and blank lines.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut continuing = false;
    for raw in text.lines() {
        let start = raw.trim_start();
        if start.starts_with('#') || (start.is_empty() && !continuing) {
            continue;
        }
        let line = if continuing { raw } else { start };
        let line = line.trim_end();
        match line.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                continuing = true;
            }
            None => {
                cur.push_str(line);
                out.push(std::mem::take(&mut cur));
                continuing = false;
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn split_first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// A JSON array of strings (`Some`), not JSON (`None`), or JSON of the wrong shape (error).
fn json_string_array(rest: &str) -> Result<Option<Vec<String>>, ChangeError> {
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ChangeError::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `CMD`/`ENTRYPOINT` arguments: exec form as is, shell form behind `/bin/sh -c`.
fn command_line(rest: &str) -> Result<Vec<String>, ChangeError> {
    if let Some(v) = json_string_array(rest)? {
        return Ok(v);
    }
    let mut v: Vec<String> = DEFAULT_SHELL.iter().map(|s| s.to_string()).collect();
    if !rest.is_empty() {
        v.push(rest.to_string());
    }
    Ok(v)
}

/// Split on whitespace outside quotes, keeping quotes and escapes in the words.
fn parse_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                word.push(ch);
                if ch == q {
                    quote = None;
                } else if ch == '\\' && q == '"' {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
            }
            None if ch.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                if ch == '\\' {
                    if let Some(next) = chars.next() {
                        word.push(ch);
                        word.push(next);
                    }
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                }
                word.push(ch);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `ENV`/`LABEL` arguments: `name=value ...`, or the legacy `name value`.
fn name_values(
    rest: &str,
    instr: &str,
    env: &[String],
) -> Result<Vec<(String, String)>, ChangeError> {
    let words = parse_words(rest);
    let Some(first) = words.first() else {
        return Err(ChangeError::MissingArgument(instr.to_string()));
    };
    if !first.contains('=') {
        let (name, value) = split_first_word(rest);
        if value.is_empty() {
            return Err(ChangeError::TwoArguments(instr.to_string()));
        }
        let name = expand_word(name, env)?;
        if name.is_empty() {
            return Err(ChangeError::BlankName(instr.to_string()));
        }
        return Ok(vec![(name, expand_word(value, env)?)]);
    }
    let mut out = Vec::with_capacity(words.len());
    for w in &words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ChangeError::MissingEquals(w.clone()));
        };
        let k = expand_word(k, env)?;
        if k.is_empty() {
            return Err(ChangeError::BlankName(instr.to_string()));
        }
        out.push((k, expand_word(v, env)?));
    }
    Ok(out)
}

fn lookup<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().find_map(|e| match e.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if e == name => Some(""),
        _ => None,
    })
}

/// One word through the Dockerfile shell lexer: quotes and escapes removed, variables
/// expanded from `env`.
fn expand_word(word: &str, env: &[String]) -> Result<String, ChangeError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or(ChangeError::Unterminated("single-quote"))?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ChangeError::Unterminated("double-quote")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(&c @ ('"' | '$' | '\\')) => out.push(c),
                                Some(&c) => {
                                    out.push('\\');
                                    out.push(c);
                                }
                                None => return Err(ChangeError::Unterminated("double-quote")),
                            }
                            i += 2;
                        }
                        Some('$') => i = expand_dollar(&chars, i, env, &mut out)?,
                        Some(&c) => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                if let Some(&c) = chars.get(i + 1) {
                    out.push(c);
                }
                i += 2;
            }
            '$' => i = expand_dollar(&chars, i, env, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expand the variable at `chars[i] == '$'`; returns the index after it.
fn expand_dollar(
    chars: &[char],
    i: usize,
    env: &[String],
    out: &mut String,
) -> Result<usize, ChangeError> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some('{') => {
            let start = i + 2;
            let name_len = chars[start..].iter().take_while(|&&c| is_name(c)).count();
            let name: String = chars[start..start + name_len].iter().collect();
            let mut j = start + name_len;
            let value = lookup(env, &name);
            match chars.get(j) {
                Some('}') => {
                    out.push_str(value.unwrap_or(""));
                    Ok(j + 1)
                }
                Some(_) => {
                    let colon = chars[j] == ':';
                    if colon {
                        j += 1;
                    }
                    let op = *chars.get(j).ok_or(ChangeError::Unterminated("}"))?;
                    // The operand runs to the matching '}'.
                    let mut depth = 0;
                    let mut k = j + 1;
                    loop {
                        match chars.get(k) {
                            None => return Err(ChangeError::Unterminated("}")),
                            Some('{') => depth += 1,
                            Some('}') if depth == 0 => break,
                            Some('}') => depth -= 1,
                            _ => {}
                        }
                        k += 1;
                    }
                    let operand: String = chars[j + 1..k].iter().collect();
                    let set = match value {
                        Some(v) => !(colon && v.is_empty()),
                        None => false,
                    };
                    match op {
                        '-' => out.push_str(&if set {
                            value.unwrap_or("").to_string()
                        } else {
                            expand_word(&operand, env)?
                        }),
                        '+' => {
                            if set {
                                out.push_str(&expand_word(&operand, env)?);
                            }
                        }
                        '?' => {
                            if !set {
                                let msg = if operand.is_empty() {
                                    "is not allowed to be unset".to_string()
                                } else {
                                    operand
                                };
                                return Err(ChangeError::UnsetVariable(format!("{name}: {msg}")));
                            }
                            out.push_str(value.unwrap_or(""));
                        }
                        _ => {
                            return Err(ChangeError::Invalid(format!(
                                "unsupported modifier ({op}) in substitution"
                            )))
                        }
                    }
                    Ok(k + 1)
                }
                None => Err(ChangeError::Unterminated("}")),
            }
        }
        Some(&c) if is_name(c) => {
            let start = i + 1;
            let len = if c.is_ascii_digit() {
                chars[start..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count()
            } else {
                chars[start..].iter().take_while(|&&c| is_name(c)).count()
            };
            let name: String = chars[start..start + len].iter().collect();
            out.push_str(lookup(env, &name).unwrap_or(""));
            Ok(start + len)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

/// `port[-port][/proto]` to the `port/proto` keys of `ExposedPorts`.
fn parse_port_spec(spec: &str) -> Result<Vec<String>, ChangeError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ChangeError::InvalidProto(proto));
    }
    // `ip:hostPort:containerPort` forms: only the container port is exposed.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| ChangeError::InvalidPort(ports.to_string()))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(ports)?;
            (p, p)
        }
    };
    if end < start {
        return Err(ChangeError::InvalidPort(ports.to_string()));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Go's `path.Clean` for an absolute path.
fn clean_abs_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Docker's `signal.ParseSignal`: a non-zero number, or a name with or without `SIG`.
fn is_valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<i64>() {
        return n != 0;
    }
    let upper = s.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) {
        return true;
    }
    let offset = |base: &str| name.strip_prefix(base).and_then(|n| n.parse::<u8>().ok());
    matches!(offset("RTMIN+"), Some(1..=15)) || matches!(offset("RTMAX-"), Some(1..=14))
}

fn healthcheck(rest: &str) -> Result<HealthConfig, ChangeError> {
    let mut hc = HealthConfig::default();
    let mut rest = rest.trim();
    loop {
        let (word, after) = split_first_word(rest);
        let Some(flag) = word.strip_prefix("--") else {
            break;
        };
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| ChangeError::Invalid(format!("missing a value on flag: --{flag}")))?;
        match name {
            "interval" => hc.interval = health_duration(name, value)?,
            "timeout" => hc.timeout = health_duration(name, value)?,
            "start-period" => hc.start_period = health_duration(name, value)?,
            "start-interval" => hc.start_interval = health_duration(name, value)?,
            "retries" => {
                let n: i64 = value.parse().map_err(|_| {
                    ChangeError::Invalid(format!("invalid value for --retries: {value:?}"))
                })?;
                if n < 0 {
                    return Err(ChangeError::Invalid(format!(
                        "--retries cannot be negative ({n})"
                    )));
                }
                hc.retries = n;
            }
            other => return Err(ChangeError::UnknownFlag(other.to_string())),
        }
        rest = after;
    }
    let (typ, args) = split_first_word(rest);
    match typ.to_uppercase().as_str() {
        "" => return Err(ChangeError::MissingArgument("HEALTHCHECK".into())),
        "NONE" => {
            if !args.is_empty() {
                return Err(ChangeError::Invalid(
                    "HEALTHCHECK NONE takes no arguments".into(),
                ));
            }
            hc.test = vec!["NONE".into()];
        }
        "CMD" => {
            if args.is_empty() {
                return Err(ChangeError::Invalid(
                    "Missing command after HEALTHCHECK CMD".into(),
                ));
            }
            hc.test = match json_string_array(args)? {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None => vec!["CMD-SHELL".into(), args.to_string()],
            };
        }
        _ => {
            return Err(ChangeError::Invalid(format!(
                "Unknown type {typ:?} in HEALTHCHECK (try CMD)"
            )))
        }
    }
    Ok(hc)
}

fn health_duration(name: &str, value: &str) -> Result<i64, ChangeError> {
    if value.is_empty() {
        return Ok(0);
    }
    let d = parse_go_duration(value)
        .ok_or_else(|| ChangeError::Invalid(format!("time: invalid duration {value:?}")))?;
    if d < 0 {
        return Err(ChangeError::Invalid(format!(
            "Interval {name:?} cannot be negative"
        )));
    }
    if d != 0 && d < 1_000_000 {
        return Err(ChangeError::Invalid(format!(
            "Interval {name:?} cannot be less than 1ms"
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<String, String> {
        let mut c = RunConfig::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &changes).map_err(|e| e.to_string())?;
        Ok(serde_json::to_string(&c).unwrap())
    }

    #[test]
    fn changes_table() {
        let cases: &[(&[&str], Result<&str, &str>)] = &[
            (&[], Ok(r#"{}"#)),
            (
                &[r#"CMD ["sh", "-c", "echo hi"]"#],
                Ok(r#"{"Cmd":["sh","-c","echo hi"]}"#),
            ),
            (
                &["CMD echo hi"],
                Ok(r#"{"Cmd":["/bin/sh","-c","echo hi"]}"#),
            ),
            (
                &["cmd [not json"],
                Ok(r#"{"Cmd":["/bin/sh","-c","[not json"]}"#),
            ),
            (
                &["CMD [1, 2]"],
                Err("when using JSON array syntax, arrays must be comprised of strings only"),
            ),
            (
                &[r#"ENTRYPOINT ["/bin/app"]"#],
                Ok(r#"{"Entrypoint":["/bin/app"]}"#),
            ),
            (&["ENTRYPOINT []"], Ok(r#"{"Entrypoint":[]}"#)),
            (
                &[r#"CMD ["x"]"#, r#"ENTRYPOINT ["e"]"#],
                Ok(r#"{"Entrypoint":["e"],"Cmd":["x"]}"#),
            ),
            (
                &[r#"ENTRYPOINT ["e"]"#, r#"CMD ["x"]"#],
                Ok(r#"{"Entrypoint":["e"],"Cmd":["x"]}"#),
            ),
            (
                &["ENV A=1 B=\"two words\" C='$A'"],
                Ok(r#"{"Env":["A=1","B=two words","C=$A"]}"#),
            ),
            (
                &["ENV A=1", "ENV B=$A-${A}x C=${NOPE:-def} D=${A:+set}"],
                Ok(r#"{"Env":["A=1","B=1-1x","C=def","D=set"]}"#),
            ),
            (&["ENV A=1", "ENV A=2"], Ok(r#"{"Env":["A=2"]}"#)),
            (
                &["ENV PATH /usr/bin:/bin"],
                Ok(r#"{"Env":["PATH=/usr/bin:/bin"]}"#),
            ),
            (&["ENV A a b c"], Ok(r#"{"Env":["A=a b c"]}"#)),
            (&["ENV A=\\$B"], Ok(r#"{"Env":["A=$B"]}"#)),
            (&["ENV A"], Err("ENV must have two arguments")),
            (
                &["ENV A=1 B"],
                Err(r#"syntax error - can't find = in "B". Must be of the form: name=value"#),
            ),
            (&["ENV =1"], Err("ENV names can not be blank")),
            (&["ENV"], Err("ENV requires at least one argument")),
            (
                &["ENV A=\"open"],
                Err("unexpected end of statement while looking for matching double-quote"),
            ),
            (
                &["LABEL a=b \"c d\"=\"e f\""],
                Ok(r#"{"Labels":{"a":"b","c d":"e f"}}"#),
            ),
            (
                &["LABEL version 1.0"],
                Ok(r#"{"Labels":{"version":"1.0"}}"#),
            ),
            (
                &["EXPOSE 80 443/tcp 53/UDP 8000-8001"],
                Ok(
                    r#"{"ExposedPorts":{"443/tcp":{},"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{}}}"#,
                ),
            ),
            (
                &["ENV P=\"81 82\"", "EXPOSE $P"],
                Ok(r#"{"ExposedPorts":{"81/tcp":{},"82/tcp":{}},"Env":["P=81 82"]}"#),
            ),
            (&["EXPOSE 80/foo"], Err("invalid proto: foo")),
            (&["EXPOSE http"], Err("invalid containerPort: http")),
            (&["EXPOSE 70000"], Err("invalid containerPort: 70000")),
            (&["USER nobody:nogroup"], Ok(r#"{"User":"nobody:nogroup"}"#)),
            (&["USER"], Err("USER requires exactly one argument")),
            (&["WORKDIR /app"], Ok(r#"{"WorkingDir":"/app"}"#)),
            (
                &["WORKDIR /a", "WORKDIR b/../c"],
                Ok(r#"{"WorkingDir":"/a/c"}"#),
            ),
            (&["WORKDIR rel"], Ok(r#"{"WorkingDir":"/rel"}"#)),
            (
                &["ENV D=/data", "WORKDIR $D/x"],
                Ok(r#"{"Env":["D=/data"],"WorkingDir":"/data/x"}"#),
            ),
            (
                &[r#"VOLUME ["/data", "/logs"]"#],
                Ok(r#"{"Volumes":{"/data":{},"/logs":{}}}"#),
            ),
            (&["VOLUME /a /b"], Ok(r#"{"Volumes":{"/a":{},"/b":{}}}"#)),
            (
                &[r#"VOLUME [""]"#],
                Err("VOLUME specified can not be an empty string"),
            ),
            (&["STOPSIGNAL SIGINT"], Ok(r#"{"StopSignal":"SIGINT"}"#)),
            (&["STOPSIGNAL 9"], Ok(r#"{"StopSignal":"9"}"#)),
            (&["STOPSIGNAL rtmin+3"], Ok(r#"{"StopSignal":"rtmin+3"}"#)),
            (&["STOPSIGNAL SIGFOO"], Err("invalid signal: SIGFOO")),
            (&["STOPSIGNAL 0"], Err("invalid signal: 0")),
            (&["ONBUILD RUN make"], Ok(r#"{"OnBuild":["RUN make"]}"#)),
            (
                &["ONBUILD ONBUILD RUN x"],
                Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
            ),
            (
                &["ONBUILD FROM x"],
                Err("FROM isn't allowed as an ONBUILD trigger"),
            ),
            (
                &["HEALTHCHECK NONE"],
                Ok(r#"{"Healthcheck":{"Test":["NONE"]}}"#),
            ),
            (
                &["HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/"],
                Ok(
                    r#"{"Healthcheck":{"Test":["CMD-SHELL","curl -f http://x/"],"Interval":5000000000,"Retries":3}}"#,
                ),
            ),
            (
                &[r#"HEALTHCHECK --timeout=1m30s CMD ["true"]"#],
                Ok(r#"{"Healthcheck":{"Test":["CMD","true"],"Timeout":90000000000}}"#),
            ),
            (
                &["HEALTHCHECK --interval=1us CMD true"],
                Err(r#"Interval "interval" cannot be less than 1ms"#),
            ),
            (
                &["HEALTHCHECK --retries=-1 CMD true"],
                Err("--retries cannot be negative (-1)"),
            ),
            (
                &["HEALTHCHECK --bogus=1 CMD true"],
                Err("unknown flag: bogus"),
            ),
            (
                &["HEALTHCHECK FOO"],
                Err(r#"Unknown type "FOO" in HEALTHCHECK (try CMD)"#),
            ),
            (&["RUN echo hi"], Err("run is not a valid change command")),
            (&["COPY a b"], Err("copy is not a valid change command")),
            (
                &["ENV A=1", "FROM x"],
                Err("from is not a valid change command"),
            ),
            (
                &["# a comment", "", "  CMD \\", "  echo hi"],
                Ok(r#"{"Cmd":["/bin/sh","-c","echo hi"]}"#),
            ),
        ];
        for (changes, want) in cases {
            let got = apply(changes);
            let want = want.map(str::to_string).map_err(str::to_string);
            assert_eq!(got, want, "changes {changes:?}");
        }
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            ("a=\"b c\" d", &["a=\"b c\"", "d"]),
            ("a='b c'", &["a='b c'"]),
            ("a\\ b c", &["a\\ b", "c"]),
            ("\"x\\\"y\" z", &["\"x\\\"y\"", "z"]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input), *want, "{input:?}");
        }
    }
}
