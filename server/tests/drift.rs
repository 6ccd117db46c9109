#![allow(clippy::unwrap_used)]
//! `pynomaly drift REFERENCE CURRENT` end to end.

use assert_cmd::Command;
use predicates::prelude::*;

fn sample(name: &str) -> String {
    format!("{}/../data/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn names_a_scaled_column_in_a_table_and_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample("wbc.csv")).unwrap();
    let mut lines = text.lines();
    let mut shifted = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
        fields[2] = (fields[2].parse::<f64>().unwrap() * 1.6).to_string();
        shifted.push_str(&(fields.join(",") + "\n"));
    }
    let current = dir.path().join("current.csv");
    std::fs::write(&current, shifted).unwrap();
    Command::cargo_bin("pynomaly")
        .unwrap()
        .args(["drift", &sample("wbc.csv"), current.to_str().unwrap()])
        .args(["--ignore-columns", "label"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("verdict: drift").and(predicate::str::contains("moved: f2")),
        );
    let output = Command::cargo_bin("pynomaly")
        .unwrap()
        .args(["drift", &sample("wbc.csv"), current.to_str().unwrap()])
        .args(["--ignore-columns", "label", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["drifted"], serde_json::json!(["f2"]));
    Command::cargo_bin("pynomaly")
        .unwrap()
        .args([
            "drift",
            &sample("wbc.csv"),
            &sample("wbc.csv"),
            "--ignore-columns",
            "label",
        ])
        .arg("--psi-threshold=-1")
        .assert()
        .failure()
        .stderr(predicate::str::contains("--psi-threshold"));
}
