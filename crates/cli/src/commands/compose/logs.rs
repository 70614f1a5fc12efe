//! Log streams of a project's containers, one line at a time with docker compose's prefix
//! (`web-1  | `, padded to the widest, coloured per container on a terminal).

use berth_api::models::ContainerSummary;
use berth_client::Client;
use berth_compose::Project;
use clap::Args;

use super::{check_services, containers, label, select, LABEL_SERVICE};
use crate::error::ApiResult;
use crate::stream::stdcopy::{Demuxer, Stream};

/// `logs` flags.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long = "index")]
    pub index: Option<u32>,
    /// Services
    pub services: Vec<String>,
}

/// ANSI colours docker compose cycles through (its `rainbow`).
const COLORS: [&str; 12] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94", "31", "91"];

/// The prefix name of a container: `service-N`, or its name for a one-off container.
pub fn prefix_name(s: &ContainerSummary) -> String {
    let service = label(s, LABEL_SERVICE);
    if super::is_oneoff(s) || service.is_empty() {
        return super::name(s);
    }
    format!("{service}-{}", super::number(s))
}

/// One prefixed line: `name` padded to `width`, ` | `, the line (which ends with `\n`).
pub fn prefixed(name: &str, width: usize, color: Option<usize>, line: &str) -> String {
    let head = format!("{name:<width$} | ");
    match color {
        Some(i) => format!("\x1b[{}m{head}\x1b[0m{line}", COLORS[i % COLORS.len()]),
        None => format!("{head}{line}"),
    }
}

/// Splits a byte stream into complete lines (the last partial line kept until more comes).
#[derive(Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Add bytes; return the complete lines, each with its `\n`.
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        lines
    }

    /// What is left at the end of the stream, with a `\n` added.
    pub fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let mut s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s.push('\n');
        Some(s)
    }
}

/// `compose logs`.
pub async fn logs(c: &Client, project: &Project, a: LogsArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let list = containers(c, &project.name).await?;
    let picked: Vec<ContainerSummary> = select(&list, &a.services, false)
        .into_iter()
        .filter(|s| a.index.is_none_or(|i| super::number(s) == i))
        .cloned()
        .collect();
    let color = !a.no_color && crate::stream::term::stdout_is_tty();
    stream_logs(c, &picked, Options { color, tail: a.tail.clone(), timestamps: a.timestamps, follow: a.follow, prefix: !a.no_log_prefix, exits: false }).await
}

/// Follow the logs of `list` until every stream ends (as attached `up`).
pub async fn follow(c: &Client, list: &[ContainerSummary], color: bool, tail: &str, timestamps: bool) -> anyhow::Result<()> {
    stream_logs(c, list, Options { color, tail: tail.to_string(), timestamps, follow: true, prefix: true, exits: true }).await
}

struct Options {
    color: bool,
    tail: String,
    timestamps: bool,
    follow: bool,
    prefix: bool,
    /// Print `web-1 exited with code N` when a followed stream ends.
    exits: bool,
}

async fn stream_logs(c: &Client, list: &[ContainerSummary], o: Options) -> anyhow::Result<()> {
    // docker compose pads to the longest name plus one: `web-1  | `.
    let width = list.iter().map(|s| prefix_name(s).len()).max().unwrap_or(0) + 1;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Stream, String)>();
    let mut tasks = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let c = c.clone();
        let tx = tx.clone();
        let id = s.id.clone().unwrap_or_default();
        let name = prefix_name(s);
        let color = o.color.then_some(i);
        let prefix = o.prefix;
        let exits = o.exits;
        let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
        let q = vec![
            ("stdout", "1".to_string()),
            ("stderr", "1".to_string()),
            ("follow", b(o.follow)),
            ("timestamps", b(o.timestamps)),
            ("tail", o.tail.clone()),
        ];
        tasks.push(tokio::spawn(async move {
            let tty = c.docker().inspect_container(&id, None).await.api()?.config.and_then(|cfg| cfg.tty) == Some(true);
            let mut rx = c.get_stream(&format!("/containers/{id}/logs"), &q).await.api()?;
            let mut demux = Demuxer::new();
            let mut out = Lines::default();
            let mut err = Lines::default();
            let fmt = |line: &str| if prefix { prefixed(&name, width, color, line) } else { line.to_string() };
            while let Some(chunk) = rx.recv().await {
                let chunk = chunk.api()?;
                let frames = if tty { vec![(Stream::Stdout, chunk.to_vec())] } else { demux.push(&chunk)?.into_iter().map(|f| (f.stream, f.data.to_vec())).collect() };
                for (stream, data) in frames {
                    let lines = if stream == Stream::Stderr { err.push(&data) } else { out.push(&data) };
                    for l in lines {
                        let _ = tx.send((stream, fmt(&l)));
                    }
                }
            }
            for (stream, l) in [(Stream::Stdout, out.finish()), (Stream::Stderr, err.finish())] {
                if let Some(l) = l {
                    let _ = tx.send((stream, fmt(&l)));
                }
            }
            if exits {
                if let Ok(info) = c.docker().inspect_container(&id, None).await {
                    let st = info.state.unwrap_or_default();
                    if st.running != Some(true) {
                        let _ = tx.send((Stream::Stdout, format!("{name} exited with code {}\n", st.exit_code.unwrap_or(0))));
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    drop(tx);
    while let Some((stream, line)) = rx.recv().await {
        crate::stream::pump::write_all(stream, line.as_bytes())?;
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let cases = [
            (("web-1", 8, None, "hello\n"), "web-1    | hello\n"),
            (("worker-10", 8, None, "x\n"), "worker-10 | x\n"),
            (("web-1", 5, Some(0), "hi\n"), "\x1b[36mweb-1 | \x1b[0mhi\n"),
            (("db-1", 4, Some(13), "hi\n"), "\x1b[33mdb-1 | \x1b[0mhi\n"),
        ];
        for ((name, width, color, line), want) in cases {
            assert_eq!(prefixed(name, width, color, line), want);
        }
    }

    #[test]
    fn lines_split() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"a\nb"), vec!["a\n"]);
        assert_eq!(l.push(b"c\n\nd"), vec!["bc\n", "\n"]);
        assert_eq!(l.finish(), Some("d\n".to_string()));
        assert_eq!(l.finish(), None);
    }
}
