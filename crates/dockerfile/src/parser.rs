//! The Dockerfile parser: lines, directives, continuations, heredocs, then typed instructions.
//!
//! Two passes, as Docker's parser does:
//! 1. [`scan`] turns source text into [`Node`]s: parser directives at the top, comments dropped
//!    (also inside continuations), lines joined on the escape character, heredoc bodies read
//!    after the line that names them;
//! 2. [`instruction`] turns each node into a typed [`Kind`] (or a FROM), checking arguments
//!    and flags with Docker's error messages.

use std::time::Duration;

use crate::shell::{self, Options};
use crate::{
    ArgDecl, Command, Copy, Dockerfile, Healthcheck, Heredoc, Instruction, Kind, MountKind,
    ParseError, Run, RunMount, Stage,
};

/// Parses a whole Dockerfile.
pub fn parse(src: &str) -> Result<Dockerfile, ParseError> {
    let scanned = scan(src, '\\', true)?;
    if scanned.nodes.is_empty() {
        return Err(ParseError::new(scanned.lines, "file with no instructions"));
    }
    let escape = scanned.escape;
    let mut df = Dockerfile {
        escape,
        syntax: scanned.syntax,
        meta_args: Vec::new(),
        stages: Vec::new(),
    };
    for node in &scanned.nodes {
        let item = instruction(node, escape).map_err(|m| ParseError::new(node.line, m))?;
        match item {
            Item::From(stage) => {
                if let Some(name) = &stage.name {
                    if df.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        return Err(ParseError::new(
                            node.line,
                            format!("duplicate stage name {name:?}"),
                        ));
                    }
                }
                df.stages.push(stage)
            }
            Item::Inst(inst) => match df.stages.last_mut() {
                Some(stage) => stage.instructions.push(inst),
                None => match inst.kind {
                    Kind::Arg(args) => df.meta_args.extend(args),
                    _ => {
                        return Err(ParseError::new(
                            node.line,
                            "no build stage in current context",
                        ))
                    }
                },
            },
        }
    }
    if df.stages.is_empty() {
        return Err(ParseError::new(
            scanned.lines,
            "dockerfile contains no stages to build",
        ));
    }
    Ok(df)
}

/// Parses one instruction line (e.g. an ONBUILD trigger from an image config) with `escape` as
/// the escape character. The text may continue over several lines (continuations, heredoc
/// bodies). FROM is refused (it is not an [`Instruction`]).
pub fn parse_instruction(line: &str, escape: char) -> Result<Instruction, ParseError> {
    if escape != '\\' && escape != '`' {
        return Err(ParseError::new(
            1,
            format!("invalid escape token '{escape}' does not match ` or \\"),
        ));
    }
    let scanned = scan(line, escape, false)?;
    let node = match scanned.nodes.as_slice() {
        [] => return Err(ParseError::new(scanned.lines, "file with no instructions")),
        [node] => node,
        [_, second, ..] => {
            return Err(ParseError::new(
                second.line,
                format!("expected one instruction, found {}", scanned.nodes.len()),
            ))
        }
    };
    match instruction(node, escape).map_err(|m| ParseError::new(node.line, m))? {
        Item::Inst(inst) => Ok(inst),
        Item::From(_) => Err(ParseError::new(node.line, "FROM isn't allowed here")),
    }
}

/// The keywords Docker knows, uppercased (for "did you mean" suggestions).
const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A raw heredoc as read from the source (content not chomped).
#[derive(Debug, Clone)]
struct RawHeredoc {
    name: String,
    expand: bool,
    chomp: bool,
    content: String,
}

impl RawHeredoc {
    fn finish(&self) -> Heredoc {
        Heredoc {
            name: self.name.clone(),
            content: if self.chomp {
                chomp(&self.content)
            } else {
                self.content.clone()
            },
            expand: self.expand,
            chomp: self.chomp,
        }
    }
}

/// One instruction as split by the first pass.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// 1-based first line.
    line: usize,
    /// The keyword, lowercased.
    cmd: String,
    /// `--flag[=value]` words before the arguments.
    flags: Vec<String>,
    /// The arguments text after the flags, trimmed.
    rest: String,
    /// The joined line, trimmed (Docker's `Original`).
    original: String,
    heredocs: Vec<RawHeredoc>,
}

struct Scanned {
    nodes: Vec<Node>,
    escape: char,
    syntax: Option<String>,
    /// Number of source lines.
    lines: usize,
}

struct Directives {
    escape: char,
    syntax: Option<String>,
    done: bool,
    seen: Vec<String>,
}

impl Directives {
    /// Docker's `possibleParserDirective`: only lines at the very top count.
    fn check(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                if value != "`" && value != "\\" {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ));
                }
                self.escape = value.chars().next().unwrap_or('\\');
            }
            "syntax" => self.syntax = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }
}

/// Go regexp `\s`.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_go_space);
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..end];
    if !key.chars().next()?.is_ascii_alphabetic() {
        return None;
    }
    let rest = rest[end..]
        .trim_start_matches(is_go_space)
        .strip_prefix('=')?;
    let value = rest.trim_matches(is_go_space);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Docker's line-continuation rule: the escape character, not itself escaped, at the end of
/// the line (trailing blanks allowed). Returns the line without it, and whether the line ends
/// the instruction.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

/// Pass 1: source text into nodes.
fn scan(src: &str, escape: char, with_directives: bool) -> Result<Scanned, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let mut d = Directives {
        escape,
        syntax: None,
        done: !with_directives,
        seen: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = trim_newline(lines[i]).trim_start();
        d.check(first).map_err(|m| ParseError::new(i + 1, m))?;
        i += 1;
        let start = i;
        let first = if is_comment(first) { "" } else { first };
        let (mut line, mut end) = trim_continuation(first, d.escape);
        if end && line.is_empty() {
            continue;
        }
        while !end && i < lines.len() {
            let next = trim_newline(lines[i]);
            i += 1;
            if is_comment(next) || next.trim_start().is_empty() {
                continue;
            }
            let (part, e) = trim_continuation(next, d.escape);
            line.push_str(&part);
            end = e;
        }
        let mut node = split_node(&line, start).map_err(|m| ParseError::new(start, m))?;
        if can_contain_heredoc(&node) {
            let docs = heredocs_from_line(&line).map_err(|m| ParseError::new(start, m))?;
            for mut doc in docs {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::new(start, "unterminated heredoc"));
                }
                node.heredocs.push(doc);
            }
        }
        nodes.push(node);
    }
    Ok(Scanned {
        nodes,
        escape: d.escape,
        syntax: d.syntax,
        lines: lines.len(),
    })
}

/// Docker's `[\t\v\f\r ]+` separator.
fn is_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn split_ws(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(is_sep)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits an instruction line into keyword, flags and the rest.
fn split_node(line: &str, start: usize) -> Result<Node, String> {
    let trimmed = line.trim();
    let (keyword, args) = match trimmed.find(is_sep) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start_matches(is_sep)),
        None => (trimmed, ""),
    };
    let (rest, flags) = extract_flags(args);
    Ok(Node {
        line: start,
        cmd: keyword.to_lowercase(),
        flags,
        rest: rest.trim().to_string(),
        original: trimmed.to_string(),
        heredocs: Vec::new(),
    })
}

/// Docker's `extractBuilderFlags`: leading `--name[=value]` words (quotes and `\` escapes
/// processed); `--` alone ends the flags.
fn extract_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1) != Some(&'-') {
                return (chars[pos..].iter().collect(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (chars[pos..].iter().collect(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == '\\' {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                word.push(chars[pos]);
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In a quote.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == '\\' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(chars[pos]);
            pos += 1;
            continue;
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

const HEREDOC_COMMANDS: &[&str] = &["run", "copy", "add"];

fn can_contain_heredoc(node: &Node) -> bool {
    let (cmd, rest) = if node.cmd == "onbuild" {
        match split_node(&node.rest, node.line) {
            Ok(child) => (child.cmd, child.rest),
            Err(_) => return false,
        }
    } else {
        (node.cmd.clone(), node.rest.clone())
    };
    HEREDOC_COMMANDS.contains(&cmd.as_str()) && !matches!(parse_json(&rest), Some(Ok(_)))
}

/// The heredocs a line names (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`), in order.
fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
    let raw = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
    };
    let words = shell::words_with(line, '\\', raw).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `^(\d*)<<(-?)([^<]*)$` and a single-word delimiter; `expand` is false when any part of the
/// delimiter is quoted.
fn parse_heredoc(word: &str) -> Result<Option<RawHeredoc>, String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let plain = Options {
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
        skip_quotes: false,
    };
    let words = shell::words_with(rest, '\\', plain).map_err(|e| e.message)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let quoted = Options {
        raw_quotes: true,
        raw_escapes: false,
        skip_unset: true,
        skip_quotes: false,
    };
    let raw_words = shell::words_with(rest, '\\', quoted).map_err(|e| e.message)?;
    if raw_words.len() != 1 {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Ok(Some(RawHeredoc {
        expand: quotes(&words[0]) == quotes(&raw_words[0]),
        name: words[0].clone(),
        chomp,
        content: String::new(),
    }))
}

/// Strips leading tabs from every line (`<<-`).
fn chomp(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// A JSON array of strings: `None` when `rest` is not JSON (shell form), `Some(Err)` when it is
/// an array of something else.
fn parse_json(rest: &str) -> Option<Result<Vec<String>, String>> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(rest).ok()?;
    let serde_json::Value::Array(items) = value else {
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            serde_json::Value::String(s) => out.push(s),
            _ => {
                return Some(Err(
                    "when using JSON array syntax, arrays must be comprised of strings only".into(),
                ))
            }
        }
    }
    Some(Ok(out))
}

/// Docker's `parseWords`: whitespace-separated words, quotes and escapes kept in the words.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In a quote.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            word.push(ch);
            pos += 1;
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// ENV/LABEL arguments: `KEY value...` (old form) or `k=v k2="v 2"` (new form); raw values.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some(i) = rest.find(is_sep) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        let value = rest[i..].trim_start_matches(is_sep);
        return Ok(vec![(rest[..i].to_string(), value.to_string())]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum FlagKind {
    Bool,
    Str,
    Strings,
}

/// Parsed builder flags of one instruction.
#[derive(Default)]
struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// Docker's BFlags.Parse against the flags an instruction declares.
    fn parse(raw: &[String], allowed: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut out = Flags::default();
        for arg in raw {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some((_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!("Unknown flag: {name}"));
            };
            if *kind != FlagKind::Strings && out.values.iter().any(|(n, _)| n == name) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_string(),
                (FlagKind::Bool, Some(v)) => match v.to_lowercase().as_str() {
                    "true" => "true".into(),
                    "false" => "false".into(),
                    _ => return Err(format!("expecting boolean value for flag {name}, not: {v}")),
                },
                (_, None) => return Err(format!("Missing a value on flag: {name}")),
                (_, Some(v)) => v.to_string(),
            };
            out.values.push((name.to_string(), value));
        }
        Ok(out)
    }

    fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// A string flag, `None` when absent or empty.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.string(name).filter(|v| !v.is_empty())
    }

    fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What a node turns into.
enum Item {
    From(Stage),
    Inst(Instruction),
}

/// `Command` from maybe-JSON arguments.
fn command_of(rest: &str) -> Result<Command, String> {
    match parse_json(rest) {
        Some(Ok(v)) => Ok(Command::Exec(v)),
        Some(Err(e)) => Err(e),
        None => Ok(Command::Shell(rest.to_string())),
    }
}

/// Maybe-JSON list arguments (COPY, ADD, VOLUME): the list and whether it was JSON.
fn list_of(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        Some(Ok(v)) => Ok((v, true)),
        Some(Err(e)) => Err(e),
        None => Ok((split_ws(rest), false)),
    }
}

fn one_arg(rest: &str, keyword: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!("{keyword} requires exactly one argument"));
    }
    Ok(rest.to_string())
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

/// Pass 2: one node into a typed instruction (or a stage start).
fn instruction(node: &Node, escape: char) -> Result<Item, String> {
    let rest = node.rest.as_str();
    let no_flags = || Flags::parse(&node.flags, &[]);
    let kind = match node.cmd.as_str() {
        "from" => return from(node).map(Item::From),
        "run" => {
            let flags = Flags::parse(
                &node.flags,
                &[("mount", FlagKind::Strings), ("network", FlagKind::Str)],
            )?;
            let network = flags.string("network");
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("unsupported network mode {n:?}"));
                }
            }
            let mounts = flags
                .strings("mount")
                .iter()
                .map(|m| parse_mount(m))
                .collect::<Result<_, _>>()?;
            Kind::Run(Run {
                command: command_of(rest)?,
                mounts,
                network,
                heredocs: node.heredocs.iter().map(RawHeredoc::finish).collect(),
            })
        }
        "cmd" => {
            no_flags()?;
            Kind::Cmd(command_of(rest)?)
        }
        "entrypoint" => {
            no_flags()?;
            Kind::Entrypoint(command_of(rest)?)
        }
        "env" | "label" => {
            no_flags()?;
            let keyword = node.cmd.to_uppercase();
            let pairs = name_values(rest, &keyword, escape)?;
            if pairs.is_empty() {
                return Err(at_least_one(&keyword));
            }
            if pairs.iter().any(|(k, _)| k.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            if node.cmd == "env" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "arg" => {
            no_flags()?;
            let words = parse_words(rest, escape);
            if words.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut args = Vec::new();
            for word in words {
                let decl = match word.split_once('=') {
                    Some((k, v)) => ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    },
                    None => ArgDecl {
                        name: word,
                        default: None,
                    },
                };
                if decl.name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                args.push(decl);
            }
            Kind::Arg(args)
        }
        "expose" => {
            let mut ports = split_ws(rest);
            if ports.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            no_flags()?;
            ports.sort();
            Kind::Expose(ports)
        }
        "copy" | "add" => {
            let keyword = node.cmd.to_uppercase();
            let (args, _) = list_of(rest)?;
            if args.len() < 2 {
                return Err(format!(
                    "{keyword} requires at least two arguments, but only one was provided. \
                     Destination could not be determined"
                ));
            }
            let mut allowed = vec![
                ("chown", FlagKind::Str),
                ("chmod", FlagKind::Str),
                ("link", FlagKind::Bool),
            ];
            if node.cmd == "copy" {
                allowed.push(("from", FlagKind::Str));
            }
            let flags = Flags::parse(&node.flags, &allowed)?;
            let Some((dest, sources)) = args.split_last() else {
                return Err(format!("{keyword} requires at least two arguments"));
            };
            if parse_heredoc(dest)?.is_some() {
                return Err(format!(
                    "{keyword} cannot accept a heredoc as a destination"
                ));
            }
            let mut srcs = Vec::new();
            let mut heredocs = Vec::new();
            for src in sources {
                match parse_heredoc(src)? {
                    Some(h) => {
                        let content = node
                            .heredocs
                            .iter()
                            .find(|d| d.name == h.name)
                            .map(|d| d.content.clone())
                            .unwrap_or_default();
                        heredocs.push(
                            RawHeredoc {
                                content,
                                ..h.clone()
                            }
                            .finish(),
                        );
                        srcs.push(h.name);
                    }
                    None => srcs.push(src.clone()),
                }
            }
            let copy = Copy {
                sources: srcs,
                dest: dest.clone(),
                from: flags.non_empty("from"),
                chown: flags.non_empty("chown"),
                chmod: flags.non_empty("chmod"),
                link: flags.bool("link"),
                heredocs,
            };
            if node.cmd == "copy" {
                Kind::Copy(copy)
            } else {
                Kind::Add(copy)
            }
        }
        "workdir" => {
            let v = one_arg(rest, "WORKDIR")?;
            no_flags()?;
            Kind::Workdir(v)
        }
        "user" => {
            let v = one_arg(rest, "USER")?;
            no_flags()?;
            Kind::User(v)
        }
        "maintainer" => {
            let v = one_arg(rest, "MAINTAINER")?;
            no_flags()?;
            Kind::Maintainer(v)
        }
        "stopsignal" => Kind::StopSignal(one_arg(rest, "STOPSIGNAL")?),
        "volume" => {
            let (vols, _) = list_of(rest)?;
            if vols.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            no_flags()?;
            let mut out = Vec::new();
            for v in vols {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                out.push(v.to_string());
            }
            Kind::Volume(out)
        }
        "healthcheck" => Kind::Healthcheck(healthcheck(node)?),
        "shell" => {
            no_flags()?;
            match parse_json(rest) {
                Some(Ok(v)) if v.is_empty() => return Err(at_least_one("SHELL")),
                Some(Ok(v)) => Kind::Shell(v),
                Some(Err(e)) => return Err(e),
                None if rest.is_empty() => return Err(at_least_one("SHELL")),
                None => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            no_flags()?;
            let child = split_node(rest, node.line)?;
            let trigger = child.cmd.to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            // The trigger must itself be a valid instruction.
            let child = Node {
                heredocs: node.heredocs.clone(),
                ..child
            };
            instruction(&child, escape)?;
            let mut expression = rest.to_string();
            for doc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Kind::Onbuild(expression)
        }
        other => {
            let upper = other.to_uppercase();
            return Err(match suggest(&upper) {
                Some(s) => format!("unknown instruction: {upper} (did you mean {s}?)"),
                None => format!("unknown instruction: {upper}"),
            });
        }
    };
    Ok(Item::Inst(Instruction {
        line: node.line,
        original: node.original.clone(),
        kind,
    }))
}

fn from(node: &Node) -> Result<Stage, String> {
    let args = split_ws(&node.rest);
    let name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let name = args[2].to_lowercase();
            let mut chars = name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
            if !ok {
                return Err(format!(
                    "invalid name for build stage: {:?}, name can't start with a number or \
                     contain symbols",
                    args[2]
                ));
            }
            Some(name)
        }
        1 => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = Flags::parse(&node.flags, &[("platform", FlagKind::Str)])?;
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: flags.non_empty("platform"),
        line: node.line,
        original: node.original.clone(),
        instructions: Vec::new(),
    })
}

fn healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let rest = node.rest.as_str();
    let (typ, cmd) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if typ.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !cmd.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", FlagKind::Str),
            ("timeout", FlagKind::Str),
            ("start-period", FlagKind::Str),
            ("start-interval", FlagKind::Str),
            ("retries", FlagKind::Str),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let test = match command_of(cmd)? {
        Command::Exec(args) if args.is_empty() => {
            return Err("Missing command after HEALTHCHECK CMD".into())
        }
        Command::Exec(args) => std::iter::once("CMD".to_string()).chain(args).collect(),
        Command::Shell(s) if s.is_empty() => {
            return Err("Missing command after HEALTHCHECK CMD".into())
        }
        Command::Shell(s) => vec!["CMD-SHELL".to_string(), s],
    };
    let interval = |name: &str| -> Result<Option<Duration>, String> {
        let Some(v) = flags.non_empty(name) else {
            return Ok(None);
        };
        let d = parse_go_duration(&v)?;
        if d < Duration::from_millis(1) {
            return Err(format!("Interval {name:?} cannot be less than 1ms"));
        }
        Ok(Some(d))
    };
    let retries = match flags.non_empty("retries") {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .ok()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 1 {
                return Err(format!("--retries must be at least 1 (not {n})"));
            }
            Some(n)
        }
    };
    Ok(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// Go's `time.ParseDuration` (negative durations come back as zero: they fail the 1ms minimum).
pub(crate) fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let nanos = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * nanos;
    }
    if neg {
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// One `--mount=` value (CSV of `key=value` / bare `ro`, `rw`).
fn parse_mount(value: &str) -> Result<RunMount, String> {
    let fields = csv_fields(value).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut kind = MountKind::Bind;
    let mut type_name = "bind".to_string();
    let mut m = RunMount {
        kind,
        target: String::new(),
        source: None,
        from: None,
        id: None,
        readonly: false,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                    continue;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                    continue;
                }
                "required" if matches!(kind, MountKind::Secret | MountKind::Ssh) => continue,
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{type_name}'"
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
        };
        let parse_bool = |v: &str| -> Result<bool, String> {
            match v.to_lowercase().as_str() {
                "1" | "t" | "true" => Ok(true),
                "0" | "f" | "false" => Ok(false),
                _ => Err(format!("invalid value for {key}: {v}")),
            }
        };
        match key.as_str() {
            "type" => {
                type_name = val.to_lowercase();
                kind = match type_name.as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => return Err(format!("unsupported mount type {val:?}")),
                };
                m.kind = kind;
            }
            "from" => m.from = Some(val),
            "source" | "src" => m.source = Some(val),
            "target" | "dst" | "destination" => m.target = val,
            "readonly" | "ro" => {
                m.readonly = parse_bool(&val)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&val)?;
                ro_auto = false;
            }
            "required" if matches!(kind, MountKind::Secret | MountKind::Ssh) => {
                parse_bool(&val)?;
            }
            "required" => {
                return Err(format!(
                    "unexpected key '{key}' for mount type '{type_name}'"
                ))
            }
            "id" => m.id = Some(val),
            "sharing" => {
                let s = val.to_lowercase();
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {val:?}"));
                }
                m.sharing = Some(s);
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&val, 8)
                        .map_err(|_| format!("invalid value {val} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    val.parse()
                        .map_err(|_| format!("invalid value {val} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    val.parse()
                        .map_err(|_| format!("invalid value {val} for gid"))?,
                )
            }
            "size" if kind == MountKind::Tmpfs => {}
            "env" if kind == MountKind::Secret => {}
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info_allowed = matches!(kind, MountKind::Secret | MountKind::Ssh | MountKind::Cache);
    for (set, what) in [
        (m.mode.is_some(), "mode"),
        (m.uid.is_some(), "uid"),
        (m.gid.is_some(), "gid"),
    ] {
        if set && !file_info_allowed {
            return Err(format!("{what} not allowed for {type_name:?} type mounts"));
        }
    }
    if ro_auto {
        m.readonly = !matches!(kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.sharing.is_some() && kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {type_name} mount"));
    }
    match kind {
        MountKind::Secret => {
            if m.from.is_some() {
                return Err("secret mount should not have a from".into());
            }
            if m.source.is_none() && m.target.is_empty() && m.id.is_none() {
                return Err("invalid secret mount. one of source, target required".into());
            }
        }
        MountKind::Ssh => {}
        _ if m.target.is_empty() => {
            return Err(format!("mount target must be set for {type_name} mounts"))
        }
        _ => {}
    }
    Ok(m)
}

/// One CSV record as Go's encoding/csv reads it (fields may be double-quoted, `""` escapes).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            if !matches!(chars.get(i), None | Some(',')) {
                return Err("extraneous or missing \" in quoted-field".into());
            }
        } else {
            while let Some(c) = chars.get(i).filter(|c| **c != ',') {
                if *c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(*c);
                i += 1;
            }
        }
        out.push(field);
        if chars.get(i) == Some(&',') {
            i += 1;
        } else {
            return Ok(out);
        }
    }
}

/// The closest keyword to a mistyped one, as BuildKit's suggestions do.
fn suggest(word: &str) -> Option<&'static str> {
    let (best, dist) = KEYWORDS
        .iter()
        .map(|k| (*k, levenshtein(word, k)))
        .min_by_key(|(_, d)| *d)?;
    let max = (word.chars().count() / 3).max(1);
    (dist > 0 && dist <= max).then_some(best)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
