#![allow(clippy::unwrap_used)]
//! End-to-end tests of `pynomaly timeseries detect | bench`.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn pynomaly() -> Command {
    Command::cargo_bin("pynomaly").expect("binary")
}

/// A 5-minute series with a daily cycle (288 points) and a spike at `spike`.
fn series_csv(n: usize, spike: usize) -> String {
    let mut out = String::from("timestamp,value\n");
    for i in 0..n {
        let phase = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
        let mut v = 50.0 + 10.0 * phase.sin() + ((i * 7919) % 97) as f64 / 97.0;
        if i == spike {
            v += 30.0;
        }
        let minutes = i * 5;
        out.push_str(&format!(
            "2024-01-{:02} {:02}:{:02}:00,{v:.3}\n",
            1 + minutes / 1440,
            (minutes / 60) % 24,
            minutes % 60
        ));
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn detect_flags_the_spike_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let text = series_csv(2016, 1500);
    // Reverse the data rows: output must still follow input order.
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    lines.reverse();
    let file = write(
        dir.path(),
        "s.csv",
        &format!("{header}\n{}\n", lines.join("\n")),
    );
    for method in ["esd", "rolling-z", "forecast", "rcf"] {
        let out = pynomaly()
            .args(["timeseries", "detect", &file, "--method", method])
            .assert()
            .success()
            .stderr(predicate::str::contains("2016 points in 1 series"))
            .get_output()
            .stdout
            .clone();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(out.as_slice())
            .records()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 2016);
        assert_eq!(&rows[0][0], "0");
        // Input row 515 is point 1500 (rows were reversed).
        let spike = &rows[2015 - 1500];
        assert!(spike[1].starts_with("2024-01-06 05:00"), "{:?}", spike);
        // The spike is among the most anomalous 1% of points for every method (RCF also
        // scores the shingles that follow it high); all but the seasonality-blind rolling
        // z-score (the baseline) flag it.
        let grade: f64 = spike[8].parse().unwrap();
        assert!(grade >= 0.99, "{method}: {:?}", spike);
        if method != "rolling-z" {
            assert_eq!(&spike[9], "true", "{method}: {:?}", spike);
        }
        let flagged = rows.iter().filter(|r| &r[9] == "true").count();
        assert!(flagged <= 20, "{method}: {flagged} flags (at most 1%)");
    }
}

#[test]
fn entities_and_changepoints_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("timestamp,host,latency\n");
    for i in 0..600 {
        for (host, base) in [("a", 10.0), ("b", 100.0)] {
            let level = if host == "a" && i >= 300 { 30.0 } else { base };
            text.push_str(&format!(
                "{},{host},{:.2}\n",
                1_700_000_000 + i * 60,
                level + ((i * 13) % 7) as f64 * 0.1
            ));
        }
    }
    let file = write(dir.path(), "hosts.csv", &text);
    let out = dir.path().join("out.json");
    pynomaly()
        .args([
            "timeseries",
            "detect",
            &file,
            "--method",
            "changepoint",
            "--entity-column",
            "host",
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("1200 points in 2 series"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let changepoints = json["changepoints"].as_array().unwrap();
    assert_eq!(changepoints.len(), 1, "{changepoints:?}");
    assert_eq!(changepoints[0]["entity"], "a");
    assert!(changepoints[0]["level_after"].as_f64().unwrap() > 25.0);
    assert_eq!(json["points"].as_array().unwrap().len(), 1200);
}

#[test]
fn errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad_time = write(
        dir.path(),
        "t.csv",
        "timestamp,value\n2024-01-01 00:00:00,1\nsoon,2\n",
    );
    let short = write(
        dir.path(),
        "short.csv",
        "timestamp,value\n2024-01-01,1\n2024-01-02,2\n",
    );
    let good = write(dir.path(), "good.csv", &series_csv(300, 0));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["timeseries", "detect", &bad_time], "row 1"),
        (
            vec!["timeseries", "detect", &short, "--method", "rolling-z"],
            "needs at least 21 rows",
        ),
        (
            vec!["timeseries", "detect", &good, "--method", "arima"],
            "unknown algorithm `arima`",
        ),
        (
            vec!["timeseries", "detect", &good, "--time-column", "ts"],
            "no column named `ts`",
        ),
        (
            vec![
                "timeseries",
                "detect",
                &good,
                "--method",
                "esd",
                "--params",
                "{\"alpha\": 3}",
            ],
            "invalid parameter `alpha`",
        ),
        (
            vec!["timeseries", "detect", &good, "--sensitivity", "0"],
            "invalid parameter `sensitivity`",
        ),
        (
            vec!["timeseries", "detect", &good, "--period", "1"],
            "invalid parameter `period`",
        ),
    ];
    for (args, expected) in cases {
        pynomaly()
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected))
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn traps_of_a_first_file_are_named_or_handled() {
    let dir = tempfile::tempdir().unwrap();
    // Two hosts in one file, no --entity-column: refused, naming the column.
    let mut two = String::from("timestamp,host,cpu\n");
    for i in 0..40 {
        for host in ["a", "b"] {
            two.push_str(&format!("2024-01-01 00:{i:02}:00,{host},{}\n", i % 5));
        }
    }
    let two = write(dir.path(), "two.csv", &two);
    for extra in [vec![], vec!["--value-column", "cpu"]] {
        pynomaly()
            .args(["timeseries", "detect", &two])
            .args(&extra)
            .assert()
            .failure()
            .stderr(predicate::str::contains("--entity-column host"));
    }
    pynomaly()
        .args(["timeseries", "detect", &two, "--entity-column", "host"])
        .assert()
        .success();

    // No timestamp column: row order, said once.
    let values: String = (0..60).map(|i| format!("{}\n", (i % 7) as f64)).collect();
    let untimed = write(dir.path(), "untimed.csv", &format!("value\n{values}"));
    pynomaly()
        .args(["timeseries", "detect", &untimed])
        .assert()
        .success()
        .stderr(predicate::str::contains("row order"))
        .stdout(predicate::str::contains("\n59,59,value,"));

    // A US-style date: the message names the flag that reads it, and the flag does.
    let mut us = String::from("timestamp,value\n");
    for i in 0..60 {
        us.push_str(&format!(
            "03/07/2014 {:02}:{:02},{}\n",
            i / 60,
            i % 60,
            i % 7
        ));
    }
    let us = write(dir.path(), "us.csv", &us);
    pynomaly()
        .args(["timeseries", "detect", &us])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--time-format"));
    pynomaly()
        .args([
            "timeseries",
            "detect",
            &us,
            "--time-format",
            "%m/%d/%Y %H:%M",
        ])
        .assert()
        .success();
}

#[test]
fn the_help_example_of_params_is_accepted_by_the_default_method() {
    let help = pynomaly()
        .args(["timeseries", "detect", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let example = help
        .split("e.g. '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("an example of --params in the help");
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.csv", &series_csv(600, 400));
    pynomaly()
        .args(["timeseries", "detect", &good, "--params", example])
        .assert()
        .success();
}

#[test]
fn bench_scores_with_nab() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("synthetic")).unwrap();
    std::fs::create_dir_all(dir.path().join("labels")).unwrap();
    write(dir.path(), "synthetic/spike.csv", &series_csv(2016, 1500));
    write(
        dir.path(),
        "labels/combined_windows.json",
        r#"{"synthetic/spike.csv": [["2024-01-06 04:00:00.000000", "2024-01-06 06:00:00.000000"]]}"#,
    );
    pynomaly()
        .args([
            "timeseries",
            "bench",
            "--data",
            dir.path().to_str().unwrap(),
            "--methods",
            "esd,rolling-z",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("esd").and(predicate::str::contains("1/1")));
    let data = dir.path().to_str().unwrap();
    pynomaly()
        .args([
            "timeseries",
            "bench",
            "--data",
            data,
            "--methods",
            "context",
        ])
        .args(["--only", "synthetic/"])
        .assert()
        .success()
        .stdout(predicate::str::contains("context").and(predicate::str::contains("1/1")));
    // A published detector's NAB result file, scored beside ours.
    let nab = dir.path().join("nab");
    std::fs::create_dir_all(nab.join("config")).unwrap();
    std::fs::create_dir_all(nab.join("results/someDetector/synthetic")).unwrap();
    std::fs::write(
        nab.join("config/thresholds.json"),
        r#"{"someDetector": {"standard": {"score": 0.0, "threshold": 0.9}}}"#,
    )
    .unwrap();
    let scores: String = (0..2016)
        .map(|i| format!("t,0,{},0\n", if i == 1500 { 0.95 } else { 0.1 }))
        .collect();
    std::fs::write(
        nab.join("results/someDetector/synthetic/someDetector_spike.csv"),
        format!("timestamp,value,anomaly_score,label\n{scores}"),
    )
    .unwrap();
    pynomaly()
        .args(["timeseries", "bench", "--data", data, "--methods", "esd"])
        .args(["--published", nab.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^someDetector +1/1 ").unwrap());
    pynomaly()
        .args(["timeseries", "bench", "--data", data, "--exclude", "synth"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no series left"));
}
