//! An error with its whole chain of causes on one line, for log lines and
//! messages that show only an error's `Display` (which names no cause).

/// `err`, then each of its causes, separated by ": ".
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_named_in_order() {
        let err = Outer(std::io::Error::other("inner"));
        assert_eq!(with_causes(&err), "outer: inner");
    }
}
