//! The environment editor of an application. Existing variables show their
//! names and file flags; their value inputs are always empty, and leaving
//! one empty keeps the current value, so no value is ever sent to the
//! browser. A file's value is a textarea whose text is stored byte for
//! byte (HTML's CRLF line breaks read back as the LF the text held).
//! Blank rows add variables; a checkbox removes one. Each save is a new
//! version through `apps::env::change`. Admins may reveal one current
//! value: an audited POST whose answer is the only page showing it.

use actix_web::{web, HttpResponse};
use servos_common::secret::SecretText;

use crate::apps::env;
use crate::credentials::env_sets::{EnvChange, VarEdit};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ids::AppId;

use super::apps::show_page;
use super::chrome::Chrome;
use super::credentials::revealed;
use super::flash::Flash;
use super::form::{FieldErrors, Form};

/// Blank rows for new variables.
pub const NEW_ROWS: usize = 3;

/// The editor's state after a refused save: the problem and the names
/// typed in the new rows (values are never shown again).
#[derive(Debug)]
pub struct EnvEditor {
    /// What was wrong.
    pub error: Option<String>,
    /// Names typed in the blank rows.
    pub new_names: Vec<String>,
}

impl Default for EnvEditor {
    fn default() -> Self {
        Self {
            error: None,
            new_names: vec![String::new(); NEW_ROWS],
        }
    }
}

/// Takes the value field `name`: a file's from its textarea, as its text
/// was (line breaks kept); another's as sent; `None` when left empty.
fn file_or_line(form: &mut Form, name: &str, file: bool) -> Option<SecretText> {
    if file {
        form.optional_secret_lines(name)
    } else {
        form.optional_secret(name)
    }
}

/// The change a submitted editor asks for, or the editor to show again.
fn parse(mut form: Form) -> Result<EnvChange, EnvEditor> {
    let mut change = EnvChange::default();
    let mut errors = FieldErrors::default();
    let rows = form
        .names()
        .filter(|n| n.starts_with("var.") && n.ends_with(".name"))
        .count();
    for i in 0..rows {
        let name = form.text(&format!("var.{i}.name"));
        if name.is_empty() {
            continue;
        }
        let file = form.checked(&format!("var.{i}.file"));
        let value = file_or_line(&mut form, &format!("var.{i}.value"), file);
        if form.checked(&format!("var.{i}.remove")) {
            change.unset.push(name);
            continue;
        }
        let had_file = form.text(&format!("var.{i}.had_file")) == "true";
        if value.is_some() || file != had_file {
            let edit = VarEdit {
                value,
                file_secret: (file != had_file).then_some(file),
            };
            change.set.insert(name, edit);
        }
    }
    let mut new_names = Vec::with_capacity(NEW_ROWS);
    for j in 0..NEW_ROWS {
        let name = form.text(&format!("new.{j}.name"));
        let file = form.checked(&format!("new.{j}.file"));
        let value = file_or_line(&mut form, &format!("new.{j}.value"), file);
        match (name.is_empty(), value) {
            (true, None) => {}
            (true, Some(_)) => errors.add("new", "a new variable needs a name"),
            (false, None) => errors.add("new", format!("{name} needs a value")),
            (false, Some(value)) => {
                let edit = VarEdit {
                    value: Some(value),
                    file_secret: Some(file),
                };
                change.set.insert(name.clone(), edit);
            }
        }
        new_names.push(name);
    }
    if let Some(message) = errors.get("new") {
        return Err(EnvEditor {
            error: Some(format!(
                "{message}; values were not kept, enter them again."
            )),
            new_names,
        });
    }
    Ok(change)
}

/// `POST /apps/{id}/env`: saves the edits as the next version.
pub async fn change(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let id = id.into_inner();
    let back = format!("/apps/{id}#environment");
    let new_names: Vec<String> = (0..NEW_ROWS)
        .map(|j| form.text(&format!("new.{j}.name")))
        .collect();
    let editor = match parse(form) {
        Ok(change) if change.set.is_empty() && change.unset.is_empty() => {
            return Ok(chrome.redirect(&back, Flash::info("Nothing to save: no variable changed.")));
        }
        Ok(change) => {
            let caller = chrome.principal()?;
            match env::change(&state, chrome.origin.clone(), caller, id.clone(), change).await {
                Ok(saved) => {
                    let text = format!("Environment saved as version {}.", saved.version);
                    return Ok(chrome.redirect(&back, Flash::success(text)));
                }
                Err(e) => {
                    let errors = FieldErrors::from_service(e, &[])?;
                    let message = errors
                        .general
                        .clone()
                        .or_else(|| {
                            ["set", "remove"]
                                .iter()
                                .find_map(|f| errors.get(f).map(str::to_owned))
                        })
                        .unwrap_or_else(|| "The environment was not saved.".to_owned());
                    EnvEditor {
                        error: Some(format!(
                            "{message}. Nothing was saved; enter new values again."
                        )),
                        new_names,
                    }
                }
            }
        }
        Err(editor) => editor,
    };
    let page = show_page(&state, &chrome, id, editor).await?;
    chrome.invalid(&page)
}

/// `POST /apps/{id}/env/reveal`: shows the current value of the variable
/// named by the form's `name` once, in this response only (admins; audited).
pub async fn reveal(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<AppId>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("apps");
    let id = id.into_inner();
    let name = form.text("name");
    let admin = chrome.principal()?;
    let value = env::reveal(
        &state,
        chrome.origin.clone(),
        admin,
        id.clone(),
        name.clone(),
    )
    .await?;
    let back = format!("/apps/{id}#environment");
    revealed(
        &chrome,
        format!("The value of {name}"),
        value.expose(),
        back,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_keep_and_blank_rows_add() {
        let form = Form::parse(
            b"var.0.name=KEEP&var.0.value=&var.0.had_file=false\
              &var.1.name=CHANGE&var.1.value=v2&var.1.had_file=false\
              &var.2.name=FLAG&var.2.value=&var.2.had_file=false&var.2.file=on\
              &var.3.name=GONE&var.3.had_file=true&var.3.remove=on\
              &new.0.name=ADDED&new.0.value=x&new.1.name=&new.1.value=",
        )
        .expect("form");
        let change = parse(form).expect("a change");
        assert!(!change.set.contains_key("KEEP"));
        assert_eq!(
            change
                .set
                .get("CHANGE")
                .and_then(|e| e.value.as_ref())
                .map(|v| v.expose()),
            Some("v2")
        );
        let flag = change.set.get("FLAG").expect("flag edit");
        assert!(flag.value.is_none() && flag.file_secret == Some(true));
        assert_eq!(change.unset, ["GONE"]);
        assert!(change.set.contains_key("ADDED"));
    }

    #[test]
    fn file_values_keep_their_lines() {
        let form = Form::parse(
            b"var.0.name=CERT&var.0.had_file=true&var.0.file=on&var.0.value=a%0D%0Ab%0D%0A\
              &var.1.name=PLAIN&var.1.had_file=false&var.1.value=%20x%20\
              &new.0.name=KEY&new.0.file=on&new.0.value=%0D%0Ak%0D%0A%0D%0A",
        )
        .expect("form");
        let change = parse(form).expect("a change");
        let value = |name: &str| {
            change
                .set
                .get(name)
                .and_then(|e| e.value.as_ref())
                .map(|v| v.expose().to_owned())
        };
        assert_eq!(value("CERT").as_deref(), Some("a\nb\n"));
        assert_eq!(value("PLAIN").as_deref(), Some(" x "), "as sent");
        assert_eq!(value("KEY").as_deref(), Some("\nk\n\n"));
        assert_eq!(
            change.set.get("KEY").and_then(|e| e.file_secret),
            Some(true)
        );
    }

    #[test]
    fn a_new_name_without_value_is_refused_without_echoing_values() {
        let form = Form::parse(b"new.0.name=TOKEN&new.0.value=&new.1.name=&new.1.value=s3cret")
            .expect("form");
        let editor = parse(form).expect_err("refused");
        assert_eq!(editor.new_names[0], "TOKEN");
        assert!(!format!("{editor:?}").contains("s3cret"));
    }
}
