//! CPU time of the running process, shared by the timing examples.

/// CPU time of this process so far (all threads, from `/proc/self/task/*/schedstat`,
/// nanosecond resolution), in seconds; `None` off Linux. On a loaded machine it is
/// the steadier measure: wall time includes waiting for a core.
pub fn cpu_seconds() -> Option<f64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 * 1e-9)
}
