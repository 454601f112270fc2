//! Records shared by the opensnoop eBPF program and its userspace loader.
//!
//! The program writes these into its maps and the loader reads the same bytes
//! back (so does kmatrix, which decodes them with the layout it finds in the
//! object's DWARF). Every type is therefore `#[repr(C)]`, and where the C
//! layout would leave a hole, the hole is an explicit padding field that the
//! program zeroes: no byte of a record is left undefined.
#![no_std]

use core::mem::{offset_of, size_of};

/// Length of a task's `comm`, including the trailing NUL.
pub const TASK_COMM_LEN: usize = 16;

/// Bytes of the opened path kept in an [`OpenEvent`], including the trailing
/// NUL; longer paths are cut short.
pub const FILENAME_LEN: usize = 96;

/// The access-mode bits of open's flags.
pub const O_ACCMODE: i32 = 0o3;
pub const O_RDONLY: i32 = 0o0;
pub const O_WRONLY: i32 = 0o1;
/// Truncate the file to length 0. This is the value on x86-64, arm64 and
/// riscv64 (asm-generic); a few other architectures use different bits.
pub const O_TRUNC: i32 = 0o1000;

/// How a file is opened, from the access mode of open's flags.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenKind {
    Read = 0,
    Write = 1,
    ReadWrite = 2,
}

impl OpenKind {
    /// The access mode of `flags`. Mode 3 (`O_WRONLY | O_RDWR`) is Linux's
    /// "neither read nor write, ioctl only" mode, for which the kernel checks
    /// read and write permission (`ACC_MODE` in include/linux/fs.h), so it is
    /// reported as `ReadWrite`.
    pub const fn from_flags(flags: i32) -> Self {
        match flags & O_ACCMODE {
            O_RDONLY => Self::Read,
            O_WRONLY => Self::Write,
            _ => Self::ReadWrite,
        }
    }

    pub const fn has_write_access(self) -> bool {
        !matches!(self, Self::Read)
    }
}

/// The opener's credentials, a nested struct so that records exercise
/// decoding of nested types.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// Real uid (low 32 bits of `bpf_get_current_uid_gid`).
    pub uid: u32,
    /// Real gid (high 32 bits of `bpf_get_current_uid_gid`).
    pub gid: u32,
}

/// One record per `openat(2)` call, streamed through the `OPEN_EVENTS` ring
/// buffer. Written at syscall entry, so it also reports opens that then fail.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpenEvent {
    /// Thread group id, what userspace calls the process id (high 32 bits of
    /// `bpf_get_current_pid_tgid`).
    pub tgid: u32,
    /// Kernel task id, i.e. the thread id (low 32 bits of
    /// `bpf_get_current_pid_tgid`).
    pub pid: u32,
    /// Real uid, the same as `ids.uid`; kept at the top level as well so
    /// that filtering on it needs no nested field.
    pub uid: u32,
    /// openat's `flags` argument, as passed.
    pub flags: i32,
    /// The access mode of `flags`.
    pub kind: OpenKind,
    /// Whether `flags` has `O_TRUNC`.
    pub truncate: bool,
    /// Explicit padding, always zero: it puts `comm` and `filename` on 8-byte
    /// offsets and fills what would otherwise be the hole before `ids`.
    pub _padding: [u8; 3],
    /// The opener's name, NUL-padded (`bpf_get_current_comm`).
    pub comm: [u8; TASK_COMM_LEN],
    /// The path as passed to openat, NUL-terminated and zero-filled after
    /// the NUL; empty if it could not be read from user memory.
    pub filename: [u8; FILENAME_LEN],
    pub ids: Ids,
}

// The layout both sides, and kmatrix's DWARF decoding, rely on: no implicit
// padding anywhere (the fields' sizes add up to the struct's size).
const _: () = {
    assert!(offset_of!(OpenEvent, truncate) == 20);
    assert!(offset_of!(OpenEvent, comm) == 24);
    assert!(offset_of!(OpenEvent, filename) == 40);
    assert!(offset_of!(OpenEvent, ids) == 136);
    assert!(size_of::<OpenEvent>() == 144);
};

/// Per-process totals in the `OPEN_TOTALS` hash map, keyed by tgid. Entries
/// are never removed, so they outlive their process.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenTotals {
    /// openat calls made by the process.
    pub opens: u64,
    /// The flags of the most recent of them.
    pub last_flags: i32,
    /// How many of them asked for write access (`OpenKind::has_write_access`).
    pub writes: u32,
}

const _: () = assert!(size_of::<OpenTotals>() == 16);

// OpenEvent is deliberately not `Pod`: `kind` and `truncate` have invalid bit
// patterns, so it cannot be made from just any bytes; userspace uses the
// checked `OpenEvent::from_bytes` instead.
#[cfg(feature = "user")]
// SAFETY: repr(C), integer fields only, no padding (8 + 4 + 4 bytes), so
// every bit pattern is a valid value.
unsafe impl aya::Pod for OpenTotals {}

#[cfg(feature = "user")]
impl OpenEvent {
    /// Reads an event from a ring buffer record, or `None` if the record is
    /// too short or holds an invalid `kind` or `truncate`.
    pub fn from_bytes(record: &[u8]) -> Option<Self> {
        let record = record.get(..size_of::<Self>())?;
        let kind_bytes = record[offset_of!(Self, kind)..][..size_of::<u32>()].try_into();
        let kind = u32::from_ne_bytes(kind_bytes.ok()?);
        let truncate = record[offset_of!(Self, truncate)];
        if kind > OpenKind::ReadWrite as u32 || truncate > 1 {
            return None;
        }
        // SAFETY: `record` holds size_of::<Self>() bytes, read unaligned, and
        // the only fields with invalid bit patterns, `kind` and `truncate`,
        // were checked above; every other field is an integer or byte array.
        Some(unsafe { record.as_ptr().cast::<Self>().read_unaligned() })
    }
}
