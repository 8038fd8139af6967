//! CPU time of this process's threads, from `/proc/self/task/*/`, by thread name.
//!
//! The sfu's UDP workers are threads named `sfu-udp-N`; the reference fan-out runs on a
//! thread of its own name. Summing the CPU time of the threads whose name starts with a
//! prefix separates their cost from the clients' in the same process.

use std::fs;
use std::time::Duration;

/// Linux's `USER_HZ`, the unit of `utime`/`stime` in `/proc/*/stat`: fixed at 100 by the
/// kernel's user ABI on every architecture this runs on.
const USER_HZ: u64 = 100;

/// CPU time (user + system) consumed so far by this process's threads whose name starts
/// with `prefix`. Threads that have exited no longer count, so compare two readings taken
/// while the same threads run.
pub fn threads_cpu(prefix: &str) -> Duration {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = Duration::ZERO;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else { continue };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        total += task_cpu(&dir);
    }
    total
}

/// CPU time of the whole process (every thread, the exited ones too).
pub fn process_cpu() -> Duration {
    fs::read_to_string("/proc/self/stat").ok().and_then(|s| stat_cpu(&s)).unwrap_or_default()
}

/// One thread's CPU time: the nanoseconds of `schedstat` when the kernel has it, else the
/// clock ticks of `stat`.
fn task_cpu(dir: &std::path::Path) -> Duration {
    let schedstat = fs::read_to_string(dir.join("schedstat")).ok();
    if let Some(ns) = schedstat.and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok()) {
        return Duration::from_nanos(ns);
    }
    fs::read_to_string(dir.join("stat")).ok().and_then(|s| stat_cpu(&s)).unwrap_or_default()
}

/// `utime + stime` of a `stat` line (fields 14 and 15, counted after the `(comm)` field,
/// which may hold spaces).
fn stat_cpu(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_the_name() {
        let line = "1234 (a b) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(stat_cpu(line), Some(Duration::from_secs(3)));
        assert_eq!(stat_cpu("garbage"), None);
    }

    #[test]
    fn a_busy_named_thread_is_counted() {
        let before = threads_cpu("cpu-probe");
        let handle = std::thread::Builder::new()
            .name("cpu-probe".into())
            .spawn(|| {
                let mut x = 0u64;
                let end = std::time::Instant::now() + Duration::from_millis(60);
                while std::time::Instant::now() < end {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                threads_cpu("cpu-probe")
            })
            .unwrap();
        let during = handle.join().unwrap();
        assert_eq!(before, Duration::ZERO);
        assert!(during > Duration::ZERO, "{during:?}");
    }
}
