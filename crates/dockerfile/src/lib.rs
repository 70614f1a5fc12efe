//! Dockerfile parsing for the classic builder (pure: no IO).
//!
//! The parser keeps words raw — quotes and `$VAR` references are left intact, as Docker's own
//! parser does — because their values depend on the ARG/ENV state at dispatch time. The builder
//! expands them with [`shell::expand`] / [`shell::expand_words`] when it runs each step.
//!
//! - [`parse`]: a whole Dockerfile into [`Dockerfile`] (directives, meta ARGs, stages).
//! - [`parse_instruction`]: one instruction line (ONBUILD triggers stored in an image config).
//! - [`shell`]: Docker's shell-word lexer (quotes, escapes, `${VAR:-default}`...).
//! - [`ignore`]: `.dockerignore` matching and Go's `filepath.Match` for COPY globs.
#![deny(missing_docs)]

use std::time::Duration;

pub mod ignore;
mod parser;
pub mod shell;

pub use parser::{parse, parse_instruction};

/// A Dockerfile error, naming the (1-based) source line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number of the instruction (or directive) at fault.
    pub line: usize,
    /// What is wrong, in Docker's words (e.g. `unknown instruction: FOO`).
    pub message: String,
}

impl ParseError {
    /// An error at `line` with `message`.
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

impl berth_errdefs::HasKind for ParseError {
    fn kind(&self) -> berth_errdefs::Kind {
        berth_errdefs::Kind::InvalidArgument
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The `# syntax=` directive, if any (the classic builder ignores it).
    pub syntax: Option<String>,
    /// ARGs declared before the first FROM (usable in FROM lines).
    pub meta_args: Vec<ArgDecl>,
    /// The build stages, one per FROM, in file order.
    pub stages: Vec<Stage>,
}

/// One build stage: a FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `AS name`, lowercased.
    pub name: Option<String>,
    /// The base image as written (raw: may contain `$ARG` references).
    pub base: String,
    /// The `--platform` flag value, raw.
    pub platform: Option<String>,
    /// 1-based line of the FROM instruction.
    pub line: usize,
    /// The FROM line's text, as Docker prints it in `Step i/n : <original>` (see
    /// [`Instruction::original`]).
    pub original: String,
    /// The instructions after FROM, in order.
    pub instructions: Vec<Instruction>,
}

/// One instruction (other than FROM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The source text as Docker prints it in `Step i/n : <original>`: the instruction with
    /// continuations joined (escape characters and comment lines removed), trimmed, keyword
    /// as written (Docker prints `run echo` for a lowercase `run`). Heredoc bodies are not
    /// included (Docker prints only the `RUN <<EOF` line).
    pub original: String,
    /// What the instruction does.
    pub kind: Kind,
}

/// The instructions (FROM is a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `ENV`: raw (unexpanded) name/value pairs, quotes intact (`ENV A="x y"` gives
    /// `("A", "\"x y\"")`); expand each name and value with [`shell::expand`]. The old form
    /// `ENV A x y` gives one pair with the rest of the line as value (`("A", "x y")`).
    Env(Vec<(String, String)>),
    /// `ARG`: one or more declarations.
    Arg(Vec<ArgDecl>),
    /// `LABEL`: raw key/value pairs, as for [`Kind::Env`] (keys may be quoted:
    /// `LABEL "a b"=c` gives `("\"a b\"", "c")`).
    Label(Vec<(String, String)>),
    /// `EXPOSE`: raw words, sorted as Docker sorts them (expand each with
    /// [`shell::expand_words`]: one word may become several).
    Expose(Vec<String>),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Copy),
    /// `WORKDIR`, raw.
    Workdir(String),
    /// `USER`, raw.
    User(String),
    /// `VOLUME`: the paths (JSON form decoded, plain form split on whitespace, raw).
    Volume(Vec<String>),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL`: the JSON array.
    Shell(Vec<String>),
    /// `STOPSIGNAL`, raw.
    StopSignal(String),
    /// `ONBUILD`: the trigger's raw text (e.g. `RUN echo hi`), parse with [`parse_instruction`].
    Onbuild(String),
    /// `MAINTAINER` (deprecated), the text.
    Maintainer(String),
}

impl Kind {
    /// The instruction keyword in lowercase, as Docker names it (`run`, `copy`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::Run(_) => "run",
            Kind::Cmd(_) => "cmd",
            Kind::Entrypoint(_) => "entrypoint",
            Kind::Env(_) => "env",
            Kind::Arg(_) => "arg",
            Kind::Label(_) => "label",
            Kind::Expose(_) => "expose",
            Kind::Copy(_) => "copy",
            Kind::Add(_) => "add",
            Kind::Workdir(_) => "workdir",
            Kind::User(_) => "user",
            Kind::Volume(_) => "volume",
            Kind::Healthcheck(_) => "healthcheck",
            Kind::Shell(_) => "shell",
            Kind::StopSignal(_) => "stopsignal",
            Kind::Onbuild(_) => "onbuild",
            Kind::Maintainer(_) => "maintainer",
        }
    }
}

/// A command in shell form (run via SHELL) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form: the raw text, passed as one argument after the SHELL.
    Shell(String),
    /// Exec form: the decoded JSON array.
    Exec(Vec<String>),
}

/// One `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default value, raw (quotes intact), if given.
    pub default: Option<String>,
}

/// `RUN [--mount=...] [--network=...] cmd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: Command,
    /// `--mount` flags, in order.
    pub mounts: Vec<RunMount>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
    /// Heredocs named in the command line (`RUN <<EOF`), in order.
    pub heredocs: Vec<Heredoc>,
}

/// The `type=` of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// `type=bind` (the default).
    Bind,
    /// `type=cache`.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`.
    Secret,
    /// `type=ssh`.
    Ssh,
}

/// One `RUN --mount=type=...,target=...` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// The mount type.
    pub kind: MountKind,
    /// `target=` / `dst=` / `destination=` (for secret/ssh may be empty: default target).
    pub target: String,
    /// `source=` / `src=`.
    pub source: Option<String>,
    /// `from=`: a stage name/index or image.
    pub from: Option<String>,
    /// `id=`.
    pub id: Option<String>,
    /// `ro` / `readonly` (bind mounts default to read-only, `rw` clears it).
    pub readonly: bool,
    /// `sharing=shared|private|locked` (cache mounts).
    pub sharing: Option<String>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// `COPY`/`ADD [--from=] [--chown=] [--chmod=] [--link] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The sources, raw, in order. A heredoc source (`COPY <<EOF /dest`) appears as its name
    /// (`EOF`) and has an entry with that name in `heredocs`.
    pub sources: Vec<String>,
    /// The destination, raw.
    pub dest: String,
    /// `--from=` stage name/index or image.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=` (octal text as written).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// Heredocs used as sources (`COPY <<EOF /dest`): `sources` name them.
    pub heredocs: Vec<Heredoc>,
}

/// A here-document (`<<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (quotes removed): for `COPY`, the file name to create.
    pub name: String,
    /// The body, each line ending in `\n` (leading tabs already stripped when `chomp`).
    pub content: String,
    /// True when the delimiter was unquoted: for `COPY`/`ADD` the builder expands variables
    /// in `content` (with [`shell::expand`]-like rules); for `RUN` the shell does it.
    pub expand: bool,
    /// True for `<<-`: leading tabs were stripped.
    pub chomp: bool,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [opts] CMD ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [--interval=...] CMD ...`.
    Check {
        /// `["CMD", args...]` (exec form) or `["CMD-SHELL", "cmd"]` (shell form).
        test: Vec<String>,
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<i64>,
    },
}

impl Dockerfile {
    /// The index of the stage `name_or_index` names: a stage name (case-insensitive) or a
    /// decimal index (`COPY --from=0`). Only stages before `before` count, as Docker resolves
    /// references to earlier stages only; pass `self.stages.len()` to search all.
    pub fn find_stage(&self, name_or_index: &str, before: usize) -> Option<usize> {
        let lower = name_or_index.to_lowercase();
        let end = before.min(self.stages.len());
        if let Some(i) = self.stages[..end]
            .iter()
            .position(|s| s.name.as_deref() == Some(&lower))
        {
            return Some(i);
        }
        match name_or_index.parse::<usize>() {
            Ok(i) if i < end => Some(i),
            _ => None,
        }
    }
}

impl Run {
    /// The command to run with heredocs folded in, as BuildKit does:
    /// - no heredocs: [`Run::command`];
    /// - the whole command is one heredoc (`RUN <<EOF`): its body, as a shell script
    ///   (`Command::Shell(body)`); a body starting with `#!` is meant to be written to a file
    ///   and executed — callers that support that check [`Run::shebang_script`] first;
    /// - otherwise (`RUN python3 <<EOF`): the command line followed by each heredoc body and
    ///   terminator, for the shell to handle as a real here-document.
    pub fn resolved_command(&self) -> Command {
        if self.heredocs.is_empty() {
            return self.command.clone();
        }
        let Command::Shell(line) = &self.command else {
            return self.command.clone();
        };
        if let Some(doc) = self.single_heredoc() {
            return Command::Shell(doc.content.clone());
        }
        let mut full = line.clone();
        for doc in &self.heredocs {
            full.push('\n');
            full.push_str(&doc.content);
            full.push_str(&doc.name);
        }
        Command::Shell(full)
    }

    /// The heredoc when the whole command is one heredoc whose body starts with `#!` (BuildKit
    /// writes such a body to a file and executes it instead of passing it to the shell).
    pub fn shebang_script(&self) -> Option<&Heredoc> {
        self.single_heredoc()
            .filter(|d| d.content.starts_with("#!"))
    }

    fn single_heredoc(&self) -> Option<&Heredoc> {
        let Command::Shell(line) = &self.command else {
            return None;
        };
        let word = line.trim();
        let rest = word
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .strip_prefix("<<")?;
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return None;
        }
        let doc = self.heredocs.first()?;
        (self.heredocs.len() == 1).then_some(doc)
    }
}
