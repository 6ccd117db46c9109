//! Parquet input: a flat schema's rows as raw cells, so Parquet goes through the same
//! column selection and missing-value policies as CSV and JSON. Read with the `parquet`
//! crate's row API (no Arrow, to keep builds and Lambda zips small); snappy, gzip and lz4
//! pages are supported.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::cells::{Cell, RawTable, text_cell};
use super::error::FormatError;

fn parquet_error(e: impl std::fmt::Display) -> FormatError {
    FormatError::Parquet(e.to_string())
}

fn cell(field: &Field) -> Cell {
    match field {
        Field::Null => Cell::Missing,
        Field::Bool(b) => Cell::Number(f64::from(u8::from(*b))),
        Field::Byte(v) => Cell::Number(f64::from(*v)),
        Field::Short(v) => Cell::Number(f64::from(*v)),
        Field::Int(v) => Cell::Number(f64::from(*v)),
        Field::Long(v) => Cell::Number(*v as f64),
        Field::UByte(v) => Cell::Number(f64::from(*v)),
        Field::UShort(v) => Cell::Number(f64::from(*v)),
        Field::UInt(v) => Cell::Number(f64::from(*v)),
        Field::ULong(v) => Cell::Number(*v as f64),
        Field::Float(v) => Cell::Number(f64::from(*v)),
        Field::Double(v) => Cell::Number(*v),
        Field::Str(s) => text_cell(s),
        other => Cell::Text(other.to_string()),
    }
}

/// Reads a whole Parquet file. The footer is checked first (column chunks inside the
/// file), and the `parquet` crate's own asserts on corrupt metadata are caught: a corrupt
/// file is a [`FormatError`], never a crash (found by the `parquet` fuzz target).
pub(crate) fn read_parquet(bytes: &[u8]) -> Result<RawTable, FormatError> {
    let reader =
        SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(parquet_error)?;
    let file_len = bytes.len() as i64;
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let length = column.compressed_size();
            if start < 0 || length < 0 || start.saturating_add(length) > file_len {
                return Err(FormatError::Parquet(format!(
                    "the file is corrupt: column `{}` lies outside it",
                    column.column_path().string()
                )));
            }
        }
    }
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
    let top_level = schema.root_schema().get_fields().len();
    if top_level != names.len() {
        return Err(FormatError::Parquet(
            "nested columns (structs, lists, maps) are not supported; flatten the schema".into(),
        ));
    }
    // The footer's row count is the writer's word: it sizes nothing beyond a start.
    let declared = usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    let read_rows = || -> Result<Vec<Vec<Cell>>, FormatError> {
        let mut rows = Vec::with_capacity(declared.min(1 << 16));
        for row in reader.get_row_iter(None).map_err(parquet_error)? {
            let row = row.map_err(parquet_error)?;
            rows.push(row.get_column_iter().map(|(_, f)| cell(f)).collect());
        }
        Ok(rows)
    };
    let rows =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(read_rows)).map_err(|_| {
            FormatError::Parquet("the file is corrupt: its pages cannot be decoded".into())
        })??;
    Ok(RawTable { names, rows })
}
