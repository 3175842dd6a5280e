//! Renders a pipeline's graph as Graphviz DOT or Mermaid, for `logweir graph`.

use crate::config::PipelineConfig;

/// Output format of `logweir graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

struct Node<'a> {
    id: &'a str,
    type_name: &'a str,
    kind: &'static str,
}

struct Edge {
    from: String,
    port: Option<String>,
    to: String,
}

fn collect(config: &PipelineConfig) -> (Vec<Node<'_>>, Vec<Edge>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for s in &config.sources {
        nodes.push(Node {
            id: &s.id,
            type_name: &s.type_name,
            kind: "source",
        });
    }
    for t in &config.transforms {
        nodes.push(Node {
            id: &t.id,
            type_name: &t.type_name,
            kind: "transform",
        });
        for i in &t.inputs {
            edges.push(Edge {
                from: i.component.clone(),
                port: i.port.clone(),
                to: t.id.clone(),
            });
        }
    }
    for k in &config.sinks {
        nodes.push(Node {
            id: &k.id,
            type_name: &k.type_name,
            kind: "sink",
        });
        for i in &k.inputs {
            edges.push(Edge {
                from: i.component.clone(),
                port: i.port.clone(),
                to: k.id.clone(),
            });
        }
    }
    (nodes, edges)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The graph in the requested format.
pub fn render(config: &PipelineConfig, format: GraphFormat) -> String {
    let (nodes, edges) = collect(config);
    let mut out = String::new();
    match format {
        GraphFormat::Dot => {
            out.push_str("digraph pipeline {\n  rankdir=LR;\n");
            for n in &nodes {
                let shape = match n.kind {
                    "source" => "trapezium",
                    "transform" => "box",
                    _ => "invtrapezium",
                };
                out.push_str(&format!(
                    "  \"{}\" [shape={shape}, label=\"{}\\n({} {})\"];\n",
                    escape(n.id),
                    escape(n.id),
                    n.kind,
                    escape(n.type_name)
                ));
            }
            for e in &edges {
                let label = e
                    .port
                    .as_deref()
                    .map(|p| format!(" [label=\"{}\"]", escape(p)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\"{label};\n",
                    escape(&e.from),
                    escape(&e.to)
                ));
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            // Mermaid ids must be simple; number the nodes and label them.
            let index = |id: &str| nodes.iter().position(|n| n.id == id).unwrap_or(0);
            for (i, n) in nodes.iter().enumerate() {
                let (open, close) = match n.kind {
                    "source" => ("[/", "/]"),
                    "transform" => ("[", "]"),
                    _ => ("[\\", "\\]"),
                };
                out.push_str(&format!(
                    "  n{i}{open}\"{}<br/>{} {}\"{close}\n",
                    n.id.replace('"', "#quot;"),
                    n.kind,
                    n.type_name
                ));
            }
            for e in &edges {
                let label = e
                    .port
                    .as_deref()
                    .map(|p| format!("|{p}|"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  n{} -->{label} n{}\n",
                    index(&e.from),
                    index(&e.to)
                ));
            }
        }
    }
    out
}
