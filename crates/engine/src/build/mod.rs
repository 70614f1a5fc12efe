//! The classic builder: a Dockerfile and a context tar to an image, with a cache of steps.

use crate::service::BuildBackend;
use crate::Engine;

impl BuildBackend for std::sync::Arc<Engine> {}
