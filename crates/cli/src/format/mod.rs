//! Output formatting shared by all commands: `--format` handling, tables, and the formatter
//! contexts of `ps` and `images` (docker's fields, not raw API JSON).

pub mod containers;
pub mod gojson;
pub mod humanize;
pub mod images;
pub mod natsort;
pub mod networks;
pub mod template;

use std::io::Write;

use serde_json::Value as Json;
use tabwriter::TabWriter;

pub use template::{Template, TemplateError};

/// How a list command prints its items.
pub enum ListFormat {
    /// A table: a header row rendered from the header context, then one row per item.
    Table(Template),
    /// One rendering per item, each followed by a newline.
    Raw(Template),
}

impl ListFormat {
    /// docker's rules: empty or `table` -> the default table, `json` -> `{{json .}}`,
    /// `table ...` -> a custom table, anything else -> a raw template. Literal `\t` and `\n`
    /// in the format become tab and newline.
    pub fn parse(user: &str, default_table: &str) -> Result<ListFormat, TemplateError> {
        if (user.is_empty() || user == "table") && !default_table.is_empty() {
            return ListFormat::parse(default_table, "");
        }
        let (is_table, text) = match user {
            "" | "table" => (true, String::new()),
            "json" => (false, "{{json .}}".to_string()),
            s if s.starts_with("table") => (true, s["table".len()..].to_string()),
            s => (false, s.to_string()),
        };
        let text = text.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n");
        let t = Template::parse(&text)?;
        Ok(if is_table { ListFormat::Table(t) } else { ListFormat::Raw(t) })
    }

    /// Render `items` (with `headers` for a table) to `out`.
    pub fn write(&self, out: &mut dyn Write, headers: &Json, items: &[Json]) -> anyhow::Result<()> {
        match self {
            ListFormat::Table(t) => {
                let mut tw = new_tabwriter(Vec::new());
                writeln!(tw, "{}", t.render_header(headers)?)?;
                for item in items {
                    writeln!(tw, "{}", t.render(item)?)?;
                }
                tw.flush()?;
                let buf = tw.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
                out.write_all(&buf)?;
            }
            ListFormat::Raw(t) => {
                for item in items {
                    writeln!(out, "{}", t.render(item)?)?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// A tabwriter with docker's settings (Go: minwidth 10, tabwidth 1, padding 3). Rust's
/// `minwidth` excludes the padding that Go's includes, hence 7.
pub fn new_tabwriter<W: Write>(w: W) -> TabWriter<W> {
    TabWriter::new(w).minwidth(7).padding(3)
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_like_docker() {
        let f = ListFormat::parse("table {{.ID}}\\t{{.Image}}\\t{{.Names}}", "").unwrap();
        let headers = template::header_context(&[("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Names", "NAMES")]);
        let items = vec![
            json!({"ID": "0123456789ab", "Image": "busybox", "Names": "web"}),
            json!({"ID": "ba9876543210", "Image": "a", "Names": "db"}),
        ];
        let mut out = Vec::new();
        f.write(&mut out, &headers, &items).unwrap();
        let want = "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   web\nba9876543210   a         db\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn empty_table_prints_header_and_raw_prints_lines() {
        let f = ListFormat::parse("", "table {{.ID}}\t{{.Names}}").unwrap();
        let headers = template::header_context(&[("ID", "CONTAINER ID"), ("Names", "NAMES")]);
        let mut out = Vec::new();
        f.write(&mut out, &headers, &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "CONTAINER ID   NAMES\n");

        let f = ListFormat::parse("{{.ID}}: {{.Names}}", "").unwrap();
        let mut out = Vec::new();
        f.write(&mut out, &headers, &[json!({"ID": "a", "Names": "b"}), json!({"ID": "c", "Names": "d"})]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a: b\nc: d\n");

        let f = ListFormat::parse("json", "").unwrap();
        let mut out = Vec::new();
        f.write(&mut out, &headers, &[json!({"ID": "a"})]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"ID\":\"a\"}\n");
    }

    #[test]
    fn short_columns_get_docker_min_width() {
        let f = ListFormat::parse("table {{.A}}\t{{.B}}\t{{.C}}", "").unwrap();
        let headers = template::header_context(&[("A", "A"), ("B", "PORTS"), ("C", "NAMES")]);
        let mut out = Vec::new();
        f.write(&mut out, &headers, &[json!({"A": "x", "B": "", "C": "n"})]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A         PORTS     NAMES\nx                   n\n");
    }
}
