//! A progress bar on stderr, shown only when stderr is a terminal, driven by the
//! library's progress callback.
//!
//! The callback may run on several worker threads at once and reports how many
//! blocks are done in all; the bar keeps its state behind a mutex, draws the
//! largest count seen (reports can arrive out of order) and redraws at most every
//! 100 ms.

use effective_state_size::ess::Progress;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A progress bar shared by the threads of one computation.
pub struct ProgressBar {
    enabled: bool,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    done: usize,
    drawn: bool,
    last_draw: Option<Instant>,
}

const REDRAW: Duration = Duration::from_millis(100);

impl ProgressBar {
    /// A bar that draws on stderr if stderr is a terminal, and otherwise stays quiet.
    pub fn on_stderr() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }

    /// A bar that draws only if `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled, start: Instant::now(), state: Mutex::new(State::default()) }
    }

    /// Records a report of the library (callable from any thread).
    pub fn update(&self, p: Progress) {
        let Ok(mut state) = self.state.lock() else { return };
        if p.done <= state.done {
            return; // a report that overtook this one was drawn already
        }
        state.done = p.done;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let finished = state.done >= p.total;
        if !finished && state.last_draw.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        let line = render(state.done, p.total, p.channel, p.channels, self.start.elapsed().as_secs_f64());
        let _ = write!(std::io::stderr(), "\r{line}");
        state.drawn = true;
        state.last_draw = Some(now);
    }

    /// Ends the bar's line, if one was drawn.
    pub fn finish(&self) {
        if let Ok(state) = self.state.lock() {
            if state.drawn && self.enabled {
                let _ = writeln!(std::io::stderr());
            }
        }
    }
}

/// One line of the bar: `[=====     ]  50%  channel 2/4  1.0s elapsed, ~1s left`.
fn render(done: usize, total: usize, channel: usize, channels: usize, elapsed: f64) -> String {
    let frac = if total == 0 { 1.0 } else { (done as f64 / total as f64).min(1.0) };
    let width = 30;
    let filled = (frac * width as f64).round() as usize;
    let bar: String = (0..width).map(|k| if k < filled { '=' } else { ' ' }).collect();
    // Blocks cost more in the middle of a channel, so this is a rough estimate.
    let eta = if frac > 0.0 { elapsed * (1.0 - frac) / frac } else { 0.0 };
    format!(
        "[{bar}] {:>3.0}%  channel {}/{channels}  {elapsed:.1}s elapsed, ~{eta:.0}s left ",
        frac * 100.0,
        channel + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_fraction_channel_and_time() {
        let line = render(5, 10, 1, 4, 2.0);
        assert!(line.starts_with(&format!("[{}{}]  50%", "=".repeat(15), " ".repeat(15))), "{line}");
        assert!(line.contains("channel 2/4") && line.contains("2.0s elapsed, ~2s left"), "{line}");
        assert!(render(0, 0, 0, 1, 0.0).contains("100%"));
    }

    #[test]
    fn the_bar_keeps_the_largest_count_from_any_thread() {
        let bar = std::sync::Arc::new(ProgressBar::new(false));
        std::thread::scope(|s| {
            for done in [3, 9, 1, 6] {
                let bar = &bar;
                s.spawn(move || {
                    let p = progress(done);
                    bar.update(p)
                });
            }
        });
        assert_eq!(bar.state.lock().unwrap().done, 9);
        bar.finish();
    }

    /// A `Progress` as the library reports it (the struct is non-exhaustive, so it
    /// is obtained from a real callback).
    fn progress(done: usize) -> Progress {
        use effective_state_size::ess::{self, EssOptions, Measure};
        use std::sync::Mutex;
        let seen = std::sync::Arc::new(Mutex::new(None));
        let op = effective_state_size::FirConvolution::new(&[[1.0, 0.5]], 4).unwrap();
        let opts = EssOptions::default().with_method(ess::Method::Dense).with_progress({
            let seen = seen.clone();
            move |p| {
                *seen.lock().unwrap() = Some(p);
                std::ops::ControlFlow::Continue(())
            }
        });
        ess::profiles(&op, &[Measure::Entropy], &opts).unwrap();
        let mut p = seen.lock().unwrap().expect("a report");
        p.done = done;
        p.total = 10;
        p
    }
}
