//! The chart spec: the JSON a benchmark driver writes and this crate draws.
//!
//! A spec is `{"charts": [CHART, ...]}`. Every chart has a `kind` that picks its shape:
//!
//! - `distribution`: `file`, `title`, `unit`, optional `log` (default false), and `groups`, each
//!   `{"label": ..., "series": [{"name": ..., "samples": [...]}, ...]}`. Drawn as one box plot per
//!   series, clustered per group.
//! - `xy`: `file`, `title`, `x_label`, `y_label`, optional `log_x`/`log_y` (default false),
//!   `series` (`{"name": ..., "points": [[x, y], ...]}`) and optional `limits`
//!   (`{"label": ..., "y": ...}`, drawn as dashed horizontal lines).
//!
//! Chart objects deny unknown fields so that a misspelt key fails loudly instead of being
//! silently ignored. [`Spec::parse`] checks everything the renderer relies on: at least one
//! chart, plain `.png` file names that are unique, no empty groups/series, finite numbers, and
//! strictly positive numbers on log axes.

use std::collections::HashSet;

use berth_errdefs::{HasKind, Kind};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A parsed and validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The charts, in the order they appear in the file.
    pub charts: Vec<Chart>,
}

/// One chart of a spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Box plots of samples, grouped (`"kind": "distribution"`).
    Distribution(Distribution),
    /// Lines through points (`"kind": "xy"`).
    Xy(Xy),
}

/// A box-plot chart: per group, one box per series.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// Output file name, e.g. `run-latency.png`.
    pub file: String,
    /// Title drawn above the chart.
    pub title: String,
    /// Unit of the samples, used as the y axis description.
    pub unit: String,
    /// Whether the y axis is logarithmic.
    #[serde(default)]
    pub log: bool,
    /// The clusters along the x axis.
    pub groups: Vec<Group>,
}

/// One cluster of a distribution chart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Label under the cluster.
    pub label: String,
    /// One box per series.
    pub series: Vec<Samples>,
}

/// The samples of one series in one group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Samples {
    /// Series name: picks the colour and the legend entry.
    pub name: String,
    /// The measured values.
    pub samples: Vec<f64>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Xy {
    /// Output file name, e.g. `fleet-time.png`.
    pub file: String,
    /// Title drawn above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// Whether the x axis is logarithmic.
    #[serde(default)]
    pub log_x: bool,
    /// Whether the y axis is logarithmic.
    #[serde(default)]
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Line>,
    /// Horizontal reference lines (targets, budgets).
    #[serde(default)]
    pub limits: Vec<Limit>,
}

/// One line of an xy chart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Series name: picks the colour and the legend entry.
    pub name: String,
    /// `[x, y]` pairs, in any order; drawn sorted by x.
    pub points: Vec<[f64; 2]>,
}

/// A dashed horizontal line at `y` with a label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Text drawn next to the line.
    pub label: String,
    /// Where the line is.
    pub y: f64,
}

impl Chart {
    /// The output file name of this chart.
    pub fn file(&self) -> &str {
        match self {
            Chart::Distribution(d) => &d.file,
            Chart::Xy(x) => &x.file,
        }
    }

    /// The title of this chart.
    pub fn title(&self) -> &str {
        match self {
            Chart::Distribution(d) => &d.title,
            Chart::Xy(x) => &x.title,
        }
    }

    /// Series names in order of first appearance in this chart.
    pub fn series_names(&self) -> Vec<&str> {
        match self {
            Chart::Distribution(d) => d.series_names(),
            Chart::Xy(x) => x.series.iter().map(|s| s.name.as_str()).collect(),
        }
    }
}

impl Distribution {
    /// Series names in order of first appearance over the groups.
    pub fn series_names(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.groups
            .iter()
            .flat_map(|g| g.series.iter().map(|s| s.name.as_str()))
            .filter(|n| seen.insert(*n))
            .collect()
    }
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not JSON, or not `{"charts": [...]}`.
    #[error("invalid spec: {0}")]
    Json(#[source] serde_json::Error),
    /// `charts` is empty.
    #[error("spec has no charts")]
    NoCharts,
    /// A chart is not a JSON object.
    #[error("{chart}: not a json object")]
    NotObject {
        /// Which chart.
        chart: String,
    },
    /// A chart has no `kind`, or it is not a string.
    #[error("{chart}: missing \"kind\" (\"distribution\" or \"xy\")")]
    MissingKind {
        /// Which chart.
        chart: String,
    },
    /// A chart's `kind` is not one we draw.
    #[error("{chart}: unknown kind {kind:?} (expected \"distribution\" or \"xy\")")]
    UnknownKind {
        /// Which chart.
        chart: String,
        /// The kind given.
        kind: String,
    },
    /// A chart's fields do not match its kind (missing, unknown or mistyped field).
    #[error("{chart}: {source}")]
    Fields {
        /// Which chart.
        chart: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The `file` is not a plain `.png` file name.
    #[error("{chart}: bad file name {file:?}: {reason}")]
    BadFileName {
        /// Which chart.
        chart: String,
        /// The name given.
        file: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two charts write the same file.
    #[error("{chart}: file {file:?} is already written by an earlier chart")]
    DuplicateFile {
        /// Which chart.
        chart: String,
        /// The name used twice.
        file: String,
    },
    /// Something that must not be empty is.
    #[error("{chart}: {what} is empty")]
    Empty {
        /// Which chart.
        chart: String,
        /// What is empty, e.g. `groups` or `series "berthd" in group "network none"`.
        what: String,
    },
    /// A series has no name.
    #[error("{chart}: a series has an empty name")]
    EmptyName {
        /// Which chart.
        chart: String,
    },
    /// A series name appears twice where it must be unique.
    #[error("{chart}: series {name:?} appears twice{place}")]
    DuplicateSeries {
        /// Which chart.
        chart: String,
        /// The repeated name.
        name: String,
        /// ` in group "..."` or empty.
        place: String,
    },
    /// A number is NaN or infinite.
    #[error("{chart}: {what} is not a finite number")]
    NotFinite {
        /// Which chart.
        chart: String,
        /// Which value.
        what: String,
    },
    /// A number on a log axis is zero or negative.
    #[error("{chart}: {what} is {value}, but a log axis needs values above zero")]
    NotPositive {
        /// Which chart.
        chart: String,
        /// Which value.
        what: String,
        /// The value.
        value: f64,
    },
}

impl HasKind for SpecError {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    charts: Vec<Value>,
}

impl Spec {
    /// Parses and validates a spec from its JSON text.
    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        let raw: RawSpec = serde_json::from_str(text).map_err(SpecError::Json)?;
        if raw.charts.is_empty() {
            return Err(SpecError::NoCharts);
        }
        let mut charts = Vec::with_capacity(raw.charts.len());
        let mut files = HashSet::new();
        for (i, value) in raw.charts.into_iter().enumerate() {
            let chart = parse_chart(i, value)?;
            if !files.insert(chart.file().to_string()) {
                return Err(SpecError::DuplicateFile {
                    chart: chart_name(i, Some(chart.file())),
                    file: chart.file().to_string(),
                });
            }
            charts.push(chart);
        }
        Ok(Spec { charts })
    }

    /// Checks a spec built in code against the same rules [`Spec::parse`] applies.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.charts.is_empty() {
            return Err(SpecError::NoCharts);
        }
        let mut files = HashSet::new();
        for (i, chart) in self.charts.iter().enumerate() {
            validate_chart(i, chart)?;
            if !files.insert(chart.file()) {
                return Err(SpecError::DuplicateFile {
                    chart: chart_name(i, Some(chart.file())),
                    file: chart.file().to_string(),
                });
            }
        }
        Ok(())
    }
}

/// `chart 2 (fleet-time.png)`, counting from 1 as people do.
fn chart_name(index: usize, file: Option<&str>) -> String {
    match file {
        Some(f) if !f.is_empty() => format!("chart {} ({f})", index + 1),
        _ => format!("chart {}", index + 1),
    }
}

fn parse_chart(index: usize, value: Value) -> Result<Chart, SpecError> {
    let mut map: Map<String, Value> = match value {
        Value::Object(m) => m,
        _ => {
            return Err(SpecError::NotObject {
                chart: chart_name(index, None),
            })
        }
    };
    let name = chart_name(index, map.get("file").and_then(Value::as_str));
    let kind = match map.remove("kind") {
        Some(Value::String(k)) => k,
        _ => return Err(SpecError::MissingKind { chart: name }),
    };
    let fields = |e| SpecError::Fields {
        chart: name.clone(),
        source: e,
    };
    let chart = match kind.as_str() {
        "distribution" => {
            Chart::Distribution(serde_json::from_value(Value::Object(map)).map_err(fields)?)
        }
        "xy" => Chart::Xy(serde_json::from_value(Value::Object(map)).map_err(fields)?),
        _ => return Err(SpecError::UnknownKind { chart: name, kind }),
    };
    validate_chart(index, &chart)?;
    Ok(chart)
}

/// Why `file` is not a plain PNG file name, if it is not.
pub fn check_file_name(file: &str) -> Result<(), &'static str> {
    if file.is_empty() {
        return Err("it is empty");
    }
    if file.contains('/') {
        return Err("it must be a plain file name without '/'");
    }
    if file.contains("..") {
        return Err("it must not contain '..'");
    }
    if file.contains('\0') {
        return Err("it contains a nul byte");
    }
    if !file.ends_with(".png") {
        return Err("it must end in .png");
    }
    if file == ".png" {
        return Err("it has nothing before .png");
    }
    Ok(())
}

fn validate_chart(index: usize, chart: &Chart) -> Result<(), SpecError> {
    let name = chart_name(index, Some(chart.file()));
    check_file_name(chart.file()).map_err(|reason| SpecError::BadFileName {
        chart: name.clone(),
        file: chart.file().to_string(),
        reason,
    })?;
    let check = |what: &dyn Fn() -> String, v: f64, log: bool| -> Result<(), SpecError> {
        if !v.is_finite() {
            return Err(SpecError::NotFinite {
                chart: name.clone(),
                what: what(),
            });
        }
        if log && v <= 0.0 {
            return Err(SpecError::NotPositive {
                chart: name.clone(),
                what: what(),
                value: v,
            });
        }
        Ok(())
    };
    let empty = |what: String| SpecError::Empty {
        chart: name.clone(),
        what,
    };
    // Series names: none empty, none twice in one place (`place` names it in messages).
    let check_names = |names: &mut dyn Iterator<Item = &str>, place: String| -> Result<(), SpecError> {
        let mut seen = HashSet::new();
        for n in names {
            if n.is_empty() {
                return Err(SpecError::EmptyName {
                    chart: name.clone(),
                });
            }
            if !seen.insert(n) {
                return Err(SpecError::DuplicateSeries {
                    chart: name.clone(),
                    name: n.to_string(),
                    place,
                });
            }
        }
        Ok(())
    };
    match chart {
        Chart::Distribution(d) => {
            if d.groups.is_empty() {
                return Err(empty("groups".into()));
            }
            for g in &d.groups {
                if g.series.is_empty() {
                    return Err(empty(format!("series of group {:?}", g.label)));
                }
                check_names(
                    &mut g.series.iter().map(|s| s.name.as_str()),
                    format!(" in group {:?}", g.label),
                )?;
                for s in &g.series {
                    if s.samples.is_empty() {
                        return Err(empty(format!(
                            "samples of series {:?} in group {:?}",
                            s.name, g.label
                        )));
                    }
                    for (k, v) in s.samples.iter().enumerate() {
                        let what = || {
                            format!(
                                "sample {} of series {:?} in group {:?}",
                                k + 1,
                                s.name,
                                g.label
                            )
                        };
                        check(&what, *v, d.log)?;
                    }
                }
            }
        }
        Chart::Xy(x) => {
            if x.series.is_empty() {
                return Err(empty("series".into()));
            }
            check_names(&mut x.series.iter().map(|s| s.name.as_str()), String::new())?;
            for s in &x.series {
                if s.points.is_empty() {
                    return Err(empty(format!("points of series {:?}", s.name)));
                }
                for (k, [px, py]) in s.points.iter().enumerate() {
                    check(
                        &|| format!("x of point {} of series {:?}", k + 1, s.name),
                        *px,
                        x.log_x,
                    )?;
                    check(
                        &|| format!("y of point {} of series {:?}", k + 1, s.name),
                        *py,
                        x.log_y,
                    )?;
                }
            }
            for l in &x.limits {
                check(&|| format!("limit {:?}", l.label), l.y, x.log_y)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_DIST: &str = r#"{"file": "d.png", "kind": "distribution", "title": "t", "unit": "ms",
        "groups": [{"label": "g", "series": [{"name": "a", "samples": [1, 2]}]}]}"#;
    const GOOD_XY: &str = r#"{"file": "x.png", "kind": "xy", "title": "t", "x_label": "n", "y_label": "s",
        "log_x": true, "log_y": true, "series": [{"name": "a", "points": [[10, 0.3], [100, 2.1]]}],
        "limits": [{"label": "target", "y": 30}]}"#;

    fn spec_of(charts: &[&str]) -> String {
        format!("{{\"charts\": [{}]}}", charts.join(","))
    }

    #[test]
    fn parses_the_contract_example() {
        let text = r#"{"charts": [
          {"file": "run-latency.png", "kind": "distribution", "title": "docker run --rm busybox true",
           "unit": "ms", "log": false,
           "groups": [{"label": "network none",
                       "series": [{"name": "berthd", "samples": [50.1, 48.2]},
                                  {"name": "dockerd", "samples": [404.0, 398.5]},
                                  {"name": "runc", "samples": [37.0]}]}]},
          {"file": "fleet-time.png", "kind": "xy", "title": "start N detached containers",
           "x_label": "containers", "y_label": "seconds", "log_x": true, "log_y": true,
           "series": [{"name": "berthd", "points": [[10, 0.3], [100, 2.1], [1000, 25.0]]},
                      {"name": "dockerd", "points": [[10, 3.5], [100, 35.0]]}],
           "limits": [{"label": "target 30 s", "y": 30.0}]}
        ]}"#;
        let spec = Spec::parse(text).unwrap();
        assert_eq!(spec.charts.len(), 2);
        let Chart::Distribution(d) = &spec.charts[0] else {
            panic!("first chart is a distribution")
        };
        assert_eq!(d.groups[0].series[1].samples, vec![404.0, 398.5]);
        let Chart::Xy(x) = &spec.charts[1] else {
            panic!("second chart is xy")
        };
        assert_eq!(x.series[0].points[2], [1000.0, 25.0]);
        assert_eq!(x.limits[0].y, 30.0);
        assert_eq!(
            spec.charts[0].series_names(),
            vec!["berthd", "dockerd", "runc"]
        );
        spec.validate().unwrap();
    }

    #[test]
    fn optional_fields_default() {
        let text = spec_of(&[
            r#"{"file": "x.png", "kind": "xy", "title": "t", "x_label": "n", "y_label": "s",
            "series": [{"name": "a", "points": [[1, 0], [2, -1]]}]}"#,
        ]);
        let spec = Spec::parse(&text).unwrap();
        let Chart::Xy(x) = &spec.charts[0] else {
            panic!("xy")
        };
        assert!(!x.log_x && !x.log_y && x.limits.is_empty());
    }

    #[test]
    fn file_names() {
        let table: &[(&str, Option<&str>)] = &[
            ("run-latency.png", None),
            ("a.b.png", None),
            ("", Some("it is empty")),
            (
                "/tmp/x.png",
                Some("it must be a plain file name without '/'"),
            ),
            (
                "sub/x.png",
                Some("it must be a plain file name without '/'"),
            ),
            ("..png", Some("it must not contain '..'")),
            ("x..png", Some("it must not contain '..'")),
            ("x.svg", Some("it must end in .png")),
            ("x.PNG", Some("it must end in .png")),
            ("x", Some("it must end in .png")),
            (".png", Some("it has nothing before .png")),
            ("a\0.png", Some("it contains a nul byte")),
        ];
        for (name, want) in table {
            assert_eq!(check_file_name(name).err(), *want, "{name:?}");
        }
    }

    #[test]
    fn refused_specs() {
        let dist = |groups: &str, log: bool| {
            spec_of(&[&format!(
                r#"{{"file": "d.png", "kind": "distribution", "title": "t", "unit": "ms", "log": {log}, "groups": {groups}}}"#
            )])
        };
        let xy = |series: &str, limits: &str, log_y: bool| {
            spec_of(&[&format!(
                r#"{{"file": "x.png", "kind": "xy", "title": "t", "x_label": "n", "y_label": "s", "log_x": true,
                   "log_y": {log_y}, "series": {series}, "limits": {limits}}}"#
            )])
        };
        let table: Vec<(String, &str)> = vec![
            ("".into(), "invalid spec: EOF while parsing a value at line 1 column 0"),
            ("{".into(), "invalid spec: EOF while parsing an object at line 1 column 1"),
            ("[]".into(), "invalid spec: invalid length 0, expected struct RawSpec with 1 element at line 1 column 2"),
            (r#"{"charts": [], "x": 1}"#.into(), "invalid spec: unknown field `x`, expected `charts` at line 1 column 18"),
            (r#"{"charts": []}"#.into(), "spec has no charts"),
            (r#"{"charts": [1]}"#.into(), "chart 1: not a json object"),
            (r#"{"charts": [{"file": "a.png"}]}"#.into(), "chart 1 (a.png): missing \"kind\" (\"distribution\" or \"xy\")"),
            (
                r#"{"charts": [{"file": "a.png", "kind": "pie"}]}"#.into(),
                "chart 1 (a.png): unknown kind \"pie\" (expected \"distribution\" or \"xy\")",
            ),
            (
                spec_of(&[GOOD_DIST, r#"{"file": "b.png", "kind": "xy", "title": "t"}"#]),
                "chart 2 (b.png): missing field `x_label`",
            ),
            (
                spec_of(&[r#"{"file": "b.png", "kind": "distribution", "title": "t", "unit": "ms", "groups": [], "colour": 1}"#]),
                "chart 1 (b.png): unknown field `colour`, expected one of `file`, `title`, `unit`, `log`, `groups`",
            ),
            (
                spec_of(&[r#"{"file": "b.png", "kind": "distribution", "title": "t", "unit": "ms",
                    "groups": [{"label": "g", "series": [{"name": "a", "sample": [1]}]}]}"#]),
                "chart 1 (b.png): unknown field `sample`, expected `name` or `samples`",
            ),
            (
                spec_of(&[r#"{"file": "b.png", "kind": "distribution", "title": "t", "unit": "ms",
                    "groups": [{"label": "g", "series": [{"name": "a", "samples": ["1"]}]}]}"#]),
                "chart 1 (b.png): invalid type: string \"1\", expected f64",
            ),
            (
                spec_of(&[r#"{"file": "../b.png", "kind": "distribution", "title": "t", "unit": "ms", "groups": []}"#]),
                "chart 1 (../b.png): bad file name \"../b.png\": it must be a plain file name without '/'",
            ),
            (spec_of(&[GOOD_DIST, GOOD_XY, GOOD_DIST]), "chart 3 (d.png): file \"d.png\" is already written by an earlier chart"),
            (dist("[]", false), "chart 1 (d.png): groups is empty"),
            (dist(r#"[{"label": "g", "series": []}]"#, false), "chart 1 (d.png): series of group \"g\" is empty"),
            (
                dist(r#"[{"label": "g", "series": [{"name": "a", "samples": []}]}]"#, false),
                "chart 1 (d.png): samples of series \"a\" in group \"g\" is empty",
            ),
            (
                dist(r#"[{"label": "g", "series": [{"name": "", "samples": [1]}]}]"#, false),
                "chart 1 (d.png): a series has an empty name",
            ),
            (
                dist(r#"[{"label": "g", "series": [{"name": "a", "samples": [1]}, {"name": "a", "samples": [2]}]}]"#, false),
                "chart 1 (d.png): series \"a\" appears twice in group \"g\"",
            ),
            (
                dist(r#"[{"label": "g", "series": [{"name": "a", "samples": [1, 0]}]}]"#, true),
                "chart 1 (d.png): sample 2 of series \"a\" in group \"g\" is 0, but a log axis needs values above zero",
            ),
            (
                dist(r#"[{"label": "g", "series": [{"name": "a", "samples": [1e999]}]}]"#, false),
                "invalid spec: number out of range at line 1 column 164",
            ),
            (xy("[]", "[]", false), "chart 1 (x.png): series is empty"),
            (xy(r#"[{"name": "a", "points": []}]"#, "[]", false), "chart 1 (x.png): points of series \"a\" is empty"),
            (
                xy(r#"[{"name": "a", "points": [[1, 1]]}, {"name": "a", "points": [[1, 1]]}]"#, "[]", false),
                "chart 1 (x.png): series \"a\" appears twice",
            ),
            (
                xy(r#"[{"name": "a", "points": [[0, 1]]}]"#, "[]", false),
                "chart 1 (x.png): x of point 1 of series \"a\" is 0, but a log axis needs values above zero",
            ),
            (
                xy(r#"[{"name": "a", "points": [[1, 1], [2, -3]]}]"#, "[]", true),
                "chart 1 (x.png): y of point 2 of series \"a\" is -3, but a log axis needs values above zero",
            ),
            (
                xy(r#"[{"name": "a", "points": [[1, 1]]}]"#, r#"[{"label": "zero", "y": 0}]"#, true),
                "chart 1 (x.png): limit \"zero\" is 0, but a log axis needs values above zero",
            ),
            (
                xy(r#"[{"name": "a", "points": [[1, 1, 1]]}]"#, "[]", false),
                "chart 1 (x.png): invalid length 3, expected fewer elements in array",
            ),
        ];
        for (text, want) in &table {
            let got = Spec::parse(text).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "spec: {text}");
            assert!(!want.contains('\n'));
        }
    }

    #[test]
    fn validate_catches_non_finite_values_built_in_code() {
        let mut spec = Spec::parse(&spec_of(&[GOOD_DIST, GOOD_XY])).unwrap();
        if let Chart::Distribution(d) = &mut spec.charts[0] {
            d.groups[0].series[0].samples.push(f64::NAN);
        }
        assert_eq!(
            spec.validate().unwrap_err().to_string(),
            "chart 1 (d.png): sample 3 of series \"a\" in group \"g\" is not a finite number"
        );
        let mut spec = Spec::parse(&spec_of(&[GOOD_XY])).unwrap();
        if let Chart::Xy(x) = &mut spec.charts[0] {
            x.limits[0].y = f64::INFINITY;
        }
        assert_eq!(
            spec.validate().unwrap_err().to_string(),
            "chart 1 (x.png): limit \"target\" is not a finite number"
        );
    }
}
