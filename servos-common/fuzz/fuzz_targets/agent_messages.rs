//! Fuzz target: every agent protocol message parses from any JSON without
//! panicking, and what parses serializes and parses again to the same message.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use servos_common::protocol::{
    EnrollRequest, Enrollment, ErrorBody, Heartbeat, HeartbeatAnswer, KeyRotation, MeshConfig,
};

fuzz_target!(|data: &[u8]| {
    round_trip::<EnrollRequest>(data);
    if let Some(enrollment) = round_trip::<Enrollment>(data) {
        let _ = enrollment.config.validate();
    }
    round_trip::<Heartbeat>(data);
    round_trip::<HeartbeatAnswer>(data);
    round_trip::<KeyRotation>(data);
    if let Some(config) = round_trip::<MeshConfig>(data) {
        let _ = config.validate();
    }
    round_trip::<ErrorBody>(data);
});

/// The message `data` holds, if any, after checking it survives a round trip.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let message: T = serde_json::from_slice(data).ok()?;
    let json = serde_json::to_vec(&message).expect("a parsed message serializes");
    let again: T = serde_json::from_slice(&json).expect("a serialized message parses");
    assert_eq!(again, message);
    Some(message)
}
