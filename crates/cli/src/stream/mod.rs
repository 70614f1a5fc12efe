//! Container stdio over hijacked connections: demultiplexing, detach keys, the terminal.

pub mod escape;
pub mod pump;
pub mod stdcopy;
pub mod term;
