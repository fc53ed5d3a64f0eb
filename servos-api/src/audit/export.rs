//! CSV export of audit entries.

use crate::store::audit_log::AuditRow;

/// Column names of the export, in order.
pub const HEADER: [&str; 12] = [
    "seq",
    "id",
    "at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "fields",
    "request_id",
    "client_ip",
];

/// Renders rows as CSV. Cells that a spreadsheet would run as a formula
/// are prefixed with `'`.
pub fn to_csv(rows: &[AuditRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for row in rows {
        let seq = row.seq.to_string();
        let at = row
            .at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let cells = [
            Some(seq.as_str()),
            Some(row.id.as_str()),
            Some(at.as_str()),
            Some(row.actor_type.as_str()),
            row.actor_id.as_deref(),
            row.actor_label.as_deref(),
            Some(row.action.as_str()),
            row.target_type.as_deref(),
            row.target_id.as_deref(),
            Some(row.fields.as_str()),
            row.request_id.as_deref(),
            row.client_ip.as_deref(),
        ];
        writer.write_record(cells.map(|c| defuse(c.unwrap_or(""))))?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse("=cmd()"), "'=cmd()");
        assert_eq!(defuse("alice@example.com"), "alice@example.com");
    }
}
