//! Registry of the value types the loader can decode from raw map and ring
//! buffer bytes: fixed-width integers plus the shared structs from
//! `kmatrix-common`. `--ringbuf MAP=TYPE` and `--map MAP=KEY:VALUE` name
//! entries of this table.

use std::mem::size_of;

use kmatrix_common::{ExecEvent, GateEvent, TaskEvent, TcpEvent};
use serde_json::{Value, json};

pub struct TypeDef {
    pub name: &'static str,
    /// Exact size in bytes; checked against the map's key/value size before
    /// anything is attached, so decoding never sees a short buffer.
    pub size: usize,
    pub decode: fn(&[u8]) -> Value,
}

macro_rules! int_type {
    ($name:literal, $ty:ty) => {
        TypeDef {
            name: $name,
            size: size_of::<$ty>(),
            decode: |bytes| int(<$ty>::from_ne_bytes(bytes.try_into().unwrap()).into()),
        }
    };
}

static TYPES: &[TypeDef] = &[
    int_type!("u8", u8),
    int_type!("u16", u16),
    int_type!("u32", u32),
    int_type!("u64", u64),
    int_type!("i8", i8),
    int_type!("i16", i16),
    int_type!("i32", i32),
    int_type!("i64", i64),
    TypeDef {
        name: "exec_event",
        size: size_of::<ExecEvent>(),
        decode: exec_event,
    },
    TypeDef {
        name: "task_event",
        size: size_of::<TaskEvent>(),
        decode: task_event,
    },
    TypeDef {
        name: "gate_event",
        size: size_of::<GateEvent>(),
        decode: gate_event,
    },
    TypeDef {
        name: "tcp_event",
        size: size_of::<TcpEvent>(),
        decode: tcp_event,
    },
];

pub fn lookup(name: &str) -> Option<&'static TypeDef> {
    TYPES.iter().find(|t| t.name == name)
}

pub fn names() -> String {
    TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Integers beyond 2^53 lose precision as JSON numbers in JavaScript, so
/// those are emitted as decimal strings instead.
fn int(value: i128) -> Value {
    const SAFE: i128 = (1 << 53) - 1;
    if (-SAFE..=SAFE).contains(&value) {
        json!(value as i64)
    } else {
        json!(value.to_string())
    }
}

/// Copies a `T` out of a byte buffer written by the kernel. `Pod` guarantees
/// any bit pattern is a valid `T`; the copy avoids alignment assumptions
/// about ring buffer records.
fn read_pod<T: aya::Pod>(bytes: &[u8]) -> T {
    assert_eq!(bytes.len(), size_of::<T>(), "caller checks sizes");
    // SAFETY: length checked above; T: Pod accepts any bytes.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) }
}

/// A NUL-padded kernel string (like `comm`) up to its first NUL.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn exec_event(bytes: &[u8]) -> Value {
    let event: ExecEvent = read_pod(bytes);
    json!({
        "pid": event.pid,
        "tgid": event.tgid,
        "uid": event.uid,
        "gid": event.gid,
        "comm": c_string(&event.comm),
    })
}

fn task_event(bytes: &[u8]) -> Value {
    let event: TaskEvent = read_pod(bytes);
    json!({
        "pid": event.pid,
        "tgid": event.tgid,
        "ppid": event.ppid,
        "static_prio": event.static_prio,
        "uid": event.uid,
        "comm": c_string(&event.comm),
    })
}

fn gate_event(bytes: &[u8]) -> Value {
    let event: GateEvent = read_pod(bytes);
    json!({ "pid": event.pid, "sum": event.sum })
}

fn tcp_event(bytes: &[u8]) -> Value {
    let event: TcpEvent = read_pod(bytes);
    json!({
        "pid": event.pid,
        "tid": event.tid,
        // Network byte order: the bytes in memory are the address in order.
        "daddr": std::net::Ipv4Addr::from(event.daddr.to_ne_bytes()).to_string(),
        "dport": event.dport,
        "sport": event.sport,
        "family": event.family,
        "comm": c_string(&event.comm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_u64_becomes_string() {
        let decode = lookup("u64").unwrap().decode;
        assert_eq!(decode(&5u64.to_ne_bytes()), json!(5));
        assert_eq!(
            decode(&u64::MAX.to_ne_bytes()),
            json!("18446744073709551615")
        );
        assert_eq!(
            (lookup("i32").unwrap().decode)(&(-7i32).to_ne_bytes()),
            json!(-7)
        );
    }

    #[test]
    fn exec_event_comm_stops_at_nul() {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"true");
        comm[5] = b'x'; // garbage after the NUL must not leak into the name
        let event = ExecEvent {
            pid: 1,
            tgid: 2,
            uid: 3,
            gid: 4,
            comm,
        };
        // SAFETY: ExecEvent is repr(C) plain data without padding.
        let bytes: [u8; size_of::<ExecEvent>()] = unsafe { std::mem::transmute(event) };
        assert_eq!(
            (lookup("exec_event").unwrap().decode)(&bytes),
            json!({"pid": 1, "tgid": 2, "uid": 3, "gid": 4, "comm": "true"})
        );
    }

    #[test]
    fn task_event_fields() {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"true");
        let event = TaskEvent {
            pid: 1,
            tgid: 2,
            ppid: 3,
            static_prio: 127,
            uid: 4,
            comm,
        };
        // SAFETY: TaskEvent is repr(C) plain data without padding.
        let bytes: [u8; size_of::<TaskEvent>()] = unsafe { std::mem::transmute(event) };
        assert_eq!(
            (lookup("task_event").unwrap().decode)(&bytes),
            json!({"pid": 1, "tgid": 2, "ppid": 3, "static_prio": 127, "uid": 4, "comm": "true"})
        );
    }

    #[test]
    fn gate_event_fields() {
        let event = GateEvent { pid: 7, sum: 36 };
        // SAFETY: GateEvent is repr(C) plain data without padding.
        let bytes: [u8; size_of::<GateEvent>()] = unsafe { std::mem::transmute(event) };
        assert_eq!(
            (lookup("gate_event").unwrap().decode)(&bytes),
            json!({"pid": 7, "sum": 36})
        );
    }

    #[test]
    fn tcp_event_address_is_dotted_quad() {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"curl");
        let event = TcpEvent {
            pid: 9,
            tid: 11,
            // As the kernel stores 127.0.0.1: network byte order.
            daddr: u32::from_ne_bytes([127, 0, 0, 1]),
            dport: 18080,
            sport: 41234,
            family: 2,
            reserved: 0,
            comm,
        };
        // SAFETY: TcpEvent is repr(C) plain data without padding.
        let bytes: [u8; size_of::<TcpEvent>()] = unsafe { std::mem::transmute(event) };
        assert_eq!(
            (lookup("tcp_event").unwrap().decode)(&bytes),
            json!({"pid": 9, "tid": 11, "daddr": "127.0.0.1", "dport": 18080, "sport": 41234, "family": 2, "comm": "curl"})
        );
    }
}
