//! `logweir top`'s view of a running pipeline: two scrapes of `/metrics`, rates from their
//! difference, rendered into a terminal buffer.

mod common;

use std::time::Instant;

use common::running::RunningPipeline;
use logweir::top::{buffer_lines, human_bytes, human_count, render, rows, Snapshot};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn lines(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            let level = if i % 3 == 0 { "error" } else { "info" };
            format!(r#"{{"i":{i},"level":"{level}"}}"#)
        })
        .collect()
}

#[test]
fn top_shows_rates_between_two_scrapes_and_totals_of_a_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = RunningPipeline::start(
        dir.path(),
        r#"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
[transforms.errors]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[sinks.out]
type = "blackhole"
inputs = ["errors"]
"#,
    );
    pipeline.write_lines(&lines(0, 300));
    let first = pipeline.wait_for_metric("logweir_component_received_events_total", "out", 100.0);
    let first_at = Instant::now();
    pipeline.write_lines(&lines(300, 600));
    let second = pipeline.wait_for_metric("logweir_component_received_events_total", "out", 300.0);
    let elapsed = first_at.elapsed();

    let before = Snapshot::parse(&first);
    let after = Snapshot::parse(&second);
    let table = rows(Some(&before), &after, elapsed);
    let mut terminal = Terminal::new(TestBackend::new(150, 10)).unwrap();
    terminal
        .draw(|f| render(f, &pipeline.api, &table, "refreshed"))
        .unwrap();
    let screen = buffer_lines(terminal.backend().buffer());
    let cells = |id: &str| -> Vec<String> {
        screen
            .iter()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{}", screen.join("\n")))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let per_sec = |n: f64| human_count(n / elapsed.as_secs_f64());
    let bytes_per_sec = |id: &str, name: &str| {
        let v = |s: &str| common::metric_value(s, name, &[("component_id", id)]).unwrap();
        let text = human_bytes((v(&second) - v(&first)) / elapsed.as_secs_f64());
        text.split(' ').map(str::to_string).collect::<Vec<_>>()
    };

    assert!(screen[0].contains("4 components"), "{}", screen[0]);
    let errors = cells("errors");
    assert_eq!(&errors[..3], ["errors", "transform", "filter"]);
    assert_eq!(errors[3], per_sec(600.0), "events in/s");
    assert_eq!(errors[4], per_sec(200.0), "events out/s");
    let bytes_in = bytes_per_sec("errors", "logweir_component_received_bytes_total");
    assert_ne!(bytes_in[0], "0");
    assert_eq!(
        errors[5..7],
        [bytes_in[0].clone(), format!("{}/s", bytes_in[1])]
    );
    // Totals: no errors, 600 of 900 events filtered out, an empty buffer of 4096 events.
    assert_eq!(errors[9..], ["0", "600", "0/4.1k", "0%"]);

    let out = cells("out");
    assert_eq!(&out[..3], ["out", "sink", "blackhole"]);
    assert_eq!(out[3], per_sec(200.0));
    let input = cells("in");
    assert_eq!(&input[..4], ["in", "source", "stdin", "0"]);
    assert_eq!(input[4], per_sec(600.0));
    assert_eq!(input.last().unwrap(), "-", "a source has no buffer");
    pipeline.finish();
}
