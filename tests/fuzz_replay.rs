//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and every past crash
//! (`fuzz/regressions/<target>/`) through the fuzz targets' own property
//! checks, on stable Rust, as part of the ordinary test run.

#[path = "../fuzz/props.rs"]
mod props;

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let mut seen = 0;
    for dir in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(dir)
            .join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(
                result.is_ok(),
                "{target}: {} fails its property",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no corpus for {target}");
}

#[test]
fn line_corpus() {
    replay("line", props::line);
}

#[test]
fn config_corpus() {
    replay("config", props::config);
}

#[test]
fn sshd_config_corpus() {
    replay("sshd_config", props::sshd_config);
}

#[test]
fn fingerprint_corpus() {
    replay("fingerprint", props::fingerprint);
}

#[test]
fn index_corpus() {
    replay("index", props::index);
}

#[test]
fn offered_corpus() {
    replay("offered", props::offered);
}

#[test]
fn state_corpus() {
    replay("state", props::state);
}

#[test]
fn refusal_corpus() {
    replay("refusal", props::refusal);
}
