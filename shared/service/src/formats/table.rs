//! The numeric table and its builder: column selection (by name, by the model's features,
//! or all but the ignored ones), the value checks and the missing-value policy, applied as
//! rows arrive.

use std::collections::HashMap;

use ndarray::Array2;

use super::MAX_MAGNITUDE;
use super::cells::{Cell, RawTable, cell_text, default_names};
use super::error::FormatError;
use super::options::{MissingPolicy, ReadOptions};

/// A numeric table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Feature names, one per column of `data`.
    pub columns: Vec<String>,
    /// Rows × features.
    pub data: Array2<f64>,
    /// Index (0-based) in the input of each row of `data`; differs only when rows were
    /// dropped.
    pub source_rows: Vec<usize>,
    /// Number of data rows in the input.
    pub input_rows: usize,
    /// Values of the label column, when one was asked for.
    pub labels: Option<Vec<f64>>,
    /// The `keep` columns: name and text of every input row (dropped rows included).
    pub kept: Vec<KeptColumn>,
}

/// A column carried into the results as text.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptColumn {
    /// Column name.
    pub name: String,
    /// One value per input row (`""` where missing).
    pub values: Vec<String>,
}

pub(super) fn table_from_raw(raw: RawTable, options: &ReadOptions) -> Result<Table, FormatError> {
    if raw.rows.is_empty() {
        return Err(FormatError::NoRows);
    }
    let mut builder = TableBuilder::new(raw.names, options)?;
    for row in &raw.rows {
        builder.push(|j| row[j].clone())?;
    }
    builder.finish()
}

pub(crate) fn column_index(names: &[String], wanted: &str) -> Result<usize, FormatError> {
    names
        .iter()
        .position(|n| n == wanted)
        .ok_or_else(|| FormatError::UnknownColumn {
            name: wanted.to_string(),
            available: names.join(", "),
        })
}

/// Checks that no two columns share a name (selecting, ignoring or explaining by name
/// would be ambiguous).
pub(crate) fn check_unique_names(names: &[String]) -> Result<(), FormatError> {
    let mut seen = HashMap::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name.as_str(), j) {
            return Err(FormatError::DuplicateColumn {
                name: name.clone(),
                first: first + 1,
                second: j + 1,
            });
        }
    }
    Ok(())
}

/// The input columns that feed a model's `features`: by name, or by position when the
/// input's columns are unnamed (`f0, f1, ...`: no header, or JSON arrays).
fn model_selection(names: &[String], features: &[String]) -> Result<Vec<usize>, FormatError> {
    if *names == default_names(names.len()) {
        if names.len() != features.len() {
            return Err(FormatError::FeatureCount {
                expected: features.len(),
                got: names.len(),
                names: features.join(", "),
            });
        }
        return Ok((0..names.len()).collect());
    }
    features
        .iter()
        .map(|f| {
            names
                .iter()
                .position(|n| n == f)
                .ok_or_else(|| FormatError::MissingFeature {
                    name: f.clone(),
                    available: names.join(", "),
                })
        })
        .collect()
}

/// Turns rows of cells into a numeric table, applying column selection and the
/// missing-value policy as rows arrive.
pub(super) struct TableBuilder {
    names: Vec<String>,
    selected: Vec<usize>,
    label_index: Option<usize>,
    missing: MissingPolicy,
    values: Vec<f64>,
    source_rows: Vec<usize>,
    /// (kept row, selected column) of each value to impute.
    missing_cells: Vec<(usize, usize)>,
    labels: Option<Vec<f64>>,
    pub(super) input_rows: usize,
    /// Indices of the `keep` columns, with their values so far.
    kept: Vec<(usize, KeptColumn)>,
    /// Training statistics to fill gaps with, in `selected` order.
    fill: Option<super::options::TrainingFill>,
}

impl TableBuilder {
    pub(super) fn new(names: Vec<String>, options: &ReadOptions) -> Result<Self, FormatError> {
        check_unique_names(&names)?;
        let label_index = options
            .label_column
            .as_deref()
            .map(|l| column_index(&names, l))
            .transpose()?;
        for name in &options.ignore_columns {
            column_index(&names, name)?;
        }
        let selected: Vec<usize> = match (&options.columns, &options.model_columns) {
            (Some(cols), _) => cols
                .iter()
                .map(|c| column_index(&names, c))
                .collect::<Result<_, _>>()?,
            (None, Some(features)) => model_selection(&names, features)?,
            (None, None) => (0..names.len())
                .filter(|&j| Some(j) != label_index && !options.ignore_columns.contains(&names[j]))
                .collect(),
        };
        if selected.is_empty() {
            return Err(FormatError::NoColumns);
        }
        let kept = options
            .keep
            .iter()
            .map(|name| {
                if super::options::RESULT_FIELDS.contains(&name.as_str()) {
                    return Err(FormatError::KeptResultField(name.clone()));
                }
                Ok((
                    column_index(&names, name)?,
                    KeptColumn {
                        name: name.clone(),
                        values: Vec::new(),
                    },
                ))
            })
            .collect::<Result<_, FormatError>>()?;
        // The model's statistics line up with the selection only when the model picked it.
        let fill = match (&options.columns, &options.training_fill) {
            (None, Some(fill)) if options.model_columns.is_some() => Some(fill.clone()),
            _ => None,
        };
        Ok(Self {
            names,
            selected,
            label_index,
            missing: options.missing,
            values: Vec::new(),
            source_rows: Vec::new(),
            missing_cells: Vec::new(),
            labels: label_index.map(|_| Vec::new()),
            input_rows: 0,
            kept,
            fill,
        })
    }

    /// Number of fields each input row must have.
    pub(super) fn width(&self) -> usize {
        self.names.len()
    }

    /// Adds one input row; `cell(j)` gives its j-th field.
    pub(super) fn push(&mut self, cell: impl Fn(usize) -> Cell) -> Result<(), FormatError> {
        let i = self.input_rows;
        self.input_rows += 1;
        for (j, column) in &mut self.kept {
            column.values.push(cell_text(&cell(*j)).unwrap_or_default());
        }
        let start = self.values.len();
        let kept = self.source_rows.len();
        let missing_before = self.missing_cells.len();
        for (out_j, &j) in self.selected.iter().enumerate() {
            match cell(j) {
                Cell::Number(v) if v.is_finite() && v.abs() <= MAX_MAGNITUDE => {
                    self.values.push(v);
                }
                Cell::Number(v) if v.is_finite() => {
                    return Err(FormatError::TooLarge {
                        column: self.names[j].clone(),
                        row: i,
                        value: v.to_string(),
                    });
                }
                Cell::Number(v) => {
                    return Err(FormatError::NonFinite {
                        column: self.names[j].clone(),
                        row: i,
                        value: v.to_string(),
                    });
                }
                Cell::Text(t) => {
                    return Err(FormatError::NonNumeric {
                        column: self.names[j].clone(),
                        row: i,
                        value: t,
                    });
                }
                Cell::Missing => match self.missing {
                    MissingPolicy::Error => {
                        return Err(FormatError::Missing {
                            column: self.names[j].clone(),
                            row: i,
                        });
                    }
                    MissingPolicy::Drop => {
                        self.values.truncate(start);
                        self.missing_cells.truncate(missing_before);
                        return Ok(());
                    }
                    MissingPolicy::Mean | MissingPolicy::Median => {
                        self.values.push(f64::NAN);
                        self.missing_cells.push((kept, out_j));
                    }
                },
            }
        }
        if let (Some(labels), Some(l)) = (self.labels.as_mut(), self.label_index) {
            match cell(l) {
                Cell::Number(v) => labels.push(v),
                other => {
                    return Err(FormatError::NonNumeric {
                        column: self.names[l].clone(),
                        row: i,
                        value: match other {
                            Cell::Text(t) => t,
                            _ => String::new(),
                        },
                    });
                }
            }
        }
        self.source_rows.push(i);
        Ok(())
    }

    pub(super) fn finish(self) -> Result<Table, FormatError> {
        if self.source_rows.is_empty() {
            return Err(FormatError::NoRows);
        }
        let width = self.selected.len();
        let mut data = Array2::from_shape_vec((self.source_rows.len(), width), self.values)
            .map_err(|e| FormatError::Csv {
                line: 0,
                message: e.to_string(),
            })?;
        if !self.missing_cells.is_empty() {
            let column_names: Vec<&str> = self
                .selected
                .iter()
                .map(|&j| self.names[j].as_str())
                .collect();
            impute(
                &mut data,
                &self.missing_cells,
                self.missing,
                self.fill.as_ref(),
                &column_names,
            )?;
        }
        Ok(Table {
            columns: self
                .selected
                .iter()
                .map(|&j| self.names[j].clone())
                .collect(),
            data,
            source_rows: self.source_rows,
            input_rows: self.input_rows,
            labels: self.labels,
            kept: self.kept.into_iter().map(|(_, column)| column).collect(),
        })
    }
}

/// Fills the missing `cells` (row, column) of `data`: from the model's training
/// statistics when scoring with one, else from the present values of the batch.
fn impute(
    data: &mut Array2<f64>,
    cells: &[(usize, usize)],
    policy: MissingPolicy,
    training: Option<&super::options::TrainingFill>,
    names: &[&str],
) -> Result<(), FormatError> {
    let mut fill: HashMap<usize, f64> = HashMap::new();
    for &(_, j) in cells {
        if fill.contains_key(&j) {
            continue;
        }
        if let Some(training) = training {
            let learnt = match policy {
                MissingPolicy::Median => &training.medians,
                _ => &training.means,
            };
            let value = learnt
                .get(j)
                .copied()
                .ok_or_else(|| FormatError::NoTrainingStatistics(names[j].to_string()))?;
            fill.insert(j, value);
            continue;
        }
        let mut present: Vec<f64> = data
            .column(j)
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        if present.is_empty() {
            return Err(FormatError::EmptyColumn(names[j].to_string()));
        }
        let value = match policy {
            MissingPolicy::Median => {
                present.sort_unstable_by(f64::total_cmp);
                let n = present.len();
                if n % 2 == 1 {
                    present[n / 2]
                } else {
                    (present[n / 2 - 1] + present[n / 2]) / 2.0
                }
            }
            _ => present.iter().sum::<f64>() / present.len() as f64,
        };
        fill.insert(j, value);
    }
    for &(i, j) in cells {
        data[[i, j]] = fill[&j];
    }
    Ok(())
}
