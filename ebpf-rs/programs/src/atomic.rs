//! Atomic counters in map values that several CPUs update.

/// Adds one to the `u64` at `ptr`.
///
/// The BPF target has no compare-and-swap, so `core` offers no `fetch_add`
/// for it. Emit the non-fetching atomic add (`BPF_XADD`, `lock +=`) directly:
/// unlike the fetching variants (5.12+) it is accepted by every kernel in
/// the matrix.
#[allow(dead_code)] // not every program counts by one.
#[inline(always)]
pub fn atomic_inc(ptr: *mut u64) {
    atomic_add(ptr, 1);
}

/// Adds `value` to the `u64` at `ptr`, the same way.
#[inline(always)]
pub fn atomic_add(ptr: *mut u64, value: u64) {
    // SAFETY: callers pass a pointer from a successful map lookup, so it
    // points at a live, 8-byte aligned map value; the instruction only
    // writes there.
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({ptr} + 0) += {value}",
            ptr = in(reg) ptr,
            value = in(reg) value,
        );
    }
}
