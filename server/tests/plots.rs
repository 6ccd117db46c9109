#![allow(clippy::unwrap_used)]
//! `--plot FILE.svg` of `detect`, `score` and `timeseries detect`: what the picture says
//! must be what the result says.

use assert_cmd::Command;
use predicates::prelude::*;

fn pynomaly() -> Command {
    Command::cargo_bin("pynomaly").expect("binary")
}

fn sample(name: &str) -> String {
    format!("{}/../data/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Red dots drawn (the legend's one included).
fn red_dots(svg: &str) -> usize {
    svg.split("<circle")
        .skip(1)
        .filter(|rest| rest.split('>').next().unwrap().contains("fill=\"#C0392B\""))
        .count()
}

#[test]
fn detect_draws_the_histogram_threshold_and_flagged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("breastw.svg");
    let out = pynomaly()
        .args([
            "detect",
            &sample("breastw.csv"),
            "--ignore-columns",
            "label",
        ])
        .args(["--algorithm", "ecod", "--plot", svg.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("plot written to"))
        .get_output()
        .stdout
        .clone();
    let csv = String::from_utf8(out).unwrap();
    let anomaly = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "anomaly")
        .unwrap();
    let flagged = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(anomaly) == Some("true"))
        .count();
    assert!(flagged > 100);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..80]);
    assert!(text.contains(&format!("ecod flagged {flagged} of 683 rows")));
    for words in [
        "Scores of all 683 rows",
        "anomaly score",
        "threshold 13.08",
        "rows per score bin",
    ] {
        assert!(text.contains(words), "{words}");
    }
    assert!(text.contains(&format!("flagged rows ({flagged})")));
    assert!(text.contains(&format!("normal rows ({})", 683 - flagged)));
    assert_eq!(red_dots(&text), flagged + 1);
}

#[test]
fn the_scatter_takes_the_explained_features_and_names_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("odd.csv");
    let mut rows = String::from("<script>alert(1)</script>,b & c,d\n");
    for i in 0..80 {
        let spike = if i == 40 { 40.0 } else { 0.0 };
        rows.push_str(&format!("{},{},{}\n", i % 7, (i % 5) as f64 + spike, i % 3));
    }
    std::fs::write(&csv, rows).unwrap();
    let svg = dir.path().join("odd.svg");
    pynomaly()
        .args([
            "detect",
            csv.to_str().unwrap(),
            "--algorithm",
            "hbos",
            "--explain",
        ])
        .args(["--plot", svg.to_str().unwrap()])
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains("<script>"), "a column name became markup");
    // The scatter's axes are the two features the explanations name most: here the
    // markup-named one among them, drawn as text.
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt; against"));
}

#[test]
fn timeseries_draws_band_anomalies_and_changepoints() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("shift.csv");
    let mut rows = String::from("timestamp,value\n");
    for i in 0..600 {
        let level = if i < 400 { 10.0 } else { 30.0 };
        let wobble = ((i * 7919) % 13) as f64 / 13.0;
        rows.push_str(&format!(
            "2026-01-01T00:{:02}:{:02}Z,{}\n",
            i / 60,
            i % 60,
            level + wobble
        ));
    }
    std::fs::write(&csv, rows).unwrap();
    let svg = dir.path().join("shift.svg");
    let json = dir.path().join("shift.json");
    pynomaly()
        .args([
            "timeseries",
            "detect",
            csv.to_str().unwrap(),
            "--method",
            "changepoint",
        ])
        .args([
            "-o",
            json.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
        ])
        .assert()
        .success();
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let anomalies = result["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["anomaly"] == true)
        .count();
    let changepoints = result["changepoints"].as_array().unwrap();
    assert!(!changepoints.is_empty());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains(&format!(
        "value: {anomalies} anomalies, {} changepoints",
        changepoints.len()
    )));
    for words in [
        "time (UTC)",
        "expected band",
        "changepoint",
        "(changepoint)",
        "01-01 00:",
    ] {
        assert!(text.contains(words), "{words}");
    }
    assert!(text.contains(&format!(
        "{:.3} → {:.3}",
        changepoints[0]["level_before"].as_f64().unwrap(),
        changepoints[0]["level_after"].as_f64().unwrap()
    )));
    assert_eq!(red_dots(&text), anomalies + 1);
}

#[test]
fn a_plot_that_is_not_svg_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("out.png");
    pynomaly()
        .args([
            "detect",
            &sample("wbc.csv"),
            "--plot",
            png.to_str().unwrap(),
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--plot").and(predicate::str::contains(".svg")));
    assert!(!png.exists());
    pynomaly()
        .args([
            "timeseries",
            "detect",
            &sample("wbc.csv"),
            "--plot",
            "x.pdf",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--plot x.pdf"));
}
