//! kmatrix-agent: runs the harness's guest commands over long-lived
//! connections. A command over plain SSH costs a channel, an sshd fork and a
//! login shell; under software emulation that is 300 ms before the command
//! does anything. The agent spawns each command as `/bin/sh -c CMD` in a
//! session of its own.
//!
//!   kmatrix-agent                  serves one connection on stdin/stdout
//!   kmatrix-agent --listen PATH    serves every connection to the Unix
//!                                  socket PATH, each on a thread of its own
//!
//! The guest starts the listener at boot (harness/vm/guest-script.ts) and a
//! harness session reaches it through its SSH connection (a streamlocal
//! channel, which sshd serves without a process), so a session's first
//! command waits for neither an exec nor a process start.
//!
//! Requests, one JSON object per line:
//!   {"op":"run","id":1,"cmd":"echo hi"}
//!   {"op":"input","id":1,"data":"text"}   write to the command's stdin
//!   {"op":"close","id":1}                 close its stdin
//!   {"op":"kill","id":1}                  SIGKILL its whole session
//! Events, one per line:
//!   {"ev":"started","id":1,"pid":123}     pid = its session and process group
//!   {"ev":"out","id":1,"data":"hi\n"}     stdout ("err" for stderr), UTF-8
//!   {"ev":"exit","id":1,"code":0,"signal":null}  once it exited and both
//!                                         of its output pipes are closed
//!   {"ev":"error","id":1,"message":"…"}   it could not be started
//!
//! When a connection ends (the harness or its SSH connection went away) every
//! session it started that is still running is killed: nothing outlives its
//! caller.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixListener,
    os::unix::process::{CommandExt, ExitStatusExt},
    process::{ChildStdin, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
};

use serde_json::{Value, json};

/// Where a connection's events go; its threads (one per command pipe) share it.
type Out = Arc<Mutex<Box<dyn Write + Send>>>;

fn send(out: &Out, event: Value) {
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    // A failed write means the harness is gone; stdin's EOF ends us next.
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

/// A running command: its stdin (until closed) and its session id.
struct Running {
    stdin: Option<ChildStdin>,
    pid: i32,
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => serve(std::io::stdin().lock(), Box::new(std::io::stdout())),
        [flag, path] if flag == "--listen" => {
            if let Err(e) = listen(path) {
                eprintln!("kmatrix-agent: listening on {path}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        _ => {
            eprintln!("usage: kmatrix-agent [--listen SOCKET]");
            return std::process::ExitCode::from(2);
        }
    }
    std::process::ExitCode::SUCCESS
}

fn listen(path: &str) -> std::io::Result<()> {
    // A socket file left by an earlier listener would fail the bind.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    for connection in listener.incoming() {
        let Ok(connection) = connection else { continue };
        let Ok(reader) = connection.try_clone() else {
            continue;
        };
        thread::spawn(move || serve(BufReader::new(reader), Box::new(connection)));
    }
    Ok(())
}

/// Serves one connection until its requests end, then kills what it started.
fn serve(requests: impl BufRead, events: Box<dyn Write + Send>) {
    let out: Out = Arc::new(Mutex::new(events));
    let running: Arc<Mutex<HashMap<u64, Running>>> = Arc::default();
    for line in requests.lines() {
        let Ok(line) = line else { break };
        let request: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                send(
                    &out,
                    json!({ "ev": "error", "id": null, "message": format!("malformed request: {e}") }),
                );
                continue;
            }
        };
        let id = request["id"].as_u64().unwrap_or(0);
        match request["op"].as_str() {
            Some("run") => run(&out, &running, id, request["cmd"].as_str().unwrap_or("")),
            Some("input") => {
                let mut map = running.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(stdin) = map.get_mut(&id).and_then(|r| r.stdin.as_mut()) {
                    // The command may have closed its stdin already: not our error.
                    let _ = stdin.write_all(request["data"].as_str().unwrap_or("").as_bytes());
                }
            }
            Some("close") => {
                if let Some(r) = running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&id)
                {
                    r.stdin = None;
                }
            }
            Some("kill") => {
                let pid = running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                    .map(|r| r.pid);
                if let Some(pid) = pid {
                    kill_session(pid);
                }
            }
            other => send(
                &out,
                json!({ "ev": "error", "id": id, "message": format!("unknown op {other:?}") }),
            ),
        }
    }
    let pids: Vec<i32> = running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|r| r.pid)
        .collect();
    for pid in pids {
        kill_session(pid);
    }
}

fn run(out: &Out, running: &Arc<Mutex<HashMap<u64, Running>>>, id: u64, cmd: &str) {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            send(
                out,
                json!({ "ev": "error", "id": id, "message": format!("spawning /bin/sh: {e}") }),
            );
            return;
        }
    };
    let pid = child.id() as i32;
    running.lock().unwrap_or_else(|e| e.into_inner()).insert(
        id,
        Running {
            stdin: child.stdin.take(),
            pid,
        },
    );
    send(out, json!({ "ev": "started", "id": id, "pid": pid }));
    let readers = [
        forward(out.clone(), id, "out", child.stdout.take()),
        forward(out.clone(), id, "err", child.stderr.take()),
    ];
    let out = out.clone();
    let running = running.clone();
    thread::spawn(move || {
        for reader in readers {
            let _ = reader.join();
        }
        let status = child.wait();
        running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        let event = match status {
            Ok(status) => json!({
                "ev": "exit", "id": id, "code": status.code(),
                "signal": status.signal().map(signal_name),
            }),
            Err(e) => {
                json!({ "ev": "error", "id": id, "message": format!("waiting for the command: {e}") })
            }
        };
        send(&out, event);
    });
}

/// Forwards a pipe as events, never splitting a UTF-8 character across two.
fn forward(
    out: Out,
    id: u64,
    stream: &'static str,
    pipe: Option<impl Read + Send + 'static>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let complete = match std::str::from_utf8(&pending) {
                Ok(_) => pending.len(),
                // An incomplete character at the end waits for the next read.
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => pending.len(),
            };
            let text = String::from_utf8_lossy(&pending[..complete]).into_owned();
            pending.drain(..complete);
            if !text.is_empty() {
                send(&out, json!({ "ev": stream, "id": id, "data": text }));
            }
        }
        if !pending.is_empty() {
            send(
                &out,
                json!({ "ev": stream, "id": id, "data": String::from_utf8_lossy(&pending) }),
            );
        }
    })
}

/// SIGKILL to every process of session `sid`, also those that moved to a
/// process group of their own (a shell's job control), until none is left.
fn kill_session(sid: i32) {
    for _ in 0..20 {
        // SAFETY: plain syscalls on pids.
        unsafe { libc::kill(-sid, libc::SIGKILL) };
        let members = session_members(sid);
        if members.is_empty() {
            return;
        }
        for pid in members {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Live (not zombie) processes whose session is `sid`, from /proc/PID/stat.
fn session_members(sid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the parenthesised comm: state ppid pgrp session …
            let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() != Some(&"Z")
                && fields.get(3).and_then(|s| s.parse::<i32>().ok()) == Some(sid)
        })
        .collect()
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGILL => "ILL",
        libc::SIGTRAP => "TRAP",
        libc::SIGABRT => "ABRT",
        libc::SIGBUS => "BUS",
        libc::SIGFPE => "FPE",
        libc::SIGKILL => "KILL",
        libc::SIGUSR1 => "USR1",
        libc::SIGSEGV => "SEGV",
        libc::SIGUSR2 => "USR2",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        libc::SIGXCPU => "XCPU",
        libc::SIGXFSZ => "XFSZ",
        libc::SIGSYS => "SYS",
        _ => return format!("SIG{signal}"),
    };
    format!("SIG{name}")
}
