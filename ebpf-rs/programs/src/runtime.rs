//! What every program object needs besides its programs: a panic handler
//! (`no_std`) and the license section the kernel checks for GPL-only helpers.

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // There is no unwinding in BPF; any reachable panic makes the verifier
    // reject the program because this loop never terminates.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
