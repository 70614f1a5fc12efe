//! The binary: exit codes and one-line errors.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth-benchplot"))
        .args(args)
        .output()
        .unwrap()
}

/// Asserts exit 1 and a single lowercase line on stderr, and returns that line.
fn fails(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("berth-benchplot: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let first = stderr["berth-benchplot: ".len()..].chars().next().unwrap();
    assert!(!first.is_uppercase(), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr.trim_end().to_string()
}

#[test]
fn bad_specs_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let table: &[(&str, &str)] = &[
        (
            "not json",
            "spec.json: invalid spec: expected ident at line 1 column 2",
        ),
        (
            r#"{"charts": [{"file": "a.png", "kind": "pie"}]}"#,
            "spec.json: chart 1 (a.png): unknown kind \"pie\"",
        ),
        (
            r#"{"charts": [{"file": "a.png", "kind": "xy", "title": "t", "x_label": "x", "y_label": "y", "series": []}]}"#,
            "spec.json: chart 1 (a.png): series is empty",
        ),
        (
            r#"{"charts": [{"file": "/etc/a.png", "kind": "xy", "title": "t", "x_label": "x", "y_label": "y",
                "series": [{"name": "a", "points": [[1, 1]]}]}]}"#,
            "bad file name \"/etc/a.png\"",
        ),
    ];
    for (text, want) in table {
        let spec = dir.path().join("spec.json");
        std::fs::write(&spec, text).unwrap();
        let line = fails(&run(&[&spec, &out_dir]));
        assert!(line.contains(want), "{line:?} does not contain {want:?}");
        assert!(!out_dir.exists(), "nothing is written for {text}");
    }
}

#[test]
fn unreadable_spec_and_wrong_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let line = fails(&run(&[&missing, dir.path()]));
    assert!(
        line.contains("cannot read spec") && line.contains("missing.json"),
        "{line}"
    );
    let line = fails(&run(&[]));
    assert_eq!(
        line,
        "berth-benchplot: usage: berth-benchplot SPEC.json OUTDIR"
    );
    let line = fails(&run(&[&missing]));
    assert!(
        line.ends_with("usage: berth-benchplot SPEC.json OUTDIR"),
        "{line}"
    );
}

#[test]
fn a_good_spec_prints_the_files_written() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"charts": [{"file": "a.png", "kind": "distribution", "title": "t", "unit": "ms",
            "groups": [{"label": "g", "series": [{"name": "a", "samples": [1, 2, 3]}]}]}]}"#,
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run(&[&spec, &out_dir]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", out_dir.join("a.png").display())
    );
    assert!(out.stderr.is_empty());
    let bytes = std::fs::read(out_dir.join("a.png")).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}
