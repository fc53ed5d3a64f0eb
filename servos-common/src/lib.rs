//! Types and primitives shared by the ServOS control plane and node agent.
//!
//! Everything here is free of I/O: the crypto envelope for values stored at
//! rest, the master key type, and the prefixed token formats.

pub mod envelope;
pub mod master_key;
pub mod secret;
pub mod token;
