//! The benchmarks are not timed tests: this only builds the benchmark driver and runs the
//! tiny smoke of `benches/run.sh --quick` (python3 + cargo; nginx and the comparison tools
//! are used when present), proving that the benchmark command keeps working.

use std::process::Command;

#[test]
fn benchmark_smoke_runs() {
    if Command::new("python3").arg("--version").output().is_err() {
        println!("NOTICE: python3 is missing; the benchmark smoke needs it");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/benches/run.sh"))
        .arg("--quick")
        .current_dir(root)
        .output()
        .expect("running benches/run.sh");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "benches/run.sh --quick failed:\n{text}"
    );
    assert!(text.contains("smoke passed"), "{text}");
}
