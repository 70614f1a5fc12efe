//! Rendering specs to PNG files: sizes, colours, and the refusals that must write nothing.

use std::path::Path;

use berth_benchplot::palette::COLOURS;
use berth_benchplot::{font, render_spec, Error, Spec, HEIGHT, WIDTH};

const SPEC: &str = r#"{"charts": [
  {"file": "run-latency.png", "kind": "distribution", "title": "docker run --rm busybox true",
   "unit": "ms", "log": false,
   "groups": [{"label": "network none",
               "series": [{"name": "berthd", "samples": [50.1, 48.2, 49.7, 51.0, 47.5]},
                          {"name": "dockerd", "samples": [404.0, 398.5, 410.3]},
                          {"name": "runc", "samples": [37.0]}]},
              {"label": "network bridge",
               "series": [{"name": "berthd", "samples": [70.2, 71.9]}]}]},
  {"file": "run-latency-log.png", "kind": "distribution", "title": "log", "unit": "ms", "log": true,
   "groups": [{"label": "g", "series": [{"name": "dockerd", "samples": [404.0, 398.5]}]}]},
  {"file": "fleet-time.png", "kind": "xy", "title": "start N detached containers",
   "x_label": "containers", "y_label": "seconds", "log_x": true, "log_y": true,
   "series": [{"name": "dockerd", "points": [[10, 3.5], [100, 35.0]]},
              {"name": "berthd", "points": [[1000, 25.0], [10, 0.3], [100, 2.1]]}],
   "limits": [{"label": "target 30 s", "y": 30.0}]},
  {"file": "linear.png", "kind": "xy", "title": "linear", "x_label": "x", "y_label": "y",
   "series": [{"name": "runc", "points": [[1, -2.5], [2, 0], [3, 4]]}]}
]}"#;

/// Width and height from a PNG's IHDR, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 33,
        "{} is too short for a png",
        path.display()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} has no png signature",
        path.display()
    );
    assert_eq!(
        &bytes[12..16],
        b"IHDR",
        "{}: first chunk is not IHDR",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// The distinct RGB pixels of a PNG.
fn pixels(path: &Path) -> std::collections::HashSet<(u8, u8, u8)> {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| (p[0], p[1], p[2]))
        .collect()
}

fn font_dir() -> &'static Path {
    Path::new(font::FONT_DIR)
}

#[test]
fn every_chart_becomes_a_1200x700_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("charts"); // created by render_spec
    let spec = Spec::parse(SPEC).unwrap();
    let written = render_spec(&spec, &out, font_dir()).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "run-latency.png",
            "run-latency-log.png",
            "fleet-time.png",
            "linear.png"
        ]
    );
    for path in &written {
        assert_eq!(path.parent().unwrap(), out);
        assert_eq!(png_size(path), (WIDTH, HEIGHT), "{}", path.display());
        assert_eq!((WIDTH, HEIGHT), (1200, 700));
        // Not a blank canvas: a chart has many colours (text anti-aliasing, fills, lines).
        assert!(pixels(path).len() > 20, "{} looks empty", path.display());
    }
}

#[test]
fn a_series_keeps_its_colour_in_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::parse(SPEC).unwrap();
    let written = render_spec(&spec, dir.path(), font_dir()).unwrap();
    // berthd is named first in the spec, dockerd second, runc third.
    let (berthd, dockerd, runc) = (COLOURS[0], COLOURS[1], COLOURS[2]);
    let first = pixels(&written[0]);
    assert!(first.contains(&berthd) && first.contains(&dockerd) && first.contains(&runc));
    // The log chart and the xy chart name dockerd first, yet draw it in dockerd's colour.
    let log = pixels(&written[1]);
    assert!(
        log.contains(&dockerd),
        "dockerd lost its colour in the second chart"
    );
    assert!(
        !log.contains(&berthd),
        "the second chart has no berthd, but its colour"
    );
    let xy = pixels(&written[2]);
    assert!(xy.contains(&dockerd) && xy.contains(&berthd));
    assert!(!xy.contains(&runc));
    let linear = pixels(&written[3]);
    assert!(linear.contains(&runc) && !linear.contains(&berthd) && !linear.contains(&dockerd));
}

#[test]
fn a_missing_font_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec::parse(SPEC).unwrap();
    let out = dir.path().join("out");
    let err = render_spec(&spec, &out, &dir.path().join("no-fonts")).unwrap_err();
    assert!(matches!(err, Error::Font(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot read font ") && msg.contains("fonts-dejavu-core"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert!(!out.exists(), "nothing is written without a font");
}

#[test]
fn an_invalid_spec_built_in_code_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::parse(SPEC).unwrap();
    if let berth_benchplot::Chart::Xy(x) = &mut spec.charts[2] {
        x.file = "../escape.png".into();
    }
    let out = dir.path().join("out");
    let err = render_spec(&spec, &out, font_dir()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "chart 3 (../escape.png): bad file name \"../escape.png\": it must be a plain file name without '/'"
    );
    assert!(!out.exists());
    assert!(!dir.path().join("escape.png").exists());
}
