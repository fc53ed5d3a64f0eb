//! The HMAC chain over audit entries.
//!
//! `hash = HMAC-SHA256(chain key, prev_hash || every field, length-prefixed)`.
//! The chain key is random, sealed under the master key in `system_keys`, so
//! someone with write access to the database alone cannot forge entries.

use ring::hmac;

use crate::store::audit_log::AuditRow;

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Computes entry hashes.
pub struct AuditChain {
    key: hmac::Key,
}

impl std::fmt::Debug for AuditChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditChain([REDACTED])")
    }
}

impl AuditChain {
    /// A chain keyed with `key`.
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The hash `row` must carry, given its `prev_hash` and fields.
    pub fn hash(&self, row: &AuditRow) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        let at = row
            .at
            .and_utc()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let seq = row.seq.to_string();
        let fields: [Option<&str>; 13] = [
            Some(&row.prev_hash),
            Some(&seq),
            Some(&row.id),
            Some(&at),
            Some(&row.actor_type),
            row.actor_id.as_deref(),
            row.actor_label.as_deref(),
            Some(&row.action),
            row.target_type.as_deref(),
            row.target_id.as_deref(),
            Some(&row.fields),
            row.request_id.as_deref(),
            row.client_ip.as_deref(),
        ];
        for field in fields {
            match field {
                None => ctx.update(&[0]),
                Some(text) => {
                    ctx.update(&[1]);
                    ctx.update(&(text.len() as u64).to_be_bytes());
                    ctx.update(text.as_bytes());
                }
            }
        }
        servos_common::hex::lower(ctx.sign().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 1,
            id: "id".into(),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
                .map(|t| t.naive_utc())
                .unwrap_or_default(),
            actor_type: "user".into(),
            actor_id: Some("u".into()),
            actor_label: None,
            action: "user.created".into(),
            target_type: Some("user".into()),
            target_id: Some("t".into()),
            fields: "email,role".into(),
            request_id: None,
            client_ip: Some("127.0.0.1".into()),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn any_field_change_changes_the_hash() {
        let chain = AuditChain::new(&[1; 32]);
        let base = chain.hash(&row());
        let mut changed = row();
        changed.fields = "email".into();
        assert_ne!(chain.hash(&changed), base);
        let mut changed = row();
        changed.actor_label = Some(String::new());
        assert_ne!(chain.hash(&changed), base, "None and empty differ");
        assert_ne!(AuditChain::new(&[2; 32]).hash(&row()), base);
    }
}
