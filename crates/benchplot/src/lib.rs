//! Renders the benchmark suite's charts to PNG files.
//!
//! A driver (bench/run) writes a JSON spec of charts; [`render_file`] draws each chart into
//! `OUTDIR/<file>` as a 1200x700 PNG with `plotters`. The crate knows nothing about containers:
//! it draws grouped box plots ([`spec::Distribution`]) and line charts ([`spec::Xy`]) of
//! whatever the spec names.
//!
//! - [`spec`]: the JSON contract, parsed into typed structs and validated.
//! - [`stats`]: percentiles and the box-plot summary.
//! - [`palette`]: one colour per series name, the same in every chart of a spec.
//! - [`font`]: DejaVu Sans, loaded at run time and registered with plotters.
//! - `axis` (private): ranges, tick positions and tick labels, linear and log.
//! - `render` (private): the drawing itself.
#![deny(missing_docs)]

mod axis;
pub mod font;
pub mod palette;
mod render;
pub mod spec;
pub mod stats;

use std::path::{Path, PathBuf};

use berth_errdefs::{HasKind, Kind};

pub use font::FontError;
pub use palette::Palette;
pub use render::{RenderError, HEIGHT, WIDTH};
pub use spec::{Chart, Spec, SpecError};

/// Why charts could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file cannot be read.
    #[error("cannot read spec {}: {source}", path.display())]
    ReadSpec {
        /// The spec file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The spec file is not a valid spec.
    #[error("{}: {source}", path.display())]
    ParseSpec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: SpecError,
    },
    /// A spec built in code is not valid.
    #[error(transparent)]
    Invalid(#[from] SpecError),
    /// The font is missing or unusable.
    #[error(transparent)]
    Font(#[from] FontError),
    /// The output directory cannot be created.
    #[error("cannot create output directory {}: {source}", path.display())]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A chart could not be drawn or written.
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl HasKind for Error {
    fn kind(&self) -> Kind {
        match self {
            Error::ReadSpec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Kind::NotFound
            }
            Error::ReadSpec { .. } | Error::OutDir { .. } => Kind::Internal,
            Error::ParseSpec { source, .. } | Error::Invalid(source) => source.kind(),
            Error::Font(e) => e.kind(),
            Error::Render(e) => e.kind(),
        }
    }
}

/// Reads the spec at `spec_path` and renders every chart into `out_dir` (created if missing),
/// with the font from [`font::FONT_DIR`]. Returns the files written, in spec order.
pub fn render_file(spec_path: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let text = std::fs::read_to_string(spec_path).map_err(|source| Error::ReadSpec {
        path: spec_path.to_path_buf(),
        source,
    })?;
    let spec = Spec::parse(&text).map_err(|source| Error::ParseSpec {
        path: spec_path.to_path_buf(),
        source,
    })?;
    render_spec(&spec, out_dir, Path::new(font::FONT_DIR))
}

/// Renders every chart of `spec` into `out_dir` (created if missing), with DejaVu Sans from
/// `font_dir`. The spec is validated first, so nothing is written for an invalid spec. Returns
/// the files written, in spec order.
pub fn render_spec(spec: &Spec, out_dir: &Path, font_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    spec.validate()?;
    font::load(font_dir)?;
    std::fs::create_dir_all(out_dir).map_err(|source| Error::OutDir {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let palette = Palette::for_spec(spec);
    let mut written = Vec::with_capacity(spec.charts.len());
    for chart in &spec.charts {
        let path = out_dir.join(chart.file());
        render::render(chart, &palette, &path)?;
        written.push(path);
    }
    Ok(written)
}
