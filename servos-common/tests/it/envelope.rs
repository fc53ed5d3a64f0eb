//! Property tests of the at-rest envelope: it opens what it sealed, and nothing else.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use servos_common::envelope::{Aad, EnvelopeError, EnvelopeKey};

fn key(bytes: [u8; 32]) -> EnvelopeKey {
    EnvelopeKey::new("k".to_owned(), &bytes)
}

fn aad_part() -> impl Strategy<Value = String> {
    "[a-z_0-9]{0,12}"
}

fn aad(parts: &(String, String, String)) -> Aad<'_> {
    Aad {
        table: &parts.0,
        column: &parts.1,
        identity: &parts.2,
    }
}

proptest! {
    #[test]
    fn open_undoes_seal(
        key_bytes in any::<[u8; 32]>(),
        parts in (aad_part(), aad_part(), aad_part()),
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let k = key(key_bytes);
        let sealed = k.seal(&aad(&parts), &plaintext).expect("seal");
        let opened = k.open(&aad(&parts), &sealed).expect("open what was sealed");
        prop_assert_eq!(opened.expose(), plaintext.as_slice());
    }

    #[test]
    fn any_flipped_bit_fails(
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = key([3; 32]);
        let here = Aad { table: "apps", column: "env", identity: "7" };
        let sealed = k.seal(&here, &plaintext).expect("seal");
        let mut raw = STANDARD.decode(&sealed).expect("sealed values are base64");
        let byte = position.index(raw.len());
        raw[byte] ^= 1 << bit;
        prop_assert_eq!(
            k.open(&here, &STANDARD.encode(&raw)),
            Err(EnvelopeError::Unauthentic)
        );
    }

    #[test]
    fn any_other_location_fails(
        parts in (aad_part(), aad_part(), aad_part()),
        other in (aad_part(), aad_part(), aad_part()),
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(parts != other);
        let k = key([5; 32]);
        let sealed = k.seal(&aad(&parts), &plaintext).expect("seal");
        prop_assert_eq!(k.open(&aad(&other), &sealed), Err(EnvelopeError::Unauthentic));
    }

    #[test]
    fn another_key_fails(
        key_a in any::<[u8; 32]>(),
        key_b in any::<[u8; 32]>(),
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(key_a != key_b);
        let here = Aad { table: "apps", column: "env", identity: "7" };
        let sealed = key(key_a).seal(&here, &plaintext).expect("seal");
        prop_assert_eq!(key(key_b).open(&here, &sealed), Err(EnvelopeError::Unauthentic));
    }

    #[test]
    fn arbitrary_text_never_opens(text in any::<String>()) {
        let here = Aad { table: "apps", column: "env", identity: "7" };
        prop_assert!(key([9; 32]).open(&here, &text).is_err());
    }
}
