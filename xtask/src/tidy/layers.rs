//! The control plane's layering, checked: low layers (storage, SSH, the
//! proxy, the vault, the audit trail) import only each other, the error
//! type and the failpoints; services never import the HTTP surface or the web UI; diesel is
//! named only in `store/`. A file that breaks a rule is named with the
//! line that does.

use std::path::Path;

use super::{relative, sources_under};

/// Where the control plane's modules are.
const API_SRC: &str = "servos-api/src";
/// Low layers: they know nothing of requests, state or services.
const LOW: [&str; 5] = ["store", "ssh", "proxy", "vault", "audit"];
/// What a low layer may import from the crate besides the low layers.
const LOW_MAY_ALSO_USE: [&str; 2] = ["error", "failpoint"];
/// Services: the domain, used by the HTTP API, the web UI and the engines.
const SERVICES: [&str; 8] = [
    "accounts",
    "apps",
    "credentials",
    "deploy",
    "servers",
    "mesh",
    "webhooks",
    "builds",
];
/// The surface no service may import.
const SURFACE: [&str; 3] = ["http", "ui", "serve"];

/// The top-level module a file of `servos-api/src` belongs to (`store` for
/// `store/apps.rs`, `config` for `config.rs`).
fn top_module(path: &Path) -> Option<String> {
    let rel = path
        .strip_prefix(super::project_root().join(API_SRC))
        .ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Every `crate::<module>` a line refers to, including in grouped imports
/// (`use crate::{store, http::error}`).
fn crate_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            found.extend(top_level_items(group).map(|item| {
                item.trim()
                    .split("::")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            }));
            found.retain(|name| !name.is_empty() && name != "self");
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

/// The comma-separated items of a use group (what follows its `{`), up to
/// the group's closing brace; nested groups stay inside their item.
fn top_level_items(group: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    let mut start = 0;
    let mut items = Vec::new();
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..at]);
                return items.into_iter();
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items.into_iter()
}

/// The code part of a line: without its `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

/// The rule `line` of a file in module `module` breaks, if any.
fn broken_rule(module: &str, line: &str) -> Option<String> {
    let code = code(line);
    if module != "store"
        && code
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .any(|w| w == "diesel")
    {
        return Some("names diesel outside store/".to_owned());
    }
    for used in crate_modules(code) {
        if LOW.contains(&module)
            && !LOW.contains(&used.as_str())
            && !LOW_MAY_ALSO_USE.contains(&used.as_str())
        {
            return Some(format!("a low layer ({module}) uses crate::{used}"));
        }
        if SERVICES.contains(&module) && SURFACE.contains(&used.as_str()) {
            return Some(format!("a service ({module}) uses crate::{used}"));
        }
    }
    None
}

#[test]
fn layers_import_only_downwards() {
    let files = sources_under(API_SRC);
    assert!(!files.is_empty(), "no sources under {API_SRC}");
    let mut offenders = Vec::new();
    for path in &files {
        let Some(module) = top_module(path) else {
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for (number, line) in text.lines().enumerate() {
            if let Some(rule) = broken_rule(&module, line) {
                offenders.push(format!("{}:{}: {rule}", relative(path), number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "layering broken in {} place(s) (see docs/ARCHITECTURE.md, Invariants):\n  {}",
        offenders.len(),
        offenders.join("\n  ")
    );
}

#[test]
fn broken_rules_are_spotted() {
    assert!(broken_rule("store", "use diesel::prelude::*;").is_none());
    assert!(broken_rule("apps", "use diesel::prelude::*;").is_some());
    assert!(broken_rule("apps", "// diesel is only in store").is_none());
    assert!(broken_rule("audit", "use crate::state::AppState;").is_some());
    assert!(broken_rule("ssh", "use crate::{store, http::error::ApiError};").is_some());
    assert!(broken_rule("vault", "use crate::{audit, store::{self, tx}};").is_none());
    assert!(broken_rule("proxy", "use crate::error::ServiceError;").is_none());
    assert!(broken_rule("deploy", "use crate::http::error::ApiError;").is_some());
    assert!(broken_rule("deploy", "use crate::state::AppState;").is_none());
    assert!(broken_rule("http", "use crate::ui::csrf;").is_none());
    assert_eq!(
        crate_modules("let x = crate::store::now() + crate::config::X;"),
        ["store", "config"]
    );
}
