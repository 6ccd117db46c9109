#![allow(clippy::unwrap_used)]
//! End-to-end tests of the `pynomaly` binary: every command and every error path a user
//! can hit with bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/samples")
        .join(name)
}

fn pynomaly(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("pynomaly").expect("binary");
    cmd.env("PYNOMALY_DATA_DIR", data_dir);
    cmd
}

fn csv_rows(output: &[u8]) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(output)
        .records()
        .collect::<Result<_, _>>()
        .expect("CSV output")
}

#[test]
fn detect_writes_one_row_per_input_row_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = pynomaly(dir.path())
        .args([
            "detect",
            sample("wbc.csv").to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--algorithm",
            "ecod",
            "--contamination",
            "0.05",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("223 rows scored"))
        .get_output()
        .stdout
        .clone();
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 223);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0].parse::<usize>().unwrap(), i);
        let grade: f64 = r[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&grade));
    }
    let flagged = rows.iter().filter(|r| &r[3] == "true").count();
    assert_eq!(flagged, 12, "5% of 223, rounded up by the percentile");
}

#[test]
fn parquet_input_scores_like_the_same_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &str| {
        pynomaly(dir.path())
            .args([
                "detect",
                sample(file).to_str().unwrap(),
                "--ignore-columns",
                "label",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    assert_eq!(run("wbc.parquet"), run("wbc.csv"));
}

#[test]
fn detect_finds_the_labelled_anomalies_and_explains_them() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    pynomaly(dir.path())
        .args([
            "detect",
            sample("breastw.csv").to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--contamination",
            "0.3",
            "--explain",
            "--top-features",
            "2",
            "-o",
            out_path.to_str().unwrap(),
        ])
        .assert()
        .success();
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(rows.len(), 683);
    let labels: Vec<bool> = csv::Reader::from_path(sample("breastw.csv"))
        .unwrap()
        .records()
        .map(|r| &r.unwrap()[9] == "1")
        .collect();
    let flagged: Vec<usize> = (0..683).filter(|&i| rows[i]["anomaly"] == true).collect();
    let hits = flagged.iter().filter(|&&i| labels[i]).count();
    assert_eq!(flagged.len(), 205, "30% of 683");
    assert!(
        hits as f64 / flagged.len() as f64 > 0.9,
        "precision {hits}/{}",
        flagged.len()
    );
    let explanation = rows[flagged[0]]["explanation"].as_array().unwrap();
    assert_eq!(explanation.len(), 2);
    assert!(explanation[0]["feature"].as_str().unwrap().starts_with('f'));
    // The default algorithm is `auto`: each explanation names the member that fired, in
    // JSON as a field and in CSV before the features.
    let members = ["iforest", "hbos", "pca", "knn"];
    assert!(members.contains(&rows[flagged[0]]["detector"].as_str().unwrap_or("")));
    let out = pynomaly(dir.path())
        .args([
            "detect",
            sample("breastw.csv").to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--explain",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let csv = csv_rows(&out);
    let flagged = csv.iter().find(|r| &r[3] == "true").expect("a flagged row");
    let (member, features) = flagged[4].split_once(": ").expect("`member: features`");
    assert!(members.contains(&member), "{}", &flagged[4]);
    assert!(features.starts_with('f'), "{}", &flagged[4]);
}

#[test]
fn stdin_json_and_ndjson_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"[{"cpu": 1, "mem": 2}, {"cpu": 1.1, "mem": 2.1}, {"cpu": 0.9, "mem": 2}, {"cpu": 1, "mem": 1.9}, {"cpu": 50, "mem": 2}]"#;
    let out = pynomaly(dir.path())
        .args([
            "detect",
            "-",
            "--algorithm",
            "mad",
            "--threshold",
            "5",
            "--explain",
        ])
        .write_stdin(json)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 5);
    assert_eq!(&rows[4][3], "true");
    assert!(rows[4][4].starts_with("cpu=50"), "{}", &rows[4][4]);
    let ndjson = "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n{\"a\": 2}\n{\"a\": 90}\n";
    let out = pynomaly(dir.path())
        .args([
            "detect",
            "-",
            "--format",
            "ndjson",
            "--algorithm",
            "hbos",
            "-o",
            "-",
        ])
        .write_stdin(ndjson)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(csv_rows(&out).len(), 5);
}

#[test]
fn same_seed_same_output_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, seed: &str| {
        pynomaly(dir.path())
            .args([
                "detect",
                sample("glass.csv").to_str().unwrap(),
                "--ignore-columns",
                "label",
                "--algorithm",
                "iforest",
                "--seed",
                seed,
                "--threads",
                threads,
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    assert_eq!(run("1", "7"), run("2", "7"));
    assert_ne!(run("1", "7"), run("1", "8"));
}

#[test]
fn missing_values_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gaps.csv");
    std::fs::write(&file, "a,b\n1,2\n2,\n3,4\n4,5\n5,6\n6,7\n").unwrap();
    pynomaly(dir.path())
        .args(["detect", file.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "missing value in column `b` at row 1",
        ));
    let out = pynomaly(dir.path())
        .args([
            "detect",
            file.to_str().unwrap(),
            "--missing",
            "drop",
            "--algorithm",
            "ecod",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("1 dropped"))
        .get_output()
        .stdout
        .clone();
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 6, "dropped rows keep their place");
    assert_eq!(&rows[1][1], "");
    pynomaly(dir.path())
        .args([
            "detect",
            file.to_str().unwrap(),
            "--missing",
            "median",
            "--algorithm",
            "ecod",
        ])
        .assert()
        .success();
}

#[test]
fn score_fills_gaps_from_the_training_data_and_keeps_columns() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let mut text = String::from("host,a,b\n");
    for i in 0..40 {
        text.push_str(&format!("web{i},{},{}\n", i % 5, 100 + i % 3));
    }
    std::fs::write(&train, text).unwrap();
    pynomaly(dir.path())
        .args(["train", train.to_str().unwrap(), "--ignore-columns", "host"])
        .args(["--algorithm", "knn", "--model", "gaps"])
        .assert()
        .success();
    // One row with a gap: the batch has nothing to fill it from, the model does (the
    // training median of `b` is 101).
    let one = dir.path().join("one.csv");
    std::fs::write(&one, "b,host,a\n,web9,2\n").unwrap();
    let filled = dir.path().join("filled.csv");
    std::fs::write(&filled, "b,host,a\n101,web9,2\n").unwrap();
    let score = |file: &Path| {
        let out = pynomaly(dir.path())
            .args(["score", file.to_str().unwrap(), "--model", "gaps"])
            .args(["--missing", "median", "--keep", "host"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        csv_rows(&out)
    };
    let rows = score(&one);
    assert_eq!(rows, score(&filled));
    assert_eq!(&rows[0][0], "0", "rows are counted from 0");
    assert_eq!(
        &rows[0][1], "web9",
        "the kept column follows the row number"
    );
}

#[test]
fn serve_refuses_settings_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, expected) in [
        (
            "PYNOMALY_REPLICAS",
            "3",
            "PYNOMALY_REPLICAS=3 (run one replica, or share the state), but models",
        ),
        (
            "PYNOMALY_MAX_ROWS",
            "200k",
            "PYNOMALY_MAX_ROWS=\"200k\" is not valid: expected a row count",
        ),
        ("PYNOMALY_STORE", "s3", "PYNOMALY_STORE=\"s3\" is not valid"),
    ] {
        pynomaly(dir.path())
            .env(name, value)
            .args(["serve", "--port", "0"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn train_score_and_manage_models() {
    let dir = tempfile::tempdir().unwrap();
    let wbc = sample("wbc.csv");
    pynomaly(dir.path())
        .args([
            "train",
            wbc.to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--algorithm",
            "knn",
            "--model",
            "wbc-knn",
        ])
        .assert()
        .success()
        .stdout("wbc-knn\n");
    pynomaly(dir.path())
        .args([
            "train",
            wbc.to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--model",
            "wbc-knn",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists already"));
    // Scoring picks the trained columns by name, so the label column is left out.
    let out = pynomaly(dir.path())
        .args([
            "score",
            wbc.to_str().unwrap(),
            "--model",
            "wbc-knn",
            "--contamination",
            "0.05",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(csv_rows(&out).len(), 223);
    pynomaly(dir.path())
        .args(["models", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("wbc-knn").and(predicate::str::contains("knn")));
    pynomaly(dir.path())
        .args(["models", "show", "wbc-knn"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"training_rows\": 223"));
    pynomaly(dir.path())
        .args(["models", "delete", "wbc-knn"])
        .assert()
        .success();
    pynomaly(dir.path())
        .args(["score", wbc.to_str().unwrap(), "--model", "wbc-knn"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no model named `wbc-knn`"));
}

#[test]
fn newer_model_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    pynomaly(dir.path())
        .args([
            "train",
            sample("glass.csv").to_str().unwrap(),
            "--ignore-columns",
            "label",
            "--algorithm",
            "hbos",
            "--model",
            "g",
        ])
        .assert()
        .success();
    // The model's envelope in the data dir's store (tenant `default`).
    let path = std::fs::read_dir(dir.path().join("tenants/default/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.to_string_lossy().ends_with(".meta.json"))
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["format_version"] = serde_json::json!(99);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    pynomaly(dir.path())
        .args([
            "score",
            sample("glass.csv").to_str().unwrap(),
            "--model",
            "g",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("newer Pynomaly"));
}

/// Every bad input gets a clear message naming the problem, and a non-zero exit.
#[test]
fn error_paths_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let nan = write("nan.csv", "a,b\n1,2\nNaN,3\n2,2\n");
    let ragged = write("ragged.csv", "a,b\n1,2\n3\n");
    let text = write("text.csv", "host,cpu\nweb1,3\nweb2,4\n");
    let bad_json = write("bad.json", "[[1, 2], [3, ");
    let twice = write("twice.csv", "a,b,a\n1,2,3\n4,5,6\n");
    let good = sample("glass.csv");
    let good = good.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["detect", "/no/such/file.csv"],
            "cannot read /no/such/file.csv",
        ),
        (
            vec!["detect", good, "--ignore-columns", "nope"],
            "no column named `nope`",
        ),
        (vec!["detect", &nan], "missing value in column `a` at row 1"),
        (vec!["detect", &ragged], "row 1 has 1 fields, expected 2"),
        (vec!["detect", &text], "column `host` is not numeric"),
        (vec!["detect", &bad_json], "malformed JSON"),
        (
            vec!["detect", &twice],
            "column name `a` is used twice (columns 1 and 3)",
        ),
        (
            vec!["detect", good, "--algorithm", "svm"],
            "unknown algorithm `svm`",
        ),
        (
            vec![
                "detect",
                good,
                "-a",
                "iforest",
                "--params",
                "{\"n_estimators\": 0}",
            ],
            "invalid parameter `n_estimators`",
        ),
        (
            // The default algorithm (`auto`) takes no parameters, and says so.
            vec!["detect", good, "--params", "{\"n_estimators\": 0}"],
            "there are no fields for algorithm `auto`",
        ),
        (
            vec![
                "detect",
                good,
                "--algorithm",
                "knn",
                "--params",
                "{\"k\": 3}",
            ],
            "unknown field `k`",
        ),
        (
            vec!["detect", good, "--params", "not json"],
            "--params is not valid JSON",
        ),
        (
            vec!["detect", good, "--contamination", "0.9"],
            "invalid parameter `contamination`",
        ),
        (
            vec!["detect", good, "--threshold", "high"],
            "--threshold must be `auto` or a number",
        ),
        (
            vec!["detect", good, "--missing", "guess"],
            "unknown missing-value policy",
        ),
        (
            vec!["score", good, "--model", "ghost"],
            "no model named `ghost`",
        ),
        (
            vec!["train", good, "--model", "../evil"],
            "invalid model name",
        ),
        (vec!["models", "show", "ghost"], "no model named `ghost`"),
    ];
    for (args, expected) in cases {
        pynomaly(dir.path())
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected).from_utf8())
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn bench_reports_accuracy_against_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.csv");
    // A made-up baseline AUC, so the 0.9948 printed must be our own ECOD's (PyOD's is
    // 0.9948 too).
    std::fs::write(&baseline, "dataset,rows,features,algorithm,roc_auc,avg_precision,seconds\nwbc,223,9,ECOD,0.5123,0.9038,0.0011\n").unwrap();
    pynomaly(dir.path())
        .args([
            "bench",
            "--data",
            sample("").to_str().unwrap(),
            "--datasets",
            "wbc",
            "--algorithms",
            "ecod,hbos",
            "--baseline",
            baseline.to_str().unwrap(),
            "--single-thread-only",
        ])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"wbc\s+223\s+9\s+ecod\s+0\.9948\s+0\.5123").unwrap());
}

/// `score` picks the trained columns by name, so a file with its columns shuffled and a
/// text column scores exactly like the trained layout; a wide file that would exhaust
/// memory is refused up front, naming the sizes and what to do.
#[test]
fn score_reads_trained_columns_by_name_and_wide_fits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut train = String::from("a,b,c\n");
    for i in 0..200 {
        train.push_str(&format!("{},{},{}\n", i % 7, 10 + i % 5, i % 3));
    }
    let probe = [[3, 12, 1], [6, 80, 2], [40, 10, 0]];
    let straight: String = std::iter::once("a,b,c\n".to_string())
        .chain(probe.iter().map(|[a, b, c]| format!("{a},{b},{c}\n")))
        .collect();
    let shuffled: String = std::iter::once("host,c,b,a\n".to_string())
        .chain(probe.iter().map(|[a, b, c]| format!("web,{c},{b},{a}\n")))
        .collect();
    let train = write("train.csv", &train);
    let straight = write("straight.csv", &straight);
    let shuffled = write("shuffled.csv", &shuffled);
    pynomaly(dir.path())
        .args(["train", &train, "--algorithm", "lof", "--model", "m"])
        .assert()
        .success();
    let scores = |file: &str| {
        let out = pynomaly(dir.path())
            .args(["score", file, "--model", "m"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        csv_rows(&out)
            .iter()
            .map(|r| (r[1].to_string(), r[3].to_string()))
            .collect::<Vec<_>>()
    };
    let expected = scores(&straight);
    assert_eq!(expected.len(), 3);
    assert_eq!(expected[1].1, "true");
    assert_eq!(scores(&shuffled), expected);

    let mut wide = String::new();
    for row in 0..2 {
        let values: Vec<String> = (0..100_000).map(|j| ((j + row) % 10).to_string()).collect();
        wide.push_str(&values.join(","));
        wide.push('\n');
    }
    let wide = write("wide.csv", &wide);
    pynomaly(dir.path())
        .args(["detect", &wide, "--algorithm", "pca"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("pca on 2 rows x 100000 columns would need about")
                .and(predicate::str::contains("--columns")),
        );
}

/// One plain HTTP/1.1 request to 127.0.0.1:`port`; (status, body).
fn http(port: u16, method: &str, path: &str, key: &str, kind: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nx-api-key: {key}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// `pynomaly train --model web`, then `pynomaly serve` on the same data dir: a key of
/// tenant `default` lists `web` and predicts with it by name, with the CLI's scores.
#[test]
fn a_model_trained_by_the_cli_is_served_by_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let wbc = sample("wbc.csv");
    pynomaly(dir.path())
        .args(["train", wbc.to_str().unwrap(), "--ignore-columns", "label"])
        .args(["--algorithm", "ecod", "--model", "web"])
        .assert()
        .success();
    let cli_scores = pynomaly(dir.path())
        .args(["score", wbc.to_str().unwrap(), "--model", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let cli_scores: Vec<f64> = csv_rows(&cli_scores)
        .iter()
        .map(|r| r[1].parse().unwrap())
        .collect();
    let key = pynomaly(dir.path())
        .args(["keys", "create", "--tenant", "default"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let key = String::from_utf8(key).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = std::process::Command::new(assert_cmd::cargo::cargo_bin("pynomaly"))
        .env("PYNOMALY_DATA_DIR", dir.path())
        .env("PYNOMALY_STORE", "local")
        .args(["serve", "--port", &port.to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = std::panic::catch_unwind(|| {
        assert!(up, "serve did not start");
        let (status, body) = http(port, "GET", "/api/v1/models", &key, "application/json", "");
        assert_eq!(status, 200, "{body}");
        let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(listed["models"][0]["name"], "web", "{body}");
        let csv = std::fs::read_to_string(&wbc).unwrap();
        let (status, body) = http(
            port,
            "POST",
            "/api/v1/models/web/predict",
            &key,
            "text/csv",
            &csv,
        );
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let api_scores: Vec<f64> = answer["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(api_scores, cli_scores);
    });
    let _ = serve.kill();
    let _ = serve.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Starts `pynomaly serve --no-auth` on a free port with `envs`; the child and its port.
fn start_serve(dir: &Path, envs: &[(&str, &str)]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("pynomaly"));
    command
        .env("PYNOMALY_DATA_DIR", dir)
        .env("PYNOMALY_STORE", "local")
        .args(["serve", "--no-auth", "--port", &port.to_string()])
        .stderr(std::process::Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not start");
}

/// A connection that never finishes its headers is closed after the header timeout, and
/// SIGTERM stops the server although clients hold connections open.
#[test]
fn slow_clients_are_cut_off_and_do_not_hold_the_server() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, port) = start_serve(dir.path(), &[("PYNOMALY_HEADER_TIMEOUT", "1")]);
    let result = std::panic::catch_unwind(|| {
        let mut partial = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        partial
            .set_read_timeout(Some(std::time::Duration::from_secs(8)))
            .unwrap();
        partial
            .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
            .unwrap();
        let mut buffer = [0u8; 512];
        // Closed by the server (EOF, maybe after a 408), not left waiting for the rest.
        let mut closed = false;
        for _ in 0..4 {
            match partial.read(&mut buffer) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed = true;
                    break;
                }
                Err(e) => panic!("the half-sent request was kept open: {e}"),
            }
        }
        assert!(closed);
        // An ordinary request still works.
        let (status, _) = http(port, "GET", "/health", "", "application/json", "");
        assert_eq!(status, 200);
    });
    // Idle connections held open across the shutdown.
    let _idle: Vec<_> = (0..3)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    let mut exited = false;
    for _ in 0..150 {
        if serve.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !exited {
        let _ = serve.kill();
    }
    let _ = serve.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(
        exited,
        "serve did not stop on SIGTERM with idle connections open"
    );
}

#[test]
fn models_export_and_import_move_a_model_between_data_dirs() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let wbc = sample("wbc.csv");
    let wbc = wbc.to_str().unwrap();
    pynomaly(a.path())
        .args([
            "train",
            wbc,
            "--model",
            "m",
            "-a",
            "iforest",
            "--ignore-columns",
            "label",
        ])
        .assert()
        .success();
    let file = a.path().join("m.json");
    pynomaly(a.path())
        .args(["models", "export", "m", file.to_str().unwrap()])
        .assert()
        .success();
    pynomaly(b.path())
        .args(["models", "import", file.to_str().unwrap(), "--name", "copy"])
        .assert()
        .success()
        .stdout("copy\n");
    let scores = |dir: &Path, model: &str| {
        let out = pynomaly(dir)
            .args(["score", wbc, "--model", model])
            .output()
            .unwrap();
        assert!(out.status.success());
        csv_rows(&out.stdout)
    };
    assert_eq!(scores(a.path(), "m"), scores(b.path(), "copy"));
    // A second import under the same name needs --force.
    pynomaly(b.path())
        .args(["models", "import", file.to_str().unwrap(), "--name", "copy"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists already"));
    // A file that is not a model is named, and nothing is stored.
    let not_model = a.path().join("not-a-model.json");
    std::fs::write(&not_model, br#"{"rows": [1, 2]}"#).unwrap();
    pynomaly(b.path())
        .args([
            "models",
            "import",
            not_model.to_str().unwrap(),
            "--name",
            "bad",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "not-a-model.json is not a model file",
        ))
        .stderr(predicate::str::contains("not a Pynomaly model file"));
    pynomaly(b.path())
        .args(["models", "export", "nope", "out.json"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no model named `nope`"));
}
