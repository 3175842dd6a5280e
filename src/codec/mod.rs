//! Encoders shared by sinks: how events become bytes on the wire or on disk.

pub mod binary;
pub mod json;
pub mod raw_json;
