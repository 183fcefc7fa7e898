//! A progress bar on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
    start: Instant,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Self { total, done: 0, enabled: std::io::stderr().is_terminal() && total > 0, start: Instant::now() }
    }
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    pub fn advance(&mut self, n: usize, channel: usize, channels: usize) {
        self.done += n;
        if !self.enabled {
            return;
        }
        let frac = self.done as f64 / self.total as f64;
        let width = 30;
        let filled = (frac * width as f64).round() as usize;
        let bar: String = (0..width).map(|k| if k < filled { '=' } else { ' ' }).collect();
        let elapsed = self.start.elapsed().as_secs_f64();
        // Blocks cost more in the middle of a channel, so this is a rough estimate.
        let eta = if frac > 0.0 { elapsed * (1.0 - frac) / frac } else { 0.0 };
        let _ = write!(
            std::io::stderr(),
            "\r[{bar}] {:>3.0}%  channel {}/{}  {elapsed:.1}s elapsed, ~{eta:.0}s left ",
            frac * 100.0,
            channel + 1,
            channels,
        );
    }
    pub fn finish(&mut self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}
