//! The raw layer every reader produces: rows of cells (missing, text or number) under
//! column names, before any column selection or numeric conversion.

/// One raw cell before numeric conversion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Missing,
    Text(String),
    Number(f64),
}

/// Raw table: names and rows of cells.
pub(crate) struct RawTable {
    pub(crate) names: Vec<String>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

const MISSING_MARKERS: &[&str] = &["", "na", "n/a", "nan", "null", "none", "?"];

pub(crate) fn text_cell(field: &str) -> Cell {
    let t = field.trim();
    if t.len() <= 4 && MISSING_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(t)) {
        Cell::Missing
    } else {
        match t.parse::<f64>() {
            Ok(v) => Cell::Number(v),
            Err(_) => Cell::Text(t.to_string()),
        }
    }
}

pub(super) fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|j| format!("f{j}")).collect()
}

/// A cell as text (`None` when missing): numbers that are whole print without a fraction,
/// so a timestamp, id or host read as a number comes back as written.
pub(crate) fn cell_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Missing => None,
        Cell::Text(t) => Some(t.clone()),
        Cell::Number(v) => Some(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", *v as i64)
        } else {
            v.to_string()
        }),
    }
}
