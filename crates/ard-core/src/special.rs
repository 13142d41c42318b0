//! Special functions shared by the layers and the simulator: the one error function of the
//! workspace and the normal distribution built on it.

/// Error function, erf(x) = 2/√π ∫₀ˣ e^(−t²) dt: the `libm` crate's port of FreeBSD/musl
/// `s_erf.c` (Sun Microsystems fdlibm; rational approximations on five ranges, error
/// < 1 ulp). Every crate calls this one, so the simulator's line profiles and the fits'
/// pixel integrals use the same function.
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Complementary error function, 1 − erf(x), computed directly (no cancellation for
/// large x): `libm`'s port of fdlibm `s_erf.c` (`erfc`), error < 1 ulp.
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// Standard normal CDF, Φ(x) = erfc(−x/√2)/2.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile: Wichura (1988), Applied Statistics 37, 477, algorithm
/// AS 241 (PPND16, relative accuracy ~10⁻¹⁶).
// The AS241 coefficients as Wichura (1988) prints them.
#[allow(clippy::inconsistent_digit_grouping)]
pub fn normal_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = ((((((2509.080_928_730_122_7 * r + 33430.575_583_588_128) * r + 67265.770_927_008_700) * r + 45921.953_931_549_871)
            * r
            + 13731.693_765_509_461)
            * r
            + 1971.590_950_306_551_3)
            * r
            + 133.141_667_891_784_38)
            * r
            + 3.387_132_872_796_366_5;
        let den = ((((((5226.495_278_852_545_4 * r + 28729.085_735_721_942) * r + 39307.895_800_092_710) * r + 21213.794_301_586_595)
            * r
            + 5394.196_021_424_751)
            * r
            + 687.187_007_492_057_9)
            * r
            + 42.313_330_701_600_911)
            * r
            + 1.0;
        return q * num / den;
    }
    let r0 = if q < 0.0 { p } else { 1.0 - p };
    let mut r = (-r0.ln()).sqrt();
    let x = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((7.745_450_142_783_414e-4 * r + 0.022_723_844_989_269_184) * r + 0.241_780_725_177_450_6) * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_546)
            * r
            + 1.423_437_110_749_683_5;
        let den = ((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r + 0.015_198_666_563_616_457) * r
            + 0.148_103_976_427_480_08)
            * r
            + 0.689_767_334_985_100_1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_759)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r + 0.001_242_660_947_388_078_4) * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_9)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103;
        let den = ((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r + 1.846_318_317_510_054_8e-5) * r
            + 7.868_691_311_456_133e-4)
            * r
            + 0.014_875_361_290_850_615)
            * r
            + 0.136_929_880_922_735_8)
            * r
            + 0.599_832_206_555_888)
            * r
            + 1.0;
        num / den
    };
    if q < 0.0 {
        -x
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun (1964) Table 7.1, and erfc(5) = 1.5374597944280349e-12 (DLMF 7.2).
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-15);
        assert!((erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-15);
        assert!((erf(-2.0) + 0.995_322_265_018_952_7).abs() < 1e-15);
        assert!(((erfc(5.0) - 1.537_459_794_428_034_9e-12) / 1.537_459_794_428_034_9e-12).abs() < 1e-13);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
    }

    #[test]
    fn ppf_inverts_cdf_and_matches_known_quantiles() {
        // Φ⁻¹(0.975) = 1.959963984540054, Φ⁻¹(0.84134474606854) = 1 (tabulated).
        assert!((normal_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_ppf(0.841_344_746_068_542_9) - 1.0).abs() < 1e-12);
        assert!((normal_ppf(1e-10) + 6.361_340_902_404_056).abs() < 1e-9);
        for x in [-5.0, -2.0, -0.3, 0.0, 0.7, 3.0] {
            assert!((normal_ppf(normal_cdf(x)) - x).abs() < 1e-9, "x = {x}");
        }
    }
}
