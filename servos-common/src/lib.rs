//! Types and primitives shared by the ServOS control plane and node agent.
//!
//! Everything here is free of I/O: the crypto envelope for values stored at
//! rest, the master key type, the prefixed token formats, and the writer of
//! Docker env files.

pub mod env_file;
pub mod envelope;
pub mod master_key;
pub mod secret;
pub mod token;
