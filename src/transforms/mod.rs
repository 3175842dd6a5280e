//! Transforms: parsers, enrichers, filters and routers between sources and sinks.
//!
//! The registry is [`TransformConfig`]: one variant per transform type, a `match` on the type
//! name in [`TransformConfig::parse`], and [`TransformConfig::build`] which compiles the
//! transform (conditions, regexes, paths) once, before any event flows.
//!
//! Shared pieces: [`failure`] (the `on_error` policy of parsers, dead letters included),
//! [`convert`] (typed conversions and timestamp formats), [`ordered_map`] (tables read in
//! configuration order).

pub mod add_fields;
pub mod coerce;
pub mod convert;
pub mod failure;
pub mod filter;
pub mod host;
pub mod kubernetes_metadata;
pub mod ordered_map;
pub mod parse_json;
pub mod parse_logfmt;
pub mod parse_regex;
pub mod parse_syslog;
pub mod parse_timestamp;
pub mod remove_fields;
pub mod rename_fields;
pub mod route;
pub mod sample;
pub mod throttle;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use toml::de::ValueDeserializer;

use crate::topology::Transform;

/// What a transform gets when it is built.
#[derive(Debug, Clone)]
pub struct TransformContext {
    /// The pipeline's `data_dir` (dead letters go to `<data_dir>/dead_letter/`).
    pub data_dir: PathBuf,
    /// What the instances of one component built with this context share.
    pub shared: InstanceShared,
}

/// State the instances of one transform share when they run side by side
/// (`topology::transform_runner`): its dead-letter file and size limit, its failure count
/// and rate-limited warnings. One value per component id and type, made by the first
/// instance built and handed to the others.
#[derive(Debug, Clone, Default)]
pub struct InstanceShared(Arc<Mutex<HashMap<(String, TypeId), SharedValue>>>);

type SharedValue = Arc<dyn Any + Send + Sync>;

impl InstanceShared {
    /// The `T` of `component_id`, made by `init` if no instance made one yet.
    pub fn get_or_init<T: Any + Send + Sync>(
        &self,
        component_id: &str,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut values = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let value = values
            .entry((component_id.to_string(), TypeId::of::<T>()))
            .or_insert_with(|| Arc::new(init()));
        Arc::clone(value)
            .downcast::<T>()
            .expect("stored under its own TypeId")
    }
}

impl TransformContext {
    pub fn new(data_dir: PathBuf) -> TransformContext {
        TransformContext {
            data_dir,
            shared: InstanceShared::default(),
        }
    }

    /// A context for unit tests whose transforms write nothing to disk.
    pub fn for_tests() -> TransformContext {
        TransformContext::new(std::env::temp_dir().join("logweir-transform-tests"))
    }
}

/// The typed configuration of one transform.
#[derive(Debug, Clone)]
pub enum TransformConfig {
    ParseJson(parse_json::ParseJsonConfig),
    ParseRegex(parse_regex::ParseRegexConfig),
    ParseLogfmt(parse_logfmt::ParseLogfmtConfig),
    ParseSyslog(parse_syslog::ParseSyslogConfig),
    ParseTimestamp(parse_timestamp::ParseTimestampConfig),
    AddFields(add_fields::AddFieldsConfig),
    Host(host::HostConfig),
    KubernetesMetadata(Box<kubernetes_metadata::KubernetesMetadataConfig>),
    RemoveFields(remove_fields::RemoveFieldsConfig),
    RenameFields(rename_fields::RenameFieldsConfig),
    Coerce(coerce::CoerceConfig),
    Filter(filter::FilterConfig),
    Route(route::RouteConfig),
    Sample(sample::SampleConfig),
    Throttle(throttle::ThrottleConfig),
}

impl TransformConfig {
    /// Every transform type name, as written in `type = "…"`.
    pub const TYPES: &'static [&'static str] = &[
        "parse_json",
        "parse_regex",
        "parse_logfmt",
        "parse_syslog",
        "parse_timestamp",
        "add_fields",
        "host",
        "kubernetes_metadata",
        "remove_fields",
        "rename_fields",
        "coerce",
        "filter",
        "route",
        "sample",
        "throttle",
    ];

    pub fn parse(
        type_name: &str,
        table: ValueDeserializer<'_>,
    ) -> Result<TransformConfig, toml::de::Error> {
        TransformConfig::parse_from(type_name, table)
    }

    /// [`parse`](Self::parse) from any deserializer of the component's table (without `type`).
    pub fn parse_from<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        table: D,
    ) -> Result<TransformConfig, D::Error> {
        Ok(match type_name {
            "parse_json" => TransformConfig::ParseJson(Deserialize::deserialize(table)?),
            "parse_regex" => TransformConfig::ParseRegex(Deserialize::deserialize(table)?),
            "parse_logfmt" => TransformConfig::ParseLogfmt(Deserialize::deserialize(table)?),
            "parse_syslog" => TransformConfig::ParseSyslog(Deserialize::deserialize(table)?),
            "parse_timestamp" => TransformConfig::ParseTimestamp(Deserialize::deserialize(table)?),
            "add_fields" => TransformConfig::AddFields(Deserialize::deserialize(table)?),
            "host" => TransformConfig::Host(Deserialize::deserialize(table)?),
            "kubernetes_metadata" => {
                TransformConfig::KubernetesMetadata(Deserialize::deserialize(table)?)
            }
            "remove_fields" => TransformConfig::RemoveFields(Deserialize::deserialize(table)?),
            "rename_fields" => TransformConfig::RenameFields(Deserialize::deserialize(table)?),
            "coerce" => TransformConfig::Coerce(Deserialize::deserialize(table)?),
            "filter" => TransformConfig::Filter(Deserialize::deserialize(table)?),
            "route" => TransformConfig::Route(Deserialize::deserialize(table)?),
            "sample" => TransformConfig::Sample(Deserialize::deserialize(table)?),
            "throttle" => TransformConfig::Throttle(Deserialize::deserialize(table)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown transform type `{other}`"
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
            "parse_json" => options::<parse_json::ParseJsonConfig>(generator),
            "parse_regex" => options::<parse_regex::ParseRegexConfig>(generator),
            "parse_logfmt" => options::<parse_logfmt::ParseLogfmtConfig>(generator),
            "parse_syslog" => options::<parse_syslog::ParseSyslogConfig>(generator),
            "parse_timestamp" => options::<parse_timestamp::ParseTimestampConfig>(generator),
            "add_fields" => options::<add_fields::AddFieldsConfig>(generator),
            "host" => options::<host::HostConfig>(generator),
            "kubernetes_metadata" => {
                options::<kubernetes_metadata::KubernetesMetadataConfig>(generator)
            }
            "remove_fields" => options::<remove_fields::RemoveFieldsConfig>(generator),
            "rename_fields" => options::<rename_fields::RenameFieldsConfig>(generator),
            "coerce" => options::<coerce::CoerceConfig>(generator),
            "filter" => options::<filter::FilterConfig>(generator),
            "route" => options::<route::RouteConfig>(generator),
            "sample" => options::<sample::SampleConfig>(generator),
            "throttle" => options::<throttle::ThrottleConfig>(generator),
            _ => return None,
        })
    }

    /// Names of the outputs besides the default one (`route` has one per route plus
    /// `_unmatched`), in a stable order: the index of a name is its `push_named` index.
    pub fn named_outputs(&self) -> Vec<String> {
        match self {
            TransformConfig::Route(c) => c.named_outputs(),
            _ => Vec::new(),
        }
    }

    /// Whether instances of this transform may run side by side on the batches of one
    /// input (see `topology::transform_runner`): true for transforms that keep nothing from
    /// one event to the next. Not `sample` and `throttle` (they count events), not
    /// `kubernetes_metadata` (each instance would watch the API server), not `route` (named
    /// outputs, cheap). Parsers writing dead letters do: their instances share one
    /// dead-letter file ([`TransformContext::shared`]).
    pub fn runs_concurrently(&self) -> bool {
        match self {
            TransformConfig::ParseJson(_)
            | TransformConfig::ParseRegex(_)
            | TransformConfig::ParseLogfmt(_)
            | TransformConfig::ParseSyslog(_)
            | TransformConfig::ParseTimestamp(_)
            | TransformConfig::AddFields(_)
            | TransformConfig::Host(_)
            | TransformConfig::RemoveFields(_)
            | TransformConfig::RenameFields(_)
            | TransformConfig::Coerce(_)
            | TransformConfig::Filter(_) => true,
            TransformConfig::KubernetesMetadata(_)
            | TransformConfig::Route(_)
            | TransformConfig::Sample(_)
            | TransformConfig::Throttle(_) => false,
        }
    }

    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        match self {
            TransformConfig::ParseJson(c) => c.build(id, ctx),
            TransformConfig::ParseRegex(c) => c.build(id, ctx),
            TransformConfig::ParseLogfmt(c) => c.build(id, ctx),
            TransformConfig::ParseSyslog(c) => c.build(id, ctx),
            TransformConfig::ParseTimestamp(c) => c.build(id, ctx),
            TransformConfig::AddFields(c) => c.build(id),
            TransformConfig::Host(c) => c.build(id),
            TransformConfig::KubernetesMetadata(c) => c.build(id),
            TransformConfig::RemoveFields(c) => c.build(id),
            TransformConfig::RenameFields(c) => c.build(id),
            TransformConfig::Coerce(c) => c.build(id, ctx),
            TransformConfig::Filter(c) => c.build(id),
            TransformConfig::Route(c) => c.build(id),
            TransformConfig::Sample(c) => c.build(id),
            TransformConfig::Throttle(c) => c.build(id),
        }
    }

    /// Parses one `[transforms.<id>]` table (with its `type`), e.g. a
    /// pattern snippet from `pipelines/patterns/`. `inputs` is ignored.
    pub fn from_toml_table(table: &toml::Table) -> Result<TransformConfig, String> {
        let mut table = table.clone();
        let type_name = match table.remove("type") {
            Some(toml::Value::String(s)) => s,
            _ => return Err("the table has no string `type`".to_string()),
        };
        table.remove("inputs");
        TransformConfig::parse_from(&type_name, toml::Value::Table(table))
            .map_err(|e| e.message().to_string())
    }
}

/// Helpers for the transforms' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::event::{Event, EventBatch};
    use crate::finalization::{BatchNotifier, BatchStatusReceiver, EventFinalizer};
    use crate::topology::TransformOutput;

    use super::{TransformConfig, TransformContext};

    /// `event` with a finalizer of its own batch: the receiver resolves once it is finished.
    pub fn tracked(mut event: Event) -> (Event, BatchStatusReceiver) {
        let (notifier, rx) = BatchNotifier::new();
        event.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
        (event, rx)
    }

    /// An event with `message` and `@timestamp` 0.
    pub fn message(text: &str) -> Event {
        Event::from_message(Bytes::copy_from_slice(text.as_bytes()), 0)
    }

    /// An event from JSON (`@timestamp` 0 unless given).
    pub fn json(value: serde_json::Value) -> Event {
        Event::from_json(&value, 0)
    }

    /// Builds a transform of `type_name` from TOML options.
    pub fn build(type_name: &str, options: &str) -> Box<dyn crate::topology::Transform> {
        let config = config(type_name, options).unwrap();
        config.build("t", &TransformContext::for_tests()).unwrap()
    }

    /// Parses a transform config of `type_name` from TOML options.
    pub fn config(type_name: &str, options: &str) -> Result<TransformConfig, String> {
        let mut table: toml::Table = toml::from_str(options).map_err(|e| e.to_string())?;
        table.insert("type".into(), toml::Value::String(type_name.into()));
        TransformConfig::from_toml_table(&table)
    }

    /// Runs one batch through `t` and returns its default output.
    pub fn run(t: &mut dyn crate::topology::Transform, events: Vec<Event>) -> Vec<Event> {
        let mut out = TransformOutput::default();
        t.transform(EventBatch::new(events), &mut out);
        out.take_default()
    }
}
