//! Sinks: where events leave the pipeline.
//!
//! The registry is [`SinkConfig`]: one variant per sink type, a `match` on the type name in
//! [`SinkConfig::parse`] and [`SinkConfig::build`]. A sink finishes every event it takes
//! (delivered, rejected or errored) so that acknowledgements reach the sources.

pub mod blackhole;
pub mod file;
pub mod stdout;

use serde::Deserialize;
use toml::de::ValueDeserializer;

use crate::topology::{ComponentFuture, SinkContext};

/// The typed configuration of one sink.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    File(file::FileSinkConfig),
    Stdout(stdout::StdoutSinkConfig),
    Blackhole(blackhole::BlackholeConfig),
}

impl SinkConfig {
    /// Every sink type name, as written in `type = "…"`.
    pub const TYPES: &'static [&'static str] = &["file", "stdout", "blackhole"];

    pub fn parse(
        type_name: &str,
        table: ValueDeserializer<'_>,
    ) -> Result<SinkConfig, toml::de::Error> {
        Ok(match type_name {
            "file" => SinkConfig::File(Deserialize::deserialize(table)?),
            "stdout" => SinkConfig::Stdout(Deserialize::deserialize(table)?),
            "blackhole" => SinkConfig::Blackhole(Deserialize::deserialize(table)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown sink type `{other}`"
                )))
            }
        })
    }

    /// The JSON Schema of the options of `type_name` (`None` for an unknown type).
    pub fn json_schema(
        type_name: &str,
        generator: &mut schemars::SchemaGenerator,
    ) -> Option<schemars::Schema> {
        use crate::config::schema::options;
        Some(match type_name {
            "file" => options::<file::FileSinkConfig>(generator),
            "stdout" => options::<stdout::StdoutSinkConfig>(generator),
            "blackhole" => options::<blackhole::BlackholeConfig>(generator),
            _ => return None,
        })
    }

    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        match self {
            SinkConfig::File(c) => c.build(ctx),
            SinkConfig::Stdout(c) => c.build(ctx),
            SinkConfig::Blackhole(c) => c.build(ctx),
        }
    }
}
