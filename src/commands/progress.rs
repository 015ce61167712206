//! Progress of `audit --targets` and `preview` for people.
//!
//! On a terminal, with more than [`HANDFUL`] clusters, a line per cluster as
//! it ends (done or failed, with the time since the start) above one bar
//! that is redrawn in place (indicatif). Where nobody watches the screen
//! (standard error is a pipe or a file, or `CI` is set, as GitHub Actions and
//! most CI systems set it) only one final line is printed, so logs stay
//! readable. With a handful of clusters or fewer, nothing: the report
//! follows at once.

use flotilla_auditor::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many clusters a run reports progress.
pub const HANDFUL: usize = 3;

/// How a run is shown, decided when it starts.
#[derive(Debug)]
enum Mode {
    /// Not started yet, or too few clusters: nothing.
    Off,
    /// Nobody watches: one final line.
    FinalLine,
    /// A terminal: lines and a bar.
    Live(ProgressBar),
}

#[derive(Debug)]
struct Run {
    mode: Mode,
    started: Instant,
    total: usize,
    done: usize,
    failed: usize,
}

/// Shows one run's progress on standard error.
#[derive(Debug)]
pub struct Reporter {
    /// `audited`, `previewed`.
    verb: &'static str,
    live_allowed: bool,
    run: Mutex<Run>,
}

impl Reporter {
    /// A reporter for this process: live only when standard error is a
    /// terminal and `CI` is not set.
    pub fn for_stderr(verb: &'static str) -> Reporter {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Reporter {
            verb,
            live_allowed: live,
            run: Mutex::new(Run {
                mode: Mode::Off,
                started: Instant::now(),
                total: 0,
                done: 0,
                failed: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Clear the bar and print the final line (when the run was large
    /// enough to report on).
    pub fn finish(&self) {
        let run = self.lock();
        if let Mode::Live(bar) = &run.mode {
            bar.finish_and_clear();
        }
        if !matches!(run.mode, Mode::Off) {
            eprintln!("{}", final_line(self.verb, &run));
        }
    }
}

/// `flotilla: audited 12 clusters in 41.2s: 10 done, 2 failed`.
fn final_line(verb: &str, run: &Run) -> String {
    format!(
        "flotilla: {verb} {} clusters in {}: {} done, {} failed",
        run.total,
        seconds(run.started.elapsed()),
        run.done - run.failed,
        run.failed
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Progress for Reporter {
    fn start(&self, clusters: usize) {
        let mut run = self.lock();
        run.started = Instant::now();
        run.total = clusters;
        run.mode = if clusters <= HANDFUL {
            Mode::Off
        } else if self.live_allowed {
            let bar =
                ProgressBar::with_draw_target(Some(clusters as u64), ProgressDrawTarget::stderr());
            // The template is a constant: it parses.
            if let Ok(style) =
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} clusters {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            Mode::Live(bar)
        } else {
            Mode::FinalLine
        };
    }

    fn finished(&self, cluster: &str, failed: bool) {
        let mut run = self.lock();
        run.done += 1;
        run.failed += usize::from(failed);
        let elapsed = seconds(run.started.elapsed());
        if let Mode::Live(bar) = &run.mode {
            let (sign, word) = if failed {
                ("✗", "failed")
            } else {
                ("✓", "done")
            };
            // Cluster names come from a targets file or a repository's
            // folder names: no terminal escapes.
            let name = flotilla_auditor::report::text::clean(cluster);
            bar.println(format!("  {sign} {name} {word} at {elapsed}"));
            bar.inc(1);
            if run.failed > 0 {
                bar.set_message(format!("({} failed)", run.failed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(verb: &'static str) -> Reporter {
        Reporter {
            live_allowed: false,
            ..Reporter::for_stderr(verb)
        }
    }

    #[test]
    fn a_handful_shows_nothing_more_counts_every_cluster() {
        let r = quiet("audited");
        r.start(HANDFUL);
        assert!(matches!(r.lock().mode, Mode::Off));
        r.start(5);
        assert!(matches!(r.lock().mode, Mode::FinalLine));
        for (i, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            r.finished(name, i == 2);
        }
        let line = final_line("audited", &r.lock());
        assert!(
            line.starts_with("flotilla: audited 5 clusters in "),
            "{line}"
        );
        assert!(line.ends_with("s: 4 done, 1 failed"), "{line}");
    }
}
