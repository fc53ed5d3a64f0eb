//! Fuzz target: `EnvelopeKey::open` never panics, opens nothing forged, and rejects any tampering.

#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use servos_common::envelope::{Aad, EnvelopeKey};

const PLAINTEXT: &[u8] = b"registry password";

fuzz_target!(|input: (&str, &str, &str, &str, Vec<u8>)| {
    let (table, column, identity, stored, tamper) = input;
    let key = EnvelopeKey::new("fuzz".to_owned(), &[7; 32]);
    let anywhere = Aad {
        table,
        column,
        identity,
    };

    // Text that was never sealed with this key cannot open, at any location.
    assert!(key.open(&anywhere, stored).is_err(), "forged value opened");

    // A real sealed value, its bytes XORed with the fuzzer's, opens only
    // when those bytes change nothing, and then to what was sealed.
    let here = Aad {
        table: "apps",
        column: "env",
        identity: "1",
    };
    let sealed = key.seal(&here, PLAINTEXT).expect("the system RNG works");
    let mut blob = STANDARD.decode(sealed).expect("sealed values are base64");
    let mut changed = false;
    for (byte, x) in blob.iter_mut().zip(&tamper) {
        *byte ^= x;
        changed |= *x != 0;
    }
    match key.open(&here, &STANDARD.encode(&blob)) {
        Ok(opened) => {
            assert!(!changed, "tampered value opened");
            assert_eq!(opened.expose(), PLAINTEXT);
        }
        Err(err) => assert!(changed, "untouched value did not open: {err}"),
    }
});
