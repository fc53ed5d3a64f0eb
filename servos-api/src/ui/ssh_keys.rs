//! SSH key pages: generate or import a key, see its public half (to copy
//! into `authorized_keys`), and, for admins, the audited reveal of its
//! private key or passphrase.

use actix_web::{web, HttpResponse};
use askama::Template;

use crate::credentials::ssh_keys::{self, KeyKind, KeySource};
use crate::credentials::{self, SecretField};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ssh_keys::SshKeyRow;

use super::chrome::Chrome;
use super::credentials::revealed;
use super::flash::Flash;
use super::form::{FieldErrors, Form};
use super::views;

/// What the form shows again after an error (never the key or passphrase).
#[derive(Debug)]
struct KeyValues {
    name: String,
    kind: String,
    source: String,
}

impl Default for KeyValues {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: KeyKind::Server.as_str().into(),
            source: "generate".into(),
        }
    }
}

#[derive(Template)]
#[template(path = "credentials/ssh_key_new.html")]
struct NewPage<'a> {
    chrome: &'a Chrome,
    values: KeyValues,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "credentials/ssh_key_show.html")]
struct ShowPage<'a> {
    chrome: &'a Chrome,
    key: SshKeyRow,
    added: String,
}

/// `GET /credentials/ssh-keys/new`.
pub async fn new_form(chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    chrome.ok(&NewPage {
        chrome: &chrome,
        values: KeyValues::default(),
        errors: FieldErrors::default(),
    })
}

/// `POST /credentials/ssh-keys`: generates (Ed25519) or imports a key.
pub async fn create(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let values = KeyValues {
        name: form.text("name"),
        kind: form.text("kind"),
        source: form.text("source"),
    };
    let (private_key, passphrase) = if values.source == "import" {
        let key = form.secret("private_key");
        (Some(key), form.optional_secret("passphrase"))
    } else {
        (None, None)
    };
    let mut errors = FieldErrors::default();
    let kind = match values.kind.as_str() {
        "builder" => KeyKind::Builder,
        "server" => KeyKind::Server,
        _ => {
            errors.add("kind", "must be server or builder");
            KeyKind::Server
        }
    };
    if errors.is_empty() {
        let created = match KeySource::from_parts(private_key, passphrase) {
            Ok(source) => {
                let admin = chrome.principal()?;
                ssh_keys::create(
                    &state,
                    chrome.origin.clone(),
                    admin,
                    &values.name,
                    kind,
                    source,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match created {
            Ok(row) => {
                let text = format!(
                    "SSH key {} saved. Its public key is below; its private key stays encrypted in ServOS.",
                    row.name
                );
                let location = format!("/credentials/ssh-keys/{}", row.id);
                return Ok(chrome.redirect(&location, Flash::success(text)));
            }
            Err(e) => errors = FieldErrors::from_service(e, &[])?,
        }
    }
    chrome.invalid(&NewPage {
        chrome: &chrome,
        values,
        errors,
    })
}

/// `GET /credentials/ssh-keys/{id}`: the public half.
pub async fn show(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let key = ssh_keys::get(&state, id.into_inner()).await?;
    chrome.ok(&ShowPage {
        chrome: &chrome,
        added: views::when(key.created_at),
        key,
    })
}

/// `POST /credentials/ssh-keys/{id}/reveal`: shows the private key (or its
/// passphrase) once, in this response only; the reveal is audited.
pub async fn reveal(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let (field, label): (SecretField, &str) = match form.text("field").as_str() {
        "passphrase" => (ssh_keys::PASSPHRASE, "passphrase"),
        _ => (ssh_keys::PRIVATE_KEY, "private key"),
    };
    let id = id.into_inner();
    let key = ssh_keys::get(&state, id.clone()).await?;
    let value = credentials::reveal(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        field,
        id.clone(),
    )
    .await?;
    let what = format!("The {label} of SSH key {}", key.name);
    revealed(
        &chrome,
        what,
        value.expose(),
        format!("/credentials/ssh-keys/{id}"),
    )
}

/// `POST /credentials/ssh-keys/{id}/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    ssh_keys::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await?;
    Ok(chrome.redirect("/credentials", Flash::success("SSH key deleted.")))
}
