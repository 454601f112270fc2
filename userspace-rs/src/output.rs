//! The stdout protocol: one JSON object per line, each with `"v": 1` and a
//! `"kind"`. Nothing else may be written to stdout; diagnostics go to stderr.

use std::io::Write as _;

use serde_json::{Map, Value, json};

use crate::verifier_stats;

/// Protocol version carried in every line.
const VERSION: u64 = 1;

/// Writes one protocol line and flushes it, so the harness sees events as
/// they happen even though stdout is a pipe (block-buffered by default).
pub fn emit(kind: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("v".into(), json!(VERSION));
    line.insert("kind".into(), json!(kind));
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    let mut out = std::io::stdout().lock();
    // A failed write means the reader is gone; nobody is left to tell, and
    // stdin EOF / SIGTERM will end the run shortly.
    let _ = writeln!(out, "{}", Value::Object(line));
    let _ = out.flush();
}

/// Where in the lifecycle a run failed; becomes the `stage` of an `error`
/// line so tests can tell "did not verify" from "could not attach".
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    /// Bad command line, unreadable/invalid object, or a spec that does not
    /// match the object (missing program/map/type, wrong sizes).
    Parse,
    /// `EbpfLoader::load`: map creation, BTF, relocations. With `--live`:
    /// finding and opening the running program's maps.
    Load,
    /// `BPF_PROG_LOAD`, i.e. the verifier.
    Verify,
    Attach,
    /// Anything after `ready`.
    Run,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Load => "load",
            Stage::Verify => "verify",
            Stage::Attach => "attach",
            Stage::Run => "run",
        }
    }
}

/// A failure that ends the run with an `error` line and exit code 1.
#[derive(Debug)]
pub struct Failure {
    pub stage: Stage,
    pub message: String,
    /// The program the failure is about, when it is about one.
    pub program: Option<String>,
    pub verifier_log: Option<String>,
}

impl Failure {
    pub fn new(stage: Stage, message: impl Into<String>) -> Self {
        Self {
            stage,
            message: message.into(),
            program: None,
            verifier_log: None,
        }
    }

    /// The same failure, about `program`.
    pub fn of_program(mut self, program: &str) -> Self {
        self.program = Some(program.to_owned());
        self
    }

    pub fn emit(&self) {
        let mut fields = json!({ "stage": self.stage.as_str(), "message": self.message });
        if let Some(program) = &self.program {
            fields["program"] = json!(program);
        }
        if let Some(log) = &self.verifier_log {
            fields["verifierLog"] = json!(log);
            // A refused program's figures: how far the verifier got.
            if let Some(stats) = verifier_stats::parse(log) {
                fields["verifier"] = verifier_stats::figures_json(None, Some(&stats), None);
            }
        }
        emit("error", fields);
    }
}

/// Builds a `Failure` of the given stage from any error, keeping its whole
/// `source()` chain in the message (aya's top-level messages alone, such as
/// "error relocating function", hide the actual cause).
pub fn fail<E: std::error::Error>(stage: Stage) -> impl FnOnce(E) -> Failure {
    move |err| Failure::new(stage, error_chain(&err))
}

pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        // Many aya errors already print their cause inline ("map error:
        // {0}"); only append causes that are not there yet.
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// Bytes as lowercase hex, two digits each: how undecodable records and
/// keys are shown.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
