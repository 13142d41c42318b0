//! Turning an error and its causes into one line of text, for the places an error is
//! recorded rather than returned (a failed pixel's manifest record, a report): each
//! variant's message says its own facts only and keeps the error it wraps as its
//! `source()`, so the chain reads "what we were doing: why" with every part said once.

/// `e` and its chain of causes, joined by ": " (a cause whose text the previous
/// message already ends with is skipped).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !s.is_empty() && !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("reading {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[test]
    fn each_part_once() {
        let e = Outer("/x/coadd.fits", std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
        assert_eq!(super::chain(&e), "reading /x/coadd.fits: no such file");
    }
}
