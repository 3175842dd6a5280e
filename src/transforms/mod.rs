//! Transforms: parsers, enrichers, filters and routers between sources and sinks.
//!
//! The registry is [`TransformConfig`]: one variant per transform type, a `match` on the type
//! name in [`TransformConfig::parse`], and [`TransformConfig::build`] which compiles the
//! transform (conditions, regexes, paths) once, before any event flows.

pub mod filter;
pub mod parse_json;

use serde::Deserialize;
use toml::de::ValueDeserializer;

use crate::topology::Transform;

/// The typed configuration of one transform.
#[derive(Debug, Clone)]
pub enum TransformConfig {
    ParseJson(parse_json::ParseJsonConfig),
    Filter(filter::FilterConfig),
}

impl TransformConfig {
    /// Every transform type name, as written in `type = "…"`.
    pub const TYPES: &'static [&'static str] = &["parse_json", "filter"];

    pub fn parse(
        type_name: &str,
        table: ValueDeserializer<'_>,
    ) -> Result<TransformConfig, toml::de::Error> {
        Ok(match type_name {
            "parse_json" => TransformConfig::ParseJson(Deserialize::deserialize(table)?),
            "filter" => TransformConfig::Filter(Deserialize::deserialize(table)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown transform type `{other}`"
                )))
            }
        })
    }

    /// Names of the outputs besides the default one (`route` has one per route).
    pub fn named_outputs(&self) -> Vec<String> {
        match self {
            TransformConfig::ParseJson(_) | TransformConfig::Filter(_) => Vec::new(),
        }
    }

    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        match self {
            TransformConfig::ParseJson(c) => c.build(id),
            TransformConfig::Filter(c) => c.build(id),
        }
    }
}
