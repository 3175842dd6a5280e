//! Sinks: where events leave the pipeline.
//!
//! The registry is [`SinkConfig`]: one variant per sink type, a `match` on the type name in
//! [`SinkConfig::parse`] and [`SinkConfig::build`]. A sink finishes every event it takes
//! (delivered, rejected or errored) so that acknowledgements reach the sources.

pub mod blackhole;
pub mod elasticsearch;
pub mod file;
pub mod s3;
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
    Elasticsearch(Box<elasticsearch::ElasticsearchConfig>),
    S3(Box<s3::S3SinkConfig>),
}

impl SinkConfig {
    /// Every sink type name, as written in `type = "…"`.
    pub const TYPES: &'static [&'static str] =
        &["file", "stdout", "blackhole", "elasticsearch", "s3"];

    pub fn parse(
        type_name: &str,
        table: ValueDeserializer<'_>,
    ) -> Result<SinkConfig, toml::de::Error> {
        Ok(match type_name {
            "file" => SinkConfig::File(Deserialize::deserialize(table)?),
            "stdout" => SinkConfig::Stdout(Deserialize::deserialize(table)?),
            "blackhole" => SinkConfig::Blackhole(Deserialize::deserialize(table)?),
            "elasticsearch" => {
                let config: elasticsearch::ElasticsearchConfig = Deserialize::deserialize(table)?;
                // Checked here too, so `logweir validate` reports these mistakes.
                config.validate().map_err(serde::de::Error::custom)?;
                SinkConfig::Elasticsearch(Box::new(config))
            }
            "s3" => SinkConfig::S3(Deserialize::deserialize(table)?),
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
            "elasticsearch" => options::<elasticsearch::ElasticsearchConfig>(generator),
            "s3" => options::<s3::S3SinkConfig>(generator),
            _ => return None,
        })
    }

    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        match self {
            SinkConfig::File(c) => c.build(ctx),
            SinkConfig::Stdout(c) => c.build(ctx),
            SinkConfig::Blackhole(c) => c.build(ctx),
            SinkConfig::Elasticsearch(c) => c.build(ctx),
            SinkConfig::S3(c) => c.build(ctx),
        }
    }
}
