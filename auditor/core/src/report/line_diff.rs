//! Line diff of two multi-line values, for printing a changed config file
//! (a ConfigMap's `traefik.toml`) as the few lines that changed rather than
//! two walls of text.

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in Git.
    Desired(&'a str),
    /// Only live.
    Live(&'a str),
    /// Unchanged lines left out (how many).
    Skipped(usize),
}

/// Above this many line pairs the LCS table would be too large; the diff is
/// then the whole of both sides.
const MAX_CELLS: usize = 4_000_000;

/// Lines of `desired` vs `live`, changed lines with `context` unchanged
/// lines around them, runs of unchanged lines folded into [`Line::Skipped`].
pub fn line_diff<'a>(desired: &'a str, live: &'a str, context: usize) -> Vec<Line<'a>> {
    let a: Vec<&str> = desired.lines().collect();
    let b: Vec<&str> = live.lines().collect();
    let full = if a.len().saturating_mul(b.len()) > MAX_CELLS {
        a.iter()
            .map(|l| Line::Desired(l))
            .chain(b.iter().map(|l| Line::Live(l)))
            .collect()
    } else {
        lcs_diff(&a, &b)
    };
    fold_context(full, context)
}

fn lcs_diff<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Line<'a>> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            out.push(Line::Desired(a[i]));
            i += 1;
        } else {
            out.push(Line::Live(b[j]));
            j += 1;
        }
    }
    out
}

fn fold_context(lines: Vec<Line<'_>>, context: usize) -> Vec<Line<'_>> {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Line::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= context);
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, line) in lines.into_iter().enumerate() {
        if matches!(line, Line::Same(_)) && !near(i) {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push(Line::Skipped(skipped));
            skipped = 0;
        }
        out.push(line);
    }
    if skipped > 0 {
        out.push(Line::Skipped(skipped));
    }
    out
}

/// The first line that differs, as `(line number from 1, desired, live)`.
pub fn first_changed_line<'a>(
    desired: &'a str,
    live: &'a str,
) -> Option<(usize, &'a str, &'a str)> {
    let mut a = desired.lines();
    let mut b = live.lines();
    let mut n = 0;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => return Some((n, x.unwrap_or_default(), y.unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_with_context() {
        let a = "a\nb\nc\nlevel = ERROR\nd\ne\nf\n";
        let b = "a\nb\nc\nlevel = DEBUG\nd\ne\nf\n";
        assert_eq!(
            line_diff(a, b, 1),
            vec![
                Line::Skipped(2),
                Line::Same("c"),
                Line::Desired("level = ERROR"),
                Line::Live("level = DEBUG"),
                Line::Same("d"),
                Line::Skipped(2),
            ]
        );
        assert_eq!(
            first_changed_line(a, b),
            Some((4, "level = ERROR", "level = DEBUG"))
        );
    }

    #[test]
    fn insertions_and_deletions() {
        assert_eq!(
            line_diff("a\nb", "a\nx\nb", 0),
            vec![Line::Skipped(1), Line::Live("x"), Line::Skipped(1)]
        );
        assert_eq!(
            line_diff("a\nb", "b", 0),
            vec![Line::Desired("a"), Line::Skipped(1)]
        );
        assert_eq!(first_changed_line("a", "a"), None);
    }
}
