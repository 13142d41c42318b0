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
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".fits").or_else(|| name.strip_suffix(".fits.gz"))?;
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

/// The redrock file that belongs with a coadd (same directory, `redrock-` prefix; plain
/// or gzip'd, whichever is there).
pub fn redrock_for(coadd: &Path) -> Option<PathBuf> {
    let name = coadd.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gz").unwrap_or(name).replacen("coadd-", "redrock-", 1);
    [stem.clone(), format!("{stem}.gz")].into_iter().map(|n| coadd.with_file_name(n)).find(|p| p.is_file())
}

/// Whether a file name is a coadd's: `coadd-*.fits`, or `coadd-*.fits.gz` (cfitsio inflates
/// those in memory as it opens them).
fn is_coadd_name(name: &str) -> bool {
    name.starts_with("coadd-") && (name.ends_with(".fits") || name.ends_with(".fits.gz"))
}

/// What [`discover_with_problems`] found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The coadds, sorted by path.
    pub inputs: Vec<CoaddInput>,
    /// Folders not walked, and why (a symbolic link back into its own ancestry).
    pub problems: Vec<(PathBuf, String)>,
}

/// Finds every coadd under `root` (a production, its `healpix/` folder, any folder of
/// coadds, or a single coadd file), sorted by path; see [`discover_with_problems`].
pub fn discover(root: &Path) -> Result<Vec<CoaddInput>> {
    Ok(discover_with_problems(root)?.inputs)
}

/// Finds every `coadd-*.fits` and `coadd-*.fits.gz` under `root`, following symbolic
/// links to folders (mirrors often link pixel folders in from other disks). A link that
/// leads back to a folder being walked (a loop) is reported, not followed; a folder
/// reached twice through different links is walked once.
pub fn discover_with_problems(root: &Path) -> Result<Discovery> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    if root.is_file() {
        found.push(root.to_path_buf());
    } else {
        let start = if root.join("healpix").is_dir() { root.join("healpix") } else { root.to_path_buf() };
        let mut walker = Walker { ancestors: Vec::new(), seen: std::collections::HashSet::new(), out: &mut found, problems: &mut problems };
        walker.walk(&start)?;
    }
    found.sort();
    let inputs =
        found.into_iter().map(|coadd| CoaddInput { redrock: redrock_for(&coadd), name: parse_coadd_name(&coadd), coadd }).collect();
    Ok(Discovery { inputs, problems })
}

struct Walker<'a> {
    /// Canonical folders from the root to the one being walked.
    ancestors: Vec<PathBuf>,
    /// Canonical folders already walked.
    seen: std::collections::HashSet<PathBuf>,
    out: &'a mut Vec<PathBuf>,
    problems: &'a mut Vec<(PathBuf, String)>,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path) -> Result<()> {
        let canonical = dir.canonicalize().map_err(|source| DesiIoError::Io { path: dir.into(), source })?;
        if self.ancestors.contains(&canonical) {
            self.problems.push((dir.to_path_buf(), format!("symbolic link loop: leads back to {}; not followed", canonical.display())));
            return Ok(());
        }
        if !self.seen.insert(canonical.clone()) {
            return Ok(());
        }
        self.ancestors.push(canonical);
        let entries = std::fs::read_dir(dir).map_err(|source| DesiIoError::Io { path: dir.into(), source })?;
        let mut paths = Vec::new();
        for entry in entries {
            paths.push(entry.map_err(|source| DesiIoError::Io { path: dir.into(), source })?.path());
        }
        paths.sort();
        for path in paths {
            // `is_dir`/`is_file` follow symbolic links.
            if path.is_dir() {
                self.walk(&path)?;
            } else if path.is_file() && path.file_name().and_then(|n| n.to_str()).is_some_and(is_coadd_name) {
                self.out.push(path);
            }
        }
        self.ancestors.pop();
        Ok(())
    }
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
