//! `berth-benchplot SPEC.json OUTDIR`: draws the charts a JSON spec describes into PNG files.
//!
//! Prints each file written; on any error prints one line to stderr and exits 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "usage: berth-benchplot SPEC.json OUTDIR";

fn main() -> ExitCode {
    // A panic would be a bug; still answer with one line and exit 1 as for any other error.
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(run);
    let message = match outcome {
        Ok(Ok(())) => return ExitCode::SUCCESS,
        Ok(Err(e)) => format!("{e}"),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            format!("internal error (a bug): {what}")
        }
    };
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("berth-benchplot: {one_line}");
    ExitCode::from(1)
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "{USAGE}\n\nDraws each chart of the JSON spec into OUTDIR/<file> as a 1200x700 PNG."
        );
        return Ok(());
    }
    let [spec, out_dir] = args.as_slice() else {
        bail!("{USAGE}");
    };
    let written = berth_benchplot::render_file(&PathBuf::from(spec), &PathBuf::from(out_dir))?;
    let mut out = std::io::stdout().lock();
    for path in written {
        // A closed stdout (e.g. `| head`) is not a failure: the charts are written.
        if writeln!(out, "{}", path.display()).is_err() {
            break;
        }
    }
    Ok(())
}
