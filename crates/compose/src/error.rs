//! The one error type of loading, validating and planning a compose project.

use std::path::PathBuf;

use berth_errdefs::{HasKind, Kind};

/// Why a compose project could not be loaded, validated or planned.
///
/// Messages name the file and the key (`compose.yaml: services.web.ports[0]: invalid port "x"`)
/// so that a user can find the mistake without reading our code.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// No compose file was named and none of the default names exist.
    #[error("no configuration file provided: not found in {}", dir.display())]
    NoConfigFile {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A named file (compose file, env file, `extends.file`) could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error, as text.
        message: String,
    },
    /// A file is not YAML (or not a mapping at the top).
    #[error("{file}: {message}")]
    Yaml {
        /// The file name.
        file: String,
        /// What the YAML parser said.
        message: String,
    },
    /// A key has a wrong type or value, or is not a compose key.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file name (several, comma separated, once files are merged).
        file: String,
        /// The dotted key path, e.g. `services.web.ports[0]`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `${VAR:?err}` / `${VAR?err}` with the variable unset (or empty, for `:?`).
    #[error("required variable {name} is missing a value{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    MissingVariable {
        /// The variable.
        name: String,
        /// The message given after `?`.
        message: String,
    },
    /// `depends_on` (or `extends`) forms a cycle; `path` starts and ends with the same service.
    #[error("services.{}.{key} contains a cycle: {}", path.first().map(String::as_str).unwrap_or(""), path.join(" -> "))]
    Cycle {
        /// `depends_on` or `extends`.
        key: String,
        /// The services along the cycle, first repeated at the end.
        path: Vec<String>,
    },
    /// A service name given by the caller (`up web`) is not in the project.
    #[error("no such service: {0}")]
    NoSuchService(String),
}

impl LoadError {
    pub(crate) fn invalid(file: &str, key: &str, message: impl Into<String>) -> Self {
        LoadError::Invalid { file: file.to_string(), key: key.to_string(), message: message.into() }
    }
}

impl HasKind for LoadError {
    fn kind(&self) -> Kind {
        match self {
            LoadError::NoConfigFile { .. } | LoadError::Read { .. } | LoadError::NoSuchService(_) => {
                Kind::NotFound
            }
            LoadError::Yaml { .. }
            | LoadError::Invalid { .. }
            | LoadError::MissingVariable { .. }
            | LoadError::Cycle { .. } => Kind::InvalidArgument,
        }
    }
}
