//! How often each program ran, and for how long in all, while the loader
//! held it: the kernel's BPF statistics (`BPF_ENABLE_STATS`, 5.8 on).
//!
//! The kernel counts runs only while someone holds statistics enabled, and
//! the counting itself costs a clock read per run, so it is on only for
//! the loader's lifetime. Under software emulation the nanoseconds are
//! slow and noisy: they compare programs and kernels within one run, they
//! are not what the program costs on hardware.

use std::{collections::HashSet, os::fd::OwnedFd};

use aya::{
    Ebpf,
    sys::{Stats, enable_stats},
};
use serde_json::{Value, json};

use crate::output;

/// Statistics switched on for as long as this is held; or why they are not.
pub struct RunStats(Result<OwnedFd, String>);

impl RunStats {
    pub fn enable() -> Self {
        Self(enable_stats(Stats::RunTime).map_err(|e| output::error_chain(&e)))
    }

    /// The `runs` of the `stats` line: per loaded program, its run count
    /// and total run time, or why there are none.
    pub fn read(&self, ebpf: &Ebpf, loaded: &HashSet<String>) -> Value {
        if let Err(reason) = &self.0 {
            return json!({ "enabled": false, "reason": format!("BPF_ENABLE_STATS: {reason}") });
        }
        let mut programs = serde_json::Map::new();
        let mut names: Vec<&String> = loaded.iter().collect();
        names.sort();
        for name in names {
            let Some(program) = ebpf.program(name) else {
                continue;
            };
            match program.info() {
                Ok(info) => {
                    programs.insert(
                        name.clone(),
                        json!({
                            "runCount": info.run_count(),
                            "runTimeNs": u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                        }),
                    );
                }
                Err(e) => eprintln!(
                    "kmatrix-loader: reading {name}'s run statistics: {}",
                    output::error_chain(&e)
                ),
            }
        }
        json!({ "enabled": true, "programs": programs })
    }
}
