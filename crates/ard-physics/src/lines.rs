//! The emission lines fitted as Gaussian gas templates.
//!
//! Rest wavelengths are **air** (the fit works on air wavelengths, like E-MILES),
//! from the NIST Atomic Spectra Database; doublets whose ratio is fixed by atomic
//! physics share one template: [OIII] 4959/5007 and [NII] 6548/6583 (ratio ≈ 1/3:
//! Storey & Zeippen 2000, MNRAS 312, 813) and [OI] 6364/6300 (≈ 1/3). This is the same
//! set of 19 templates as the pPXF reference (8 Balmer lines, 11 others).

/// Which kinematic component a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasKind {
    /// Hydrogen recombination lines (one velocity and dispersion).
    Balmer,
    /// Forbidden and helium lines (a second velocity and dispersion).
    Forbidden,
}

/// One gas template: a line, or a doublet with a fixed ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GasLine {
    /// Name (the strong line for a doublet).
    pub name: &'static str,
    /// Rest air wavelength of the (strong) line, Å.
    pub wave: f64,
    /// The weak member of a doublet: rest air wavelength and flux relative to the strong line.
    pub partner: Option<(f64, f64)>,
    /// Kinematic component.
    pub kind: GasKind,
}

const fn line(name: &'static str, wave: f64, kind: GasKind) -> GasLine {
    GasLine { name, wave, partner: None, kind }
}

/// The gas templates, in a fixed order.
pub const GAS_LINES: [GasLine; 19] = [
    line("H10", 3797.904, GasKind::Balmer),
    line("H9", 3835.391, GasKind::Balmer),
    line("H8", 3889.064, GasKind::Balmer),
    line("Heps", 3970.079, GasKind::Balmer),
    line("Hdelta", 4101.742, GasKind::Balmer),
    line("Hgamma", 4340.471, GasKind::Balmer),
    line("Hbeta", 4861.333, GasKind::Balmer),
    line("Halpha", 6562.819, GasKind::Balmer),
    line("[OII]3726", 3726.032, GasKind::Forbidden),
    line("[OII]3729", 3728.815, GasKind::Forbidden),
    line("[SII]6716", 6716.440, GasKind::Forbidden),
    line("[SII]6731", 6730.810, GasKind::Forbidden),
    line("[NeIII]3968", 3967.790, GasKind::Forbidden),
    line("[NeIII]3869", 3868.760, GasKind::Forbidden),
    line("HeII4687", 4685.680, GasKind::Forbidden),
    line("HeI5876", 5875.624, GasKind::Forbidden),
    GasLine { name: "[OIII]5007", wave: 5006.843, partner: Some((4958.911, 0.33)), kind: GasKind::Forbidden },
    GasLine { name: "[OI]6300", wave: 6300.304, partner: Some((6363.776, 0.33)), kind: GasKind::Forbidden },
    GasLine { name: "[NII]6583", wave: 6583.460, partner: Some((6548.050, 0.33)), kind: GasKind::Forbidden },
];

/// Index of a line in [`GAS_LINES`].
pub fn index_of(name: &str) -> Option<usize> {
    GAS_LINES.iter().position(|l| l.name == name)
}
