//! Property tests: whatever `render` accepts, Docker reads back as exactly the variables given.

use proptest::prelude::*;
use servos_common::env_file::{self, EnvFileError};
use servos_common::secret::SecretText;

/// Characters that matter to the env-file format: separators, quotes,
/// comment and shell characters, and every kind of line break and control.
const NASTY: [char; 20] = [
    '\n', '\r', '\0', '\t', '=', '#', '"', '\'', ' ', '$', '\\', '\u{0b}', '\u{0c}', '\u{1b}',
    '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{2029}', '\u{feff}',
];

fn plain_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::range(' ', '~'),
        1 => any::<char>(),
    ]
}

/// Mostly harmless text with now and then one character from [`NASTY`],
/// so that both accepted and refused values come up often.
fn value() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(plain_char(), 0..16),
        prop::option::weighted(
            0.4,
            (
                any::<prop::sample::Index>(),
                prop::sample::select(&NASTY[..]),
            ),
        ),
    )
        .prop_map(|(mut chars, nasty)| {
            if let Some((at, c)) = nasty {
                chars.insert(at.index(chars.len() + 1), c);
            }
            chars.into_iter().collect()
        })
}

/// Mostly valid names from a small pool (so duplicates happen), some made
/// of the characters that could break a line, some anything at all.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-C_][A-C0-9_]{0,2}",
        2 => "[A-C0-9_ =#\t\n-]{0,3}",
        1 => value(),
    ]
}

fn vars() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..6)
}

fn secrets(vars: &[(String, String)]) -> Vec<(&str, SecretText)> {
    vars.iter()
        .map(|(name, value)| (name.as_str(), SecretText::new(value.clone())))
        .collect()
}

/// Whether the variables are acceptable, judged one rule at a time.
fn acceptable(vars: &[(String, String)]) -> bool {
    vars.iter().enumerate().all(|(i, (name, value))| {
        env_file::validate_name(name).is_ok()
            && env_file::validate_value(name, value).is_ok()
            && !vars[..i].iter().any(|(earlier, _)| earlier == name)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn render_reads_back_exactly_or_refuses(vars in vars()) {
        let owned = secrets(&vars);
        let borrowed: Vec<(&str, &SecretText)> =
            owned.iter().map(|(name, value)| (*name, value)).collect();
        let expected: Vec<(&str, &str)> =
            vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        match env_file::render(&borrowed) {
            Ok(text) => {
                prop_assert!(acceptable(&vars));
                let text = text.expose();
                // The plain reading: one `NAME=VALUE` per line, nothing else.
                let lines: Vec<&str> = text.split('\n').collect();
                prop_assert_eq!(lines.last().copied(), Some(""));
                let plain: Vec<Option<(&str, &str)>> = lines[..lines.len() - 1]
                    .iter()
                    .map(|line| line.split_once('='))
                    .collect();
                let expected_plain: Vec<Option<(&str, &str)>> =
                    expected.iter().copied().map(Some).collect();
                prop_assert_eq!(plain, expected_plain);
                // Docker's reading, with every rule that could change a value.
                prop_assert_eq!(env_file::read_as_docker(text), Ok(expected));
            }
            Err(_) => prop_assert!(!acceptable(&vars)),
        }
    }

    #[test]
    fn refusals_never_show_the_value(
        name in "[A-Z_][A-Z0-9_]{0,8}",
        before in value(),
        bad in prop::sample::select(vec!['\n', '\r', '\0', '\u{1b}', '\u{2028}']),
        after in value(),
    ) {
        let value = SecretText::new(format!("SECRET{before}{bad}{after}"));
        let err = env_file::render(&[(&name, &value)]).expect_err("a control character");
        let is_value_error = matches!(err, EnvFileError::InvalidValue { .. });
        prop_assert!(is_value_error);
        prop_assert!(!err.to_string().contains("SECRET"));
        let debug = format!("{err:?}");
        prop_assert!(!debug.contains("SECRET"));
        prop_assert!(err.to_string().contains(&name));
    }

    #[test]
    fn docker_reading_never_panics(text in prop::collection::vec(value(), 0..8)) {
        let _ = env_file::read_as_docker(&text.concat());
    }
}
