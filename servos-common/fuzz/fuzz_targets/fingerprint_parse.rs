//! Fuzz target: `HostKeyFingerprint::parse` never panics, accepts only its
//! canonical text, and agrees with the padded form `SpkiPin` reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::fingerprint::HostKeyFingerprint;
use servos_common::pin::SpkiPin;

fuzz_target!(|text: &str| {
    let Ok(fingerprint) = HostKeyFingerprint::parse(text) else {
        return;
    };
    let printed = fingerprint.to_string();
    assert_eq!(printed, text);
    assert_eq!(printed.parse(), Ok(fingerprint));

    // The same digest, padded, is a certificate pin with the same text.
    let padded = format!("{printed}=");
    let pin: SpkiPin = padded.parse().expect("a padded fingerprint is a pin");
    assert_eq!(pin.to_string(), padded);
});
