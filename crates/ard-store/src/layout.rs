//! Where everything lives in an ARD folder.
//!
//! ```text
//! ARD/
//!   catalog/collection.properties            HATS collection
//!   catalog/desi_ard/                        object catalogue (HATS, order 6 = DESI nside 64)
//!   catalog/desi_ard_10arcs/                 its 10" margin cache
//!   exposures/                               EXP_FIBERMAP rows, HATS layout (published by finalize)
//!   spectra/Norder=6/Dir=D/Npix=P.vID.h5     spectra per pixel, one file per version
//!   versions/exposures/Norder=6/Dir=D/Npix=P.vID.parquet   exposure rows per version
//!   manifest/Norder=6/Dir=D/Npix=P.json      one record per pixel
//!   manifest/shards.json                     the shard assignment of --balance runs
//! ```

use std::path::{Path, PathBuf};

/// HEALPix order of the partitions: DESI's nside-64 pixels.
pub const PARTITION_ORDER: u8 = 6;
/// Name of the object catalogue inside the collection.
pub const CATALOG_NAME: &str = "desi_ard";
/// Name of the margin cache.
pub const MARGIN_NAME: &str = "desi_ard_10arcs";
/// Margin threshold, arcsec.
pub const MARGIN_ARCSEC: f64 = 10.0;

/// HATS `Dir=` folder of a pixel: P // 10000 × 10000.
pub fn dir_of(pixel: u64) -> u64 {
    pixel / 10_000 * 10_000
}

/// `Norder=6/Dir=D/Npix=P<suffix>`.
pub fn pixel_relpath(pixel: u64, suffix: &str) -> PathBuf {
    PathBuf::from(format!("Norder={PARTITION_ORDER}/Dir={}/Npix={pixel}{suffix}", dir_of(pixel)))
}

/// The paths of one ARD.
#[derive(Debug, Clone)]
pub struct ArdLayout {
    /// The ARD root folder.
    pub root: PathBuf,
}

impl ArdLayout {
    /// Layout rooted at `root`.
    pub fn new(root: impl AsRef<Path>) -> Self {
        ArdLayout { root: root.as_ref().to_path_buf() }
    }
    /// `catalog/` (the HATS collection).
    pub fn collection(&self) -> PathBuf {
        self.root.join("catalog")
    }
    /// `catalog/desi_ard/`.
    pub fn catalog(&self) -> PathBuf {
        self.collection().join(CATALOG_NAME)
    }
    /// `catalog/desi_ard_10arcs/`.
    pub fn margin(&self) -> PathBuf {
        self.collection().join(MARGIN_NAME)
    }
    /// `exposures/`.
    pub fn exposures(&self) -> PathBuf {
        self.root.join("exposures")
    }
    /// Catalogue leaf of a pixel.
    pub fn catalog_leaf(&self, pixel: u64) -> PathBuf {
        self.catalog().join("dataset").join(pixel_relpath(pixel, ".parquet"))
    }
    /// Exposures leaf of a pixel.
    pub fn exposures_leaf(&self, pixel: u64) -> PathBuf {
        self.exposures().join("dataset").join(pixel_relpath(pixel, ".parquet"))
    }
    /// Spectra file of version `id` of a pixel (which version is current: the catalogue
    /// leaf says, see [`crate::pixel::PixelVersion`]).
    pub fn spectra_version(&self, pixel: u64, id: &str) -> PathBuf {
        self.root.join("spectra").join(pixel_relpath(pixel, &format!(".v{id}.h5")))
    }
    /// Folder of the exposures files of every version.
    pub fn exposures_versions(&self) -> PathBuf {
        self.root.join("versions").join("exposures")
    }
    /// Exposures file of version `id` of a pixel.
    pub fn exposures_version(&self, pixel: u64, id: &str) -> PathBuf {
        self.exposures_versions().join(pixel_relpath(pixel, &format!(".v{id}.parquet")))
    }
    /// Manifest record of a pixel.
    pub fn manifest(&self, pixel: u64) -> PathBuf {
        self.root.join("manifest").join(pixel_relpath(pixel, ".json"))
    }
    /// Folder of manifest records.
    pub fn manifest_dir(&self) -> PathBuf {
        self.root.join("manifest")
    }
    /// `models/` (what ingest learns once and shares).
    pub fn models(&self) -> PathBuf {
        self.root.join("models")
    }
    /// Path relative to the root, for records.
    pub fn relative(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().replace('\\', "/")
    }
}

/// Pixel of a `.../Npix=P.ext` path.
pub fn pixel_of_path(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_str()?;
    let rest = name.strip_prefix("Npix=")?;
    rest.split('.').next()?.parse().ok()
}

/// Every `Npix=*.<ext>` file under `dir`, sorted by pixel.
pub fn list_pixel_files(dir: &Path, ext: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()) == Some(ext) {
                if let Some(px) = pixel_of_path(&p) {
                    out.push((px, p));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hats_paths() {
        let l = ArdLayout::new("/a");
        assert_eq!(l.catalog_leaf(27247), PathBuf::from("/a/catalog/desi_ard/dataset/Norder=6/Dir=20000/Npix=27247.parquet"));
        assert_eq!(l.spectra_version(9999, "ab"), PathBuf::from("/a/spectra/Norder=6/Dir=0/Npix=9999.vab.h5"));
        assert_eq!(pixel_of_path(Path::new("x/Npix=123.parquet")), Some(123));
        assert_eq!(pixel_of_path(Path::new("x/Npix=123.vab.parquet")), Some(123));
    }
}
