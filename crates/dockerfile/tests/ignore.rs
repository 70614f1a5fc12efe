//! `.dockerignore` and Go-glob tables.

use berth_dockerfile::ignore::{glob_match, has_glob, read_patterns, Matcher};

/// (.dockerignore content, [(path, excluded)])
#[test]
fn excluded_table() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "*.go",
            &[
                ("main.go", true),
                ("cmd/main.go", false),
                ("main.go.bak", false),
                ("go", false),
            ],
        ),
        (
            "**/*.go",
            &[
                ("main.go", true),
                ("cmd/main.go", true),
                ("a/b/c.go", true),
                ("a/b/c.gox", false),
            ],
        ),
        // Leading / is dropped: patterns are relative to the context root.
        (
            "/build",
            &[
                ("build", true),
                ("build/x/y", true),
                ("src/build", false),
                ("buildx", false),
            ],
        ),
        ("build/", &[("build", true), ("build/x", true)]),
        // A directory match excludes its children.
        (
            "node_modules",
            &[
                ("node_modules", true),
                ("node_modules/a/b.js", true),
                ("x/node_modules", false),
            ],
        ),
        (
            "**/node_modules",
            &[
                ("node_modules", true),
                ("a/node_modules/x", true),
                ("a/b/node_modules", true),
                ("anode_modules", false),
            ],
        ),
        // Exceptions: the last matching pattern wins.
        (
            "docs\n!docs/keep.md",
            &[("docs", true), ("docs/a.md", true), ("docs/keep.md", false)],
        ),
        (
            "*.txt\n!important.txt",
            &[("a.txt", true), ("important.txt", false)],
        ),
        (
            "!important.txt\n*.txt",
            &[("a.txt", true), ("important.txt", true)],
        ),
        (
            "*\n!src\n!Dockerfile",
            &[
                ("a", true),
                ("src", false),
                ("src/x/y", false),
                ("Dockerfile", false),
                ("b/Dockerfile", true),
            ],
        ),
        (
            "*\n!src\nsrc/*.tmp",
            &[
                ("src/a.tmp", true),
                ("src/a.c", false),
                ("src/sub/a.tmp", false),
            ],
        ),
        // Wildcards.
        (
            "temp?",
            &[("temp1", true), ("tempab", false), ("temp", false)],
        ),
        ("[a-c].txt", &[("b.txt", true), ("d.txt", false)]),
        ("[^a-c].txt", &[("b.txt", false), ("d.txt", true)]),
        ("*/a", &[("x/a", true), ("x/y/a", false), ("a", false)]),
        (
            "a/**/b",
            &[
                ("a/b", true),
                ("a/x/y/b", true),
                ("a/x/b/c", true),
                ("ab", false),
                ("a/bb", false),
            ],
        ),
        ("**", &[("a", true), ("a/b/c", true)]),
        (
            "dir/**",
            &[
                ("dir/x", true),
                ("dir/x/y", true),
                ("dir", false),
                ("dirx", false),
            ],
        ),
        (
            "**foo",
            &[
                ("foo", true),
                ("xfoo", true),
                ("a/bfoo", true),
                ("foox", false),
            ],
        ),
        (
            "**/*.log\n!**/keep.log",
            &[
                ("a/b.log", true),
                ("a/keep.log", false),
                ("keep.log", false),
            ],
        ),
        (r"\*.txt", &[("*.txt", true), ("a.txt", false)]),
        // Comments (only at the start of a line), blank lines, trimming, cleaning.
        (
            "# comment\n\n   *.log   \n",
            &[("x.log", true), ("# comment", false)],
        ),
        (" # not a comment", &[("# not a comment", true)]),
        (
            "./foo/../bar/",
            &[("bar", true), ("bar/x", true), ("foo", false)],
        ),
        ("! /secret", &[("secret", false)]),
        ("", &[("anything", false)]),
        // Paths given to excluded() are cleaned too.
        ("a/b", &[("./a/b", true), ("a//b/c", true), ("/a/b", true)]),
    ];
    for (content, paths) in cases {
        let m = Matcher::parse(content).unwrap_or_else(|e| panic!("{content:?}: {e}"));
        for (path, want) in paths.iter() {
            assert_eq!(
                m.excluded(path),
                *want,
                "patterns {content:?}, path {path:?}"
            );
        }
    }
}

/// (.dockerignore content, [(dir, skip)])
#[test]
fn skip_dir_table() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        ("node_modules", &[("node_modules", true), ("src", false)]),
        // Not excluded: never skipped.
        ("*.go", &[("cmd", false)]),
        (
            "docs\n!docs/keep.md",
            &[("docs", false), ("docs/sub", true)],
        ),
        (
            "vendor\n!vendor/keep/*",
            &[
                ("vendor", false),
                ("vendor/other", true),
                ("vendor/keep", false),
            ],
        ),
        ("*\n!src", &[("a", true), ("src", false)]),
        // `**` in an exception: cannot know, do not skip.
        ("*\n!**/keep", &[("a", false), ("a/b", false)]),
        ("*\n!*/keep", &[("a", false)]),
        ("build\n!other", &[("build", true)]),
    ];
    for (content, dirs) in cases {
        let m = Matcher::parse(content).unwrap();
        for (dir, want) in dirs.iter() {
            assert_eq!(m.skip_dir(dir), *want, "patterns {content:?}, dir {dir:?}");
        }
    }
}

#[test]
fn read_patterns_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "a\n#c\n\n  b/  \n!/c/./d\n! e\n/\n",
            &["a", "b", "!c/d", "!e", "/"],
        ),
        ("\u{feff}x\r\ny\r\n", &["x", "y"]),
        ("!", &["!"]),
    ];
    for (content, want) in cases {
        assert_eq!(read_patterns(content), want.to_vec(), "content {content:?}");
    }
}

#[test]
fn bad_patterns() {
    for content in ["!", "[a", "a[", "x\n[]", r"foo\"] {
        assert!(
            Matcher::parse(content).is_err(),
            "{content:?} should be refused"
        );
    }
    let e = Matcher::new(&["!".to_string()]).unwrap_err();
    assert_eq!(e.message, "illegal exclusion pattern: \"!\"");
}

#[test]
fn glob_match_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("*.go", "main.go", true),
        ("*.go", "a/main.go", false),
        ("a/*/c", "a/b/c", true),
        ("a/*/c", "a/b/x/c", false),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("?", "a", true),
        ("?", "/", false),
        ("??", "a", false),
        ("[a-c]x", "bx", true),
        ("[^a-c]x", "bx", false),
        ("[^a-c]x", "dx", true),
        ("[!a]", "!", true),
        ("[!a]", "b", false),
        ("[\\]a]", "]", true),
        ("[a-]", "a", false),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("[", "[", false),
        ("a[", "a[", false),
        ("[]a]", "]", false),
        ("héllo*", "héllo wörld", true),
        ("[α-ω]", "β", true),
    ];
    for (pattern, name, want) in cases {
        assert_eq!(
            glob_match(pattern, name),
            *want,
            "pattern {pattern:?}, name {name:?}"
        );
    }
}

#[test]
fn has_glob_table() {
    let cases: &[(&str, bool)] = &[
        ("a.txt", false),
        ("*.txt", true),
        ("a?", true),
        ("[ab]", true),
        (r"a\*", false),
        ("dir/", false),
    ];
    for (p, want) in cases {
        assert_eq!(has_glob(p), *want, "{p:?}");
    }
}
