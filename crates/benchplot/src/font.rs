//! The font every chart's text is drawn in.
//!
//! plotters draws text through `ab_glyph` from fonts registered at run time, so no system font
//! library is involved: we read DejaVu Sans (Debian package `fonts-dejavu-core`) and register
//! it as plotters' `sans-serif` family. The bold face is used for titles when present.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_errdefs::{HasKind, Kind};
use plotters::style::{register_font, FontStyle};

/// Where Debian installs DejaVu Sans.
pub const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";
/// The Debian package that ships the font.
pub const FONT_PACKAGE: &str = "fonts-dejavu-core";
/// The regular face, required.
const REGULAR: &str = "DejaVuSans.ttf";
/// The bold face, optional (titles fall back to the regular face).
const BOLD: &str = "DejaVuSans-Bold.ttf";
/// The family name the renderer asks plotters for.
pub(crate) const FAMILY: &str = "sans-serif";

/// Why the font could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    /// The font file is missing or unreadable.
    #[error("cannot read font {} (install the debian package {FONT_PACKAGE}): {source}", path.display())]
    Read {
        /// The file tried.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a font ab_glyph can use.
    #[error("font {} is not a usable truetype font (reinstall the debian package {FONT_PACKAGE})", path.display())]
    Invalid {
        /// The file tried.
        path: PathBuf,
    },
}

impl HasKind for FontError {
    fn kind(&self) -> Kind {
        Kind::Unavailable
    }
}

/// Which faces have been registered with plotters (registration is process-wide and keeps the
/// font bytes for the life of the process, so each face is registered at most once).
static REGISTERED: Mutex<(bool, bool)> = Mutex::new((false, false));

/// Loads DejaVu Sans from `dir` (normally [`FONT_DIR`]) and registers it with plotters.
///
/// The regular face must be readable on every call, even when an earlier call already
/// registered one, so a missing font is always reported.
pub fn load(dir: &Path) -> Result<(), FontError> {
    let path = dir.join(REGULAR);
    let bytes = std::fs::read(&path).map_err(|source| FontError::Read {
        path: path.clone(),
        source,
    })?;
    let mut registered = REGISTERED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !registered.0 {
        register(bytes, FontStyle::Normal).map_err(|()| FontError::Invalid { path })?;
        registered.0 = true;
    }
    if !registered.1 {
        // Optional: without it titles are drawn in the regular face.
        if let Ok(bold) = std::fs::read(dir.join(BOLD)) {
            registered.1 = register(bold, FontStyle::Bold).is_ok();
        }
    }
    Ok(())
}

fn register(bytes: Vec<u8>, style: FontStyle) -> Result<(), ()> {
    // plotters keeps a `&'static [u8]`; the font lives as long as the process, registered once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FAMILY, style, bytes).map_err(|_| ())
}
