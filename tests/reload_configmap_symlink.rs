//! A Kubernetes ConfigMap volume updates by pointing the `..data` symlink at a new timestamped
//! directory (`config.toml -> ..data/config.toml` never changes). With `--watch`, that swap
//! triggers a reload.

mod common;

use std::os::unix::fs::symlink;

use common::reload::{assert_contiguous, pipeline, read_events, Running, PATIENCE};
use common::wait_until;

#[test]
fn the_configmap_symlink_swap_triggers_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    let data = dir.path().join("data");
    let out = dir.path().join("out.ndjson");
    let first = volume.join("..2026_01_01_00_00_00.000000001");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(
        first.join("config.toml"),
        pipeline(&data, &out, "exists(.message)", "v1"),
    )
    .unwrap();
    symlink("..2026_01_01_00_00_00.000000001", volume.join("..data")).unwrap();
    symlink("..data/config.toml", volume.join("config.toml")).unwrap();
    let file = volume.join("config.toml");
    let run = Running::start(
        &["-c", file.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() >= 100),
        "{}",
        run.stderr()
    );

    // What the kubelet's atomic writer does: new directory, new link, rename over `..data`.
    let second = volume.join("..2026_01_01_00_05_00.000000002");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(
        second.join("config.toml"),
        pipeline(&data, &out, "exists(.message)", "v2"),
    )
    .unwrap();
    symlink("..2026_01_01_00_05_00.000000002", volume.join("..data_tmp")).unwrap();
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();

    assert!(
        wait_until(PATIENCE, || {
            read_events(&out)
                .iter()
                .filter(|e| e.version == "v2")
                .count()
                >= 100
        }),
        "the swap did not reload: {}",
        run.stderr()
    );
    let stderr = run.stop();
    assert!(stderr.contains("changed=mark"), "{stderr}");
    assert_contiguous(&read_events(&out), 0);
}
