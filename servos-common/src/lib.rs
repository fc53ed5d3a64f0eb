//! Types and primitives shared by the ServOS control plane and node agent.
//!
//! Everything here is free of I/O: the agent protocol's messages, the
//! prefixed token formats, key fingerprints and pins, the in-memory secret
//! wrappers, and the parsers of untrusted input the fuzz targets reach
//! (image references, webhook signature headers). With the `vault` feature (the control plane only): the
//! crypto envelope for values stored at rest, the master key type and the
//! writer of Docker env files.

#[cfg(feature = "vault")]
pub mod env_file;
#[cfg(feature = "vault")]
pub mod envelope;
pub mod error_text;
pub mod fingerprint;
pub mod hex;
pub mod image_ref;
#[cfg(feature = "vault")]
pub mod master_key;
pub mod pin;
pub mod protocol;
pub mod secret;
pub mod token;
pub mod webhook_signature;
