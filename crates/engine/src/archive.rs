//! `docker cp`: stat, read and write paths in a container's filesystem (the archive API).

use crate::service::ArchiveBackend;
use crate::Engine;

impl ArchiveBackend for std::sync::Arc<Engine> {}
