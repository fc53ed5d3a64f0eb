//! The classifier object that `build.rs` built, embedded in the loader.

/// The ELF object of the classifier, aligned as the ELF parser needs it.
pub(crate) fn classifier_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/servos-classifier"))
}
