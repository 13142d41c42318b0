//! DESI's afterburners (`emline`, `qso_mgii`, `qso_qn`, found beside each coadd) and
//! the fastspecfit VAC (`ingest --vac`), joined onto each coadd's catalogue rows on
//! (TARGETID, survey, program) as part of the core columns. The products and their
//! columns are [`desi_io::joins`]'; this module finds the files, reads each once per
//! run, and turns them into catalogue columns. An absent file or row gives nulls; an
//! unreadable afterburner gives nulls and a note naming it (the coadd is still ingested).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ard_core::ColumnSpec;
use ard_store::StoreError;
use arrow_array::{Array, ArrayRef, BooleanArray};
use desi_io::joins::{JoinTable, Product, AFTERBURNERS, FASTSPEC, PRODUCTS};

use crate::{IngestError, PixelPlan};

/// The joined columns' specs, in catalogue order (after the other core columns).
pub fn column_specs() -> Vec<ColumnSpec> {
    PRODUCTS
        .iter()
        .flat_map(|p| {
            p.columns.iter().map(move |c| {
                ColumnSpec::new(
                    &p.column_name(c),
                    c.data_type.clone(),
                    c.unit,
                    &format!("{} ({}[{}] {}: {}); null without the file or its row", c.description, p.name, c.hdu, c.name, p.title),
                )
            })
        })
        .collect()
}

/// The afterburner files present beside `coadd`.
pub fn afterburners_of(coadd: &Path) -> Vec<PathBuf> {
    AFTERBURNERS.iter().filter_map(|p| desi_io::joins::afterburner_path(coadd, p)).collect()
}

/// Adds the VACs (`ingest --vac`) to every input of the plan, so that the manifest
/// records them and a changed VAC re-runs the pixels. Each must be a fastspecfit VAC.
pub fn attach_vacs(plan: &mut PixelPlan, vacs: &[PathBuf]) -> Result<(), IngestError> {
    let mut absolute = Vec::new();
    for v in vacs {
        let a = v.canonicalize().map_err(|e| StoreError::io(v, e))?;
        if !desi_io::joins::is_fastspec_vac(&a)? {
            return Err(IngestError::NotAVac { path: a });
        }
        absolute.push(a);
    }
    for inp in plan.values_mut().flatten() {
        for a in &absolute {
            if !inp.joins.contains(a) {
                inp.joins.push(a.clone());
            }
        }
    }
    Ok(())
}

/// Which product a joined file is: an afterburner by its name, else the VAC.
fn product_of(path: &Path) -> &'static Product {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    AFTERBURNERS.iter().copied().find(|p| name.starts_with(&format!("{}-", p.name))).unwrap_or(&FASTSPEC)
}

/// The joined tables of one input: each afterburner read whole (a few hundred rows), each
/// VAC's rows for the run's pixels read once per process. An afterburner that cannot be
/// read is skipped with a note (returned); a VAC that cannot be read fails the input.
pub(crate) fn tables_of(
    joins: &[PathBuf],
    pixel: u64,
    run_pixels: &BTreeSet<u64>,
) -> Result<(Vec<Arc<JoinTable>>, Vec<String>), IngestError> {
    let (mut tables, mut notes) = (Vec::new(), Vec::new());
    for path in joins {
        let product = product_of(path);
        if product.name == FASTSPEC.name {
            tables.push(shared_rows(&VACS, path, pixel, run_pixels, |pixels| {
                Ok(desi_io::joins::read_vac_for_pixels(path, Some(pixels), desi_io::joins::VAC_CHUNK_ROWS)?)
            })?);
            continue;
        }
        match desi_io::joins::read_afterburner(path, product) {
            Ok(t) => tables.push(Arc::new(t)),
            Err(e) => {
                let note = format!(
                    "{} not joined ({}_* columns null): {}",
                    product.name,
                    product.prefix.trim_end_matches('_'),
                    ard_core::error::chain(&e)
                );
                tracing::warn!("{note}");
                notes.push(note);
            }
        }
    }
    Ok((tables, notes))
}

/// The joined columns of `n` rows with `targetids` of one (survey, program), in
/// [`column_specs`] order. Where several tables of one product (VACs) have a row, the
/// first given wins.
pub(crate) fn columns(tables: &[Arc<JoinTable>], targetids: &[i64], survey: &str, program: &str) -> Result<Vec<ArrayRef>, IngestError> {
    let mut out = Vec::new();
    for p in PRODUCTS {
        let mine: Vec<&Arc<JoinTable>> = tables.iter().filter(|t| t.product.name == p.name).collect();
        let mut acc: Vec<ArrayRef> = p.columns.iter().map(|c| arrow_array::new_null_array(&c.data_type, targetids.len())).collect();
        // Last to first, so that the first table's rows are laid over the others.
        for t in mine.iter().rev() {
            let present = BooleanArray::from(targetids.iter().map(|&id| t.row(id, survey, program).is_some()).collect::<Vec<_>>());
            for (a, new) in acc.iter_mut().zip(t.columns_for(targetids, survey, program)?) {
                *a = arrow_select::zip::zip(&present, &new, a)
                    .map_err(|e| StoreError::arrow(format!("the {} columns joined from {}", p.name, t.path.display()), e))?;
            }
        }
        debug_assert!(acc.iter().all(|a| a.len() == targetids.len()));
        out.extend(acc);
    }
    Ok(out)
}

/// A table's rows for a set of pixels.
pub(crate) struct HeldRows<T> {
    pixels: BTreeSet<u64>,
    table: Arc<T>,
}

/// A cache of tables read for the pixels of a run, by path, size and mtime.
pub(crate) type RowsCache<T> = OnceLock<Mutex<BTreeMap<(PathBuf, u64, Option<std::time::SystemTime>), HeldRows<T>>>>;

static VACS: RowsCache<JoinTable> = OnceLock::new();

/// A large table's rows for `pixel`, read once per process for every pixel of the run
/// (`run_pixels`) however many coadds they serve, by `read` (given the pixels to keep).
/// A pixel outside the rows held (a later `--watch` round) reads the file again for
/// both. Kept by path, size and mtime, so that a replaced file is read again.
pub(crate) fn shared_rows<T>(
    cache: &'static RowsCache<T>,
    path: &Path,
    pixel: u64,
    run_pixels: &BTreeSet<u64>,
    read: impl FnOnce(&BTreeSet<u64>) -> Result<T, IngestError>,
) -> Result<Arc<T>, IngestError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let tables = cache.get_or_init(Default::default);
    // Held while reading, so that parallel pixels wait for one read instead of each reading.
    let mut guard = tables.lock().map_err(|_| IngestError::SharedTablePoisoned { path: path.to_path_buf() })?;
    let mut pixels: BTreeSet<u64> = run_pixels.iter().copied().chain([pixel]).collect();
    if let Some(held) = guard.get(&key) {
        if held.pixels.contains(&pixel) {
            return Ok(held.table.clone());
        }
        pixels.extend(&held.pixels);
    }
    let table = Arc::new(read(&pixels)?);
    guard.retain(|k, _| k.0 != key.0);
    guard.insert(key, HeldRows { pixels, table: table.clone() });
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_follow_the_products() {
        let specs = column_specs();
        assert_eq!(specs.len(), PRODUCTS.iter().map(|p| p.columns.len()).sum::<usize>());
        assert_eq!(specs[0].name, "rr_oii_flux");
        assert!(specs.iter().any(|s| s.name == "fsf_logmstar" && s.description.contains("H0 = 70")));
        assert!(specs.iter().any(|s| s.name == "mgii_is_qso_mgii" && s.data_type == arrow_schema::DataType::Boolean));
    }

    #[test]
    fn products_are_told_by_name() {
        assert_eq!(product_of(Path::new("/x/emline-main-dark-27247.fits")).prefix, "rr_");
        assert_eq!(product_of(Path::new("/x/qso_qn-main-dark-27247.fits.gz")).prefix, "qn_");
        assert_eq!(product_of(Path::new("/x/fastspec-iron-main-dark.fits")).prefix, "fsf_");
    }
}
