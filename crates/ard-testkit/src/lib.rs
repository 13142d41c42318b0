//! `ard-testkit` owns one rule the test suites share: what a test does when something it
//! needs is not on the machine.
//!
//! - A **prerequisite** is what `scripts/test.sh` sets up (the E-MILES templates, the
//!   Python peer venv, the throw-away Slurm cluster). Missing under `CI=true`, the test
//!   fails, saying what is missing and how to get it; missing elsewhere (a developer's
//!   `cargo test` without the set-up), the test prints `SKIPPED <test>: <why>` and returns.
//! - What CI can **never** have (a GPU, trained AstroCLIP weights, the hour-long Bagpipes
//!   fit, DisPerSE) skips everywhere, with the printed reason: [`cannot_run_here`].
//!
//! "Under CI" means exactly `CI=true`, the value CI sets; an empty or other value is not CI.
//! This crate is a dev-dependency only: nothing a user runs links it.

use std::ffi::OsString;
use std::fmt::Display;

/// The variable naming the Python interpreter with the peers installed
/// (`scripts/python-peers.sh` builds it; `scripts/test.sh` exports it).
pub const PEER_PYTHON_VAR: &str = "DESI_ARD_PEER_PYTHON";

/// Whether this process runs under CI (`CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The running test's name: libtest names each test's thread after the test.
fn this_test() -> String {
    std::thread::current().name().filter(|n| *n != "main").unwrap_or("this test").to_string()
}

/// A prerequisite the set-up provides is missing: panics under CI (the test fails),
/// otherwise prints that the test is skipped and why. The caller returns afterwards.
///
/// # Panics
/// Under `CI=true`, always.
pub fn prerequisite_missing(why: impl Display) {
    let test = this_test();
    if under_ci() {
        panic!("{test}: CI=true but a prerequisite is missing: {why} (scripts/test.sh sets it up)");
    }
    eprintln!("SKIPPED {test}: {why} (scripts/test.sh sets it up)");
}

/// What CI can never provide (a GPU, trained weights, an hour-long peer run): the test is
/// skipped everywhere, and says why.
pub fn cannot_run_here(why: impl Display) {
    eprintln!("SKIPPED {}: {why}", this_test());
}

/// The value of `result`, or — when it is an error — [`prerequisite_missing`] with `what`
/// and the error, and `None`.
///
/// ```no_run
/// let Some(lib) = ard_testkit::require("the E-MILES templates", std::fs::read("templates.bin")) else { return };
/// ```
pub fn require<T, E: Display>(what: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            prerequisite_missing(format_args!("{what}: {e}"));
            None
        }
    }
}

/// The Python interpreter with the peers (`DESI_ARD_PEER_PYTHON`), or — when it is unset —
/// [`prerequisite_missing`] and `None`.
pub fn peer_python() -> Option<OsString> {
    let python = std::env::var_os(PEER_PYTHON_VAR).filter(|p| !p.is_empty());
    if python.is_none() {
        prerequisite_missing(format_args!("{PEER_PYTHON_VAR} is unset, so the Python peers cannot run"));
    }
    python
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the process environment (tests of a binary share it).
    #[test]
    fn ci_fails_a_missing_prerequisite_and_elsewhere_it_is_skipped() {
        let before = std::env::var_os("CI");
        std::env::set_var("CI", "true");
        assert!(under_ci());
        let failed = std::panic::catch_unwind(|| prerequisite_missing("no templates")).unwrap_err();
        let message = failed.downcast_ref::<String>().expect("a formatted panic message");
        assert!(message.contains("no templates") && message.contains("CI=true"), "{message}");
        assert!(std::panic::catch_unwind(|| require::<(), _>("templates", Err("not found"))).is_err());
        assert_eq!(require::<u8, &str>("templates", Ok(7)), Some(7));
        // What CI can never have is skipped under CI too.
        cannot_run_here("no GPU");
        for other in ["1", "false", ""] {
            std::env::set_var("CI", other);
            assert!(!under_ci(), "CI={other:?} is not CI");
            prerequisite_missing("no templates");
            assert_eq!(require::<(), _>("templates", Err("not found")), None);
        }
        match before {
            Some(v) => std::env::set_var("CI", v),
            None => std::env::remove_var("CI"),
        }
    }
}
