//! Docker `--env-file` content: the one place that writes it, and a model of how Docker reads it.
//!
//! The format has no quoting and no escapes. Docker's CLI reads it line by
//! line: a newline inside a value would start a second variable, a line
//! without `=` takes its value from the environment of whoever runs
//! `docker run`, and lines are cut at 64 KiB. Newer Docker versions also
//! strip one pair of matching quotes around a value. So instead of escaping,
//! [`render`] refuses every name and value that Docker would not read back
//! exactly as given, and its errors name the variable and the problem but
//! never repeat the value, which is a secret.

use std::collections::HashSet;
use std::fmt;

use zeroize::Zeroizing;

use crate::error_text;
use crate::secret::SecretText;

/// Longest accepted variable name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Longest line Docker's CLI reads, newline included (Go's `bufio.MaxScanTokenSize`).
const DOCKER_MAX_LINE: usize = 64 * 1024;

/// Longest accepted value, in bytes: what is left of Docker's line once the
/// longest name, the `=` and the newline are in it.
pub const MAX_VALUE_LEN: usize = DOCKER_MAX_LINE - MAX_NAME_LEN - 2;

/// Characters shown of a refused name in an error, so a huge one cannot flood a log.
const SHOWN_NAME_CHARS: usize = 64;

/// What is wrong with a variable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// The name starts with something other than an ASCII letter or `_`.
    BadFirstCharacter,
    /// The name holds something other than ASCII letters, digits and `_`.
    BadCharacter,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::TooLong => write!(f, "is too long (at most {MAX_NAME_LEN} bytes)"),
            Self::BadFirstCharacter => {
                f.write_str("must start with an ASCII letter or an underscore")
            }
            Self::BadCharacter => {
                f.write_str("may hold only ASCII letters, digits and underscores")
            }
        }
    }
}

/// What is wrong with a variable's value. Says what kind of character is at
/// fault, never which part of the value holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// A `\n`, which would end the line and start another variable.
    Newline,
    /// A `\r`, which Docker drops at the end of a line.
    CarriageReturn,
    /// A NUL, which no process environment can hold.
    Nul,
    /// U+0085, U+2028 or U+2029, which some readers take for a line break.
    LineSeparator,
    /// Any other control character (tab is allowed).
    ControlCharacter,
    /// Longer than [`MAX_VALUE_LEN`] bytes.
    TooLong,
    /// Starts and ends with the same quote character, which newer Docker
    /// versions strip and older ones keep.
    Quoted,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Newline => f.write_str("contains a newline"),
            Self::CarriageReturn => f.write_str("contains a carriage return"),
            Self::Nul => f.write_str("contains a NUL character"),
            Self::LineSeparator => f.write_str("contains a Unicode line separator"),
            Self::ControlCharacter => f.write_str("contains a control character"),
            Self::TooLong => write!(f, "is too long (at most {MAX_VALUE_LEN} bytes)"),
            Self::Quoted => f.write_str(
                "starts and ends with the same quote character, which Docker would strip",
            ),
        }
    }
}

/// Why an env file could not be written or read. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvFileError {
    /// A variable name Docker or a shell would not take as it is.
    #[error("variable name \"{name}\" {problem}")]
    InvalidName {
        /// The name, escaped and shortened for display.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// A value that would not survive the trip through the file unchanged.
    #[error("value of {name} {problem}")]
    InvalidValue {
        /// The variable's name, escaped and shortened for display.
        name: String,
        /// What is wrong with the value.
        problem: ValueProblem,
    },
    /// The same name twice: which one Docker keeps is not ours to leave open.
    #[error("variable {name} is given more than once")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// The text is not something Docker would read back as plain variables.
    #[error("line {line} of the env file {reason}")]
    Unreadable {
        /// One-based line number.
        line: usize,
        /// What Docker would do with the line instead.
        reason: &'static str,
    },
}

/// Checks that `name` matches `^[A-Za-z_][A-Za-z0-9_]*$` and is at most
/// [`MAX_NAME_LEN`] bytes long.
pub fn validate_name(name: &str) -> Result<(), EnvFileError> {
    let refuse = |problem| {
        Err(EnvFileError::InvalidName {
            name: shown_name(name),
            problem,
        })
    };
    if name.len() > MAX_NAME_LEN {
        return refuse(NameProblem::TooLong);
    }
    let mut bytes = name.bytes();
    match bytes.next() {
        None => refuse(NameProblem::Empty),
        Some(first) if !(first.is_ascii_alphabetic() || first == b'_') => {
            refuse(NameProblem::BadFirstCharacter)
        }
        Some(_) if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            refuse(NameProblem::BadCharacter)
        }
        Some(_) => Ok(()),
    }
}

/// Checks that the value of the variable `name` can be written on one
/// env-file line and read back unchanged. The error names `name` and the
/// kind of problem, never the value.
pub fn validate_value(name: &str, value: &str) -> Result<(), EnvFileError> {
    value_problem(value).map_or(Ok(()), |problem| {
        Err(EnvFileError::InvalidValue {
            name: shown_name(name),
            problem,
        })
    })
}

fn value_problem(value: &str) -> Option<ValueProblem> {
    if value.len() > MAX_VALUE_LEN {
        return Some(ValueProblem::TooLong);
    }
    if let Some(problem) = value.chars().find_map(char_problem) {
        return Some(problem);
    }
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('"') || quoted('\'') {
        return Some(ValueProblem::Quoted);
    }
    None
}

fn char_problem(c: char) -> Option<ValueProblem> {
    match c {
        '\t' => None,
        '\n' => Some(ValueProblem::Newline),
        '\r' => Some(ValueProblem::CarriageReturn),
        '\0' => Some(ValueProblem::Nul),
        '\u{85}' | '\u{2028}' | '\u{2029}' => Some(ValueProblem::LineSeparator),
        c if c.is_control() => Some(ValueProblem::ControlCharacter),
        _ => None,
    }
}

/// Writes `NAME=VALUE\n` for each variable, in the given order, after
/// checking every name and value and that no name comes twice. The result
/// lives only in zeroizing memory.
pub fn render(vars: &[(&str, &SecretText)]) -> Result<SecretText, EnvFileError> {
    let mut seen = HashSet::with_capacity(vars.len());
    let mut len = 0;
    for &(name, value) in vars {
        validate_name(name)?;
        validate_value(name, value.expose())?;
        if !seen.insert(name) {
            return Err(EnvFileError::DuplicateName {
                name: shown_name(name),
            });
        }
        len += name.len() + value.expose().len() + 2;
    }
    // Exactly the room needed: the buffer never grows, so no copy of the
    // values is left behind in freed, unzeroized memory.
    let mut text = Zeroizing::new(String::with_capacity(len));
    for &(name, value) in vars {
        text.push_str(name);
        text.push('=');
        text.push_str(value.expose());
        text.push('\n');
    }
    Ok(SecretText::new(std::mem::take(&mut *text)))
}

/// Reads env-file text the way Docker's CLI does, and refuses whatever it
/// would read as anything but "these variables, with these values": a line
/// without `=`, a blank or comment line, a line too long, a value that some
/// Docker versions change. It shares no code with [`render`] on purpose: the
/// tests and fuzz targets hold `render`'s output to reading back as its input.
pub fn read_as_docker(text: &str) -> Result<Vec<(&str, &str)>, EnvFileError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err(unreadable(
            text.split('\n').count(),
            "does not end with a newline",
        ));
    };
    let mut vars = Vec::new();
    for (index, line) in body.split('\n').enumerate() {
        let number = index + 1;
        if line.len() + 1 > DOCKER_MAX_LINE {
            return Err(unreadable(number, "is longer than Docker reads"));
        }
        if line.ends_with('\r') {
            return Err(unreadable(
                number,
                "ends in a carriage return, which Docker drops",
            ));
        }
        if line.starts_with(|c: char| c.is_whitespace() || c == '\u{feff}') {
            return Err(unreadable(
                number,
                "starts with white space, which Docker drops",
            ));
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(unreadable(
                number,
                "is blank or a comment, which Docker skips",
            ));
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(unreadable(
                number,
                "has no `=`, so Docker would take the value from its own environment",
            ));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(unreadable(number, "has a name Docker refuses"));
        }
        if line.contains('\0') {
            return Err(unreadable(
                number,
                "holds a NUL, which no environment can carry",
            ));
        }
        let quoted = |q| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
        if quoted('"') || quoted('\'') {
            return Err(unreadable(
                number,
                "has a quoted value, which newer Docker strips",
            ));
        }
        vars.push((name, value));
    }
    Ok(vars)
}

fn unreadable(line: usize, reason: &'static str) -> EnvFileError {
    EnvFileError::Unreadable { line, reason }
}

/// A name as an error shows it: control characters escaped, cut short.
fn shown_name(name: &str) -> String {
    error_text::quoted(name, SHOWN_NAME_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretText {
        SecretText::new(value.to_owned())
    }

    #[test]
    fn good_names_pass() {
        for name in ["A", "_", "_x1", "DATABASE_URL", "lower_case", "a9"] {
            assert_eq!(validate_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_name(&"N".repeat(MAX_NAME_LEN)), Ok(()));
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let problem = |name: &str| match validate_name(name) {
            Err(EnvFileError::InvalidName { problem, .. }) => Some(problem),
            _ => None,
        };
        assert_eq!(problem(""), Some(NameProblem::Empty));
        assert_eq!(problem("1A"), Some(NameProblem::BadFirstCharacter));
        assert_eq!(problem("#A"), Some(NameProblem::BadFirstCharacter));
        assert_eq!(problem(" A"), Some(NameProblem::BadFirstCharacter));
        assert_eq!(problem("A=B"), Some(NameProblem::BadCharacter));
        assert_eq!(problem("A B"), Some(NameProblem::BadCharacter));
        assert_eq!(problem("A-B"), Some(NameProblem::BadCharacter));
        assert_eq!(problem("A\nB"), Some(NameProblem::BadCharacter));
        assert_eq!(problem("Ä"), Some(NameProblem::BadFirstCharacter));
        assert_eq!(problem("AÄ"), Some(NameProblem::BadCharacter));
        let long = "N".repeat(MAX_NAME_LEN + 1);
        assert_eq!(problem(&long), Some(NameProblem::TooLong));
    }

    #[test]
    fn name_errors_escape_and_shorten_the_name() {
        let err = validate_name("A\nB").expect_err("newline in a name");
        assert_eq!(
            err.to_string(),
            "variable name \"A\\nB\" may hold only ASCII letters, digits and underscores"
        );
        let long = "N".repeat(10_000);
        let shown = validate_name(&long).expect_err("too long").to_string();
        assert!(shown.len() < 200, "{shown}");
    }

    #[test]
    fn good_values_pass() {
        for value in [
            "",
            "plain",
            "with spaces and\ttabs ",
            " leading space",
            "a=b=c",
            "#not a comment",
            "\"only opening",
            "'mixed\"",
            "\"",
            "ünïcødé ✓ \u{feff}",
            "$HOME `cmd` $(cmd)",
        ] {
            assert_eq!(validate_value("V", value), Ok(()), "{value:?}");
        }
        assert_eq!(validate_value("V", &"v".repeat(MAX_VALUE_LEN)), Ok(()));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let problem = |value: &str| match validate_value("V", value) {
            Err(EnvFileError::InvalidValue { problem, .. }) => Some(problem),
            _ => None,
        };
        assert_eq!(problem("a\nB=evil"), Some(ValueProblem::Newline));
        assert_eq!(problem("a\r"), Some(ValueProblem::CarriageReturn));
        assert_eq!(problem("a\0b"), Some(ValueProblem::Nul));
        assert_eq!(problem("a\u{85}b"), Some(ValueProblem::LineSeparator));
        assert_eq!(problem("a\u{2028}b"), Some(ValueProblem::LineSeparator));
        assert_eq!(problem("a\u{2029}b"), Some(ValueProblem::LineSeparator));
        assert_eq!(problem("a\u{1b}[31m"), Some(ValueProblem::ControlCharacter));
        assert_eq!(problem("\u{7f}"), Some(ValueProblem::ControlCharacter));
        assert_eq!(problem("\u{9b}"), Some(ValueProblem::ControlCharacter));
        assert_eq!(problem("\"quoted\""), Some(ValueProblem::Quoted));
        assert_eq!(problem("''"), Some(ValueProblem::Quoted));
        let long = "v".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(problem(&long), Some(ValueProblem::TooLong));
    }

    #[test]
    fn value_errors_name_the_variable_and_never_the_value() {
        let err = validate_value("FOO", "hunter2\nEVIL=1").expect_err("newline");
        let shown = err.to_string();
        assert_eq!(shown, "value of FOO contains a newline");
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn render_writes_lines_in_order() {
        let (a, b, c) = (secret("1"), secret("x=y"), secret(""));
        let text = render(&[("B", &a), ("A", &b), ("_C", &c)]).expect("valid");
        assert_eq!(text.expose(), "B=1\nA=x=y\n_C=\n");
        assert_eq!(
            read_as_docker(text.expose()),
            Ok(vec![("B", "1"), ("A", "x=y"), ("_C", "")])
        );
    }

    #[test]
    fn render_of_nothing_is_empty() {
        let text = render(&[]).expect("empty");
        assert_eq!(text.expose(), "");
        assert_eq!(read_as_docker(text.expose()), Ok(vec![]));
    }

    #[test]
    fn render_refuses_an_injected_variable() {
        let value = secret("x\nLD_PRELOAD=/tmp/evil.so");
        let err = render(&[("A", &value)]).expect_err("newline");
        assert_eq!(err.to_string(), "value of A contains a newline");
    }

    #[test]
    fn render_refuses_duplicates_and_bad_names() {
        let v = secret("v");
        assert_eq!(
            render(&[("A", &v), ("B", &v), ("A", &v)]),
            Err(EnvFileError::DuplicateName { name: "A".into() })
        );
        assert!(matches!(
            render(&[("A", &v), ("B C", &v)]),
            Err(EnvFileError::InvalidName { .. })
        ));
    }

    #[test]
    fn render_output_is_exactly_sized() {
        let v = secret(&"v".repeat(1000));
        let text = render(&[("A", &v), ("B", &v)]).expect("valid");
        assert_eq!(text.expose().len(), 2 * (1000 + 3));
    }

    #[test]
    fn longest_line_fits_what_docker_reads() {
        let name = "N".repeat(MAX_NAME_LEN);
        let value = secret(&"v".repeat(MAX_VALUE_LEN));
        let text = render(&[(&name, &value)]).expect("longest valid line");
        assert_eq!(text.expose().len(), DOCKER_MAX_LINE);
        assert_eq!(read_as_docker(text.expose()).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn docker_model_refuses_what_docker_reads_otherwise() {
        let line = |text: &str| match read_as_docker(text) {
            Err(EnvFileError::Unreadable { line, .. }) => Some(line),
            _ => None,
        };
        assert_eq!(line("A=1"), Some(1));
        assert_eq!(line("A=1\nB\n"), Some(2));
        assert_eq!(line("A=1\n\n"), Some(2));
        assert_eq!(line("# c\n"), Some(1));
        assert_eq!(line(" A=1\n"), Some(1));
        assert_eq!(line("\u{feff}A=1\n"), Some(1));
        assert_eq!(line("A=1\r\n"), Some(1));
        assert_eq!(line("A B=1\n"), Some(1));
        assert_eq!(line("=1\n"), Some(1));
        assert_eq!(line("A=\"1\"\n"), Some(1));
        assert_eq!(read_as_docker("A=1\nB=\n"), Ok(vec![("A", "1"), ("B", "")]));
    }
}
