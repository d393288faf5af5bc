//! Resident memory of processes and process groups, read from `/proc` (Linux): the peak memory
//! of KCL workers (a daemon JVM and the processors it starts, one process group each).

/// Resident memory of a process, in MiB; `None` when it is gone or `/proc` is not there.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The processes of a process group, by pid, with their command names.
pub fn process_group(pgid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat[stat.find('(').unwrap_or(0) + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push((pid, comm));
        }
    }
    out
}

/// The peak resident memory of workers, each a process group led by a program (the daemon)
/// that starts helpers (the processors), in MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakMemory {
    /// The largest leader process seen.
    pub leader: f64,
    /// The largest helper process seen.
    pub helper: f64,
    /// The largest group seen, all its processes together.
    pub group: f64,
}

impl PeakMemory {
    /// Samples the groups `pgids` once; processes named `leader_command` are leaders.
    pub fn sample(&mut self, pgids: &[u32], leader_command: &str) {
        for pgid in pgids {
            let mut total = 0.0;
            for (pid, comm) in process_group(*pgid) {
                let rss = rss_mib(pid).unwrap_or(0.0);
                total += rss;
                if comm == leader_command {
                    self.leader = self.leader.max(rss);
                } else {
                    self.helper = self.helper.max(rss);
                }
            }
            self.group = self.group.max(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_in_its_group_with_its_memory() {
        let me = std::process::id();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let pgid: u32 = after.split_whitespace().nth(2).unwrap().parse().unwrap();
        let group = process_group(pgid);
        assert!(group.iter().any(|(pid, _)| *pid == me), "{group:?}");
        let mut peak = PeakMemory::default();
        peak.sample(&[pgid], "no-such-command");
        assert!(peak.helper > 0.0 && peak.group >= peak.helper, "{peak:?}");
    }
}
