//! `servos-api audit verify`: walks the chain and names the first entry that
//! was edited, removed or inserted out of order.

use crate::store::audit_log;
use crate::store::DbConn;

use super::chain::{AuditChain, GENESIS};

const BATCH: i64 = 1000;

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry is present and unchanged.
    Intact {
        /// Number of entries checked.
        entries: i64,
    },
    /// Entry `seq` is missing (an entry was deleted).
    Missing {
        /// First missing sequence number.
        seq: i64,
    },
    /// Entry `seq` was changed after it was written.
    Edited {
        /// First edited sequence number.
        seq: i64,
    },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intact { entries } => write!(f, "audit trail intact: {entries} entries verified"),
            Self::Missing { seq } => write!(f, "audit trail broken: entry #{seq} is missing"),
            Self::Edited { seq } => write!(f, "audit trail broken: entry #{seq} was edited"),
        }
    }
}

/// Checks the whole chain.
pub fn verify(conn: &mut DbConn, chain: &AuditChain) -> crate::store::DbResult<Verdict> {
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_owned();
    loop {
        let batch = audit_log::chain_batch(conn, expected_seq - 1, BATCH)?;
        if batch.is_empty() {
            return Ok(Verdict::Intact {
                entries: expected_seq - 1,
            });
        }
        for row in batch {
            if row.seq != expected_seq {
                return Ok(Verdict::Missing { seq: expected_seq });
            }
            if row.prev_hash != prev_hash {
                // The link to the previous entry was rewritten: either this
                // entry was edited or the one before it was replaced.
                return Ok(Verdict::Edited { seq: row.seq });
            }
            if chain.hash(&row) != row.hash {
                return Ok(Verdict::Edited { seq: row.seq });
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
}
