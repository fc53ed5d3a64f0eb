//! What building the mesh classifier needs, installed when missing: the
//! `rust-src` component (the BPF target's `core` is built from source), and
//! `bpf-linker` built against Debian's LLVM 22.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::{cmd, debian};

/// The bpf-linker release installed (0.13 is the first with an `llvm-22`
/// feature; `--locked` keeps its dependencies at the tested versions).
const BPF_LINKER_VERSION: &str = "0.13.0";
/// Where Debian's LLVM 22 packages install LLVM.
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// Installs `rust-src` and `bpf-linker` (with the Debian packages it is
/// built from) unless they are there.
pub fn ensure_toolchain() -> Result<()> {
    ensure_rust_src()?;
    if cmd::find_on_path("bpf-linker").is_some() {
        eprintln!("xtask: bpf-linker present, nothing to install");
        return Ok(());
    }
    debian::ensure(&debian::BPF_LINKER_BUILD)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![Path::new(LLVM_PREFIX).join("bin")];
    paths.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(paths).context("PATH has a folder with a ':' in its name")?;
    // Into the default cargo home, which is on PATH where cargo is.
    cmd::run(
        cmd::cargo()
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
            ])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("PATH", path)
            // Without it llvm-sys looks for an `llvm-config` and `-lLLVM` elsewhere.
            .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX),
    )
}

fn ensure_rust_src() -> Result<()> {
    let sysroot =
        cmd::read_stdout(std::process::Command::new("rustc").args(["--print", "sysroot"]))?;
    let core = Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/core");
    if core.is_dir() {
        eprintln!("xtask: rust-src present, nothing to install");
        return Ok(());
    }
    cmd::run(std::process::Command::new("rustup").args(["component", "add", "rust-src"]))
}
