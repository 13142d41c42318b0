//! The DESI spectroscopic-production directory tree (DR1 `iron` and later):
//!
//! ```text
//! healpix/<survey>/<program>/<pixel // 100>/<pixel>/coadd-<survey>-<program>-<pixel>.fits
//!                                                   redrock-<survey>-<program>-<pixel>.fits
//! zcatalog/zpix-<survey>-<program>.fits
//! ```
//! with `pixel` the nside-64 NESTED HEALPix index of the targets.

use std::path::{Path, PathBuf};

use crate::error::{DesiIoError, Result};

/// Survey, program and pixel parsed from `coadd-<survey>-<program>-<pixel>.fits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoaddName {
    /// Survey.
    pub survey: String,
    /// Program.
    pub program: String,
    /// nside-64 nested pixel.
    pub pixel: i64,
}

/// Parses a healpix coadd or redrock file name; `None` for other names (tile-based
/// coadds such as `coadd-4-80613-thru20210324.fits`).
pub fn parse_coadd_name(path: &Path) -> Option<CoaddName> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".fits")?;
    let rest = stem.strip_prefix("coadd-").or_else(|| stem.strip_prefix("redrock-"))?;
    let parts: Vec<&str> = rest.split('-').collect();
    if parts.len() != 3 {
        return None;
    }
    let pixel = parts[2].parse::<i64>().ok()?;
    if parts[0].is_empty() || parts[1].is_empty() || parts[0].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(CoaddName { survey: parts[0].into(), program: parts[1].into(), pixel })
}

/// Directory of one pixel: `<root>/healpix/<survey>/<program>/<pixel//100>/<pixel>`.
pub fn pixel_dir(root: &Path, survey: &str, program: &str, pixel: i64) -> PathBuf {
    root.join("healpix").join(survey).join(program).join((pixel / 100).to_string()).join(pixel.to_string())
}

/// Path of a pixel's coadd file.
pub fn coadd_path(root: &Path, survey: &str, program: &str, pixel: i64) -> PathBuf {
    pixel_dir(root, survey, program, pixel).join(format!("coadd-{survey}-{program}-{pixel}.fits"))
}

/// Path of a pixel's redrock file.
pub fn redrock_path(root: &Path, survey: &str, program: &str, pixel: i64) -> PathBuf {
    pixel_dir(root, survey, program, pixel).join(format!("redrock-{survey}-{program}-{pixel}.fits"))
}

/// Path of a DR1 zcatalog: `<root>/zcatalog/zpix-<survey>-<program>.fits`.
pub fn zcatalog_path(root: &Path, survey: &str, program: &str) -> PathBuf {
    root.join("zcatalog").join(format!("zpix-{survey}-{program}.fits"))
}

/// One coadd found on disk with its redrock partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoaddInput {
    /// The coadd file.
    pub coadd: PathBuf,
    /// `redrock-*.fits` beside it, if present.
    pub redrock: Option<PathBuf>,
    /// Survey/program/pixel from the name, for healpix coadds.
    pub name: Option<CoaddName>,
}

/// The redrock file that belongs with a coadd (same directory, `redrock-` prefix).
pub fn redrock_for(coadd: &Path) -> Option<PathBuf> {
    let name = coadd.file_name()?.to_str()?;
    let rr = coadd.with_file_name(name.replacen("coadd-", "redrock-", 1));
    rr.is_file().then_some(rr)
}

/// Finds every `coadd-*.fits` under `root` (a production, its `healpix/` folder, any
/// folder of coadds, or a single coadd file), sorted by path.
pub fn discover(root: &Path) -> Result<Vec<CoaddInput>> {
    let mut found = Vec::new();
    if root.is_file() {
        found.push(root.to_path_buf());
    } else {
        let start = if root.join("healpix").is_dir() { root.join("healpix") } else { root.to_path_buf() };
        walk(&start, &mut found)?;
    }
    found.sort();
    Ok(found.into_iter().map(|coadd| CoaddInput { redrock: redrock_for(&coadd), name: parse_coadd_name(&coadd), coadd }).collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| DesiIoError::Io { path: dir.into(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| DesiIoError::Io { path: dir.into(), source })?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|source| DesiIoError::Io { path: path.clone(), source })?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("coadd-") && n.ends_with(".fits")) {
            out.push(path);
        }
    }
    Ok(())
}

/// The nside-64 (order 6) NESTED HEALPix pixel of a sky position in degrees — DESI's
/// healpix grouping.
///
/// ```
/// // TARGETID 39089837499744649 of coadd-special-dark-27247.fits lies in pixel 27247.
/// # let (ra, dec) = (149.465404248889, 1.7936467486355945);
/// assert_eq!(desi_io::layout::nside64_pixel(ra, dec), 27247);
/// ```
pub fn nside64_pixel(ra_deg: f64, dec_deg: f64) -> i64 {
    cdshealpix::nested::hash(6, ra_deg.to_radians(), dec_deg.to_radians()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_healpix_names_and_rejects_tile_names() {
        let n = parse_coadd_name(Path::new("/x/coadd-special-dark-27247.fits")).unwrap();
        assert_eq!(n, CoaddName { survey: "special".into(), program: "dark".into(), pixel: 27247 });
        assert!(parse_coadd_name(Path::new("coadd-4-80613-thru20210324.fits")).is_none());
        assert_eq!(
            coadd_path(Path::new("/d"), "main", "dark", 27247),
            PathBuf::from("/d/healpix/main/dark/272/27247/coadd-main-dark-27247.fits")
        );
    }
}
