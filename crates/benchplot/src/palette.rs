//! Colours per series name, the same in every chart of a spec.
//!
//! Names get colours in order of first appearance over the whole spec (chart by chart, group by
//! group), so the first series named anywhere gets the first colour, and a name keeps its colour
//! in every chart even where other series are missing. Ten colours (the familiar "tab10"
//! categorical set, distinguishable on white); an eleventh name reuses the first colour.

use std::collections::HashMap;

use crate::spec::Spec;

/// An opaque colour, `(red, green, blue)`.
pub type Rgb = (u8, u8, u8);

/// The categorical colours, in the order names receive them.
pub const COLOURS: [Rgb; 10] = [
    (0x1f, 0x77, 0xb4), // blue
    (0xff, 0x7f, 0x0e), // orange
    (0x2c, 0xa0, 0x2c), // green
    (0xd6, 0x27, 0x28), // red
    (0x94, 0x67, 0xbd), // purple
    (0x8c, 0x56, 0x4b), // brown
    (0xe3, 0x77, 0xc2), // pink
    (0x7f, 0x7f, 0x7f), // grey
    (0xbc, 0xbd, 0x22), // olive
    (0x17, 0xbe, 0xcf), // cyan
];

/// The colour of each series name of a spec.
#[derive(Debug, Clone, Default)]
pub struct Palette {
    by_name: HashMap<String, Rgb>,
}

impl Palette {
    /// Assigns colours to every series name of `spec`.
    pub fn for_spec(spec: &Spec) -> Palette {
        let mut palette = Palette::default();
        for chart in &spec.charts {
            for name in chart.series_names() {
                let next = COLOURS[palette.by_name.len() % COLOURS.len()];
                palette.by_name.entry(name.to_string()).or_insert(next);
            }
        }
        palette
    }

    /// The colour of `name`; a name not in the spec gets the first colour.
    pub fn colour(&self, name: &str) -> Rgb {
        self.by_name.get(name).copied().unwrap_or(COLOURS[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_colour_across_charts() {
        let spec = Spec::parse(
            r#"{"charts": [
              {"file": "a.png", "kind": "distribution", "title": "t", "unit": "ms", "groups": [
                {"label": "g1", "series": [{"name": "berthd", "samples": [1]}, {"name": "runc", "samples": [1]}]},
                {"label": "g2", "series": [{"name": "dockerd", "samples": [1]}, {"name": "berthd", "samples": [1]}]}]},
              {"file": "b.png", "kind": "xy", "title": "t", "x_label": "x", "y_label": "y", "series": [
                {"name": "dockerd", "points": [[1, 1]]}, {"name": "podman", "points": [[1, 1]]},
                {"name": "berthd", "points": [[1, 1]]}]}
            ]}"#,
        )
        .unwrap();
        let p = Palette::for_spec(&spec);
        let table = [
            ("berthd", COLOURS[0]),
            ("runc", COLOURS[1]),
            ("dockerd", COLOURS[2]),
            ("podman", COLOURS[3]),
        ];
        for (name, want) in table {
            assert_eq!(p.colour(name), want, "{name}");
        }
    }

    #[test]
    fn eleventh_name_wraps_around() {
        let series: Vec<String> = (0..11)
            .map(|i| format!(r#"{{"name": "s{i}", "points": [[1, 1]]}}"#))
            .collect();
        let text = format!(
            r#"{{"charts": [{{"file": "b.png", "kind": "xy", "title": "t", "x_label": "x", "y_label": "y", "series": [{}]}}]}}"#,
            series.join(",")
        );
        let p = Palette::for_spec(&Spec::parse(&text).unwrap());
        assert_eq!(p.colour("s9"), COLOURS[9]);
        assert_eq!(p.colour("s10"), COLOURS[0]);
    }
}
