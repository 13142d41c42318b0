//! The reader on genuine DESI files (fastspecfit 3.6.1 test data: DR1 `iron` SV1 tile
//! coadd and loa healpix coadd), on files written by desispec/redrock themselves, and
//! on damaged copies. Issue 2 ("Data in"), acceptance items 1 and 7.

use std::path::{Path, PathBuf};

use ard_fits::FitsFile;
use desi_io::columns::{optional_f64, optional_i64, optional_str};
use desi_io::{read_coadd, read_spectra, DesiIoError, ReadOptions};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi").join(name)
}

fn opts(survey: Option<&str>, program: Option<&str>) -> ReadOptions {
    ReadOptions { survey: survey.map(Into::into), program: program.map(Into::into) }
}

#[test]
fn reads_the_dr1_sv1_tile_coadd_with_user_program() {
    let err = read_spectra(&data("coadd-4-80613-thru20210324.fits"), Some(&data("redrock-4-80613-thru20210324.fits")), &opts(None, None))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("coadd-4-80613-thru20210324.fits") && msg.contains("--program"), "{msg}");
    assert!(msg.contains("survey is 'sv1'"), "survey comes from the SV1_* targeting columns: {msg}");

    let r = read_spectra(
        &data("coadd-4-80613-thru20210324.fits"),
        Some(&data("redrock-4-80613-thru20210324.fits")),
        &opts(None, Some("bright")),
    )
    .unwrap();
    let b = &r.batch;
    assert_eq!(b.targetid, vec![39633345008634465]);
    assert_eq!((b.survey.as_str(), b.program.as_str()), ("sv1", "bright"));
    assert_eq!(b.healpix, None);
    assert_eq!((b.nwave(), b.ndiag), (7781, 11));
    let z = optional_f64(b.redshifts.as_ref().unwrap(), "Z").unwrap();
    assert!((z[0] - 0.368744).abs() < 1e-6, "{z:?}");
    assert_eq!(optional_str(b.redshifts.as_ref().unwrap(), "SPECTYPE").unwrap(), vec!["GALAXY"]);
    assert_eq!(r.exp_fibermap.as_ref().unwrap().num_rows(), 30);
    assert!(r.scores.is_some());
    // Fixed-width strings are trimmed; units come from TUNIT.
    assert_eq!(optional_str(&b.fibermap, "MORPHTYPE").unwrap(), vec!["REX"]);
    // The brz grid is DESI's: 3600–9824 Å at 0.8 Å.
    assert_eq!(b.wavelength[0], 3600.0);
    assert!((b.wavelength[7780] - 9824.0).abs() < 1e-9);
}

#[test]
fn reads_the_loa_healpix_coadd_where_header_and_fibermap_disagree() {
    let r =
        read_spectra(&data("coadd-special-dark-27247.fits"), Some(&data("redrock-special-dark-27247.fits")), &opts(None, None)).unwrap();
    let b = &r.batch;
    assert_eq!(b.targetid, vec![39089837499744649]);
    // PRIMARY says program 'dark' (the healpix grouping); FIBERMAP says 'tertiary38'.
    assert_eq!((b.survey.as_str(), b.program.as_str()), ("special", "dark"));
    let c = read_coadd(data("coadd-special-dark-27247.fits")).unwrap();
    assert_eq!(c.keywords.fibermap_program.as_deref(), Some("tertiary38"));
    assert_eq!(b.healpix, Some(27247));
    // Real files have zero photometry; the reader passes it on untouched.
    assert_eq!(optional_f64(&b.fibermap, "FLUX_R").unwrap(), vec![0.0]);
    assert_eq!(optional_f64(&b.fibermap, "FIBERFLUX_R").unwrap(), vec![0.0]);
    let ra = optional_f64(&b.fibermap, "TARGET_RA").unwrap()[0];
    let dec = optional_f64(&b.fibermap, "TARGET_DEC").unwrap()[0];
    assert_eq!(desi_io::layout::nside64_pixel(ra, dec), 27247);
    let fitmethod = optional_str(b.redshifts.as_ref().unwrap(), "FITMETHOD");
    assert!(fitmethod.is_some(), "loa REDSHIFTS has FITMETHOD, iron does not: schema comes from the header");
}

/// Compares with desispec 0.70.0 `coadd_cameras` (testdata/desi/brz-expected-*.fits,
/// made by scripts/fixtures/make_desi_fixtures.py). Tolerance from the issue:
/// |Δ| ≤ 1e-5 × (|x| + median |x|) per pixel, for flux, ivar and resolution.
#[test]
fn brz_merge_matches_desispec_coadd_cameras() {
    for (coadd, program) in [("coadd-4-80613-thru20210324", Some("bright")), ("coadd-special-dark-27247", None)] {
        let r = read_spectra(&data(&format!("{coadd}.fits")), None, &opts(None, program)).unwrap();
        let mut f = FitsFile::open(data(&format!("brz-expected-{coadd}.fits"))).unwrap();
        let mut img = |name: &str| {
            f.move_to(name).unwrap();
            f.read_image::<f64>().unwrap().0
        };
        let wave = img("BRZ_WAVELENGTH");
        let flux = img("BRZ_FLUX");
        let ivar = img("BRZ_IVAR");
        let res = img("BRZ_RESOLUTION");
        let mask = img("BRZ_MASK");
        assert_eq!(wave.len(), 7781);
        for (a, b) in r.batch.wavelength.iter().zip(&wave) {
            assert!((a - b).abs() < 1e-6);
        }
        let check = |name: &str, got: Vec<f64>, want: &[f64]| {
            assert_eq!(got.len(), want.len(), "{coadd} {name}");
            let mut abs: Vec<f64> = want.iter().map(|x| x.abs()).collect();
            abs.sort_by(f64::total_cmp);
            let median = abs[abs.len() / 2];
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!((g - w).abs() <= 1e-5 * (w.abs() + median), "{coadd} {name}[{i}]: {g} vs desispec {w}");
            }
        };
        check("flux", r.batch.flux.iter().map(|&x| x as f64).collect(), &flux);
        check("ivar", r.batch.ivar.iter().map(|&x| x as f64).collect(), &ivar);
        check("resolution", r.batch.resolution.iter().map(|&x| x as f64).collect(), &res);
        let got_mask: Vec<f64> = r.batch.mask.iter().map(|&m| m as f64).collect();
        assert_eq!(got_mask, mask, "{coadd} mask");
    }
}

#[test]
fn reads_masks_plain_unsigned_with_bzero_and_tile_compressed() {
    let c = read_coadd(data("coadd-maskvariants.fits")).unwrap();
    let b = &c.cameras[0];
    assert_eq!(b.name, "b");
    assert!(b.mask[10..20].iter().all(|&m| m == 8), "RICE-compressed B_MASK");
    assert!(b.mask[..10].iter().all(|&m| m == 0));
    let r = &c.cameras[1];
    assert!(r.mask[30..40].iter().all(|&m| m as u32 == 1 << 31), "uint32 R_MASK (BZERO=2^31) keeps bit 31");
    assert!(c.cameras[2].mask.iter().all(|&m| m == 0));
}

#[test]
fn reads_files_written_by_desispec_and_redrock() {
    let r = read_spectra(&data("coadd-main-dark-9999.fits"), Some(&data("redrock-main-dark-9999.fits")), &opts(None, None)).unwrap();
    let b = &r.batch;
    assert_eq!(b.targetid, vec![39627000000000001, 39627000000000002]);
    assert_eq!((b.survey.as_str(), b.program.as_str(), b.healpix), ("main", "dark", Some(9999)));
    let z = optional_f64(b.redshifts.as_ref().unwrap(), "Z").unwrap();
    assert_eq!(z, vec![0.1234, 0.5678]);
    assert_eq!(optional_i64(b.redshifts.as_ref().unwrap(), "ZWARN").unwrap(), vec![0, 4]);
    // Pixels 100..110 of every camera of the second target have ivar 0 and mask 2;
    // in the b-only part of the brz grid they keep the mask.
    assert!(b.ivar_of(1)[100..110].iter().all(|&v| v == 0.0));
    assert!(b.mask_of(1)[100..110].iter().all(|&m| m == 2));
    assert!(r.exp_fibermap.is_none());
}

#[test]
fn reads_a_dr1_zcatalog_and_joins_by_survey_program() {
    let r = read_spectra(&data("coadd-special-dark-27247.fits"), Some(&data("zpix-special-dark.fits")), &opts(None, None)).unwrap();
    let z = r.batch.redshifts.as_ref().unwrap();
    assert_eq!(optional_i64(z, "TARGETID").unwrap(), r.batch.targetid, "the row of each TARGETID");
    assert!(z.column_by_name("ZCAT_PRIMARY").is_none(), "only the zcatalog columns desi-ard uses are read");
    // The same TARGETID under another program is not used: rewrite PROGRAM as 'bright'.
    let mut f = FitsFile::open(data("zpix-special-dark.fits")).unwrap();
    f.move_to("ZCATALOG").unwrap();
    let t = f.read_table().unwrap();
    let idx = t.schema().index_of("PROGRAM").unwrap();
    let mut cols = t.columns().to_vec();
    cols[idx] = std::sync::Arc::new(arrow_array::StringArray::from(vec!["bright"]));
    let t = arrow_array::RecordBatch::try_new(t.schema(), cols).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zpix = dir.path().join("zpix-special-bright.fits");
    let mut g = FitsFile::create(&zpix).unwrap();
    g.write_primary(&[]).unwrap();
    g.write_table("ZCATALOG", &t, &[]).unwrap();
    g.close().unwrap();
    let err = read_spectra(&data("coadd-special-dark-27247.fits"), Some(&zpix), &opts(None, None)).unwrap_err();
    assert!(matches!(err, DesiIoError::MissingRedshift { targetid: 39089837499744649, .. }), "{err}");
    assert!(err.to_string().contains("zpix-special-bright.fits"), "{err}");
}

mod damaged {
    use super::*;
    use desi_io::write::{write_coadd, CoaddContents};

    fn rewrite(name: &str, edit: impl FnOnce(&mut desi_io::Coadd) -> Vec<&'static str>) -> (tempfile::TempDir, PathBuf) {
        let mut c = read_coadd(data("coadd-main-dark-9999.fits")).unwrap();
        let drop_hdus = edit(&mut c);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let cams: Vec<desi_io::Camera> = c.cameras.clone();
        write_coadd(
            &out,
            &CoaddContents {
                primary: vec![ard_fits::Key::str("SURVEY", "main", ""), ard_fits::Key::str("PROGRAM", "dark", "")],
                fibermap: &c.fibermap,
                fibermap_keys: vec![],
                exp_fibermap: None,
                cameras: &cams,
                scores: None,
            },
        )
        .unwrap();
        if !drop_hdus.is_empty() {
            // Copy every HDU but the dropped ones.
            let mut f = FitsFile::open(&out).unwrap();
            let names = f.hdu_names().unwrap();
            let out2 = dir.path().join(format!("dropped-{name}"));
            let mut g = FitsFile::create(&out2).unwrap();
            g.write_primary(&[ard_fits::Key::str("SURVEY", "main", ""), ard_fits::Key::str("PROGRAM", "dark", "")]).unwrap();
            for n in names.iter().skip(1) {
                if drop_hdus.contains(&n.as_str()) {
                    continue;
                }
                let kind = f.move_to(n).unwrap();
                if kind == ard_fits::HduKind::Image {
                    let (d, s) = f.read_image::<f64>().unwrap();
                    if n.ends_with("MASK") {
                        let m: Vec<i32> = d.iter().map(|&x| x as i32).collect();
                        g.write_image(n, &s, &m, &[]).unwrap();
                    } else if n.ends_with("WAVELENGTH") {
                        g.write_image(n, &s, &d, &[]).unwrap();
                    } else {
                        let v: Vec<f32> = d.iter().map(|&x| x as f32).collect();
                        g.write_image(n, &s, &v, &[]).unwrap();
                    }
                } else {
                    let t = f.read_table().unwrap();
                    g.write_table(n, &t, &[]).unwrap();
                }
            }
            g.close().unwrap();
            return (dir, out2);
        }
        (dir, out)
    }

    #[test]
    fn writer_round_trips_the_reader() {
        let (_d, p) = rewrite("coadd-main-dark-9999.fits", |_| vec![]);
        let a = read_spectra(&p, None, &ReadOptions::default()).unwrap();
        let b = read_spectra(&data("coadd-main-dark-9999.fits"), None, &ReadOptions::default()).unwrap();
        assert_eq!(a.batch.flux, b.batch.flux);
        assert_eq!(a.batch.resolution, b.batch.resolution);
        assert_eq!(a.batch.fibermap.num_columns(), b.batch.fibermap.num_columns());
        assert_eq!(a.batch.fibermap.schema().fields().len(), 71);
    }

    #[test]
    fn missing_hdu_is_named() {
        let (_d, p) = rewrite("coadd-main-dark-9999.fits", |_| vec!["R_IVAR"]);
        let err = read_coadd(&p).unwrap_err().to_string();
        assert!(err.contains("R_IVAR") && err.contains("dropped-coadd-main-dark-9999.fits"), "{err}");
    }

    #[test]
    fn missing_fibermap_is_named() {
        let (_d, p) = rewrite("coadd-main-dark-9999.fits", |_| vec!["FIBERMAP"]);
        let err = read_coadd(&p).unwrap_err().to_string();
        assert!(err.contains("FIBERMAP"), "{err}");
    }

    #[test]
    fn shapes_that_disagree_are_named() {
        // The writer refuses an inconsistent image, so the file is built HDU by HDU.
        let c = read_coadd(data("coadd-main-dark-9999.fits")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("coadd-main-dark-9999.fits");
        let mut cams = c.cameras.clone();
        let n = cams[2].nwave();
        cams[2].ivar.truncate(n);
        let mut g = FitsFile::create(&out).unwrap();
        g.write_primary(&[]).unwrap();
        g.write_table("FIBERMAP", &c.fibermap, &[]).unwrap();
        for cam in &cams {
            let up = cam.name.to_uppercase();
            let nw = cam.nwave();
            g.write_image(&format!("{up}_WAVELENGTH"), &[nw], &cam.wavelength, &[]).unwrap();
            g.write_image(&format!("{up}_FLUX"), &[2, nw], &cam.flux, &[]).unwrap();
            let rows = cam.ivar.len() / nw;
            g.write_image(&format!("{up}_IVAR"), &[rows, nw], &cam.ivar, &[]).unwrap();
            g.write_image(&format!("{up}_MASK"), &[2, nw], &cam.mask, &[]).unwrap();
            g.write_image(&format!("{up}_RESOLUTION"), &[2, 11, nw], &cam.resolution, &[]).unwrap();
        }
        g.close().unwrap();
        let err = read_coadd(&out).unwrap_err();
        assert!(matches!(&err, DesiIoError::Shape { hdu, .. } if hdu == "Z_IVAR"), "{err}");
        assert!(err.to_string().contains("[1, 2881]"), "{err}");
    }

    #[test]
    fn nan_flux_is_masked_and_reported_by_targetid_without_losing_the_object() {
        let (_d, p) = rewrite("coadd-main-dark-9999.fits", |c| {
            let n = c.cameras[1].nwave();
            c.cameras[1].flux[n + 50] = f32::NAN;
            c.cameras[1].ivar[n + 51] = f32::INFINITY;
            vec![]
        });
        let r = read_spectra(&p, None, &ReadOptions::default()).unwrap();
        assert_eq!(r.batch.len(), 2);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].targetid, 39627000000000002);
        assert!(r.issues[0].problem.contains("2 pixels of camera R"), "{}", r.issues[0].problem);
        assert!(r.batch.flux.iter().all(|x| x.is_finite()) && r.batch.ivar.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn truncated_and_garbage_files_give_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(data("coadd-main-dark-9999.fits")).unwrap();
        for (name, content) in [
            ("truncated.fits", bytes[..bytes.len() / 2].to_vec()),
            ("header-only.fits", bytes[..2880].to_vec()),
            ("garbage.fits", b"this is not a FITS file".repeat(200)),
            ("empty.fits", vec![]),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            let err = read_spectra(&p, None, &opts(Some("main"), Some("dark"))).unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
        let err = read_coadd(dir.path().join("absent.fits")).unwrap_err().to_string();
        assert!(err.contains("absent.fits") && err.contains("no such file"), "{err}");
    }

    #[test]
    fn redshift_row_missing_for_a_targetid_is_named() {
        let err = read_spectra(&data("coadd-main-dark-9999.fits"), Some(&data("redrock-special-dark-27247.fits")), &ReadOptions::default())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("39627000000000001") && msg.contains("redrock-special-dark-27247.fits") && msg.contains("REDSHIFTS"), "{msg}");
    }
}
