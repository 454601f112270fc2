//! Compiles the C half of `task_core` (c/task_core.c) to LLVM bitcode and
//! hands it to bpf-linker, which links bitcode like any other input, when
//! linking that binary. Only clang can emit the CO-RE relocations it holds.
//!
//! Also turns fixed-offsets.json into the constants `task_fixed` compiles
//! in, so that program and test read its offsets from one file.
//!
//! clang-22 because bpf-linker and rustc are built on LLVM 22 and bitcode is
//! only readable by the same or a newer LLVM; `CLANG` overrides it.

use std::{env, path::PathBuf, process::Command};

fn main() {
    fixed_offsets();
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

/// Writes `$OUT_DIR/fixed_offsets.rs`: `task::Offsets` from fixed-offsets.json.
fn fixed_offsets() {
    let source = "fixed-offsets.json";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("reading {source}: {e}"));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{source} is not JSON: {e}"));
    let offset = |field: &str| {
        json["offsets"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("{source}: offsets.\"{field}\" is missing or not a number"))
    };
    let code = format!(
        "/// From the BTF of {kernel}, as fixed-offsets.json says.\n\
         const OFFSETS: Offsets = Offsets {{ real_parent: {}, tgid: {}, static_prio: {} }};\n",
        offset("task_struct.real_parent"),
        offset("task_struct.tgid"),
        offset("task_struct.static_prio"),
        kernel = json["kernel"].as_str().unwrap_or("an unnamed kernel"),
    );
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("fixed_offsets.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
