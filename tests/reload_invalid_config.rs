//! An invalid configuration on reload leaves the running pipeline alone: the errors are
//! logged with FILE:LINE:COL, `logweir_config_reload_failures_total` rises, the output keeps
//! growing, and a later valid file is applied.

mod common;

use common::reload::{
    assert_contiguous, pipeline, read_events, write_atomically, Running, PATIENCE,
};
use common::{api_address_from_log, http_get, metric_value, wait_until};

fn metric(addr: &str, name: &str) -> Option<f64> {
    let (_, body) = http_get(addr, "/metrics").ok()?;
    metric_value(&body, name, &[])
}

#[test]
fn an_invalid_file_keeps_the_old_pipeline_running() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out.ndjson");
    let file = conf.join("pipeline.toml");
    let with_api = |text: String| format!("{text}\n[api]\naddress = \"127.0.0.1:0\"\n");
    write_atomically(
        &file,
        &with_api(pipeline(&data, &out, "exists(.message)", "v1")),
    );
    let run = Running::start(
        &["-c", file.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    let addr = api_address_from_log(&dir.path().join("stderr.log"));
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() >= 100),
        "{}",
        run.stderr()
    );

    let broken =
        with_api(pipeline(&data, &out, "exists(.message)", "v2")).replace("path =", "pathh =");
    let broken_line = broken.lines().position(|l| l.starts_with("pathh")).unwrap() + 1;
    write_atomically(&file, &broken);
    let expected = format!(
        "{}:{broken_line}:1: sink `out` (file): unknown key `pathh`; did you mean `path`?",
        file.display()
    );
    assert!(
        wait_until(PATIENCE, || run.stderr().contains(&expected)),
        "expected {expected:?} in\n{}",
        run.stderr()
    );
    assert!(run.stderr().contains("configuration reload failed"));
    assert!(
        wait_until(PATIENCE, || metric(
            &addr,
            "logweir_config_reload_failures_total"
        ) == Some(1.0)),
        "{:?}",
        http_get(&addr, "/metrics")
    );
    // Still running, with the old configuration.
    let at_failure = read_events(&out).len();
    assert!(wait_until(PATIENCE, || read_events(&out).len() >= at_failure + 200));
    assert!(read_events(&out).iter().all(|e| e.version == "v1"));

    // A valid file afterwards is applied.
    write_atomically(
        &file,
        &with_api(pipeline(&data, &out, "exists(.message)", "v2")),
    );
    assert!(
        wait_until(PATIENCE, || read_events(&out)
            .iter()
            .any(|e| e.version == "v2")),
        "{}",
        run.stderr()
    );
    assert!(wait_until(PATIENCE, || metric(
        &addr,
        "logweir_config_reloads_total"
    ) == Some(1.0)));
    assert_eq!(
        metric(&addr, "logweir_config_reload_failures_total"),
        Some(1.0)
    );
    run.stop();
    assert_contiguous(&read_events(&out), 0);
}
