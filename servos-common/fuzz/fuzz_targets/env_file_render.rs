//! Fuzz target: whatever `env_file::render` accepts, Docker reads back as exactly the variables given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use servos_common::env_file;
use servos_common::secret::SecretText;

fuzz_target!(|vars: Vec<(&str, String)>| {
    let secrets: Vec<(&str, SecretText)> = vars
        .iter()
        .map(|(name, value)| (*name, SecretText::new(value.clone())))
        .collect();
    let borrowed: Vec<(&str, &SecretText)> = secrets.iter().map(|(n, v)| (*n, v)).collect();
    let Ok(text) = env_file::render(&borrowed) else {
        return;
    };
    let text = text.expose();
    let expected: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (*n, v.as_str())).collect();

    // The plain reading: every line is `NAME=VALUE`, and the file ends with a newline.
    let mut lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.pop(), Some(""), "no final newline");
    let plain: Vec<Option<(&str, &str)>> = lines.iter().map(|l| l.split_once('=')).collect();
    assert_eq!(
        plain,
        expected.iter().copied().map(Some).collect::<Vec<_>>()
    );

    // Docker's reading, with every rule that could change a variable.
    assert_eq!(env_file::read_as_docker(text), Ok(expected));
});
