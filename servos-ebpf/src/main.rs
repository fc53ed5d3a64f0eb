//! The classifier program's entry point (see the library for what it does).
//! Built for BPF it is the program; built for the host it is an empty
//! binary, which lets the workspace build every member for the host.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

use aya_ebpf::{macros::classifier, programs::TcContext};

/// Classifies one packet at ingress or egress of the mesh interface.
#[classifier]
fn servos_classify(ctx: TcContext) -> i32 {
    servos_ebpf::verdict::classify(&ctx)
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects a program that can reach a loop it cannot bound,
    // so the program must not contain a reachable panic; this is never run.
    loop {}
}

/// The program's licence, as the kernel records it (it calls no helper
/// reserved to GPL-compatible programs).
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 14] = *b"AGPL-3.0-only\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
