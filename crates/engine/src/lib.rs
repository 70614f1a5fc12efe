//! The engine: composes images, runtime, cgroups and the metadata store into the services the
//! API server calls.
#![deny(missing_docs)]

pub mod service;
