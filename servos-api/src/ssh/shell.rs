//! Quoting for the commands a session runs on a server: every argument
//! that is not plain text goes in single quotes, so no value can become
//! shell syntax; and running one as root.

use std::borrow::Cow;

/// `arg` quoted for a POSIX shell (unchanged when it is plain).
pub fn quote(arg: &str) -> Cow<'_, str> {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// `command` run as root: as it is for root, else through `sudo -n`
/// (which fails at once rather than asking for a password).
pub fn as_root(command: &str) -> String {
    let quoted = quote(command);
    format!("if [ \"$(id -u)\" = 0 ]; then sh -c {quoted}; else sudo -n sh -c {quoted}; fi")
}

#[cfg(test)]
mod tests {
    use super::{as_root, quote};

    #[test]
    fn quoting_keeps_arguments_whole() {
        assert_eq!(quote("plain-1.2"), "plain-1.2");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn root_commands_go_through_sudo_for_other_users() {
        assert_eq!(
            as_root("iptables -L"),
            "if [ \"$(id -u)\" = 0 ]; then sh -c 'iptables -L'; else sudo -n sh -c 'iptables -L'; fi"
        );
    }
}
