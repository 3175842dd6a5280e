//! Helpers for the file source tests: a `file` source → `file` sink pipeline, running the
//! binary, stopping it, and reading sequence numbers back from the output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Writes `dir/<name>` with a `file` source (`source_options` are extra TOML lines of the
/// `[sources.tail]` table) feeding a `file` sink writing `out`.
pub fn pipeline(
    dir: &Path,
    name: &str,
    include: &str,
    source_options: &str,
    out: &Path,
) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{data}\"\n\n[sources.tail]\ntype = \"file\"\ninclude = [\"{include}\"]\n{source_options}\n\n[sinks.out]\ntype = \"file\"\ninputs = [\"tail\"]\npath = \"{out}\"\n",
            data = dir.join("data").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    path
}

/// The checkpoint file of the `tail` source of a pipeline made by [`pipeline`].
pub fn checkpoint_file(dir: &Path) -> PathBuf {
    dir.join("data").join("tail").join("checkpoints.json")
}

/// Offsets in the checkpoint file, by path.
pub fn checkpoint_offsets(dir: &Path) -> HashMap<String, u64> {
    let Ok(text) = std::fs::read_to_string(checkpoint_file(dir)) else {
        return HashMap::new();
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    doc["checkpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["path"].as_str().unwrap_or_default().to_string(),
                c["offset"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Starts `logweir run -c config` with its logs (JSON) going to `log`.
pub fn start(config: &Path, log: &Path) -> Child {
    Command::new(super::logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Runs a pipeline to its end (sources with `exit_on_eof`); returns the exit status and logs.
pub fn run_to_end(config: &Path, log: &Path) -> (ExitStatus, String) {
    let mut child = start(config, log);
    let status = wait(&mut child, Duration::from_secs(120));
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

/// Waits for the process to exit; kills it and panics after `timeout`.
pub fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logweir did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then waits for the exit.
pub fn stop(child: &mut Child) -> ExitStatus {
    signal(child, "-TERM");
    wait(child, Duration::from_secs(60))
}

/// SIGKILL: no chance to flush anything.
pub fn kill9(child: &mut Child) {
    signal(child, "-KILL");
    let _ = child.wait();
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The `seq=N` numbers found in the `message` of every complete output line, in output
/// order (a last line cut by a killed process is not an output line).
pub fn seqs(out: &Path) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(out) else {
        return Vec::new();
    };
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let m = v["message"].as_str().unwrap_or_default();
            seq_of(m).unwrap_or_else(|| panic!("no seq in {m:?}"))
        })
        .collect()
}

/// The number after `seq=` in `text`.
pub fn seq_of(text: &str) -> Option<u64> {
    let rest = &text[text.find("seq=")? + 4..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Asserts that `seqs` holds every number below `n` exactly once, and nothing else.
pub fn assert_exactly_once(seqs: &[u64], n: u64) {
    let mut counts = vec![0u32; n as usize];
    for &s in seqs {
        assert!(s < n, "unexpected seq {s}");
        counts[s as usize] += 1;
    }
    let missing: Vec<u64> = (0..n).filter(|&i| counts[i as usize] == 0).collect();
    let duplicated: Vec<u64> = (0..n).filter(|&i| counts[i as usize] > 1).collect();
    assert!(
        missing.is_empty() && duplicated.is_empty(),
        "{} missing (first {:?}), {} duplicated (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)]
    );
}
