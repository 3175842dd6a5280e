//! `logweir top`: a live terminal table of every component's flow, from `GET /metrics`.
//!
//! Each second it scrapes the Prometheus text of a running logweir, sums the series per
//! component ([`Snapshot`]), and turns two successive snapshots into rates ([`rows`]): events
//! and bytes in and out per second, errors and discarded events (totals, and their rate),
//! and how full the component's buffer is. [`render`] draws the table with ratatui; the loop
//! ([`run`]) uses the crossterm backend and quits on `q`, `Esc` or `Ctrl-C`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::internal_metrics as m;

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text exposition format (comments skipped, malformed lines
/// ignored: `top` shows what it understands).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end = loop {
            // key
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            let (start, c) = *chars.peek()?;
            if c == '}' {
                break start + 1;
            }
            let eq = inner[start..].find('=')? + start;
            let key = inner[start..eq].trim().to_string();
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.push((key, value));
        };
        rest = &inner[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Totals of one component at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentTotals {
    pub kind: String,
    pub type_name: String,
    pub received_events: f64,
    pub sent_events: f64,
    pub received_bytes: f64,
    pub sent_bytes: f64,
    pub errors: f64,
    pub discarded: f64,
    pub buffer_events: Option<f64>,
    pub buffer_max_events: Option<f64>,
    pub buffer_bytes: Option<f64>,
    pub buffer_max_bytes: Option<f64>,
}

/// Every component's totals at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub components: BTreeMap<String, ComponentTotals>,
}

impl Snapshot {
    pub fn from_samples(samples: &[Sample]) -> Snapshot {
        let mut components: BTreeMap<String, ComponentTotals> = BTreeMap::new();
        for s in samples {
            let Some(id) = s.label("component_id") else {
                continue;
            };
            let c = components.entry(id.to_string()).or_default();
            if let Some(kind) = s.label("component_kind") {
                c.kind = kind.to_string();
            }
            if let Some(t) = s.label("component_type") {
                c.type_name = t.to_string();
            }
            let add = |slot: &mut Option<f64>| *slot = Some(slot.unwrap_or(0.0) + s.value);
            match s.name.as_str() {
                m::RECEIVED_EVENTS => c.received_events += s.value,
                m::SENT_EVENTS => c.sent_events += s.value,
                m::RECEIVED_BYTES => c.received_bytes += s.value,
                m::SENT_BYTES => c.sent_bytes += s.value,
                m::ERRORS => c.errors += s.value,
                m::DISCARDED_EVENTS | m::BUFFER_DISCARDED_EVENTS => c.discarded += s.value,
                m::BUFFER_EVENTS => add(&mut c.buffer_events),
                m::BUFFER_MAX_EVENTS => add(&mut c.buffer_max_events),
                m::BUFFER_BYTE_SIZE => add(&mut c.buffer_bytes),
                m::BUFFER_MAX_BYTE_SIZE => add(&mut c.buffer_max_bytes),
                _ => {}
            }
        }
        Snapshot { components }
    }

    pub fn parse(text: &str) -> Snapshot {
        Snapshot::from_samples(&parse_prometheus(text))
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRow {
    pub id: String,
    pub kind: String,
    pub type_name: String,
    pub events_in_per_sec: f64,
    pub events_out_per_sec: f64,
    pub bytes_in_per_sec: f64,
    pub bytes_out_per_sec: f64,
    pub errors: f64,
    pub discarded: f64,
    pub buffer: String,
}

/// Rates between `previous` and `current`, `elapsed` apart (without a previous scrape, or
/// after a counter went backwards — a restart — rates are 0).
pub fn rows(
    previous: Option<&Snapshot>,
    current: &Snapshot,
    elapsed: Duration,
) -> Vec<ComponentRow> {
    let secs = elapsed.as_secs_f64();
    current
        .components
        .iter()
        .map(|(id, c)| {
            let before = previous.and_then(|p| p.components.get(id));
            let rate = |now: f64, then: Option<f64>| match then {
                Some(t) if secs > 0.0 && now >= t => (now - t) / secs,
                _ => 0.0,
            };
            ComponentRow {
                id: id.clone(),
                kind: c.kind.clone(),
                type_name: c.type_name.clone(),
                events_in_per_sec: rate(c.received_events, before.map(|b| b.received_events)),
                events_out_per_sec: rate(c.sent_events, before.map(|b| b.sent_events)),
                bytes_in_per_sec: rate(c.received_bytes, before.map(|b| b.received_bytes)),
                bytes_out_per_sec: rate(c.sent_bytes, before.map(|b| b.sent_bytes)),
                errors: c.errors,
                discarded: c.discarded,
                buffer: buffer_fill(c),
            }
        })
        .collect()
}

fn buffer_fill(c: &ComponentTotals) -> String {
    let percent = |used: f64, max: f64| {
        if max > 0.0 {
            format!(" {:.0}%", used * 100.0 / max)
        } else {
            String::new()
        }
    };
    match (
        c.buffer_bytes,
        c.buffer_max_bytes,
        c.buffer_events,
        c.buffer_max_events,
    ) {
        (Some(bytes), max, _, _) => format!(
            "{}{}",
            human_bytes(bytes),
            percent(bytes, max.unwrap_or(0.0))
        ),
        (None, _, Some(events), max) => format!(
            "{}/{}{}",
            human_count(events),
            human_count(max.unwrap_or(0.0)),
            percent(events, max.unwrap_or(0.0))
        ),
        _ => "-".to_string(),
    }
}

/// `950`, `12.5k`, `3.2M`; below 10 with one decimal.
pub fn human_count(v: f64) -> String {
    if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else if v < 1000.0 {
        format!("{v:.0}")
    } else if v < 1_000_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{:.1}M", v / 1_000_000.0)
    }
}

/// `512 B`, `1.5 KiB`, `2.0 MiB`, `1.1 GiB`.
pub fn human_bytes(v: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if v < 1024.0 {
        return format!("{v:.0} B");
    }
    let mut v = v / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Column headers of the table.
pub const HEADERS: [&str; 10] = [
    "COMPONENT",
    "KIND",
    "TYPE",
    "EVENTS IN/S",
    "EVENTS OUT/S",
    "BYTES IN/S",
    "BYTES OUT/S",
    "ERRORS",
    "DISCARDED",
    "BUFFER",
];

/// Draws the view: a title line, the table, a status line.
pub fn render(frame: &mut Frame<'_>, address: &str, rows: &[ComponentRow], status: &str) {
    let [title, table, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(Line::from(format!(
            "logweir top  {address}  {} components  (q to quit)",
            rows.len()
        )))
        .style(Style::default().add_modifier(Modifier::BOLD)),
        title,
    );
    let header = Row::new(HEADERS.iter().map(|h| Cell::from(*h)))
        .style(Style::default().add_modifier(Modifier::REVERSED));
    let body = rows.iter().map(|r| {
        Row::new([
            Cell::from(r.id.clone()),
            Cell::from(r.kind.clone()),
            Cell::from(r.type_name.clone()),
            Cell::from(human_count(r.events_in_per_sec)),
            Cell::from(human_count(r.events_out_per_sec)),
            Cell::from(format!("{}/s", human_bytes(r.bytes_in_per_sec))),
            Cell::from(format!("{}/s", human_bytes(r.bytes_out_per_sec))),
            Cell::from(human_count(r.errors)),
            Cell::from(human_count(r.discarded)),
            Cell::from(r.buffer.clone()),
        ])
    });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(15),
        Constraint::Length(11),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(16),
    ];
    frame.render_widget(
        Table::new(body, widths).header(header).column_spacing(1),
        table,
    );
    frame.render_widget(Paragraph::new(status.to_string()), footer);
}

/// The text of a rendered buffer, one string per line (tests of the view).
pub fn buffer_lines(buffer: &ratatui::buffer::Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

/// Scrapes `address` every `interval` and keeps the table up to date until `q`, `Esc` or
/// `Ctrl-C`.
pub fn run(address: &str, interval: Duration) -> Result<(), String> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Fail before taking over the terminal if nothing answers.
    let first = runtime
        .block_on(crate::api_client::get_text(address, "/metrics"))
        .map_err(|e| e.to_string())?;
    if first.0 != 200 {
        return Err(format!("{address}/metrics answered {}", first.0));
    }
    let mut previous = Snapshot::parse(&first.1);
    let mut previous_at = Instant::now();
    let mut current_rows = rows(None, &previous, Duration::ZERO);
    let mut status = "waiting for the second scrape".to_string();
    let mut terminal = ratatui::init();
    let result = (|| -> Result<(), String> {
        loop {
            terminal
                .draw(|f| render(f, address, &current_rows, &status))
                .map_err(|e| e.to_string())?;
            let deadline = previous_at + interval;
            while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                if event::poll(wait).map_err(|e| e.to_string())? {
                    if let Event::Key(key) = event::read().map_err(|e| e.to_string())? {
                        let ctrl_c = key.code == KeyCode::Char('c')
                            && key.modifiers.contains(KeyModifiers::CONTROL);
                        if key.kind == KeyEventKind::Press
                            && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
                        {
                            return Ok(());
                        }
                    }
                }
            }
            match runtime.block_on(crate::api_client::get_text(address, "/metrics")) {
                Ok((200, text)) => {
                    let now = Instant::now();
                    let snapshot = Snapshot::parse(&text);
                    current_rows =
                        rows(Some(&previous), &snapshot, now.duration_since(previous_at));
                    previous = snapshot;
                    previous_at = now;
                    status = format!("refreshed every {} s", interval.as_secs_f64());
                }
                Ok((code, _)) => {
                    previous_at = Instant::now();
                    status = format!("/metrics answered {code}");
                }
                Err(e) => {
                    previous_at = Instant::now();
                    status = format!("scrape failed: {e}");
                }
            }
        }
    })();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;

    const FIRST: &str = r#"# HELP logweir_component_sent_events_total Events a component sent to its consumers.
# TYPE logweir_component_sent_events_total counter
logweir_component_sent_events_total{component_id="in",component_kind="source",component_type="stdin"} 1000
logweir_component_sent_bytes_total{component_id="in",component_kind="source",component_type="stdin"} 102400
logweir_component_received_events_total{component_id="route",component_kind="transform",component_type="route"} 1000
logweir_component_sent_events_total{component_id="route",component_kind="transform",component_type="route",output="errors"} 100
logweir_component_sent_events_total{component_id="route",component_kind="transform",component_type="route",output="_unmatched"} 800
logweir_component_discarded_events_total{component_id="route",component_kind="transform",component_type="route",reason="x"} 0
logweir_component_errors_total{component_id="route",component_kind="transform",component_type="route",error_type="parse_failure"} 3
logweir_buffer_events{component_id="route",component_kind="transform",component_type="route"} 1024
logweir_buffer_max_events{component_id="route",component_kind="transform",component_type="route"} 4096
logweir_buffer_byte_size{component_id="es",component_kind="sink",component_type="elasticsearch"} 1048576
logweir_buffer_max_byte_size{component_id="es",component_kind="sink",component_type="elasticsearch"} 4194304
logweir_component_batch_events_bucket{component_id="in",component_kind="source",component_type="stdin",le="+Inf"} 3
logweir_start_time_seconds 1700000000
"#;

    fn second() -> String {
        FIRST
            .replace("stdin\"} 1000", "stdin\"} 3000")
            .replace("stdin\"} 102400", "stdin\"} 307200")
            .replace("route\"} 1000", "route\"} 2500")
            .replace("output=\"errors\"} 100", "output=\"errors\"} 300")
            .replace("output=\"_unmatched\"} 800", "output=\"_unmatched\"} 2000")
            .replace("reason=\"x\"} 0", "reason=\"x\"} 7")
    }

    #[test]
    fn parses_labels_with_escapes_and_special_values() {
        let s = parse_prometheus(
            "a_total{k=\"v \\\"q\\\" \\\\ x\",e=\"\"} 12.5\nb 3\nc{le=\"+Inf\"} +Inf\n# c\ngarbage{\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "a_total");
        assert_eq!(s[0].label("k"), Some("v \"q\" \\ x"));
        assert_eq!(s[0].label("e"), Some(""));
        assert_eq!(s[0].value, 12.5);
        assert_eq!(s[1].value, 3.0);
        assert_eq!(s[2].value, f64::INFINITY);
    }

    #[test]
    fn rates_come_from_two_scrapes_and_outputs_are_summed() {
        let a = Snapshot::parse(FIRST);
        let b = Snapshot::parse(&second());
        let r = rows(Some(&a), &b, Duration::from_secs(2));
        let route = r.iter().find(|r| r.id == "route").unwrap();
        assert_eq!(route.events_in_per_sec, 750.0);
        assert_eq!(route.events_out_per_sec, 700.0);
        assert_eq!(route.errors, 3.0);
        assert_eq!(route.discarded, 7.0);
        assert_eq!(route.buffer, "1.0k/4.1k 25%");
        let input = r.iter().find(|r| r.id == "in").unwrap();
        assert_eq!(input.bytes_out_per_sec, 102_400.0);
        let es = r.iter().find(|r| r.id == "es").unwrap();
        assert_eq!(es.buffer, "1.0 MiB 25%");
        // A restarted process (counters went down) shows no negative rate.
        let r = rows(Some(&b), &a, Duration::from_secs(1));
        assert!(r.iter().all(|r| r.events_in_per_sec == 0.0));
    }

    #[test]
    fn renders_a_row_per_component_into_a_terminal_buffer() {
        let a = Snapshot::parse(FIRST);
        let b = Snapshot::parse(&second());
        let table = rows(Some(&a), &b, Duration::from_secs(2));
        let mut terminal = Terminal::new(TestBackend::new(140, 8)).unwrap();
        terminal
            .draw(|f| render(f, "127.0.0.1:9598", &table, "ok"))
            .unwrap();
        let lines = buffer_lines(terminal.backend().buffer());
        assert!(lines[0].starts_with("logweir top  127.0.0.1:9598  3 components"));
        let header: Vec<&str> = lines[1]
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(header[0], "COMPONENT");
        let cells = |id: &str| -> Vec<String> {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap_or_else(|| panic!("no row {id} in {lines:#?}"));
            line.split_whitespace().map(str::to_string).collect()
        };
        assert_eq!(
            cells("route"),
            [
                "route",
                "transform",
                "route",
                "750",
                "700",
                "0",
                "B/s",
                "0",
                "B/s",
                "3",
                "7",
                "1.0k/4.1k",
                "25%"
            ]
        );
        assert_eq!(
            cells("in"),
            ["in", "source", "stdin", "0", "1.0k", "0", "B/s", "100.0", "KiB/s", "0", "0", "-"]
        );
        assert_eq!(lines[5].trim(), "");
        assert_eq!(lines[7].trim(), "ok");
    }
}
