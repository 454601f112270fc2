//! The verifier's own figures for one program: how many instructions it
//! processed and how many states it explored, from the statistics the
//! kernel prints at the end of every verifier log (log level `BPF_LOG_STATS`,
//! since 5.2):
//!
//! ```text
//! verification time 1234 usec
//! stack depth 48
//! processed 71 insns (limit 1000000) max_states_per_insn 0 total_states 5 peak_states 5 mark_read 3
//! ```
//!
//! The kernel keeps the instruction count itself from 5.16 on
//! (`bpf_prog_info.verified_insns`, the same number); the states only ever
//! appear in the log.

use serde_json::{Value, json};

/// What the statistics lines of a verifier log say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierStats {
    /// `processed N insns`: the instructions the verifier walked, over
    /// every path (can exceed the program's length many times).
    pub insns: u64,
    pub total_states: u64,
    pub peak_states: u64,
    pub max_states_per_insn: u64,
    /// `verification time N usec`, printed only at `BPF_LOG_STATS`.
    pub verification_us: Option<u64>,
}

/// The statistics in a verifier log, or `None` when it has no `processed …
/// insns` line (an empty log, or one cut short).
pub fn parse(log: &str) -> Option<VerifierStats> {
    // The last one: a log of several loads (a retry) ends with the one that counted.
    let line = log
        .lines()
        .rev()
        .find(|line| line.starts_with("processed ") && line.contains(" insns"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| -> Option<u64> {
        let at = words.iter().position(|word| *word == key)?;
        words.get(at + 1)?.parse().ok()
    };
    let verification_us = log.lines().rev().find_map(|line| {
        line.strip_prefix("verification time ")?
            .strip_suffix(" usec")?
            .trim()
            .parse()
            .ok()
    });
    Some(VerifierStats {
        insns: after("processed")?,
        total_states: after("total_states")?,
        peak_states: after("peak_states")?,
        max_states_per_insn: after("max_states_per_insn")?,
        verification_us,
    })
}

/// One program's verifier figures, as the protocol reports them (the
/// `verifier` entries of `ready`, and of an `error` at stage `verify`).
///
/// `kernel_insns` is `bpf_prog_info.verified_insns` (5.16 on); without it
/// the instruction count comes from the log, and `insnsSource` says which.
pub fn figures_json(
    kernel_insns: Option<u32>,
    stats: Option<&VerifierStats>,
    load_ms: Option<f64>,
) -> Value {
    let mut figures = json!({});
    let insns = match (kernel_insns, stats) {
        (Some(insns), _) => Some((u64::from(insns), "kernel")),
        (None, Some(stats)) => Some((stats.insns, "log")),
        (None, None) => None,
    };
    if let Some((insns, source)) = insns {
        figures["verifiedInsns"] = json!(insns);
        figures["insnsSource"] = json!(source);
    }
    if let Some(stats) = stats {
        figures["totalStates"] = json!(stats.total_states);
        figures["peakStates"] = json!(stats.peak_states);
        figures["maxStatesPerInsn"] = json!(stats.max_states_per_insn);
        if let Some(us) = stats.verification_us {
            figures["verificationUs"] = json!(us);
        }
    }
    if let Some(ms) = load_ms {
        figures["loadMs"] = json!((ms * 10.0).round() / 10.0);
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    // What 5.10 prints at BPF_LOG_STATS for a small tracepoint program.
    const LOG_5_10: &str = "verification time 412 usec\n\
        stack depth 24\n\
        processed 71 insns (limit 1000000) max_states_per_insn 0 total_states 5 peak_states 5 mark_read 3\n";

    #[test]
    fn reads_the_stats_line() {
        assert_eq!(
            parse(LOG_5_10),
            Some(VerifierStats {
                insns: 71,
                total_states: 5,
                peak_states: 5,
                max_states_per_insn: 0,
                verification_us: Some(412),
            })
        );
    }

    #[test]
    fn a_failed_load_has_them_after_the_error() {
        // DEBUG|STATS, as aya asks for after a failure: instructions first,
        // then the reason, then the statistics.
        let log = "0: (b7) r1 = 0\n1: (85) call bpf_loop#181\n\
            unknown func bpf_loop#181\n\
            processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
        let stats = parse(log).expect("stats");
        assert_eq!(
            (stats.insns, stats.total_states, stats.verification_us),
            (2, 0, None)
        );
    }

    #[test]
    fn the_last_stats_line_counts() {
        let log = format!(
            "{LOG_5_10}processed 9 insns (limit 1000000) max_states_per_insn 1 total_states 2 peak_states 2 mark_read 1\n"
        );
        let stats = parse(&log).expect("stats");
        assert_eq!((stats.insns, stats.max_states_per_insn), (9, 1));
    }

    #[test]
    fn no_stats_line_no_figures() {
        assert_eq!(parse(""), None);
        assert_eq!(
            parse("BPF program is too large. Processed 1000001 insn\n"),
            None
        );
        assert_eq!(parse("processed many insns (limit 1000000)\n"), None);
    }

    #[test]
    fn the_kernel_count_wins_and_says_so() {
        let stats = parse(LOG_5_10).unwrap();
        assert_eq!(
            figures_json(Some(70), Some(&stats), Some(1.26)),
            json!({ "verifiedInsns": 70, "insnsSource": "kernel", "totalStates": 5, "peakStates": 5,
                    "maxStatesPerInsn": 0, "verificationUs": 412, "loadMs": 1.3 })
        );
        assert_eq!(
            figures_json(None, Some(&stats), None)["insnsSource"],
            json!("log")
        );
        assert_eq!(
            figures_json(None, None, Some(2.0)),
            json!({ "loadMs": 2.0 })
        );
    }
}
