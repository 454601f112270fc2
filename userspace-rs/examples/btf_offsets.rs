//! Prints the byte offsets of struct fields in a kernel's BTF without
//! booting that kernel, using the loader's own resolver:
//!
//! ```sh
//! cargo run --release --example btf_offsets -- FILE STRUCT.FIELD...
//! ```
//!
//! FILE is raw BTF (`/sys/kernel/btf/vmlinux`), a vmlinux, or a compressed
//! vmlinuz. A vmlinuz is unpacked like the kernel's scripts/extract-vmlinux
//! does: find a compression magic, feed everything from there to the `zstd`,
//! `xz`, `lz4` or `gzip` tool, keep the output if it is an ELF file. The
//! fixed offsets of ebpf-rs's `task_fixed` program were taken this way.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

#[path = "../src/btf.rs"]
#[allow(dead_code)]
mod btf;

const ELF_MAGIC: &[u8] = b"\x7fELF";
/// BTF magic, version 1, flags 0, 24-byte header: the start of `.BTF`.
const BTF_HEADER: &[u8] = b"\x9f\xeb\x01\x00\x18\x00\x00\x00";

/// Payload magics of the compressions Debian's kernels use, with the tool
/// that decompresses each (lz4's is the kernel's legacy frame format).
const COMPRESSIONS: &[(&[u8], &str)] = &[
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x1f\x8b\x08", "gzip"),
];

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, fields @ ..] = &args[..] else {
        return Err("usage: btf_offsets FILE STRUCT.FIELD...".to_owned());
    };
    let data = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
    let image = if data.starts_with(BTF_HEADER) || data.starts_with(ELF_MAGIC) {
        data
    } else {
        extract_vmlinux(&data).ok_or(format!("{file}: no BTF, ELF or known compressed payload"))?
    };
    // In a vmlinux, .BTF is one contiguous blob; the first header that
    // parses as BTF is it.
    let kernel_btf = find_all(&image, BTF_HEADER)
        .find_map(|at| btf::Btf::parse(&image[at..]).ok())
        .ok_or(format!("{file}: no BTF found"))?;
    for field in fields {
        println!("{field} {}", kernel_btf.field_offset(field)?);
    }
    Ok(())
}

fn extract_vmlinux(data: &[u8]) -> Option<Vec<u8>> {
    COMPRESSIONS.iter().find_map(|&(magic, tool)| {
        find_all(data, magic).find_map(|at| {
            let out = decompress(tool, &data[at..])?;
            out.starts_with(ELF_MAGIC).then_some(out)
        })
    })
}

/// Runs `tool -dc` over `input`. Its exit status is ignored: the payload is
/// followed by other data, which the tools complain about after they have
/// written the whole kernel.
fn decompress(tool: &str, input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let input = input.to_vec();
    // Fed from a thread so a full stdout pipe cannot block us both.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().ok()?;
    let _ = feeder.join();
    Some(output.stdout)
}

fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, window)| *window == needle)
        .map(|(at, _)| at)
}
