//! What fitting a detector will cost, estimated from the shape of the data before any
//! allocation, so that a caller can refuse work that would exhaust memory or run for
//! minutes (two rows of 100,000 columns ask PCA for an 80 GB covariance matrix).
//!
//! The estimates are upper-bound-leaning: they count the terms that are certain (the
//! `d × d` matrices and `d³` eigen-decompositions of PCA and of the neighbour index's
//! rotation, Random Cut Forest's per-tree boxes, copies of the data) and ignore constant
//! overheads. Work is in "operations" (≈ one multiply-add); this machine does about 10⁹
//! of them a second on one core.

use crate::detectors::SingleParams;
use crate::ensemble::{EnsembleParams, Scaling};
use crate::registry::AlgorithmParams;

/// Estimated peak memory and work of fitting and scoring the training rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Peak bytes allocated beyond the input matrix.
    pub memory_bytes: u64,
    /// Operations (≈ multiply-adds).
    pub work: u64,
}

impl Cost {
    fn plus(self, other: Cost) -> Cost {
        Cost {
            // Ensemble members are fitted one after another; their models are all kept.
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            work: self.work.saturating_add(other.work),
        }
    }
}

/// A limit on [`Cost`]; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Most bytes one fit may allocate.
    pub memory_bytes: Option<u64>,
    /// Most operations one fit may take.
    pub work: Option<u64>,
}

/// Which limit a fit would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// Too much memory: (estimated, limit) in bytes.
    Memory(u64, u64),
    /// Too much work: (estimated, limit) in operations.
    Work(u64, u64),
}

impl Budget {
    /// No limit.
    pub const UNLIMITED: Budget = Budget {
        memory_bytes: None,
        work: None,
    };

    /// The first limit `cost` exceeds, if any.
    pub fn check(&self, cost: Cost) -> Option<OverBudget> {
        if let Some(limit) = self.memory_bytes
            && cost.memory_bytes > limit
        {
            return Some(OverBudget::Memory(cost.memory_bytes, limit));
        }
        if let Some(limit) = self.work
            && cost.work > limit
        {
            return Some(OverBudget::Work(cost.work, limit));
        }
        None
    }
}

fn mul(values: &[u64]) -> u64 {
    values.iter().fold(1u64, |acc, &v| acc.saturating_mul(v))
}

/// `⌈log₂ n⌉`, at least 1.
fn log2(n: u64) -> u64 {
    u64::from(64 - n.max(2).saturating_sub(1).leading_zeros())
}

/// A `d × d` symmetric eigen-decomposition: a few `d × d` matrices and ~`10 d³` work.
fn eigen(d: u64) -> Cost {
    Cost {
        memory_bytes: mul(&[5, d, d, 8]),
        work: mul(&[10, d, d, d]),
    }
}

impl AlgorithmParams {
    /// Estimated cost of fitting on `rows × cols` and scoring those rows.
    pub fn cost(&self, rows: usize, cols: usize) -> Cost {
        match self {
            Self::Single(p) => p.cost(rows, cols),
            Self::Ensemble(p) => p.cost(rows, cols),
            Self::Auto(p) => p.ensemble().cost(rows, cols),
        }
    }
}

impl EnsembleParams {
    /// Estimated cost of fitting on `rows × cols` and scoring those rows.
    pub fn cost(&self, rows: usize, cols: usize) -> Cost {
        let scaled_copy = match self.scaling {
            Scaling::None => Cost::default(),
            // The scaled copy of the rows, and one of the rows to score.
            Scaling::Robust => Cost {
                memory_bytes: mul(&[2, rows as u64, cols as u64, 8]),
                work: mul(&[rows as u64, cols as u64, log2(rows as u64)]),
            },
        };
        self.members
            .iter()
            .map(|m| m.cost(rows, cols))
            .fold(scaled_copy, Cost::plus)
    }
}

impl SingleParams {
    /// Estimated cost of fitting on `rows × cols` and scoring those rows.
    pub fn cost(&self, rows: usize, cols: usize) -> Cost {
        let (n, d) = (rows as u64, cols as u64);
        let data_copy = mul(&[n, d, 8]);
        match self {
            // Per-column sorts and ranks: a few copies of the data, n log n per column.
            Self::Ecod(_) | Self::Copod(_) | Self::Hbos(_) | Self::Mad(_) => Cost {
                memory_bytes: mul(&[4, data_copy]),
                work: mul(&[n, d, log2(n), 4]),
            },
            Self::Iforest(p) => {
                let psi = (p.max_samples as u64).min(n).max(1);
                let trees = p.n_estimators as u64;
                Cost {
                    // Nodes per tree, a sample copy per thread, the scores.
                    memory_bytes: mul(&[trees, psi, 64]).saturating_add(mul(&[psi, d, 8, 4])),
                    work: mul(&[trees, n.saturating_add(psi), log2(psi), 4])
                        .saturating_add(mul(&[trees, psi, d])),
                }
            }
            Self::Knn(p) => {
                let reference = p.max_reference_rows.map_or(n, |cap| n.min(cap as u64));
                neighbours(n, reference, d, p.n_neighbors as u64)
            }
            Self::Lof(p) => neighbours(n, n, d, p.n_neighbors as u64),
            Self::Pca(_) => {
                let gram = Cost {
                    memory_bytes: mul(&[2, data_copy]),
                    work: mul(&[n, d, d]),
                };
                gram.plus(eigen(d))
            }
            Self::Rcf(p) => {
                let trees = p.num_trees as u64;
                let sample = (p.sample_size as u64).max(1);
                Cost {
                    // Every tree keeps bounding boxes over all dimensions for its sample.
                    memory_bytes: mul(&[trees, sample, d, 8]),
                    work: mul(&[trees, n, log2(sample), d]),
                }
            }
        }
    }
}

/// The kd-tree index over `reference` rows (rotated from 12 dimensions on) and a
/// k-neighbour query per row of `n`.
fn neighbours(n: u64, reference: u64, d: u64, k: u64) -> Cost {
    let tree = Cost {
        memory_bytes: mul(&[3, reference, d, 8]).saturating_add(mul(&[n, k.saturating_add(1), 16])),
        // A query visits ~k leaves of 32 rows each in low dimensions; in high dimensions
        // it degrades towards a scan of every reference row, which the min() bounds.
        work: mul(&[
            n,
            d,
            log2(reference),
            (k.saturating_add(1) * 32).min(reference.max(1)),
        ]),
    };
    if d >= 12 { tree.plus(eigen(d)) } else { tree }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_inputs_cost_what_their_square_matrices_cost() {
        let pca = AlgorithmParams::default_for("pca").unwrap();
        let cost = pca.cost(2, 100_000);
        // 100,000² doubles is 80 GB, times the copies an eigen-decomposition needs.
        assert!(cost.memory_bytes >= 80_000_000_000, "{cost:?}");
        for name in ["lof", "knn", "ensemble"] {
            let cost = AlgorithmParams::default_for(name).unwrap().cost(2, 100_000);
            assert!(cost.memory_bytes >= 80_000_000_000, "{name}: {cost:?}");
        }
        let rcf = AlgorithmParams::default_for("rcf")
            .unwrap()
            .cost(2, 100_000);
        assert!(rcf.memory_bytes >= 10_000_000_000, "{rcf:?}");
    }

    #[test]
    fn ordinary_inputs_fit_a_small_budget() {
        let budget = Budget {
            memory_bytes: Some(1 << 30),
            work: Some(30_000_000_000),
        };
        for info in crate::ALGORITHMS {
            let params = AlgorithmParams::default_for(info.name).unwrap();
            // The HTTP API's largest request (200,000 rows) of ten features.
            let cost = params.cost(200_000, 10);
            assert_eq!(budget.check(cost), None, "{}: {cost:?}", info.name);
        }
    }

    #[test]
    fn the_first_exceeded_limit_is_named() {
        let budget = Budget {
            memory_bytes: Some(100),
            work: Some(10),
        };
        let over = Cost {
            memory_bytes: 200,
            work: 5,
        };
        assert_eq!(budget.check(over), Some(OverBudget::Memory(200, 100)));
        let slow = Cost {
            memory_bytes: 50,
            work: 50,
        };
        assert_eq!(budget.check(slow), Some(OverBudget::Work(50, 10)));
        assert_eq!(Budget::UNLIMITED.check(over), None);
    }

    #[test]
    fn estimates_saturate_instead_of_overflowing() {
        let pca = AlgorithmParams::default_for("pca").unwrap();
        let cost = pca.cost(usize::MAX, usize::MAX);
        assert_eq!(cost.memory_bytes, u64::MAX);
    }
}
