//! Parser tables: Dockerfile text -> expected structure or error.

use std::time::Duration;

use berth_dockerfile::{
    parse, parse_instruction, ArgDecl, Command, Copy, Healthcheck, Heredoc, Kind, MountKind, Run,
    RunMount,
};

/// The kind of the single instruction in `FROM scratch\n<src>`.
fn one(src: &str) -> Kind {
    let df = parse(&format!("FROM scratch\n{src}"))
        .unwrap_or_else(|e| panic!("parse of {src:?} failed: {e}"));
    let insts = &df.stages[0].instructions;
    assert_eq!(insts.len(), 1, "{src:?} gave {insts:#?}");
    insts[0].kind.clone()
}

/// The error for `FROM scratch\n<src>` (so instruction errors are on line 2).
fn error(src: &str) -> String {
    match parse(&format!("FROM scratch\n{src}")) {
        Ok(df) => panic!("{src:?} parsed: {df:#?}"),
        Err(e) => e.to_string(),
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn shell(c: &str) -> Command {
    Command::Shell(c.to_string())
}

fn exec(v: &[&str]) -> Command {
    Command::Exec(strs(v))
}

fn run(c: Command) -> Kind {
    Kind::Run(Run {
        command: c,
        mounts: vec![],
        network: None,
        heredocs: vec![],
    })
}

fn copy(sources: &[&str], dest: &str) -> Copy {
    Copy {
        sources: strs(sources),
        dest: s(dest),
        from: None,
        chown: None,
        chmod: None,
        link: false,
        heredocs: vec![],
    }
}

fn mount(kind: MountKind, target: &str) -> RunMount {
    RunMount {
        kind,
        target: s(target),
        source: None,
        from: None,
        id: None,
        readonly: false,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
    }
}

fn heredoc(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc {
        name: s(name),
        content: s(content),
        expand,
        chomp,
    }
}

fn check(name: &str, test: &[&str]) -> Healthcheck {
    let _ = name;
    Healthcheck::Check {
        test: strs(test),
        interval: None,
        timeout: None,
        start_period: None,
        start_interval: None,
        retries: None,
    }
}

#[test]
fn instructions_table() {
    let cases: Vec<(&str, Kind)> = vec![
        // RUN: shell and exec form, JSON detection as Docker does.
        ("RUN echo hi", run(shell("echo hi"))),
        ("run   echo   hi  ", run(shell("echo   hi"))),
        (r#"RUN ["echo", "hi there"]"#, run(exec(&["echo", "hi there"]))),
        (r#"RUN   [ "a" , "b" ]  "#, run(exec(&["a", "b"]))),
        ("RUN []", run(exec(&[]))),
        // Not valid JSON: shell form, text kept as written.
        ("RUN [echo, hi]", run(shell("[echo, hi]"))),
        (r#"RUN ["a", "b"] extra"#, run(shell(r#"["a", "b"] extra"#))),
        ("RUN echo \"$HOME\" 'x y'", run(shell("echo \"$HOME\" 'x y'"))),
        // RUN flags.
        (
            "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1,gid=2 pip install x",
            Kind::Run(Run {
                command: shell("pip install x"),
                mounts: vec![RunMount {
                    id: Some(s("pip")),
                    sharing: Some(s("locked")),
                    mode: Some(0o755),
                    uid: Some(1),
                    gid: Some(2),
                    ..mount(MountKind::Cache, "/root/.cache")
                }],
                network: None,
                heredocs: vec![],
            }),
        ),
        (
            "RUN --mount=target=/src --mount=type=bind,source=a,from=build,dst=/b,rw --network=none make",
            Kind::Run(Run {
                command: shell("make"),
                mounts: vec![
                    RunMount { readonly: true, ..mount(MountKind::Bind, "/src") },
                    RunMount {
                        source: Some(s("a")),
                        from: Some(s("build")),
                        ..mount(MountKind::Bind, "/b")
                    },
                ],
                network: Some(s("none")),
                heredocs: vec![],
            }),
        ),
        (
            "RUN --mount=type=tmpfs,target=/tmp,size=64m --mount=type=secret,id=tok,required true",
            Kind::Run(Run {
                command: shell("true"),
                mounts: vec![
                    mount(MountKind::Tmpfs, "/tmp"),
                    RunMount { id: Some(s("tok")), readonly: true, ..mount(MountKind::Secret, "") },
                ],
                network: None,
                heredocs: vec![],
            }),
        ),
        (
            r#"RUN --mount="type=bind,target=/a b" --network=host ["ls"]"#,
            Kind::Run(Run {
                command: exec(&["ls"]),
                mounts: vec![RunMount { readonly: true, ..mount(MountKind::Bind, "/a b") }],
                network: Some(s("host")),
                heredocs: vec![],
            }),
        ),
        // `--` ends the flags.
        ("RUN -- --mount=x", run(shell("--mount=x"))),
        // CMD / ENTRYPOINT.
        ("CMD echo hi", Kind::Cmd(shell("echo hi"))),
        (r#"CMD ["/bin/app", "-v"]"#, Kind::Cmd(exec(&["/bin/app", "-v"]))),
        (r#"ENTRYPOINT ["/init"]"#, Kind::Entrypoint(exec(&["/init"]))),
        ("entrypoint exec app", Kind::Entrypoint(shell("exec app"))),
        // ENV: old and new forms, values raw.
        ("ENV A 1", Kind::Env(pairs(&[("A", "1")]))),
        ("ENV A  hello   world ", Kind::Env(pairs(&[("A", "hello   world")]))),
        ("ENV A=1 B=\"x y\" C='$D' E=", Kind::Env(pairs(&[("A", "1"), ("B", "\"x y\""), ("C", "'$D'"), ("E", "")]))),
        ("ENV A=x\\ y", Kind::Env(pairs(&[("A", "x\\ y")]))),
        ("ENV A=${B:-c}", Kind::Env(pairs(&[("A", "${B:-c}")]))),
        // LABEL.
        ("LABEL a=b \"c d\"=\"e f\"", Kind::Label(pairs(&[("a", "b"), ("\"c d\"", "\"e f\"")]))),
        ("LABEL version 1.0 beta", Kind::Label(pairs(&[("version", "1.0 beta")]))),
        // ARG.
        ("ARG A", Kind::Arg(vec![ArgDecl { name: s("A"), default: None }])),
        (
            "ARG A=1 B C=\"x y\"",
            Kind::Arg(vec![
                ArgDecl { name: s("A"), default: Some(s("1")) },
                ArgDecl { name: s("B"), default: None },
                ArgDecl { name: s("C"), default: Some(s("\"x y\"")) },
            ]),
        ),
        ("ARG A=", Kind::Arg(vec![ArgDecl { name: s("A"), default: Some(s("")) }])),
        // EXPOSE: words, sorted as Docker does.
        ("EXPOSE 80/tcp 443 $PORT", Kind::Expose(strs(&["$PORT", "443", "80/tcp"]))),
        // COPY / ADD.
        ("COPY a b /dst/", Kind::Copy(copy(&["a", "b"], "/dst/"))),
        (r#"COPY ["a b", "/c d/"]"#, Kind::Copy(copy(&["a b"], "/c d/"))),
        (
            "COPY --from=build --chown=app:app --chmod=0644 --link /out/app /usr/bin/",
            Kind::Copy(Copy {
                from: Some(s("build")),
                chown: Some(s("app:app")),
                chmod: Some(s("0644")),
                link: true,
                ..copy(&["/out/app"], "/usr/bin/")
            }),
        ),
        ("COPY --link=false *.go ./", Kind::Copy(copy(&["*.go"], "./"))),
        ("ADD --chown=1:2 app.tar.gz /opt", Kind::Add(Copy { chown: Some(s("1:2")), ..copy(&["app.tar.gz"], "/opt") })),
        // One-argument instructions keep the rest as one string.
        ("WORKDIR /app", Kind::Workdir(s("/app"))),
        ("WORKDIR /my dir", Kind::Workdir(s("/my dir"))),
        ("USER app:app", Kind::User(s("app:app"))),
        ("STOPSIGNAL SIGTERM", Kind::StopSignal(s("SIGTERM"))),
        ("MAINTAINER Jane <jane@example.com>", Kind::Maintainer(s("Jane <jane@example.com>"))),
        // VOLUME: JSON and plain.
        (r#"VOLUME ["/data", "/logs"]"#, Kind::Volume(strs(&["/data", "/logs"]))),
        ("VOLUME /data /logs", Kind::Volume(strs(&["/data", "/logs"]))),
        // HEALTHCHECK.
        ("HEALTHCHECK NONE", Kind::Healthcheck(Healthcheck::None)),
        ("HEALTHCHECK CMD curl -f http://localhost/", Kind::Healthcheck(check("", &["CMD-SHELL", "curl -f http://localhost/"]))),
        (
            r#"HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD ["/bin/check", "x"]"#,
            Kind::Healthcheck(Healthcheck::Check {
                test: strs(&["CMD", "/bin/check", "x"]),
                interval: Some(Duration::from_secs(30)),
                timeout: Some(Duration::from_secs(90)),
                start_period: Some(Duration::from_millis(500)),
                start_interval: Some(Duration::from_secs(2)),
                retries: Some(3),
            }),
        ),
        ("healthcheck cmd true", Kind::Healthcheck(check("", &["CMD-SHELL", "true"]))),
        // SHELL.
        (r#"SHELL ["/bin/bash", "-o", "pipefail", "-c"]"#, Kind::Shell(strs(&["/bin/bash", "-o", "pipefail", "-c"]))),
        // ONBUILD keeps the trigger's raw text.
        ("ONBUILD RUN echo hi", Kind::Onbuild(s("RUN echo hi"))),
        ("onbuild  copy --chown=1 . /app", Kind::Onbuild(s("copy --chown=1 . /app"))),
    ];
    for (src, want) in cases {
        assert_eq!(one(src), want, "input: {src:?}");
    }
}

#[test]
fn errors_table() {
    let cases: &[(&str, &str)] = &[
        ("FOO bar", "dockerfile parse error on line 2: unknown instruction: FOO"),
        ("RUNN echo", "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"),
        ("FROM", "dockerfile parse error on line 2: FROM requires either one or three arguments"),
        ("FROM a b", "dockerfile parse error on line 2: FROM requires either one or three arguments"),
        ("FROM a AS b c", "dockerfile parse error on line 2: FROM requires either one or three arguments"),
        ("FROM a AS 1st", "dockerfile parse error on line 2: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM --foo=x a", "dockerfile parse error on line 2: Unknown flag: foo"),
        ("ENV", "dockerfile parse error on line 2: ENV requires at least one argument"),
        ("ENV A", "dockerfile parse error on line 2: ENV must have two arguments"),
        ("ENV =x", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("ENV A=1 B", "dockerfile parse error on line 2: Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("LABEL", "dockerfile parse error on line 2: LABEL requires at least one argument"),
        ("ARG", "dockerfile parse error on line 2: ARG requires at least one argument"),
        ("ARG =x", "dockerfile parse error on line 2: ARG names can not be blank"),
        ("EXPOSE", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
        ("COPY a", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ADD", "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ADD --from=x a b", "dockerfile parse error on line 2: Unknown flag: from"),
        ("COPY --from a b", "dockerfile parse error on line 2: Missing a value on flag: from"),
        ("COPY --link=yes a b", "dockerfile parse error on line 2: expecting boolean value for flag link, not: yes"),
        ("COPY --chown=1 --chown=2 a b", "dockerfile parse error on line 2: Duplicate flag specified: chown"),
        ("COPY a <<EOF\nx\nEOF", "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination"),
        (r#"RUN ["a", 1]"#, "dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("RUN --foo=1 x", "dockerfile parse error on line 2: Unknown flag: foo"),
        ("RUN --network=bridge x", "dockerfile parse error on line 2: unsupported network mode \"bridge\""),
        ("RUN --mount=type=nfs,target=/x x", "dockerfile parse error on line 2: unsupported mount type \"nfs\""),
        ("RUN --mount=type=cache x", "dockerfile parse error on line 2: mount target must be set for cache mounts"),
        ("RUN --mount=target=/x,mode=0700 x", "dockerfile parse error on line 2: mode not allowed for \"bind\" type mounts"),
        ("RUN --mount=target=/x,sharing=locked x", "dockerfile parse error on line 2: invalid cache sharing set for bind mount"),
        ("RUN --mount=type=cache,target=/x,foo=1 x", "dockerfile parse error on line 2: unexpected key 'foo' in 'foo=1'"),
        ("CMD --help", "dockerfile parse error on line 2: Unknown flag: help"),
        ("WORKDIR", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
        ("USER", "dockerfile parse error on line 2: USER requires exactly one argument"),
        ("STOPSIGNAL", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
        ("VOLUME", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
        (r#"VOLUME [""]"#, "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
        ("HEALTHCHECK", "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK RUN x", "dockerfile parse error on line 2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK --retries=0 CMD x", "dockerfile parse error on line 2: --retries must be at least 1 (not 0)"),
        ("HEALTHCHECK --interval=0s CMD x", "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms"),
        ("HEALTHCHECK --interval=5 CMD x", "dockerfile parse error on line 2: time: missing unit in duration \"5\""),
        ("SHELL /bin/sh -c", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
        ("SHELL []", "dockerfile parse error on line 2: SHELL requires at least one argument"),
        ("ONBUILD", "dockerfile parse error on line 2: ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER x", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("ONBUILD BOGUS x", "dockerfile parse error on line 2: unknown instruction: BOGUS"),
        ("RUN <<EOF\nno end", "dockerfile parse error on line 2: unterminated heredoc"),
        // The error names the line the instruction starts on.
        ("RUN a \\\n b\nFOO \\\n  x", "dockerfile parse error on line 4: unknown instruction: FOO"),
        ("FROM a AS x\nFROM b AS X", "dockerfile parse error on line 3: duplicate stage name \"x\""),
    ];
    for (src, want) in cases {
        assert_eq!(&error(src), want, "input: {src:?}");
    }
}

#[test]
fn whole_file_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "dockerfile parse error on line 0: file with no instructions",
        ),
        (
            "# just a comment\n\n   \n",
            "dockerfile parse error on line 3: file with no instructions",
        ),
        (
            "RUN echo hi\nFROM x",
            "dockerfile parse error on line 1: no build stage in current context",
        ),
        (
            "ARG A\nARG B=1\n",
            "dockerfile parse error on line 2: dockerfile contains no stages to build",
        ),
        (
            "# escape=x\nFROM a",
            "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\",
        ),
        (
            "# escape=`\n# escape=`\nFROM a",
            "dockerfile parse error on line 2: only one escape parser directive can be used",
        ),
    ];
    for (src, want) in cases {
        let got = parse(src).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(got, Err(s(want)), "input: {src:?}");
    }
}

#[test]
fn error_kind_is_invalid_argument() {
    use berth_errdefs::HasKind;
    let err = parse("FOO").unwrap_err();
    assert_eq!(err.kind(), berth_errdefs::Kind::InvalidArgument);
    assert_eq!(err.line, 1);
    assert_eq!(err.message, "unknown instruction: FOO");
}

#[test]
fn stages_and_meta_args() {
    let src = "\
ARG BASE=debian:bookworm
ARG TAG
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
ARG TAG
RUN make
from scratch
COPY --from=build /out /
FROM build as Test
";
    let df = parse(src).unwrap();
    assert_eq!(df.escape, '\\');
    assert_eq!(df.syntax, None);
    assert_eq!(
        df.meta_args,
        vec![
            ArgDecl {
                name: s("BASE"),
                default: Some(s("debian:bookworm"))
            },
            ArgDecl {
                name: s("TAG"),
                default: None
            },
        ]
    );
    let got: Vec<_> = df
        .stages
        .iter()
        .map(|st| {
            (
                st.name.clone(),
                st.base.clone(),
                st.platform.clone(),
                st.line,
                st.original.clone(),
                st.instructions.len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some(s("build")),
                s("${BASE}"),
                Some(s("$BUILDPLATFORM")),
                3,
                s("FROM --platform=$BUILDPLATFORM ${BASE} AS Build"),
                2
            ),
            (None, s("scratch"), None, 6, s("from scratch"), 1),
            (
                Some(s("test")),
                s("build"),
                None,
                8,
                s("FROM build as Test"),
                0
            ),
        ]
    );
    assert_eq!(
        df.stages[0].instructions[0].kind,
        Kind::Arg(vec![ArgDecl {
            name: s("TAG"),
            default: None
        }])
    );
    assert_eq!(df.find_stage("BUILD", 3), Some(0));
    assert_eq!(df.find_stage("1", 3), Some(1));
    assert_eq!(df.find_stage("test", 2), None);
    assert_eq!(df.find_stage("nope", 3), None);
}

/// (source, expected (line, original, kind) of every instruction after the FROM).
#[test]
fn lines_continuations_comments() {
    type Want = Vec<(usize, &'static str, Kind)>;
    let cases: Vec<(&str, Want)> = vec![
        // Continuation with trailing blanks after the backslash; leading blanks of the next
        // line are kept (Docker only trims the first line).
        (
            "FROM a\nRUN echo a \\  \n    b\n",
            vec![(2, "RUN echo a     b", run(shell("echo a     b")))],
        ),
        // Comment lines and empty lines inside a continuation are dropped.
        (
            "FROM a\nRUN apt-get update && \\\n  # install\n\n  apt-get install -y gcc\nENV A=1\n",
            vec![
                (
                    2,
                    "RUN apt-get update &&   apt-get install -y gcc",
                    run(shell("apt-get update &&   apt-get install -y gcc")),
                ),
                (6, "ENV A=1", Kind::Env(pairs(&[("A", "1")]))),
            ],
        ),
        // ... so a trailing escape before comments and blank lines swallows the next
        // instruction, as in Docker.
        (
            "FROM a\nRUN make \\\n  # end\n\nENV A=1\n",
            vec![(2, "RUN make ENV A=1", run(shell("make ENV A=1")))],
        ),
        // An escaped backslash at the end is not a continuation.
        (
            "FROM a\nRUN echo \\\\\nRUN b\n",
            vec![
                (2, "RUN echo \\\\", run(shell("echo \\\\"))),
                (3, "RUN b", run(shell("b"))),
            ],
        ),
        // A continuation at the end of the file ends the instruction.
        ("FROM a\nRUN a \\", vec![(2, "RUN a", run(shell("a")))]),
        // A lone backslash line continues too.
        (
            "FROM a\nRUN a\\\n\\\nb\n",
            vec![(2, "RUN ab", run(shell("ab")))],
        ),
        // Indented instructions and comments; CRLF line endings.
        (
            "FROM a\r\n   # comment\r\n\tRUN x \\\r\n  y\r\n",
            vec![(3, "RUN x   y", run(shell("x   y")))],
        ),
        // A # inside an instruction is not a comment.
        (
            "FROM a\nRUN echo a # b\n",
            vec![(2, "RUN echo a # b", run(shell("echo a # b")))],
        ),
    ];
    for (src, want) in cases {
        let df = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        let got: Vec<_> = df.stages[0]
            .instructions
            .iter()
            .map(|i| (i.line, i.original.as_str(), i.kind.clone()))
            .collect();
        let want: Vec<_> = want.into_iter().collect();
        assert_eq!(got, want, "input: {src:?}");
    }
}

#[test]
fn directives() {
    // (source, escape, syntax, kinds)
    let cases: Vec<(&str, char, Option<&str>, Vec<Kind>)> = vec![
        (
            "# syntax=docker/dockerfile:1\nFROM a\nRUN x",
            '\\',
            Some("docker/dockerfile:1"),
            vec![run(shell("x"))],
        ),
        (
            "#syntax = foo \n# ESCAPE = `\nFROM a\nRUN x `\n  y",
            '`',
            Some("foo"),
            vec![run(shell("x   y"))],
        ),
        // With ` as escape, backslashes are ordinary (Windows paths).
        (
            "# escape=`\nFROM a\nCOPY a\\b c:\\dir\\\nRUN dir `\n  c:\\\n",
            '`',
            None,
            vec![
                Kind::Copy(copy(&["a\\b"], "c:\\dir\\")),
                run(shell("dir   c:\\")),
            ],
        ),
        // A directive after a comment, a blank line or an instruction is just a comment.
        (
            "# hello\n# escape=`\nFROM a\nRUN x \\\n y",
            '\\',
            None,
            vec![run(shell("x  y"))],
        ),
        ("\n# escape=`\nFROM a", '\\', None, vec![]),
        (
            "FROM a\n# escape=`\nRUN x",
            '\\',
            None,
            vec![run(shell("x"))],
        ),
        // Unknown directives end the directive block.
        ("# foo=bar\n# escape=`\nFROM a", '\\', None, vec![]),
    ];
    for (src, escape, syntax, kinds) in cases {
        let df = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        assert_eq!(df.escape, escape, "input: {src:?}");
        assert_eq!(df.syntax.as_deref(), syntax, "input: {src:?}");
        let got: Vec<_> = df.stages[0]
            .instructions
            .iter()
            .map(|i| i.kind.clone())
            .collect();
        assert_eq!(got, kinds, "input: {src:?}");
    }
}

/// (line, original, kind) of one instruction.
type Located = (usize, &'static str, Kind);
/// (original, kind) or the error message.
type Expected = Result<(&'static str, Kind), &'static str>;

#[test]
fn heredocs() {
    let runh = |cmd: &str, docs: Vec<Heredoc>| {
        Kind::Run(Run {
            command: shell(cmd),
            mounts: vec![],
            network: None,
            heredocs: docs,
        })
    };
    let cases: Vec<(&str, Vec<Located>)> = vec![
        (
            "FROM a\nRUN <<EOF\necho $HOME\napt-get update\nEOF\nRUN next\n",
            vec![
                (2, "RUN <<EOF", runh("<<EOF", vec![heredoc("EOF", "echo $HOME\napt-get update\n", true, false)])),
                (6, "RUN next", run(shell("next"))),
            ],
        ),
        // <<- strips leading tabs from the body and the terminator.
        (
            "FROM a\nRUN <<-EOT\n\techo a\n\t\techo b\n  c\n\tEOT\n",
            vec![(2, "RUN <<-EOT", runh("<<-EOT", vec![heredoc("EOT", "echo a\necho b\n  c\n", true, true)]))],
        ),
        // Quoted delimiters (fully or partly) disable expansion.
        (
            "FROM a\nRUN <<'EOF' bash\necho $X\nEOF\nRUN <<\"A\"B cat\nx\nAB\n",
            vec![
                (2, "RUN <<'EOF' bash", runh("<<'EOF' bash", vec![heredoc("EOF", "echo $X\n", false, false)])),
                (5, "RUN <<\"A\"B cat", runh("<<\"A\"B cat", vec![heredoc("AB", "x\n", false, false)])),
            ],
        ),
        // Several heredocs in one line, read in order; file descriptors allowed.
        (
            "FROM a\nRUN python3 <<PY 3<<DATA > /out\nprint(1)\nPY\n1 2\nDATA\n",
            vec![(
                2,
                "RUN python3 <<PY 3<<DATA > /out",
                runh(
                    "python3 <<PY 3<<DATA > /out",
                    vec![heredoc("PY", "print(1)\n", true, false), heredoc("DATA", "1 2\n", true, false)],
                ),
            )],
        ),
        // COPY from heredocs: sources name them.
        (
            "FROM a\nCOPY --chmod=755 <<run.sh <<'cfg' plain /app/\n#!/bin/sh\necho $A\nrun.sh\nk=$v\ncfg\n",
            vec![(
                2,
                "COPY --chmod=755 <<run.sh <<'cfg' plain /app/",
                Kind::Copy(Copy {
                    chmod: Some(s("755")),
                    heredocs: vec![
                        heredoc("run.sh", "#!/bin/sh\necho $A\n", true, false),
                        heredoc("cfg", "k=$v\n", false, false),
                    ],
                    ..copy(&["run.sh", "cfg", "plain"], "/app/")
                }),
            )],
        ),
        // Exec form and other instructions do not read heredocs; quoted << is not one.
        (
            "FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD cat <<EOF\nRUN echo '<<EOF' \"<<X\"\n",
            vec![
                (2, "RUN [\"cat\", \"<<EOF\"]", run(exec(&["cat", "<<EOF"]))),
                (3, "CMD cat <<EOF", Kind::Cmd(shell("cat <<EOF"))),
                (4, "RUN echo '<<EOF' \"<<X\"", run(shell("echo '<<EOF' \"<<X\""))),
            ],
        ),
        // A heredoc after a continuation; the body may contain # and blank lines verbatim.
        (
            "FROM a\nRUN cat \\\n  <<EOF\n# not a comment\n\n  x \\\nEOF\n",
            vec![(2, "RUN cat   <<EOF", runh("cat   <<EOF", vec![heredoc("EOF", "# not a comment\n\n  x \\\n", true, false)]))],
        ),
        // ONBUILD with a heredoc keeps the body in the trigger text.
        (
            "FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n",
            vec![(2, "ONBUILD RUN <<EOF", Kind::Onbuild(s("RUN <<EOF\necho hi\nEOF")))],
        ),
    ];
    for (src, want) in cases {
        let df = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        let got: Vec<_> = df.stages[0]
            .instructions
            .iter()
            .map(|i| (i.line, i.original.as_str(), i.kind.clone()))
            .collect();
        assert_eq!(got, want, "input: {src:?}");
    }
}

#[test]
fn run_resolved_command() {
    let run_of = |src: &str| match one(src) {
        Kind::Run(r) => r,
        k => panic!("not a RUN: {k:?}"),
    };
    let cases: &[(&str, Command, bool)] = &[
        ("RUN echo hi", shell("echo hi"), false),
        (r#"RUN ["a"]"#, exec(&["a"]), false),
        (
            "RUN <<EOF\necho a\necho b\nEOF",
            shell("echo a\necho b\n"),
            false,
        ),
        (
            "RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF",
            shell("#!/usr/bin/env python3\nprint(1)\n"),
            true,
        ),
        (
            "RUN python3 <<EOF\nprint(1)\nEOF",
            shell("python3 <<EOF\nprint(1)\nEOF"),
            false,
        ),
        (
            "RUN cat <<-A <<B\n\tx\n\tA\ny\nB",
            shell("cat <<-A <<B\nx\nA\ny\nB"),
            false,
        ),
    ];
    for (src, want, shebang) in cases {
        let r = run_of(src);
        assert_eq!(&r.resolved_command(), want, "input: {src:?}");
        assert_eq!(r.shebang_script().is_some(), *shebang, "input: {src:?}");
    }
}

#[test]
fn parse_instruction_table() {
    let cases: Vec<(&str, char, Expected)> = vec![
        (
            "RUN echo hi",
            '\\',
            Ok(("RUN echo hi", run(shell("echo hi")))),
        ),
        (
            "  copy a b",
            '\\',
            Ok(("copy a b", Kind::Copy(copy(&["a"], "b")))),
        ),
        ("RUN a `\n b", '`', Ok(("RUN a  b", run(shell("a  b"))))),
        (
            "RUN <<EOF\necho hi\nEOF",
            '\\',
            Ok((
                "RUN <<EOF",
                Kind::Run(Run {
                    command: shell("<<EOF"),
                    mounts: vec![],
                    network: None,
                    heredocs: vec![heredoc("EOF", "echo hi\n", true, false)],
                }),
            )),
        ),
        // Directives do not apply to a single instruction: this is a comment, then nothing.
        (
            "# escape=`",
            '\\',
            Err("dockerfile parse error on line 1: file with no instructions"),
        ),
        (
            "FROM x",
            '\\',
            Err("dockerfile parse error on line 1: FROM isn't allowed here"),
        ),
        (
            "RUN a\nRUN b",
            '\\',
            Err("dockerfile parse error on line 2: expected one instruction, found 2"),
        ),
        (
            "BAD x",
            '\\',
            Err("dockerfile parse error on line 1: unknown instruction: BAD"),
        ),
        (
            "RUN x",
            'x',
            Err(
                "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\",
            ),
        ),
    ];
    for (src, escape, want) in cases {
        let got = parse_instruction(src, escape);
        match (got, want) {
            (Ok(inst), Ok((original, kind))) => {
                assert_eq!(inst.original, original, "input: {src:?}");
                assert_eq!(inst.kind, kind, "input: {src:?}");
                assert_eq!(inst.line, 1);
            }
            (Err(e), Err(msg)) => assert_eq!(e.to_string(), msg, "input: {src:?}"),
            (got, want) => panic!("input {src:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn onbuild_trigger_round_trips() {
    let trigger = match one("ONBUILD COPY <<EOF /x\nhello\nEOF") {
        Kind::Onbuild(t) => t,
        k => panic!("{k:?}"),
    };
    assert_eq!(trigger, "COPY <<EOF /x\nhello\nEOF");
    let inst = parse_instruction(&trigger, '\\').unwrap();
    assert_eq!(
        inst.kind,
        Kind::Copy(Copy {
            heredocs: vec![heredoc("EOF", "hello\n", true, false)],
            ..copy(&["EOF"], "/x")
        })
    );
}

#[test]
fn keyword_names() {
    let cases: &[(&str, &str)] = &[
        ("RUN x", "run"),
        ("CMD x", "cmd"),
        ("ENTRYPOINT x", "entrypoint"),
        ("ENV a=b", "env"),
        ("ARG a", "arg"),
        ("LABEL a=b", "label"),
        ("EXPOSE 1", "expose"),
        ("COPY a b", "copy"),
        ("ADD a b", "add"),
        ("WORKDIR /", "workdir"),
        ("USER u", "user"),
        ("VOLUME /v", "volume"),
        ("HEALTHCHECK NONE", "healthcheck"),
        ("SHELL [\"sh\"]", "shell"),
        ("STOPSIGNAL 9", "stopsignal"),
        ("ONBUILD RUN x", "onbuild"),
        ("MAINTAINER m", "maintainer"),
    ];
    for (src, kw) in cases {
        assert_eq!(one(src).keyword(), *kw, "input: {src:?}");
    }
}
