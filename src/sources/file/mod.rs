//! The file source's decoding: container log formats (CRI, Docker json-file), partial-line
//! joining, multiline aggregation and Kubernetes metadata from paths.

pub mod cri;
pub mod docker;
pub mod format;
pub mod k8s_path;
pub mod multiline;
pub mod partial;
