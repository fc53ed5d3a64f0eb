//! Fuzz target: `SpkiPin` from text and from JSON never panics, and what it
//! accepts is its canonical text and reads back to the same pin.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::pin::SpkiPin;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(pin) = text.parse::<SpkiPin>() {
            let printed = pin.to_string();
            assert_eq!(printed, text);
            assert_eq!(printed.parse(), Ok(pin));
        }
    }
    if let Ok(pin) = serde_json::from_slice::<SpkiPin>(data) {
        let json = serde_json::to_string(&pin).expect("a pin serializes");
        assert_eq!(serde_json::from_str::<SpkiPin>(&json).ok(), Some(pin));
    }
});
