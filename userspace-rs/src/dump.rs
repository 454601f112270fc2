//! Dumping whole maps as JSON at shutdown.
//!
//! aya's typed maps need the key/value types at compile time, but `--map`
//! picks them at run time, so this walks the map with the raw
//! `BPF_MAP_GET_NEXT_KEY` / `BPF_MAP_LOOKUP_ELEM` commands on aya's map fd
//! and hands the bytes to the generic decoder.

use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd},
};

use aya::maps::{Map, MapData};
use serde_json::{Value, json};

use crate::{decode::decode, output::hex, types::MapTypes};

/// The name reported as `mapType`, whether values are per CPU, and the
/// underlying map, for the map kinds that can be walked key by key.
fn describe(map: &Map) -> Result<(&'static str, bool, &MapData), &'static str> {
    Ok(match map {
        Map::Array(data) => ("Array", false, data),
        Map::HashMap(data) => ("HashMap", false, data),
        Map::LruHashMap(data) => ("LruHashMap", false, data),
        Map::LpmTrie(data) => ("LpmTrie", false, data),
        Map::PerCpuArray(data) => ("PerCpuArray", true, data),
        Map::PerCpuHashMap(data) => ("PerCpuHashMap", true, data),
        Map::PerCpuLruHashMap(data) => ("PerCpuLruHashMap", true, data),
        _ => {
            return Err(
                "only array, hash, LRU hash, LPM trie and their per-CPU variants can be dumped",
            );
        }
    })
}

/// Checks before anything is attached that the map can be dumped and that
/// the key/value types have the map's sizes, so a wrong spec fails at stage
/// `parse` rather than after the test ran.
pub fn check(name: &str, map: &Map, types: &MapTypes) -> Result<(), String> {
    let (kind, _, data) = describe(map).map_err(|why| format!("map {name}: {why}"))?;
    let info = data.info().map_err(|e| format!("map {name}: {e}"))?;
    for (what, ty, actual) in [
        ("key", &types.key, info.key_size()),
        ("value", &types.value, info.value_size()),
    ] {
        if ty.size != actual as usize {
            return Err(format!(
                "map {name} ({kind}) has {actual}-byte {what}s but `{}` is {} bytes",
                ty.name, ty.size
            ));
        }
    }
    Ok(())
}

/// The body of a `map` line: every entry, values as arrays (one element per
/// possible CPU) for per-CPU maps.
pub fn dump(name: &str, map: &Map, types: &MapTypes) -> Result<Value, String> {
    let (kind, per_cpu, data) = describe(map).map_err(|why| format!("map {name}: {why}"))?;
    let info = data.info().map_err(|e| format!("map {name}: {e}"))?;
    let fd = data.fd().as_fd();
    let value_size = types.value.size;

    // Per-CPU lookups return one value per possible CPU, each padded to 8
    // bytes.
    let stride = if per_cpu {
        value_size.next_multiple_of(8)
    } else {
        value_size
    };
    let cpus = if per_cpu {
        aya::util::nr_cpus().map_err(|(path, e)| format!("reading {path}: {e}"))?
    } else {
        1
    };

    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut value = vec![0u8; stride * cpus];
    // Bounded by max_entries: if a program deletes the current key while we
    // walk, GET_NEXT_KEY restarts from the first key and could loop forever.
    for _ in 0..info.max_entries() {
        let Some(next) = next_key(fd, key.as_deref(), types.key.size)
            .map_err(|e| format!("map {name}: get next key: {e}"))?
        else {
            break;
        };
        // A key deleted between GET_NEXT_KEY and LOOKUP is simply skipped.
        if lookup(fd, &next, &mut value).map_err(|e| format!("map {name}: lookup: {e}"))? {
            let undecodable = |what: String, e: String| {
                format!(
                    "map {name}: {what} of the entry with key {}: {e}",
                    hex(&next)
                )
            };
            let decoded = if per_cpu {
                let values: Result<Vec<Value>, String> = value
                    .chunks(stride)
                    .enumerate()
                    .map(|(cpu, v)| {
                        decode(&types.value, &v[..value_size])
                            .map_err(|e| undecodable(format!("the value on cpu {cpu}"), e))
                    })
                    .collect();
                Value::Array(values?)
            } else {
                decode(&types.value, &value).map_err(|e| undecodable("the value".to_owned(), e))?
            };
            let decoded_key =
                decode(&types.key, &next).map_err(|e| undecodable("the key".to_owned(), e))?;
            entries.push(json!({ "key": decoded_key, "value": decoded }));
        }
        key = Some(next);
    }

    Ok(json!({ "name": name, "mapType": kind, "entries": entries }))
}

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// The `BPF_MAP_*_ELEM` member of `union bpf_attr`. The kernel accepts a
/// prefix of the union as long as it covers the fields the command uses.
#[repr(C)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value` for lookups, `next_key` for GET_NEXT_KEY.
    value: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut ElemAttr) -> io::Result<()> {
    // SAFETY: attr is a valid, fully initialised ElemAttr whose pointers
    // reference live buffers of the sizes the map was checked to have.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut ElemAttr,
            size_of::<ElemAttr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The key after `key`, or the first key when `key` is None; None at the end.
fn next_key(
    fd: BorrowedFd<'_>,
    key: Option<&[u8]>,
    key_size: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut next = vec![0u8; key_size];
    let mut attr = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value: next.as_mut_ptr() as u64,
        flags: 0,
    };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(()) => Ok(Some(next)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the value for `key` into `value`; false if the key is gone.
fn lookup(fd: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}
