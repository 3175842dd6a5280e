//! Warnings about pipelines that are valid but likely wrong, printed by `logweir validate`
//! (and fatal with `--deny-warnings`):
//!
//! - a source nobody reads, a transform whose output nobody reads (their events are dropped);
//! - a `filter` or `route` condition reading a field no upstream component can produce, when
//!   that is knowable: sources that set a fixed set of fields, with only field-preserving
//!   transforms in between (a parser makes every field possible, so nothing is claimed);
//! - a sink with a memory buffer fed by a source that cannot replay (stdin, syslog, TCP…):
//!   what sits in the buffer is lost if logweir stops abruptly.
//!
//! Every check is conservative: when in doubt, no warning.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::{ComponentDecl, ConfigError, InputRef, PipelineConfig};
use crate::buffers::BufferConfig;
use crate::transforms::TransformConfig;

/// A warning, printed as `FILE:LINE:COL: warning: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning(pub ConfigError);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: warning: {}",
            self.0.file.display(),
            self.0.location.line,
            self.0.location.column,
            self.0.message
        )
    }
}

/// Source types that cannot read their events again after a crash: a memory buffer in front
/// of a sink loses what it holds. Named by type so sources added later only need a line here.
const NON_REPLAYABLE_SOURCES: &[&str] = &["stdin", "syslog", "tcp", "udp", "socket", "http"];

/// Fields a source type always sets (as dotted paths), for the types where that is fixed.
fn source_fields(type_name: &str) -> Option<&'static [&'static str]> {
    match type_name {
        "stdin" => Some(&["message", "@timestamp", "tags"]),
        "demo" => Some(&[
            "message",
            "@timestamp",
            "tags",
            "kubernetes.namespace",
            "kubernetes.pod.name",
            "kubernetes.container.name",
            "container.id",
            "log.iostream",
        ]),
        _ => None,
    }
}

/// A field path as its segments.
type Path = Vec<String>;

/// The fields a component's output may carry: `None` = anything (unknown).
type Known = Option<BTreeSet<Path>>;

fn segments(path: &crate::event::FieldPath) -> Path {
    path.segments().iter().map(|k| k.to_string()).collect()
}

fn dotted(path: &str) -> Path {
    path.split('.').map(str::to_string).collect()
}

fn parse_path(s: &str) -> Option<Path> {
    crate::event::FieldPath::parse(s).ok().map(|p| segments(&p))
}

/// Whether `path` may exist on an event carrying `known`: equal to a known field, a parent of
/// one, or inside one (a known field may be an object or array).
fn possibly_present(path: &Path, known: &BTreeSet<Path>) -> bool {
    known
        .iter()
        .any(|k| k.starts_with(path) || path.starts_with(k))
}

struct Analysis<'c> {
    config: &'c PipelineConfig,
    memo: HashMap<&'c str, Known>,
}

impl<'c> Analysis<'c> {
    fn output_of(&mut self, id: &'c str) -> Known {
        if let Some(k) = self.memo.get(id) {
            return k.clone();
        }
        let config = self.config;
        let known = if let Some(s) = config.sources.iter().find(|s| s.id == id) {
            source_fields(&s.type_name).map(|f| f.iter().map(|p| dotted(p)).collect())
        } else if let Some(t) = config.transforms.iter().find(|t| t.id == id) {
            let input = self.input_of(&t.inputs);
            transform_output(&t.config, input)
        } else {
            None
        };
        self.memo.insert(id, known.clone());
        known
    }

    /// The union of what the inputs carry (the graph is acyclic: checked before linting).
    fn input_of(&mut self, inputs: &'c [InputRef]) -> Known {
        let mut all = BTreeSet::new();
        for input in inputs {
            all.extend(self.output_of(&input.component)?);
        }
        Some(all)
    }
}

fn transform_output(config: &TransformConfig, input: Known) -> Known {
    let mut known = input?;
    match config {
        TransformConfig::Filter(_)
        | TransformConfig::Sample(_)
        | TransformConfig::Throttle(_)
        | TransformConfig::Route(_)
        | TransformConfig::Coerce(_)
        // Removing fields only makes fewer possible; keeping them is the conservative side.
        | TransformConfig::RemoveFields(_) => {}
        TransformConfig::AddFields(c) => {
            for (k, _) in c.fields.iter() {
                known.insert(parse_path(k)?);
            }
        }
        TransformConfig::RenameFields(c) => {
            for (_, to) in c.fields.iter() {
                known.insert(parse_path(to)?);
            }
        }
        TransformConfig::Host(c) => {
            known.insert(segments(&c.name_field));
            known.insert(segments(&c.ip_field));
        }
        TransformConfig::ParseTimestamp(c) => {
            known.insert(segments(&c.target));
        }
        // Parsers (and anything else) can produce any field.
        _ => return None,
    }
    Some(known)
}

fn warning<C>(decl: &ComponentDecl<C>, message: String) -> ConfigWarning {
    ConfigWarning(ConfigError {
        file: decl.file.clone(),
        location: decl.location,
        message,
    })
}

/// Every warning for a valid pipeline, in declaration order.
pub fn lint(config: &PipelineConfig) -> Vec<ConfigWarning> {
    let mut warnings = Vec::new();
    let read: BTreeSet<&str> = config
        .transforms
        .iter()
        .flat_map(|t| &t.inputs)
        .chain(config.sinks.iter().flat_map(|s| &s.inputs))
        .map(|i| i.component.as_str())
        .collect();
    for s in &config.sources {
        if !read.contains(s.id.as_str()) {
            warnings.push(warning(
                s,
                format!(
                    "source `{}` is not read by any transform or sink: its events are dropped",
                    s.id
                ),
            ));
        }
    }
    let mut analysis = Analysis {
        config,
        memo: HashMap::new(),
    };
    for t in &config.transforms {
        if !read.contains(t.id.as_str()) {
            warnings.push(warning(
                t,
                format!(
                    "the output of transform `{}` is not read by any transform or sink: its events are dropped",
                    t.id
                ),
            ));
        }
        let conditions: Vec<&crate::condition::Condition> = match &t.config {
            TransformConfig::Filter(f) => vec![&f.condition],
            TransformConfig::Route(r) => r.route.iter().map(|(_, c)| c).collect(),
            _ => continue,
        };
        let Some(known) = analysis.input_of(&t.inputs) else {
            continue;
        };
        for condition in conditions {
            for path in condition.referenced_paths() {
                if !possibly_present(&segments(&path), &known) {
                    let fields: Vec<String> = known.iter().map(|p| p.join(".")).collect();
                    warnings.push(warning(
                        t,
                        format!(
                            "{} `{}` reads `{path}`, which no upstream component sets (upstream events carry {}); is a parser missing?",
                            t.type_name,
                            t.id,
                            fields.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    for sink in &config.sinks {
        if !matches!(sink.buffer, None | Some(BufferConfig::Memory { .. })) {
            continue;
        }
        let mut upstream = BTreeSet::new();
        collect_sources(config, &sink.inputs, &mut upstream, &mut BTreeSet::new());
        for source in config
            .sources
            .iter()
            .filter(|s| upstream.contains(s.id.as_str()))
        {
            if NON_REPLAYABLE_SOURCES.contains(&source.type_name.as_str()) {
                warnings.push(warning(
                    sink,
                    format!(
                        "sink `{}` has a memory buffer and reads from {} source `{}`, which cannot replay: events in the buffer are lost if logweir stops abruptly; consider `buffer = {{ type = \"disk\", max_bytes = 268435456 }}`",
                        sink.id, source.type_name, source.id
                    ),
                ));
            }
        }
    }
    warnings
}

fn collect_sources<'c>(
    config: &'c PipelineConfig,
    inputs: &'c [InputRef],
    out: &mut BTreeSet<&'c str>,
    visited: &mut BTreeSet<&'c str>,
) {
    for input in inputs {
        let id = input.component.as_str();
        if !visited.insert(id) {
            continue;
        }
        if config.sources.iter().any(|s| s.id == id) {
            out.insert(id);
        } else if let Some(t) = config.transforms.iter().find(|t| t.id == id) {
            collect_sources(config, &t.inputs, out, visited);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path as FsPath;

    fn lint_text(text: &str) -> Vec<String> {
        let config = PipelineConfig::from_str_with_env(FsPath::new("p.toml"), text, |_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        lint(&config).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn unread_source_and_transform_are_reported() {
        let w = lint_text(
            r#"
[sources.a]
type = "demo"
[sources.unused]
type = "demo"
[transforms.dangling]
type = "filter"
inputs = ["a"]
condition = 'exists(.message)'
[sinks.out]
type = "blackhole"
inputs = ["a"]
"#,
        );
        assert!(
            w.iter()
                .any(|w| w.starts_with("p.toml:4:10: warning: source `unused`")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("transform `dangling` is not read")),
            "{w:?}"
        );
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn filter_on_a_field_no_upstream_sets_is_reported_unless_a_parser_is_between() {
        let direct = lint_text(
            r#"
[sources.a]
type = "demo"
[transforms.f]
type = "filter"
inputs = ["a"]
condition = '.level == "error" && exists(.kubernetes.pod)'
[sinks.out]
type = "blackhole"
inputs = ["f"]
"#,
        );
        assert_eq!(direct.len(), 1, "{direct:?}");
        assert!(direct[0].contains("reads `.level`"), "{direct:?}");
        let parsed = lint_text(
            r#"
[sources.a]
type = "demo"
[transforms.p]
type = "parse_json"
inputs = ["a"]
[transforms.f]
type = "filter"
inputs = ["p"]
condition = '.level == "error"'
[sinks.out]
type = "blackhole"
inputs = ["f"]
"#,
        );
        assert!(parsed.is_empty(), "{parsed:?}");
        let added = lint_text(
            r#"
[sources.a]
type = "demo"
[transforms.add]
type = "add_fields"
inputs = ["a"]
fields = { "labels.team" = "core" }
[transforms.f]
type = "filter"
inputs = ["add"]
condition = '.labels.team == "core"'
[sinks.out]
type = "blackhole"
inputs = ["f"]
"#,
        );
        assert!(added.is_empty(), "{added:?}");
    }

    #[test]
    fn memory_buffer_behind_stdin_suggests_a_disk_buffer() {
        let text = |buffer: &str| {
            format!(
                r#"
[sources.in]
type = "stdin"
[transforms.t]
type = "filter"
inputs = ["in"]
condition = 'exists(.message)'
[sinks.out]
type = "blackhole"
inputs = ["t"]
{buffer}
"#
            )
        };
        let w = lint_text(&text(""));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("consider `buffer = { type = \"disk\""),
            "{w:?}"
        );
        let w = lint_text(&text("buffer = { type = \"disk\", max_bytes = 2000000 }"));
        assert!(w.is_empty(), "{w:?}");
    }
}
