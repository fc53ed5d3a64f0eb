//! The credential lines of `/proc/<pid>/task/<tid>/status`.

use std::collections::HashMap;

/// A status file lacks a line or has one that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status line {0:?} is missing or unreadable")]
pub struct ProcStatusError(pub &'static str);

/// One thread's credentials as the kernel reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    /// Real, effective, saved and filesystem user ids.
    pub uids: [u32; 4],
    /// Real, effective, saved and filesystem group ids.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Inheritable capabilities.
    pub cap_inh: u64,
    /// Permitted capabilities.
    pub cap_prm: u64,
    /// Effective capabilities.
    pub cap_eff: u64,
    /// Bounding set.
    pub cap_bnd: u64,
    /// Ambient capabilities.
    pub cap_amb: u64,
    /// The no_new_privs flag.
    pub no_new_privs: bool,
}

impl ProcStatus {
    /// Parses a status file's text.
    pub fn parse(text: &str) -> Result<Self, ProcStatusError> {
        let fields: HashMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(key, value)| (key, value.trim()))
            .collect();
        let field = |name: &'static str| fields.get(name).copied().ok_or(ProcStatusError(name));
        let ids = |name: &'static str| -> Result<[u32; 4], ProcStatusError> {
            let values: Vec<u32> = field(name)?
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| ProcStatusError(name))?;
            values.try_into().map_err(|_| ProcStatusError(name))
        };
        let mask = |name: &'static str| {
            u64::from_str_radix(field(name)?, 16).map_err(|_| ProcStatusError(name))
        };
        Ok(Self {
            uids: ids("Uid")?,
            gids: ids("Gid")?,
            groups: field("Groups")?
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| ProcStatusError("Groups"))?,
            cap_inh: mask("CapInh")?,
            cap_prm: mask("CapPrm")?,
            cap_eff: mask("CapEff")?,
            cap_bnd: mask("CapBnd")?,
            cap_amb: mask("CapAmb")?,
            no_new_privs: field("NoNewPrivs")? == "1",
        })
    }

    /// Everything that differs from a thread dropped to `uid`/`gid` with
    /// exactly `caps` permitted, effective and bounding; empty when none.
    pub fn violations(&self, uid: u32, gid: u32, caps: u64) -> Vec<String> {
        let mut found = Vec::new();
        if self.uids != [uid; 4] {
            found.push(format!("user ids {:?}, expected all {uid}", self.uids));
        }
        if self.gids != [gid; 4] {
            found.push(format!("group ids {:?}, expected all {gid}", self.gids));
        }
        if !self.groups.is_empty() {
            found.push(format!(
                "supplementary groups {:?}, expected none",
                self.groups
            ));
        }
        for (name, value, expected) in [
            ("CapEff", self.cap_eff, caps),
            ("CapPrm", self.cap_prm, caps),
            ("CapBnd", self.cap_bnd, caps),
            ("CapInh", self.cap_inh, 0),
            ("CapAmb", self.cap_amb, 0),
        ] {
            if value != expected {
                found.push(format!("{name} {value:016x}, expected {expected:016x}"));
            }
        }
        if !self.no_new_privs {
            found.push("no_new_privs is not set".to_owned());
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DROPPED: &str =
        "Name:\tservos-agent\nUid:\t998\t998\t998\t998\nGid:\t997\t997\t997\t997\n\
        Groups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000008000005000\n\
        CapEff:\t0000008000005000\nCapBnd:\t0000008000005000\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\n";

    #[test]
    fn a_dropped_thread_has_no_violations() {
        let status = ProcStatus::parse(DROPPED).expect("parses");
        assert_eq!(status.uids, [998; 4]);
        assert_eq!(
            status.violations(998, 997, 0x80_0000_5000),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_difference_is_named() {
        let root = DROPPED
            .replace("Uid:\t998\t998\t998\t998", "Uid:\t998\t998\t0\t998")
            .replace("Groups:\t", "Groups:\t0 27")
            .replace("CapBnd:\t0000008000005000", "CapBnd:\t000001ffffffffff")
            .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0");
        let found = ProcStatus::parse(&root)
            .expect("parses")
            .violations(998, 997, 0x80_0000_5000);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found.iter().any(|line| line.starts_with("CapBnd")),
            "{found:?}"
        );
    }

    #[test]
    fn missing_lines_are_errors() {
        assert_eq!(
            ProcStatus::parse("Uid:\t0\t0\t0\t0\n"),
            Err(ProcStatusError("Gid"))
        );
    }
}
