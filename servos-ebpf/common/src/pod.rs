//! `aya::Pod` for the shared types, so that user space can read and write
//! them in maps (the `user` feature).
#![allow(
    unsafe_code,
    reason = "aya::Pod is an unsafe marker trait: implementing it is the point of this module"
)]

use crate::{
    Counter, FlowKey, GenerationSettings, IdentityV4Key, IdentityV6Key, PolicyKey, RuleRef,
    SlotOwner,
};

// SAFETY: `#[repr(C)]`, only `u32` fields: no padding, every bit pattern valid.
unsafe impl aya::Pod for GenerationSettings {}
// SAFETY: `#[repr(C)]` of byte arrays and a byte: no padding, every bit pattern valid.
unsafe impl aya::Pod for IdentityV4Key {}
// SAFETY: `#[repr(C)]` of byte arrays and a byte: no padding, every bit pattern valid.
unsafe impl aya::Pod for IdentityV6Key {}
// SAFETY: `#[repr(C)]` of byte arrays and bytes: no padding, every bit pattern valid.
unsafe impl aya::Pod for PolicyKey {}
// SAFETY: `#[repr(C)]` of byte arrays and a byte, 40 bytes: no implicit
// padding (the explicit `padding` field fills it), every bit pattern valid.
unsafe impl aya::Pod for FlowKey {}
// SAFETY: `#[repr(C)]`, `u64` then two `u32`: no implicit padding, every
// bit pattern valid.
unsafe impl aya::Pod for RuleRef {}
// SAFETY: `#[repr(C)]`, two `u64`: no padding, every bit pattern valid.
unsafe impl aya::Pod for Counter {}
// SAFETY: `#[repr(C)]`, `u64` then two `u32`: no implicit padding, every
// bit pattern valid.
unsafe impl aya::Pod for SlotOwner {}
