//! Compiles the C half of `task_core` (c/task_core.c) to LLVM bitcode and
//! hands it to bpf-linker, which links bitcode like any other input, when
//! linking that binary. Only clang can emit the CO-RE relocations it holds.
//!
//! clang-22 because bpf-linker and rustc are built on LLVM 22 and bitcode is
//! only readable by the same or a newer LLVM; `CLANG` overrides it.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let source = "c/task_core.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CLANG");

    let clang = env::var("CLANG").unwrap_or_else(|_| "clang-22".to_owned());
    let bitcode = PathBuf::from(env::var("OUT_DIR").unwrap()).join("task_core.bc");
    // -g: the relocations refer to types described by the debug info.
    let status = Command::new(&clang)
        .args([
            "-target",
            "bpf",
            "-O2",
            "-g",
            "-emit-llvm",
            "-c",
            source,
            "-o",
        ])
        .arg(&bitcode)
        .status()
        .unwrap_or_else(|e| panic!("running {clang}: {e}"));
    assert!(status.success(), "{clang} failed to compile {source}");
    println!("cargo:rustc-link-arg-bin=task_core={}", bitcode.display());
}
