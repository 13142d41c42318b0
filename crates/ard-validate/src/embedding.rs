//! Validation of an embedding column against the simulator's classes: for every object,
//! its k nearest neighbours by cosine (exact search, the query itself left out) and the
//! fraction that share its simulated class (BGS, LRG, ELG, GREENPEA), against the
//! fraction expected by chance; for Green Peas also the worst case (the issue's "≥ 8 of
//! 10") and precision@20, the Green Pea workflow's figure of merit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::{truth_batches, TruthColumns, ValidateError};

/// Neighbourhood purity of one class.
#[derive(Debug, Clone)]
pub struct ClassPurity {
    /// Simulated class.
    pub class: String,
    /// Objects of the class with an embedding.
    pub n: usize,
    /// Mean fraction of their k nearest neighbours of the same class.
    pub purity: f64,
    /// That fraction for random neighbours (the class's share of the table).
    pub chance: f64,
    /// Fewest same-class neighbours of any member.
    pub worst: usize,
    /// Mean same-class fraction among the 20 nearest.
    pub precision_at_20: f64,
}

fn read_classes(path: &Path) -> Result<HashMap<i64, String>, ValidateError> {
    let mut out = HashMap::new();
    for batch in truth_batches(path)? {
        let cols = TruthColumns { path, batch: &batch };
        let (ids, class) = (cols.i64("targetid")?, cols.str("sim_class")?);
        for i in 0..batch.num_rows() {
            out.insert(ids.value(i), class.value(i).to_string());
        }
    }
    Ok(out)
}

/// Neighbourhood purity per simulated class of `column` in the ARD `ard`.
pub fn run(ard: &Path, truth: &Path, column: &str, k: usize) -> Result<Vec<ClassPurity>, ValidateError> {
    let classes = read_classes(truth)?;
    let (ix, _) = ard_search::load::load(ard, column)?;
    let labels: Vec<Option<&String>> = ix.keys.iter().map(|key| classes.get(&key.targetid)).collect();
    let queries: Vec<Vec<f32>> = (0..ix.len()).map(|r| ix.query_of(r)).collect();
    let kk = k.max(20) + 1;
    let mut found = Vec::with_capacity(ix.len());
    for chunk in queries.chunks(256) {
        found.extend(ix.search(chunk, kk, None)?);
    }
    let mut per: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (row, ns) in found.iter().enumerate() {
        let Some(mine) = labels[row] else { continue };
        let others: Vec<usize> = ns.iter().map(|n| n.row).filter(|&r| r != row).collect();
        let same = |m: usize| others.iter().take(m).filter(|&&r| labels[r] == Some(mine)).count();
        per.entry(mine.clone()).or_default().push((same(k), same(20)));
    }
    let total = labels.iter().filter(|l| l.is_some()).count().max(1);
    Ok(per
        .into_iter()
        .map(|(class, v)| ClassPurity {
            n: v.len(),
            purity: v.iter().map(|x| x.0 as f64).sum::<f64>() / (v.len() * k) as f64,
            chance: v.len() as f64 / total as f64,
            worst: v.iter().map(|x| x.0).min().unwrap_or(0),
            precision_at_20: v.iter().map(|x| x.1 as f64 / 20.0).sum::<f64>() / v.len() as f64,
            class,
        })
        .collect())
}

/// The table for VALIDATION.md.
pub fn markdown(rows: &[ClassPurity], column: &str, k: usize) -> String {
    let mut s = format!(
        "| class | objects | same class among {k} nearest ({column}) | chance | worst object | precision@20 |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {}/{k} | {:.3} |\n",
            r.class, r.n, r.purity, r.chance, r.worst, r.precision_at_20
        ));
    }
    s
}
