//! Line diff of two multi-line values, for printing a changed config file
//! (a ConfigMap's `traefik.toml`) as the few lines that changed rather than
//! two walls of text.
//!
//! The diff itself is `similar`'s (Myers, linear memory); this module only
//! turns its operations into lines and folds unchanged runs.

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

/// Lines of `desired` vs `live`, changed lines with `context` unchanged
/// lines around them, runs of unchanged lines folded into [`Line::Skipped`].
///
/// Where a run of lines changed, its Git lines come before its live lines.
pub fn line_diff<'a>(desired: &'a str, live: &'a str, context: usize) -> Vec<Line<'a>> {
    let a: Vec<&str> = desired.lines().collect();
    let b: Vec<&str> = live.lines().collect();
    // similar's Myers is linear in memory and bounds its own work on
    // pathological inputs (a git-style bounded middle-snake search that
    // accepts a good non-minimal split), so a value of many megabytes gets a
    // real diff, the same on every run, rather than a table of n·m cells.
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &a, &b);
    let mut full = Vec::with_capacity(a.len().max(b.len()));
    for op in ops {
        let (old, new) = (op.old_range(), op.new_range());
        if matches!(op, similar::DiffOp::Equal { .. }) {
            full.extend(a[old].iter().map(|l| Line::Same(l)));
        } else {
            full.extend(a[old].iter().map(|l| Line::Desired(l)));
            full.extend(b[new].iter().map(|l| Line::Live(l)));
        }
    }
    fold_context(full, context)
}

/// Keeps changed lines and the unchanged lines at most `context` lines away
/// from one (two passes: distance to the nearest change before and after).
fn fold_context(lines: Vec<Line<'_>>, context: usize) -> Vec<Line<'_>> {
    let changed = |l: &Line<'_>| !matches!(l, Line::Same(_));
    let mut keep = vec![false; lines.len()];
    let mut since = usize::MAX;
    for (i, line) in lines.iter().enumerate() {
        since = if changed(line) {
            0
        } else {
            since.saturating_add(1)
        };
        keep[i] = since <= context;
    }
    since = usize::MAX;
    for (i, line) in lines.iter().enumerate().rev() {
        since = if changed(line) {
            0
        } else {
            since.saturating_add(1)
        };
        keep[i] |= since <= context;
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for (line, keep) in lines.into_iter().zip(keep) {
        if !keep {
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
    /// A value of 100,000 lines with one line changed in the middle is that
    /// one line (the LCS table it once needed, 10^10 cells, was refused and
    /// both whole sides printed instead).
    #[test]
    fn a_large_value_with_one_changed_line_is_that_line() {
        let desired: String = (0..100_000).map(|i| format!("key{i} = {i}\n")).collect();
        let live = desired.replace("key50000 = 50000\n", "key50000 = changed\n");
        assert_eq!(
            line_diff(&desired, &live, 1),
            vec![
                Line::Skipped(49_999),
                Line::Same("key49999 = 49999"),
                Line::Desired("key50000 = 50000"),
                Line::Live("key50000 = changed"),
                Line::Same("key50001 = 50001"),
                Line::Skipped(49_998),
            ]
        );
    }

    /// Two large values with nothing in common: every line shows once, Git's
    /// before live's, and the diff ends (no quadratic table).
    #[test]
    fn two_large_unrelated_values_show_every_line_once() {
        let desired: String = (0..50_000).map(|i| format!("a{i}\n")).collect();
        let live: String = (0..50_000).map(|i| format!("b{i}\n")).collect();
        let lines = line_diff(&desired, &live, 2);
        let git: Vec<&str> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Desired(s) => Some(*s),
                _ => None,
            })
            .collect();
        let ours: Vec<&str> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Live(s) => Some(*s),
                _ => None,
            })
            .collect();
        assert_eq!(git, desired.lines().collect::<Vec<_>>());
        assert_eq!(ours, live.lines().collect::<Vec<_>>());
        assert_eq!(lines.len(), 100_000);
    }
}
