//! Builds the classifier (`servos-ebpf`) for BPF with aya-build, into
//! `OUT_DIR`, where `src/object.rs` embeds it.
//!
//! The BPF target has no prebuilt `core`, so it is built from source
//! (`-Z build-std=core`), which stable cargo accepts under
//! `RUSTC_BOOTSTRAP=1`: set here, so that a plain `cargo build` works. The
//! same toolchain builds the program as the rest of the workspace. Linking
//! needs `bpf-linker` and the `rust-src` component.

use std::path::Path;

const MISSING_LINKER: &str = "bpf-linker is not on PATH. `cargo xtask bench classifier` \
    installs it (with rust-src and LLVM 22); by hand: apt-get install llvm-22-dev \
    libpolly-22-dev libzstd-dev zlib1g-dev; rustup component add rust-src; \
    PATH=/usr/lib/llvm-22/bin:$PATH LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 \
    cargo install bpf-linker --no-default-features --features llvm-22";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let ebpf_dir = Path::new(&manifest_dir)
        .parent()
        .ok_or_else(|| format!("{manifest_dir} has no parent folder"))?;
    let ebpf_dir = ebpf_dir
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", ebpf_dir.display()))?;
    if which_bpf_linker().is_none() {
        return Err(MISSING_LINKER.into());
    }
    std::env::set_var("RUSTC_BOOTSTRAP", "1");
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".to_owned());
    let package = aya_build::Package {
        name: "servos-ebpf",
        root_dir: ebpf_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))?;
    Ok(())
}

fn which_bpf_linker() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("bpf-linker"))
        .find(|candidate| candidate.is_file())
}
