//! CSV: separator detection, a streaming reader straight into a table, and a raw reader
//! (for time series).

use super::cells::{Cell, RawTable, default_names, text_cell};
use super::error::FormatError;
use super::options::ReadOptions;
use super::table::{Table, TableBuilder};

/// The separator of a CSV text: the first of tab, `;`, `|` found the same non-zero
/// number of times (outside quotes) on each of the first lines, else `,`. The others come
/// before the comma because a file separated by them may hold decimal commas (`1,5;2,0`),
/// while a comma file rarely has the same count of another separator on every line.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    // The last line may be cut by the window.
    let lines = if lines.len() > 2 {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let count = |line: &str, d: u8| {
        let mut quoted = false;
        line.bytes()
            .filter(|&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                !quoted && b == d
            })
            .count()
    };
    let consistent = |d: u8| {
        lines.first().is_some_and(|first| {
            let n = count(first, d);
            n > 0 && lines.iter().all(|l| count(l, d) == n)
        })
    };
    [b'\t', b';', b'|']
        .into_iter()
        .find(|&d| consistent(d))
        .unwrap_or(b',')
}

/// Reads CSV straight into a table, record by record (no intermediate cell table, so
/// memory stays near the size of the numeric matrix).
pub(super) fn read_csv(bytes: &[u8], options: &ReadOptions) -> Result<Table, FormatError> {
    let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(bytes));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut record = csv::StringRecord::new();
    let mut builder: Option<TableBuilder> = None;
    let mut line = 0usize;
    loop {
        line += 1;
        let more = reader
            .read_record(&mut record)
            .map_err(|e| FormatError::Csv {
                line,
                message: e.to_string(),
            })?;
        if !more {
            break;
        }
        // Skip blank lines.
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        let table = match builder.as_mut() {
            Some(b) => b,
            None => {
                let has_header = options.header.unwrap_or_else(|| {
                    record.iter().any(|f| matches!(text_cell(f), Cell::Text(_)))
                });
                let names = if has_header {
                    record
                        .iter()
                        .enumerate()
                        .map(|(j, f)| {
                            if f.is_empty() {
                                format!("f{j}")
                            } else {
                                f.to_string()
                            }
                        })
                        .collect()
                } else {
                    default_names(record.len())
                };
                let b = builder.insert(TableBuilder::new(names, options)?);
                if has_header {
                    continue;
                }
                b
            }
        };
        if record.len() != table.width() {
            return Err(FormatError::RaggedRow {
                row: table.input_rows,
                expected: table.width(),
                got: record.len(),
            });
        }
        table.push(|j| text_cell(&record[j]))?;
    }
    builder.ok_or(FormatError::NoRows)?.finish()
}

/// Raw cells of a CSV with a header row.
pub(super) fn read_csv_raw(bytes: &[u8]) -> Result<RawTable, FormatError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(bytes))
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| FormatError::Csv {
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| FormatError::Csv {
            line: i + 2,
            message: e.to_string(),
        })?;
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != names.len() {
            return Err(FormatError::RaggedRow {
                row: i,
                expected: names.len(),
                got: record.len(),
            });
        }
        rows.push(record.iter().map(text_cell).collect());
    }
    Ok(RawTable { names, rows })
}
