//! Fuzz target: `ImageRef::parse` never panics, and what it accepts is exactly its parts and parses again to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::image_ref::ImageRef;

fuzz_target!(|text: &str| {
    let Ok(image) = ImageRef::parse(text) else {
        return;
    };
    assert_eq!(image.as_str(), text);
    assert_eq!(image.to_string(), text);
    assert_eq!(ImageRef::parse(image.as_str()).as_ref(), Ok(&image));

    // The parts put back together are the text: nothing is dropped or invented.
    let mut joined = String::new();
    if let Some(registry) = image.registry() {
        joined.push_str(registry);
        joined.push('/');
    }
    joined.push_str(image.repository());
    if let Some(tag) = image.tag() {
        joined.push(':');
        joined.push_str(tag);
    }
    if let Some(digest) = image.digest() {
        joined.push('@');
        joined.push_str(digest);
    }
    assert_eq!(joined, text);
});
