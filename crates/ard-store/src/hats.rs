//! HATS metadata, written as hats 0.11 / lsdb 0.11 write it (compare
//! `lsdb.from_dataframe(...).to_hats(..., as_collection=True)`):
//!
//! * `hats.properties` (and its legacy copy `properties`);
//! * `partition_info.csv` (`Norder,Npix`);
//! * `dataset/_common_metadata` (schema only) and `dataset/_metadata` (every leaf's
//!   row groups, `file_path` relative to `dataset/`);
//! * `skymap.fits` and `point_map.fits`: explicit (sparse) NESTED HEALPix maps of row
//!   counts at order 8 (`hats_skymap_order`), binary table PIXEL/VALUE (int64);
//! * `per_partition_statistics.parquet`: per leaf and row group, min/max/null
//!   count/row count/disk bytes/memory bytes of every numeric column;
//! * the collection's `collection.properties` and the margin cache.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData};
use parquet::file::statistics::Statistics;

use crate::atomic::{commit, temporary_for, write_atomic};
use crate::catalog::{read_i64_column, read_parquet, read_schema, write_parquet, write_schema_only, HEALPIX29};
use crate::layout::{list_pixel_files, pixel_relpath, PARTITION_ORDER};
use crate::StoreError;

/// Order of the sky maps.
pub const SKYMAP_ORDER: u8 = 8;

/// What kind of HATS table a folder holds.
#[derive(Debug, Clone, PartialEq)]
pub enum TableKind {
    /// An object catalogue.
    Object,
    /// A margin cache of `primary` with this threshold in arcsec.
    Margin {
        /// Name of the primary catalogue.
        primary: String,
        /// Threshold, arcsec.
        threshold_arcsec: f64,
    },
    /// A source (per-exposure) table.
    Source,
}

/// Properties that every table of the ARD records.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// `obs_collection`.
    pub name: String,
    /// Kind.
    pub kind: TableKind,
    /// RA column.
    pub ra: String,
    /// Dec column.
    pub dec: String,
    /// Extra `key=value` lines (cosmology, code version, ...).
    pub extra: Vec<(String, String)>,
}

/// A summary of a finalized table.
#[derive(Debug, Clone, Default)]
pub struct TableSummary {
    /// Rows.
    pub n_rows: u64,
    /// Partitions (pixels).
    pub pixels: Vec<u64>,
    /// Bytes on disk of the leaves.
    pub bytes: u64,
}

fn read_footer(path: &Path) -> Result<ParquetMetaData, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
    ParquetMetaDataReader::new().parse_and_finish(&file).map_err(|e| StoreError::parquet(path, e))
}

fn now_utc() -> String {
    // HATS writes minutes precision: 2026-11-26T02:59UTC.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}UTC", rem / 3600, (rem % 3600) / 60)
}

/// Writes all HATS metadata of the table in `dir` from its leaves
/// (`dir/dataset/Norder=6/Dir=*/Npix=*.parquet`). Pixels without a leaf are simply
/// absent. Returns what was found.
pub fn finalize_table(dir: &Path, info: &TableInfo) -> Result<TableSummary, StoreError> {
    let dataset = dir.join("dataset");
    std::fs::create_dir_all(&dataset).map_err(|e| StoreError::io(&dataset, e))?;
    let leaves = list_pixel_files(&dataset, "parquet").map_err(|e| StoreError::io(&dataset, e))?;
    let mut summary = TableSummary::default();
    let mut row_groups: Vec<RowGroupMetaData> = Vec::new();
    let mut first: Option<ParquetMetaData> = None;
    let mut stats_rows: Vec<(u64, usize, RowGroupMetaData)> = Vec::new();
    let mut skymap: BTreeMap<u64, i64> = BTreeMap::new();
    let mut max_rows = 0u64;
    for (pixel, path) in &leaves {
        let meta = read_footer(path)?;
        let rel = pixel_relpath(*pixel, ".parquet").to_string_lossy().replace('\\', "/");
        let n = meta.file_metadata().num_rows() as u64;
        summary.n_rows += n;
        max_rows = max_rows.max(n);
        summary.bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        summary.pixels.push(*pixel);
        for (i, rg) in meta.row_groups().iter().enumerate() {
            let cols = rg
                .columns()
                .iter()
                .map(|c| c.clone().into_builder().set_file_path(rel.clone()).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::parquet(path, e))?;
            let rg2 = rg.clone().into_builder().set_column_metadata(cols).build().map_err(|e| StoreError::parquet(path, e))?;
            stats_rows.push((*pixel, i, rg.clone()));
            row_groups.push(rg2);
        }
        // Sky map: row counts per order-8 pixel, from the _healpix_29 column.
        if let Some(h) = read_i64_column(path, HEALPIX29)? {
            for v in h {
                *skymap.entry((v as u64) >> (2 * (29 - SKYMAP_ORDER as u32))).or_default() += 1;
            }
        }
        if first.is_none() {
            first = Some(meta);
        }
    }
    let Some(first) = first else {
        return Err(StoreError::Layout { path: dir.to_path_buf(), message: "no partitions to finalize".into() });
    };
    // _common_metadata: the schema of the first leaf (all leaves share it).
    let schema = read_schema(&leaves[0].1)?;
    let tmp = temporary_for(&dataset.join("_common_metadata"));
    write_schema_only(&tmp, schema)?;
    commit(&tmp, &dataset.join("_common_metadata"))?;
    // _metadata: the first footer's schema and key-value metadata, every row group.
    let fm = first.file_metadata();
    let file_meta = parquet::file::metadata::FileMetaData::new(
        fm.version(),
        summary.n_rows as i64,
        fm.created_by().map(str::to_string),
        // Without the first leaf's own pixel version (desi_ard.*): it describes one leaf.
        fm.key_value_metadata().map(|kv| kv.iter().filter(|e| !e.key.starts_with("desi_ard.")).cloned().collect()),
        fm.schema_descr_ptr(),
        fm.column_orders().cloned(),
    );
    let mut b = ParquetMetaDataBuilder::new(file_meta);
    for rg in row_groups {
        b = b.add_row_group(rg);
    }
    let md = b.build();
    let mut buf: Vec<u8> = b"PAR1".to_vec();
    let tracked = parquet::file::writer::TrackedWrite::new(&mut buf);
    ParquetMetaDataWriter::new_with_tracked(tracked, &md).finish().map_err(|e| StoreError::parquet(&dataset, e))?;
    write_atomic(&dataset.join("_metadata"), &buf)?;
    // partition_info.csv
    let mut csv = String::from("Norder,Npix\n");
    for p in &summary.pixels {
        csv.push_str(&format!("{PARTITION_ORDER},{p}\n"));
    }
    write_atomic(&dir.join("partition_info.csv"), csv.as_bytes())?;
    // Sky maps.
    for name in ["skymap.fits", "point_map.fits"] {
        write_skymap(&dir.join(name), &skymap)?;
    }
    write_statistics(&dir.join("per_partition_statistics.parquet"), &stats_rows)?;
    // Properties.
    let npix_total = 12u64 << (2 * PARTITION_ORDER as u32);
    let mut props = vec![
        ("obs_collection".to_string(), info.name.clone()),
        (
            "dataproduct_type".to_string(),
            match info.kind {
                TableKind::Object => "object",
                TableKind::Margin { .. } => "margin",
                TableKind::Source => "source",
            }
            .to_string(),
        ),
        ("hats_nrows".to_string(), summary.n_rows.to_string()),
        ("hats_col_ra".to_string(), info.ra.clone()),
        ("hats_col_dec".to_string(), info.dec.clone()),
    ];
    if let TableKind::Margin { primary, threshold_arcsec } = &info.kind {
        props.push(("hats_primary_table_url".into(), primary.clone()));
        props.push(("hats_margin_threshold".into(), format!("{threshold_arcsec:.1}")));
    } else {
        props.push(("hats_col_healpix".into(), HEALPIX29.into()));
        props.push(("hats_col_healpix_order".into(), "29".into()));
    }
    props.extend([
        ("hats_npix_suffix".to_string(), ".parquet".to_string()),
        ("hats_skymap_order".to_string(), SKYMAP_ORDER.to_string()),
        ("hats_max_rows".to_string(), max_rows.to_string()),
        ("hats_estsize".to_string(), (summary.bytes / 1024).max(1).to_string()),
        ("moc_sky_fraction".to_string(), format!("{:.5e}", summary.pixels.len() as f64 / npix_total as f64)),
        ("hats_builder".to_string(), format!("desi-ard v{}", env!("CARGO_PKG_VERSION"))),
        ("hats_creation_date".to_string(), now_utc()),
        ("hats_version".to_string(), "v1.0".to_string()),
        ("hats_order".to_string(), PARTITION_ORDER.to_string()),
    ]);
    props.extend(info.extra.iter().cloned());
    let text = format!("#HATS catalog\n{}", props.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>());
    write_atomic(&dir.join("hats.properties"), text.as_bytes())?;
    write_atomic(&dir.join("properties"), text.as_bytes())?;
    Ok(summary)
}

fn write_skymap(path: &Path, counts: &BTreeMap<u64, i64>) -> Result<(), StoreError> {
    let pix: Vec<i64> = counts.keys().map(|&k| k as i64).collect();
    let val: Vec<i64> = counts.values().copied().collect();
    let schema = Arc::new(Schema::new(vec![Field::new("PIXEL", DataType::Int64, false), Field::new("VALUE", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(pix)), Arc::new(Int64Array::from(val))])
        .map_err(|e| StoreError::arrow(format!("{}: sky map", path.display()), e))?;
    let tmp = temporary_for(path);
    let mut f = ard_fits::FitsFile::create(&tmp)?;
    f.write_primary(&[])?;
    let nside = 1i64 << SKYMAP_ORDER;
    f.write_table(
        "xtension",
        &batch,
        &[
            ard_fits::Key::str("PIXTYPE", "HEALPIX", ""),
            ard_fits::Key::str("INDXSCHM", "EXPLICIT", ""),
            ard_fits::Key::str("ORDERING", "NESTED", ""),
            ard_fits::Key::str("COORDSYS", "C", ""),
            ard_fits::Key::i64("NSIDE", nside, ""),
            ard_fits::Key::i64("OBS_NPIX", counts.len() as i64, ""),
            ard_fits::Key::str("CREATOR", "desi-ard", ""),
        ],
    )?;
    f.close()?;
    commit(&tmp, path)
}

fn stat_f64(s: &Statistics) -> Option<(f64, f64)> {
    match s {
        Statistics::Int32(v) => Some((*v.min_opt()? as f64, *v.max_opt()? as f64)),
        Statistics::Int64(v) => Some((*v.min_opt()? as f64, *v.max_opt()? as f64)),
        Statistics::Float(v) => Some((*v.min_opt()? as f64, *v.max_opt()? as f64)),
        Statistics::Double(v) => Some((*v.min_opt()?, *v.max_opt()?)),
        _ => None,
    }
}

fn write_statistics(path: &Path, rows: &[(u64, usize, RowGroupMetaData)]) -> Result<(), StoreError> {
    let Some((_, _, first)) = rows.first() else { return Ok(()) };
    // Numeric leaf columns of the first row group define the table's columns.
    let names: Vec<(usize, String)> = first
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.statistics().and_then(stat_f64).is_some())
        .map(|(i, c)| (i, c.column_path().string()))
        .collect();
    let mut fields = vec![
        Field::new("Norder", DataType::Int64, false),
        Field::new("Npix", DataType::Int64, false),
        Field::new("row_group_index", DataType::Int64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| PARTITION_ORDER as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0 as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1 as i64))),
    ];
    for (i, name) in &names {
        let (mut mn, mut mx) = (Float64Builder::new(), Float64Builder::new());
        let (mut nulls, mut count, mut disk, mut mem) =
            (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
        for (_, _, rg) in rows {
            let c = &rg.columns()[*i];
            match c.statistics().and_then(stat_f64) {
                Some((a, b)) => {
                    mn.append_value(a);
                    mx.append_value(b);
                }
                None => {
                    mn.append_null();
                    mx.append_null();
                }
            }
            nulls.append_value(c.statistics().and_then(|s| s.null_count_opt()).unwrap_or(0) as i64);
            count.append_value(rg.num_rows());
            disk.append_value(c.compressed_size());
            mem.append_value(c.uncompressed_size());
        }
        for (suffix, dt, arr) in [
            ("min_value", DataType::Float64, Arc::new(mn.finish()) as ArrayRef),
            ("max_value", DataType::Float64, Arc::new(mx.finish()) as ArrayRef),
            ("null_count", DataType::Int64, Arc::new(nulls.finish()) as ArrayRef),
            ("row_count", DataType::Int64, Arc::new(count.finish()) as ArrayRef),
            ("disk_bytes", DataType::Int64, Arc::new(disk.finish()) as ArrayRef),
            ("memory_bytes", DataType::Int64, Arc::new(mem.finish()) as ArrayRef),
        ] {
            fields.push(Field::new(format!("{name}::{suffix}"), dt, true));
            cols.push(arr);
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| StoreError::arrow(format!("{}: statistics", path.display()), e))?;
    let tmp = temporary_for(path);
    write_parquet(&tmp, &batch)?;
    commit(&tmp, path)
}

/// Writes `collection.properties` of the ARD's HATS collection.
pub fn write_collection_properties(collection: &Path, primary: &str, margin: Option<&str>) -> Result<(), StoreError> {
    let mut text = format!("#HATS Collection\nobs_collection={primary}\nhats_primary_table_url={primary}\n");
    if let Some(m) = margin {
        text.push_str(&format!("all_margins={m}\ndefault_margin={m}\n"));
    }
    text.push_str(&format!("hats_builder=desi-ard v{}\nhats_creation_date={}\nhats_version=v1.0\n", env!("CARGO_PKG_VERSION"), now_utc()));
    write_atomic(&collection.join("collection.properties"), text.as_bytes())
}

/// Builds the margin cache of the object catalogue: for every partition P, the rows of
/// other partitions within `threshold_arcsec` of P's boundary (found with cdshealpix's
/// cone coverage of each row, so a row is included wherever its 10″ disc touches P).
/// Leaves are rewritten whole; stale leaves of pixels that no longer have margin
/// rows are removed.
pub fn build_margin(catalog_dir: &Path, margin_dir: &Path, threshold_arcsec: f64, ra: &str, dec: &str) -> Result<usize, StoreError> {
    let leaves = list_pixel_files(&catalog_dir.join("dataset"), "parquet").map_err(|e| StoreError::io(catalog_dir, e))?;
    let partitions: std::collections::BTreeSet<u64> = leaves.iter().map(|l| l.0).collect();
    let radius = (threshold_arcsec / 3600.0).to_radians();
    let mut parts: BTreeMap<u64, Vec<RecordBatch>> = BTreeMap::new();
    for (pixel, path) in &leaves {
        let batch = read_parquet(path)?;
        let columns = crate::catalog::Columns::new(path, &batch);
        let (r, d) = (columns.f64(ra)?, columns.f64(dec)?);
        let mut targets: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for i in 0..batch.num_rows() {
            let bmoc = cdshealpix::nested::cone_coverage_approx_custom(
                PARTITION_ORDER,
                4,
                r.value(i).to_radians(),
                d.value(i).to_radians(),
                radius,
            );
            for cell in bmoc.flat_iter() {
                if cell != *pixel && partitions.contains(&cell) {
                    targets.entry(cell).or_default().push(i as u32);
                }
            }
        }
        for (cell, rows) in targets {
            let idx = arrow_array::UInt32Array::from(rows);
            let cols = batch
                .columns()
                .iter()
                .map(|c| arrow_select::take::take(c, &idx, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::arrow(format!("{}: margin rows", path.display()), e))?;
            parts.entry(cell).or_default().push(
                RecordBatch::try_new(batch.schema(), cols).map_err(|e| StoreError::arrow(format!("{}: margin rows", path.display()), e))?,
            );
        }
    }
    let dataset = margin_dir.join("dataset");
    let existing = list_pixel_files(&dataset, "parquet").map_err(|e| StoreError::io(&dataset, e))?;
    for (px, p) in existing {
        if !parts.contains_key(&px) {
            std::fs::remove_file(&p).map_err(|e| StoreError::io(&p, e))?;
        }
    }
    let n = parts.len();
    for (cell, batches) in parts {
        let schema = batches[0].schema();
        let all =
            arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| StoreError::arrow(format!("margin of pixel {cell}"), e))?;
        let target = dataset.join(pixel_relpath(cell, ".parquet"));
        std::fs::create_dir_all(target.parent().unwrap_or(&dataset)).map_err(|e| StoreError::io(&target, e))?;
        let tmp = temporary_for(&target);
        write_parquet(&tmp, &all)?;
        commit(&tmp, &target)?;
    }
    Ok(n)
}

/// Removes the HATS metadata of a table with no partitions left.
pub fn clear_table(dir: &Path) -> std::io::Result<()> {
    for f in ["hats.properties", "properties", "partition_info.csv", "skymap.fits", "point_map.fits", "per_partition_statistics.parquet"] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(p)?;
        }
    }
    for f in ["_metadata", "_common_metadata"] {
        let p = dir.join("dataset").join(f);
        if p.exists() {
            std::fs::remove_file(p)?;
        }
    }
    Ok(())
}
