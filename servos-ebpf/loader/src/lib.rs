//! User space of the mesh classifier (`servos-ebpf`), the library the agent
//! calls: it embeds the program (built by `build.rs`), attaches it to the
//! mesh interface or adopts the attachment a previous run left, compiles the
//! mesh policy into map entries and applies it without a moment of half a
//! policy, and reads the counters.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use servos_ebpf_loader::{compile, Classifier, DefaultAction, LinkLayer, Policy};
//!
//! let mut classifier =
//!     Classifier::attach_or_adopt("servos0", Path::new("/sys/fs/bpf/servos/host"), LinkLayer::RawIp)?;
//! let policy = Policy { default_action: DefaultAction::Deny, rules: Vec::new() };
//! classifier.apply(&compile(&[], &policy)?)?;
//! let counters = classifier.counters()?;
//! # let _ = counters;
//! # Ok(())
//! # }
//! ```
//!
//! The program's verdicts are documented in the `servos-ebpf` crate and in
//! `docs/classifier.md`.

mod attach;
mod bpffs;
mod classifier;
mod error;
mod maps;
mod object;
mod policy;
mod slots;
mod test_run;

pub use attach::AttachMode;
pub use classifier::{Classifier, Counters, LinkLayer};
pub use error::LoaderError;
pub use maps::Count;
pub use policy::{
    compile, CompiledPolicy, DefaultAction, EntryMatch, Identity, Policy, PolicyEntry, PolicyError,
    PortRange, Protocol, Rule,
};
pub use test_run::{ProgramUnderTest, Verdict};
