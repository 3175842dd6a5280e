//! The `file` source: tails files (Kubernetes container logs first of all), with
//! checkpoints that only advance over acknowledged events.
//!
//! - `config.rs`: what users write; `source.rs`: the running reader and the acknowledgement
//!   tracker; `reader.rs`: one file's reading and decoding; `discovery.rs`: globs and
//!   inotify; `checkpoint.rs` and `fingerprint.rs`: what is persisted and how files are
//!   identified. `DESIGN.md` states the invariants.
//! - Decoding: container log formats (`cri.rs`, `docker.rs`, `format.rs`), partial-line
//!   joining (`partial.rs`), multiline aggregation (`multiline.rs`) and Kubernetes metadata
//!   from paths (`k8s_path.rs`).

pub mod checkpoint;
pub mod config;
pub mod cri;
pub mod discovery;
pub mod docker;
pub mod fingerprint;
pub mod format;
pub mod k8s_path;
pub mod multiline;
pub mod partial;
pub mod reader;
mod source;

pub use config::FileSourceConfig;
