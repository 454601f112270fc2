//! The repository's eBPF objects, for tests that read real DWARF.

use std::path::{Path, PathBuf};

/// `KMATRIX_EBPF_OBJECTS`, else ebpf-rs's release build next to this crate.
pub fn path(name: &str) -> PathBuf {
    std::env::var_os("KMATRIX_EBPF_OBJECTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../ebpf-rs/target/bpfel-unknown-none/release")
        })
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    let path = path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build ebpf-rs first (the harness's buildAll(), or `cargo build --release \
             --target bpfel-unknown-none` in ebpf-rs), or point KMATRIX_EBPF_OBJECTS at a \
             directory holding its objects",
            path.display()
        )
    })
}
