//! Pipeline configuration: loading a TOML file into typed component configs and checking the
//! graph they describe.
//!
//! Loading goes: read the file, interpolate `${ENV}`, parse TOML keeping byte spans, split
//! each component table into its `type`, its `inputs` and the rest, hand the rest to the
//! component registry of its kind (`sources::SourceConfig::parse` and friends, a plain `match`
//! on the type name) and finally check the graph (unknown or self-referencing inputs, cycles,
//! sinks without inputs). Every error carries `FILE:LINE:COL`; all errors found are returned
//! together.

pub mod error;
pub mod interpolate;
pub mod lint;
pub mod schema;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

pub use error::{ConfigError, ConfigErrors, Location, SourceMap};

use crate::buffers::BufferConfig;
use crate::pipeline_tests::{OutputRef, PipelineTest, PipelineTestConfig};
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::TransformConfig;

/// The optional `[api]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the HTTP API serving `GET /health` and `GET /metrics`.
    pub address: SocketAddr,
}

/// A reference to an upstream output: `component` or `component.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    pub component: String,
    pub port: Option<String>,
    pub location: Location,
}

impl std::fmt::Display for InputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.port {
            Some(p) => write!(f, "{}.{}", self.component, p),
            None => f.write_str(&self.component),
        }
    }
}

/// One declared component.
#[derive(Debug, Clone)]
pub struct ComponentDecl<C> {
    pub id: String,
    pub type_name: String,
    pub config: C,
    pub inputs: Vec<InputRef>,
    /// The sink's buffer (`buffer = { … }`); `None` for sources and transforms.
    pub buffer: Option<BufferConfig>,
    /// Whether the sink's deliveries are acknowledged end to end (`acknowledgements = false`
    /// turns it off: its events count as delivered once they are handed to its buffer);
    /// `None` for sources and transforms.
    pub acknowledgements: Option<bool>,
    /// The file declaring the component.
    pub file: PathBuf,
    /// Where the component's table starts.
    pub location: Location,
    /// The component's whole table as written (after `${ENV}` interpolation), `type`,
    /// `inputs` and `buffer` included. Two declarations with equal tables are the same
    /// component: a reload leaves it running. Comparing the tables rather than the typed
    /// configs means no config struct can forget a field in its equality.
    pub table: toml::Value,
}

impl<C> ComponentDecl<C> {
    /// `FILE:LINE:COL` of the component's table.
    pub fn place(&self) -> String {
        format!(
            "{}:{}:{}",
            self.file.display(),
            self.location.line,
            self.location.column
        )
    }
}

/// A whole pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The first file of [`files`](Self::files) (named in messages about the whole pipeline).
    pub file: PathBuf,
    /// Every file the pipeline was merged from, in load order.
    pub files: Vec<PathBuf>,
    /// Checkpoints, disk buffers and dead letters live here.
    pub data_dir: PathBuf,
    pub api: Option<ApiConfig>,
    pub sources: Vec<ComponentDecl<SourceConfig>>,
    pub transforms: Vec<ComponentDecl<TransformConfig>>,
    pub sinks: Vec<ComponentDecl<SinkConfig>>,
    /// The `[[tests]]` of the file (run by `logweir test`, ignored by `run`).
    pub tests: Vec<PipelineTest>,
}

const TOP_LEVEL_KEYS: &[&str] = &["data_dir", "api", "sources", "transforms", "sinks", "tests"];

/// Which registry a component table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    Source,
    Transform,
    Sink,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Source => "source",
            ComponentKind::Transform => "transform",
            ComponentKind::Sink => "sink",
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            ComponentKind::Source => "sources",
            ComponentKind::Transform => "transforms",
            ComponentKind::Sink => "sinks",
        }
    }

    pub(crate) fn types(self) -> &'static [&'static str] {
        match self {
            ComponentKind::Source => SourceConfig::TYPES,
            ComponentKind::Transform => TransformConfig::TYPES,
            ComponentKind::Sink => SinkConfig::TYPES,
        }
    }
}

impl PipelineConfig {
    /// Loads and checks a pipeline file, with environment variables from the process.
    pub fn load(path: &Path) -> Result<PipelineConfig, ConfigErrors> {
        PipelineConfig::load_all(&[path.to_path_buf()], &[])
    }

    /// Loads `files` and every `*.toml` of each of `dirs` (sorted by name), merged into one
    /// pipeline, with environment variables from the process.
    pub fn load_all(files: &[PathBuf], dirs: &[PathBuf]) -> Result<PipelineConfig, ConfigErrors> {
        let paths = config_paths(files, dirs)?;
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(text) => texts.push((path, text)),
                Err(e) => errors.push(ConfigError {
                    file: path,
                    location: Location { line: 0, column: 0 },
                    message: format!("cannot read configuration: {e}"),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        PipelineConfig::from_texts_with_env(texts, |name| std::env::var(name).ok())
    }

    /// Parses configuration text; `path` is used in messages and to resolve `data_dir`.
    pub fn from_str_with_env(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PipelineConfig, ConfigErrors> {
        PipelineConfig::from_texts_with_env(vec![(path.to_path_buf(), text.to_string())], env)
    }

    /// Parses several files' texts and merges them into one pipeline: component ids must be
    /// unique across files, `data_dir` and `api` may be set by one file only.
    pub fn from_texts_with_env(
        texts: Vec<(PathBuf, String)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PipelineConfig, ConfigErrors> {
        let mut errors = Vec::new();
        let mut maps = Vec::new();
        for (path, text) in &texts {
            let raw_map = SourceMap::new(path, text.clone());
            match interpolate::interpolate(text, &env) {
                Ok(text) => maps.push(SourceMap::new(path, text)),
                Err(errs) => {
                    errors.extend(errs.into_iter().map(|e| raw_map.error(e.offset, e.message)))
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let mut parts = Vec::new();
        for map in &maps {
            let mut loader = Loader {
                map,
                errors: Vec::new(),
            };
            let part = loader.load();
            errors.extend(loader.errors);
            parts.push(part);
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        merge(&maps, parts)
    }
}

/// The files to load: `files` as given, then each directory's `*.toml` sorted by name.
fn config_paths(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigErrors> {
    let mut paths: Vec<PathBuf> = files.to_vec();
    let mut errors = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(ConfigError {
                    file: dir.clone(),
                    location: Location { line: 0, column: 0 },
                    message: format!("cannot read configuration directory: {e}"),
                });
                continue;
            }
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "toml")
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                    && p.is_file()
            })
            .collect();
        found.sort();
        paths.extend(found);
    }
    if paths.is_empty() && errors.is_empty() {
        errors.push(ConfigError {
            file: dirs.first().cloned().unwrap_or_default(),
            location: Location { line: 0, column: 0 },
            message: "no configuration files: give `--config FILE` or a `--config-dir` holding `*.toml` files".to_string(),
        });
    }
    if errors.is_empty() {
        Ok(paths)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// What one file declares, before the files are merged.
struct FilePart {
    data_dir: Option<(PathBuf, Location)>,
    api: Option<(ApiConfig, Location)>,
    sources: Vec<ComponentDecl<SourceConfig>>,
    transforms: Vec<ComponentDecl<TransformConfig>>,
    sinks: Vec<ComponentDecl<SinkConfig>>,
    /// Parsed `[[tests]]` and the byte offset of each, checked once all transforms are known.
    tests: Vec<(PipelineTestConfig, usize)>,
}

fn merge(maps: &[SourceMap], parts: Vec<FilePart>) -> Result<PipelineConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let first_file = maps
        .first()
        .map(|m| m.file().to_path_buf())
        .unwrap_or_default();
    let mut data_dir: Option<(PathBuf, PathBuf, Location)> = None;
    let mut api: Option<(ApiConfig, PathBuf, Location)> = None;
    let mut sources = Vec::new();
    let mut transforms = Vec::new();
    let mut sinks = Vec::new();
    let mut tests = Vec::new();
    for (map, part) in maps.iter().zip(parts) {
        let file = map.file();
        if let Some((dir, at)) = part.data_dir {
            match &data_dir {
                Some((_, prev_file, prev)) => errors.push(ConfigError {
                    file: file.to_path_buf(),
                    location: at,
                    message: format!(
                        "`data_dir` is already set at {}:{}:{}; set it in one file only",
                        prev_file.display(),
                        prev.line,
                        prev.column
                    ),
                }),
                None => data_dir = Some((dir, file.to_path_buf(), at)),
            }
        }
        if let Some((a, at)) = part.api {
            match &api {
                Some((_, prev_file, prev)) => errors.push(ConfigError {
                    file: file.to_path_buf(),
                    location: at,
                    message: format!(
                        "`api` is already set at {}:{}:{}; set it in one file only",
                        prev_file.display(),
                        prev.line,
                        prev.column
                    ),
                }),
                None => api = Some((a, file.to_path_buf(), at)),
            }
        }
        sources.extend(part.sources);
        transforms.extend(part.transforms);
        sinks.extend(part.sinks);
        tests.push((map, part.tests));
    }
    // Ids are unique across kinds and files.
    let mut declared: HashMap<&str, (&Path, Location)> = HashMap::new();
    let decls = sources
        .iter()
        .map(|d| (&d.id, &d.file, d.location))
        .chain(transforms.iter().map(|d| (&d.id, &d.file, d.location)))
        .chain(sinks.iter().map(|d| (&d.id, &d.file, d.location)));
    for (id, file, location) in decls {
        match declared.get(id.as_str()) {
            Some((prev_file, prev)) => errors.push(ConfigError {
                file: file.clone(),
                location,
                message: format!(
                    "component id `{id}` is already declared at {}:{}:{}",
                    prev_file.display(),
                    prev.line,
                    prev.column
                ),
            }),
            None => {
                declared.insert(id, (file, location));
            }
        }
    }
    if sources.is_empty() && errors.is_empty() {
        errors.push(ConfigError {
            file: first_file.clone(),
            location: Location { line: 1, column: 1 },
            message: "the pipeline has no sources: add a `[sources.<id>]` table".to_string(),
        });
    }
    if sinks.is_empty() && errors.is_empty() {
        errors.push(ConfigError {
            file: first_file.clone(),
            location: Location { line: 1, column: 1 },
            message: "the pipeline has no sinks: add a `[sinks.<id>]` table".to_string(),
        });
    }
    let mut checked_tests = Vec::new();
    for (map, file_tests) in tests {
        let mut loader = Loader {
            map,
            errors: Vec::new(),
        };
        checked_tests.extend(loader.check_tests(file_tests, &transforms));
        errors.extend(loader.errors);
    }
    let config = PipelineConfig {
        file: first_file,
        files: maps.iter().map(|m| m.file().to_path_buf()).collect(),
        data_dir: data_dir
            .map(|(d, _, _)| d)
            .unwrap_or_else(|| PathBuf::from("./data")),
        api: api.map(|(a, _, _)| a),
        sources,
        transforms,
        sinks,
        tests: checked_tests,
    };
    if errors.is_empty() {
        errors.extend(check_graph(&config));
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

struct Loader<'m> {
    map: &'m SourceMap,
    errors: Vec<ConfigError>,
}

fn toml_error(map: &SourceMap, err: &toml::de::Error, fallback: usize) -> ConfigError {
    let offset = err.span().map(|s| s.start).unwrap_or(fallback);
    let message = err.message().trim().to_string();
    map.error(offset, error::enrich_serde_message(&message))
}

impl Loader<'_> {
    fn err(&mut self, offset: usize, message: impl Into<String>) {
        self.errors.push(self.map.error(offset, message));
    }

    fn load(&mut self) -> FilePart {
        let map = self.map;
        let mut part = FilePart {
            data_dir: None,
            api: None,
            sources: Vec::new(),
            transforms: Vec::new(),
            sinks: Vec::new(),
            tests: Vec::new(),
        };
        let doc = match DeTable::parse(map.text()) {
            Ok(doc) => doc,
            Err(e) => {
                self.errors.push(toml_error(map, &e, 0));
                return part;
            }
        };
        for (key, value) in doc.get_ref().iter() {
            let key_offset = key.span().start;
            match key.get_ref().as_ref() {
                "data_dir" => match value.get_ref().as_str() {
                    Some(s) => part.data_dir = Some((PathBuf::from(s), map.location(key_offset))),
                    None => self.err(
                        value.span().start,
                        format!(
                            "`data_dir` must be a string, found {}",
                            value.get_ref().type_str()
                        ),
                    ),
                },
                "api" => match ApiConfig::deserialize(ValueDeserializer::from(value.clone())) {
                    Ok(a) => part.api = Some((a, map.location(key_offset))),
                    Err(e) => {
                        let mut ce = toml_error(map, &e, value.span().start);
                        ce.message = format!("api: {}", ce.message);
                        self.errors.push(ce)
                    }
                },
                "sources" => {
                    part.sources =
                        self.components(ComponentKind::Source, value, SourceConfig::parse)
                }
                "transforms" => {
                    part.transforms =
                        self.components(ComponentKind::Transform, value, TransformConfig::parse)
                }
                "sinks" => {
                    part.sinks = self.components(ComponentKind::Sink, value, SinkConfig::parse)
                }
                "tests" => part.tests = self.tests(value),
                other => {
                    let hint = match error::did_you_mean(other, TOP_LEVEL_KEYS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`? "),
                        None => String::new(),
                    };
                    self.err(
                        key_offset,
                        format!(
                            "unknown top-level key `{other}`; {hint}expected one of {}",
                            error::list(TOP_LEVEL_KEYS)
                        ),
                    )
                }
            }
        }
        part
    }

    fn components<C>(
        &mut self,
        kind: ComponentKind,
        value: &Spanned<DeValue<'_>>,
        parse: fn(&str, ValueDeserializer<'_>) -> Result<C, toml::de::Error>,
    ) -> Vec<ComponentDecl<C>> {
        let map = self.map;
        let Some(table) = value.get_ref().as_table() else {
            self.err(
                value.span().start,
                format!("`{}` must be a table of components", kind.table()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (id, body) in table.iter() {
            let id_str: &str = id.get_ref().as_ref();
            let at = id.span().start;
            if id_str.is_empty() || id_str.contains(['.', ' ']) {
                self.err(
                    at,
                    format!(
                        "invalid {} id `{id_str}`: ids may not be empty or contain dots or spaces",
                        kind.as_str()
                    ),
                );
                continue;
            }
            let Some(body_table) = body.get_ref().as_table() else {
                self.err(
                    body.span().start,
                    format!("{} `{id_str}` must be a table", kind.as_str()),
                );
                continue;
            };
            let mut rest = body_table.clone();
            let type_name = match remove_key(&mut rest, "type") {
                Some(t) => match t.get_ref().as_str() {
                    Some(s) => s.to_string(),
                    None => {
                        self.err(
                            t.span().start,
                            format!("`type` of {} `{id_str}` must be a string", kind.as_str()),
                        );
                        continue;
                    }
                },
                None => {
                    self.err(
                        at,
                        format!(
                            "{} `{id_str}` has no `type`; expected one of {}",
                            kind.as_str(),
                            error::list(kind.types())
                        ),
                    );
                    continue;
                }
            };
            let type_offset = body_table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == "type")
                .map(|(_, v)| v.span().start)
                .unwrap_or(at);
            if !kind.types().contains(&type_name.as_str()) {
                let hint = match error::did_you_mean(&type_name, kind.types().iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? "),
                    None => String::new(),
                };
                self.err(
                    type_offset,
                    format!(
                        "unknown {} type `{type_name}` for `{id_str}`; {hint}known types: {}",
                        kind.as_str(),
                        error::list(kind.types())
                    ),
                );
                continue;
            }
            let inputs = match (kind, remove_key(&mut rest, "inputs")) {
                (ComponentKind::Source, Some(v)) => {
                    self.err(
                        v.span().start,
                        format!("source `{id_str}` cannot have `inputs`: sources produce events, they do not consume them"),
                    );
                    continue;
                }
                (_, Some(v)) => match self.inputs(id_str, &v) {
                    Some(i) => i,
                    None => continue,
                },
                (_, None) => Vec::new(),
            };
            let buffer = match (kind, remove_key(&mut rest, "buffer")) {
                (ComponentKind::Sink, Some(v)) => {
                    match BufferConfig::deserialize(ValueDeserializer::from(v.clone())) {
                        Ok(b) => Some(b),
                        Err(e) => {
                            let mut ce = toml_error(map, &e, v.span().start);
                            ce.message = format!("sink `{id_str}` buffer: {}", ce.message);
                            self.errors.push(ce);
                            continue;
                        }
                    }
                }
                (ComponentKind::Sink, None) => Some(BufferConfig::default()),
                (_, Some(v)) => {
                    self.err(
                        v.span().start,
                        format!(
                            "only sinks have a `buffer`; `{id_str}` is a {}",
                            kind.as_str()
                        ),
                    );
                    continue;
                }
                (_, None) => None,
            };
            let acknowledgements = match (kind, remove_key(&mut rest, "acknowledgements")) {
                (ComponentKind::Sink, Some(v)) => match v.get_ref().as_bool() {
                    Some(enabled) => Some(enabled),
                    None => {
                        self.err(
                            v.span().start,
                            format!(
                                "`acknowledgements` of sink `{id_str}` must be true or false, found {}",
                                v.get_ref().type_str()
                            ),
                        );
                        continue;
                    }
                },
                (ComponentKind::Sink, None) => Some(true),
                (_, Some(v)) => {
                    self.err(
                        v.span().start,
                        format!(
                            "only sinks have `acknowledgements`; `{id_str}` is a {}",
                            kind.as_str()
                        ),
                    );
                    continue;
                }
                (_, None) => None,
            };
            let span = body.span();
            let de = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(rest)));
            match parse(&type_name, de) {
                Ok(config) => out.push(ComponentDecl {
                    id: id_str.to_string(),
                    type_name,
                    config,
                    inputs,
                    buffer,
                    acknowledgements,
                    file: map.file().to_path_buf(),
                    location: map.location(at),
                    table: toml::Value::deserialize(ValueDeserializer::from(body.clone()))
                        .unwrap_or_else(|_| toml::Value::Table(Default::default())),
                }),
                Err(e) => {
                    let mut ce = toml_error(map, &e, at);
                    ce.message =
                        format!("{} `{id_str}` ({type_name}): {}", kind.as_str(), ce.message);
                    self.errors.push(ce);
                }
            }
        }
        out
    }

    /// Parses `[[tests]]`.
    fn tests(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<(PipelineTestConfig, usize)> {
        let map = self.map;
        let Some(array) = value.get_ref().as_array() else {
            self.err(
                value.span().start,
                "`tests` must be an array of tables: write each test as `[[tests]]`",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in array.iter() {
            let at = item.span().start;
            match PipelineTestConfig::deserialize(ValueDeserializer::from(item.clone())) {
                Ok(c) => out.push((c, at)),
                Err(e) => {
                    let mut ce = toml_error(map, &e, at);
                    ce.message = format!("test: {}", ce.message);
                    self.errors.push(ce);
                }
            }
        }
        out
    }

    /// Checks that tests name existing transforms (of any file) and outputs.
    fn check_tests(
        &mut self,
        tests: Vec<(PipelineTestConfig, usize)>,
        transforms: &[ComponentDecl<TransformConfig>],
    ) -> Vec<PipelineTest> {
        let map = self.map;
        let mut out = Vec::new();
        for (config, at) in tests {
            let name = config.name.clone();
            let transform_ids: Vec<&str> = transforms.iter().map(|t| t.id.as_str()).collect();
            let check_output = |loader: &mut Self, what: &str, s: &Spanned<String>| {
                let r = OutputRef::parse(s.get_ref());
                let Some(t) = transforms.iter().find(|t| t.id == r.component) else {
                    let hint =
                        match error::did_you_mean(&r.component, transform_ids.iter().copied()) {
                            Some(h) => format!("; did you mean `{h}`?"),
                            None => format!("; transforms are {}", error::list(&transform_ids)),
                        };
                    loader.err(
                        s.span().start,
                        format!(
                            "test `{name}`: {what} `{}` is not a transform{hint}",
                            s.get_ref()
                        ),
                    );
                    return;
                };
                if let Some(port) = &r.port {
                    let ports = t.config.named_outputs();
                    if !ports.contains(port) {
                        let listed: Vec<&str> = ports.iter().map(String::as_str).collect();
                        loader.err(
                            s.span().start,
                            format!(
                                "test `{name}`: `{}` has no output named `{port}`{}",
                                r.component,
                                if listed.is_empty() {
                                    String::new()
                                } else {
                                    format!("; its outputs are {}", error::list(&listed))
                                }
                            ),
                        );
                    }
                }
            };
            if config.inputs.is_empty() {
                self.err(at, format!("test `{name}` has no `[[tests.inputs]]`"));
            }
            for input in &config.inputs {
                let id = input.insert_at.get_ref();
                if !transforms.iter().any(|t| &t.id == id) {
                    let hint = match error::did_you_mean(id, transform_ids.iter().copied()) {
                        Some(h) => format!("; did you mean `{h}`?"),
                        None => format!("; transforms are {}", error::list(&transform_ids)),
                    };
                    self.err(
                        input.insert_at.span().start,
                        format!("test `{name}`: `insert_at = \"{id}\"` is not a transform{hint}"),
                    );
                }
                if input.events.is_empty() && input.value.is_none() && input.values.is_empty() {
                    self.err(
                        input.insert_at.span().start,
                        format!("test `{name}`: input has no `events`, `value` or `values`"),
                    );
                }
            }
            if config.outputs.is_empty() && config.no_outputs_from.is_empty() {
                self.err(
                    at,
                    format!("test `{name}` checks nothing: add `[[tests.outputs]]` or `no_outputs_from`"),
                );
            }
            for output in &config.outputs {
                check_output(self, "`extract_from`", &output.extract_from);
                if output.conditions.is_empty()
                    && output.count.is_none()
                    && output.events.is_empty()
                {
                    self.err(
                        output.extract_from.span().start,
                        format!("test `{name}`: output `{}` checks nothing: add `conditions`, `count` or `events`", output.extract_from.get_ref()),
                    );
                }
            }
            for s in &config.no_outputs_from {
                check_output(self, "`no_outputs_from`", s);
            }
            out.push(PipelineTest {
                config,
                location: map.location(at),
            });
        }
        out
    }

    fn inputs(&mut self, id: &str, value: &Spanned<DeValue<'_>>) -> Option<Vec<InputRef>> {
        let Some(array) = value.get_ref().as_array() else {
            self.err(
                value.span().start,
                format!(
                    "`inputs` of `{id}` must be an array of component ids, like [\"source_id\"]"
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in array.iter() {
            let Some(s) = item.get_ref().as_str() else {
                self.err(
                    item.span().start,
                    "each input must be a string component id",
                );
                return None;
            };
            let (component, port) = match s.split_once('.') {
                Some((c, p)) => (c.to_string(), Some(p.to_string())),
                None => (s.to_string(), None),
            };
            out.push(InputRef {
                component,
                port,
                location: self.map.location(item.span().start),
            });
        }
        Some(out)
    }
}

fn remove_key<'i>(table: &mut DeTable<'i>, key: &str) -> Option<Spanned<DeValue<'i>>> {
    let found = table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, _)| k.clone())?;
    table.remove(&found)
}

/// Checks the wiring: every input names an existing component (and an existing port of it),
/// nothing reads itself, there are no cycles, and every sink and transform has inputs.
fn check_graph(config: &PipelineConfig) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    // Errors are located in the file of the component they concern.
    let mut err = |file: &Path, location: Location, message: String| {
        errors.push(ConfigError {
            file: file.to_path_buf(),
            location,
            message,
        })
    };
    // id -> (kind, type, named ports); ids are unique (checked while merging).
    let mut outputs: HashMap<&str, (ComponentKind, &str, Vec<String>)> = HashMap::new();
    for s in &config.sources {
        outputs.insert(&s.id, (ComponentKind::Source, &s.type_name, Vec::new()));
    }
    for t in &config.transforms {
        outputs.insert(
            &t.id,
            (
                ComponentKind::Transform,
                &t.type_name,
                t.config.named_outputs(),
            ),
        );
    }
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let consumers = config
        .transforms
        .iter()
        .map(|t| {
            (
                ComponentKind::Transform,
                &t.id,
                &t.inputs,
                &t.file,
                t.location,
            )
        })
        .chain(
            config
                .sinks
                .iter()
                .map(|s| (ComponentKind::Sink, &s.id, &s.inputs, &s.file, s.location)),
        );
    for (kind, id, inputs, file, location) in consumers {
        let mut err = |location: Location, message: String| err(file, location, message);
        if inputs.is_empty() {
            err(
                location,
                format!(
                    "{} `{id}` has no inputs: add `inputs = [\"<component id>\"]`",
                    kind.as_str()
                ),
            );
        }
        let mut seen_inputs = HashSet::new();
        for input in inputs {
            if !seen_inputs.insert(input.to_string()) {
                err(
                    input.location,
                    format!("input `{input}` is listed twice for `{id}`"),
                );
                continue;
            }
            if input.component == *id {
                err(
                    input.location,
                    format!("`{id}` cannot take its own output as input"),
                );
                continue;
            }
            match outputs.get(input.component.as_str()) {
                None => {
                    let known: Vec<&str> = outputs.keys().copied().collect();
                    let hint = match error::did_you_mean(&input.component, known.iter().copied()) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => String::new(),
                    };
                    let what = if config.sinks.iter().any(|s| s.id == input.component) {
                        format!(
                            "; `{}` is a sink, and sinks have no outputs",
                            input.component
                        )
                    } else {
                        hint
                    };
                    err(
                        input.location,
                        format!("input `{input}` of `{id}` is not a source or transform{what}"),
                    );
                }
                Some((_, type_name, ports)) => {
                    if input.port.is_none() && *type_name == "route" {
                        let listed: Vec<String> = ports
                            .iter()
                            .map(|p| format!("{}.{p}", input.component))
                            .collect();
                        let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
                        err(
                            input.location,
                            format!(
                                "input `{input}` of `{id}`: `{}` is a route, which has no default output; read one of its outputs: {}",
                                input.component,
                                error::list(&listed)
                            ),
                        );
                        continue;
                    }
                    if let Some(port) = &input.port {
                        if !ports.iter().any(|p| p == port) {
                            let listed: Vec<&str> = ports.iter().map(String::as_str).collect();
                            err(
                                input.location,
                                format!(
                                    "`{}` has no output named `{port}`{}",
                                    input.component,
                                    if listed.is_empty() {
                                        String::new()
                                    } else {
                                        format!("; its outputs are {}", error::list(&listed))
                                    }
                                ),
                            );
                            continue;
                        }
                    }
                    if kind == ComponentKind::Transform {
                        edges.entry(id.as_str()).or_default().push(&input.component);
                    }
                }
            }
        }
    }
    // Cycle detection over transform -> upstream edges (sources have no inputs, sinks no
    // outputs, so cycles can only run through transforms).
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for up in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(up, edges, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in edges.keys().copied().collect::<Vec<_>>() {
        let mut stack = Vec::new();
        if let Some(mut cycle) = visit(node, &edges, &mut marks, &mut stack) {
            cycle.reverse();
            let first = cycle[0];
            let (file, location) = config
                .transforms
                .iter()
                .find(|t| t.id == first)
                .map(|t| (t.file.clone(), t.location))
                .unwrap_or_else(|| (config.file.clone(), Location::default()));
            err(
                &file,
                location,
                format!("cycle in the pipeline graph: {}", cycle.join(" -> ")),
            );
            break;
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PipelineConfig, ConfigErrors> {
        PipelineConfig::from_str_with_env(Path::new("p.toml"), text, |_| None)
    }

    const SOURCE: &str = "[sources.in]\ntype = \"stdin\"\n";

    #[test]
    fn sink_acknowledgements_default_on_and_can_be_turned_off() {
        let config = load(&format!(
            "{SOURCE}[sinks.a]\ntype = \"blackhole\"\ninputs = [\"in\"]\n\
             [sinks.b]\ntype = \"blackhole\"\ninputs = [\"in\"]\nacknowledgements = false\n"
        ))
        .unwrap();
        let acks: Vec<_> = config
            .sinks
            .iter()
            .map(|s| (s.id.as_str(), s.acknowledgements))
            .collect();
        assert_eq!(acks, [("a", Some(true)), ("b", Some(false))]);
        assert_eq!(config.sources[0].acknowledgements, None);
    }

    #[test]
    fn acknowledgements_must_be_a_boolean_on_a_sink() {
        let err = load(&format!(
            "{SOURCE}[sinks.a]\ntype = \"blackhole\"\ninputs = [\"in\"]\nacknowledgements = \"no\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`acknowledgements` of sink `a` must be true or false"),
            "{err}"
        );
        let err = load(
            "[sources.in]\ntype = \"stdin\"\nacknowledgements = false\n\
             [sinks.a]\ntype = \"blackhole\"\ninputs = [\"in\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only sinks have `acknowledgements`"), "{err}");
    }
}
