//! Reading tabular data: CSV (with or without header), JSON (array of arrays, array of
//! objects, or an object of columns) and NDJSON, into a numeric matrix.
//!
//! Policies:
//! - Header: CSV headers are detected (a first record with any non-numeric, non-empty
//!   field is a header) unless forced; without one, columns are named `f0, f1, ...`.
//! - Columns: `columns` keeps only the named columns (in that order); `ignore_columns`
//!   drops them. An unknown name is an error listing the available columns; a name used
//!   by two columns is an error naming both.
//! - Non-numeric values in a kept column are an error naming the column, row and value.
//! - Missing values (empty, `NA`, `N/A`, `NaN`, `null`, `?`, JSON `null`, a missing key)
//!   follow [`MissingPolicy`]; `error` (the default) names the row and column.
//! - Infinite values are an error. Ragged rows are an error naming the row.
//! - Rows are counted from 0 (the first data row; a header is not a row) in errors as in
//!   results; a malformed CSV is reported by its file line instead.
//! - `keep` columns are carried into results as text; with a model, `mean`/`median` fill
//!   gaps with the model's training statistics.

mod cells;
mod csv;
mod error;
mod json;
mod options;
mod parquet;
mod table;

use serde_json::Value;

pub(crate) use cells::{Cell, RawTable, cell_text};
pub use csv::sniff_delimiter;
pub use error::FormatError;
pub use options::{Format, MissingPolicy, RESULT_FIELDS, ReadOptions, TrainingFill};
pub use table::{KeptColumn, Table};
pub(crate) use table::{check_unique_names, column_index};

pub use pynomaly_detection::MAX_MAGNITUDE;

/// Reads `bytes` into a numeric [`Table`] following `options`.
pub fn read_table(bytes: &[u8], options: &ReadOptions) -> Result<Table, FormatError> {
    let format = options.format.unwrap_or_else(|| Format::sniff(bytes));
    let raw = match format {
        Format::Csv => return csv::read_csv(bytes, options),
        Format::Json => json::read_json(bytes)?,
        Format::Ndjson => json::read_ndjson(bytes)?,
        Format::Parquet => parquet::read_parquet(bytes)?,
    };
    table::table_from_raw(raw, options)
}

/// Rows given as JSON values (all arrays, or all objects) into a table, with the same
/// policies as [`read_table`]. For request bodies that are already parsed.
pub fn table_from_json_rows(items: &[Value], options: &ReadOptions) -> Result<Table, FormatError> {
    if let Some(table) = json::numeric_arrays(items, options) {
        return Ok(table);
    }
    table::table_from_raw(json::rows_from_json(items, false)?, options)
}

/// Raw cells of `bytes` (a header row is required for CSV), for readers that do their own
/// conversion (time series).
pub(crate) fn read_raw(bytes: &[u8], format: Format) -> Result<RawTable, FormatError> {
    match format {
        Format::Csv => csv::read_csv_raw(bytes),
        Format::Json => json::read_json(bytes),
        Format::Ndjson => json::read_ndjson(bytes),
        Format::Parquet => parquet::read_parquet(bytes),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn separators_are_detected_and_huge_values_refused() {
        for (text, separator) in [
            ("a,b,c\n1,2,3\n4,5,6\n", b','),
            ("a;b;c\n1,5;2;3\n4;5,25;6\n", b';'),
            ("a\tb\n1\t2\n3\t4\n", b'\t'),
            ("a|b\n1|2\n3|4\n", b'|'),
            ("host,msg\nweb,\"a;b\"\ndb,\"c;d\"\n", b','),
        ] {
            assert_eq!(sniff_delimiter(text.as_bytes()), separator, "{text}");
        }
        let table = read_table(b"a;b\n1,5;2\n3;4\n", &ReadOptions::default());
        // `1,5` is not a number in a `;` file with `.` decimals; the error names it.
        assert!(
            matches!(table, Err(FormatError::NonNumeric { .. })),
            "{table:?}"
        );
        let table = read_table(b"a;b\n1.5;2\n3;4\n", &ReadOptions::default()).unwrap();
        assert_eq!(table.columns, vec!["a", "b"]);
        let forced = ReadOptions {
            delimiter: Some(b','),
            ..Default::default()
        };
        let err = read_table(b"a;b\n1;2\n", &forced).unwrap_err();
        assert!(err.to_string().contains("a;b"), "{err}");
        for input in [&b"a,b\n1e300,2\n"[..], &b"[[1, 2], [-1e300, 3]]"[..]] {
            let err = read_table(input, &ReadOptions::default()).unwrap_err();
            assert!(matches!(err, FormatError::TooLarge { .. }), "{err}");
            assert!(err.to_string().contains("rescale the column"), "{err}");
        }
    }

    #[test]
    fn parquet_reads_like_the_same_csv() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/samples/");
        let csv = std::fs::read(format!("{root}wbc.csv")).unwrap();
        let parquet = std::fs::read(format!("{root}wbc.parquet")).unwrap();
        assert_eq!(Format::sniff(&parquet), Format::Parquet);
        assert_eq!(Format::from_path("x/Y.PARQUET"), Some(Format::Parquet));
        let options = ReadOptions {
            ignore_columns: vec!["label".into()],
            ..Default::default()
        };
        let from_csv = read_table(&csv, &options).unwrap();
        let from_parquet = read_table(&parquet, &options).unwrap();
        assert_eq!(from_parquet.columns, from_csv.columns);
        assert_eq!(from_parquet.data, from_csv.data);
        let broken = read_table(
            &parquet[..parquet.len() / 2],
            &ReadOptions {
                format: Some(Format::Parquet),
                ..Default::default()
            },
        );
        assert!(matches!(broken, Err(FormatError::Parquet(_))), "{broken:?}");
    }
    use super::*;

    fn read(text: &str, options: ReadOptions) -> Result<Table, FormatError> {
        read_table(text.as_bytes(), &options)
    }

    #[test]
    fn csv_with_and_without_header() {
        let t = read("a,b\n1,2\n3,4\n", ReadOptions::default()).unwrap();
        assert_eq!(t.columns, vec!["a", "b"]);
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read("1,2\n3,4\n", ReadOptions::default()).unwrap();
        assert_eq!(t.columns, vec!["f0", "f1"]);
        assert_eq!(t.data.nrows(), 2);
    }

    #[test]
    fn non_numeric_column_is_named_unless_ignored() {
        let err = read("id,x\nabc,1\ndef,2\n", ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("column `id` is not numeric"),
            "{err}"
        );
        let t = read(
            "id,x\nabc,1\ndef,2\n",
            ReadOptions {
                ignore_columns: vec!["id".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.columns, vec!["x"]);
    }

    #[test]
    fn column_selection_and_unknown_column() {
        let t = read(
            "a,b,c\n1,2,3\n",
            ReadOptions {
                columns: Some(vec!["c".into(), "a".into()]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data, ndarray::array![[3.0, 1.0]]);
        let err = read(
            "a,b\n1,2\n",
            ReadOptions {
                ignore_columns: vec!["z".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "no column named `z`; columns are: a, b");
    }

    #[test]
    fn missing_value_policies() {
        let text = "a,b\n1,2\n,4\n5,NA\n";
        let err = read(text, ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::Missing {
                column: "a".into(),
                row: 1
            }
        );
        let t = read(
            text,
            ReadOptions {
                missing: MissingPolicy::Drop,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.source_rows, vec![0]);
        assert_eq!(t.input_rows, 3);
        let t = read(
            text,
            ReadOptions {
                missing: MissingPolicy::Mean,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 3.0]]);
        let t = read(
            "a\n1\n\n2\n10\nNaN\n",
            ReadOptions {
                missing: MissingPolicy::Median,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.data.column(0).to_vec(), vec![1.0, 2.0, 10.0, 2.0]);
    }

    #[test]
    fn a_model_fills_gaps_with_its_training_statistics() {
        let options = ReadOptions {
            model_columns: Some(vec!["a".into(), "b".into()]),
            training_fill: Some(TrainingFill {
                means: vec![10.0, 20.0],
                medians: vec![11.0, 21.0],
            }),
            ..Default::default()
        };
        // One row, a gap in `b`: filled from the training data, not from the batch.
        for (policy, b) in [(MissingPolicy::Mean, 20.0), (MissingPolicy::Median, 21.0)] {
            let t = read(
                "b,a,host\n,3,web\n",
                ReadOptions {
                    missing: policy,
                    ..options.clone()
                },
            )
            .unwrap();
            assert_eq!(t.data, ndarray::array![[3.0, b]]);
        }
        // A model without statistics (an older save) says so instead of guessing.
        let err = read(
            "a,b\n1,\n",
            ReadOptions {
                missing: MissingPolicy::Mean,
                training_fill: Some(TrainingFill::default()),
                ..options
            },
        )
        .unwrap_err();
        assert_eq!(err, FormatError::NoTrainingStatistics("b".into()));
    }

    #[test]
    fn keep_columns_are_carried_as_text_for_every_input_row() {
        let t = read(
            "time,host,a\n2024-05-01T00:00:00Z,web1,1\n2024-05-01T00:01:00Z,web2,\n,web3,2.5\n",
            ReadOptions {
                ignore_columns: vec!["time".into(), "host".into()],
                keep: vec!["host".into(), "time".into(), "a".into()],
                missing: MissingPolicy::Drop,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.source_rows, vec![0, 2]);
        let kept: Vec<(&str, Vec<&str>)> = t
            .kept
            .iter()
            .map(|k| {
                (
                    k.name.as_str(),
                    k.values.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            vec![
                ("host", vec!["web1", "web2", "web3"]),
                (
                    "time",
                    vec!["2024-05-01T00:00:00Z", "2024-05-01T00:01:00Z", ""]
                ),
                ("a", vec!["1", "", "2.5"]),
            ]
        );
        let err = read(
            "a\n1\n",
            ReadOptions {
                keep: vec!["host".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, FormatError::UnknownColumn { .. }), "{err}");
        let err = read(
            "score,a\n1,2\n",
            ReadOptions {
                keep: vec!["score".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err, FormatError::KeptResultField("score".into()));
        // JSON arrays take the general path when columns are kept.
        let t = read(
            "[[1, 2], [3, 4]]",
            ReadOptions {
                keep: vec!["f1".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.kept[0].values, vec!["2", "4"]);
    }

    #[test]
    fn ragged_and_malformed_rows() {
        let err = read("a,b\n1,2\n3\n", ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::RaggedRow {
                row: 1,
                expected: 2,
                got: 1
            }
        );
        let err = read("[[1,2],[3", ReadOptions::default()).unwrap_err();
        assert!(err.to_string().starts_with("malformed JSON"), "{err}");
        let err = read("a\ninf\n", ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not a finite number"), "{err}");
    }

    #[test]
    fn a_repeated_column_name_is_an_error() {
        let err = read("a,b,a\n1,2,3\n", ReadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FormatError::DuplicateColumn {
                name: "a".into(),
                first: 1,
                second: 3
            }
        );
        // Even when ignored: which of the two was meant is unknown.
        let options = ReadOptions {
            ignore_columns: vec!["a".into()],
            ..ReadOptions::default()
        };
        assert!(matches!(
            read("a,b,a\n1,2,3\n", options),
            Err(FormatError::DuplicateColumn { .. })
        ));
    }

    #[test]
    fn json_shapes() {
        let t = read("[[1, 2], [3, 4]]", ReadOptions::default()).unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read(
            r#"[{"x": 1, "y": 2}, {"y": 4, "x": 3}]"#,
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.columns, vec!["x", "y"]);
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let t = read(r#"{"x": [1, 3], "y": [2, 4]}"#, ReadOptions::default()).unwrap();
        assert_eq!(t.data, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        let err = read(r#"[{"x": 1}, {"x": "high"}]"#, ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("row 1 has \"high\""), "{err}");
        let err = read(r#"[{"x": 1}, {"y": 2}]"#, ReadOptions::default()).unwrap_err();
        assert!(matches!(err, FormatError::Missing { .. }));
    }

    #[test]
    fn ndjson_lines() {
        let t = read(
            "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": 3}\n",
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.data.column(0).to_vec(), vec![1.0, 2.0, 3.0]);
        let err = read_table(
            b"{\"a\": 1}\n{\"a\": }\n",
            &ReadOptions {
                format: Some(Format::Ndjson),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn label_column_is_taken_out() {
        let t = read(
            "f0,f1,label\n1,2,0\n3,4,1\n",
            ReadOptions {
                label_column: Some("label".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(t.columns, vec!["f0", "f1"]);
        assert_eq!(t.labels, Some(vec![0.0, 1.0]));
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(
            read("", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
        assert_eq!(
            read("a,b\n", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
        assert_eq!(
            read("[]", ReadOptions::default()).unwrap_err(),
            FormatError::NoRows
        );
    }
}
