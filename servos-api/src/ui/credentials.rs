//! The credentials pages: the overview of SSH keys, registry and git
//! credentials; the forms for registry and git credentials; their audited
//! reveal. Secret values are write-only here: no page shows one, except
//! the response to an admin's explicit reveal.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::credentials::git::{self, NewGitCredential, Provider};
use crate::credentials::registries::{self, NewRegistry};
use crate::credentials::{self, ssh_keys};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::git_credentials::GitCredentialRow;
use crate::store::registries::RegistryRow;
use crate::store::ssh_keys::SshKeyRow;

use super::chrome::Chrome;
use super::flash::Flash;
use super::form::{FieldErrors, Form};

const PROVIDERS: [Provider; 5] = [
    Provider::Github,
    Provider::Gitlab,
    Provider::Gitea,
    Provider::Forgejo,
    Provider::Other,
];

#[derive(Template)]
#[template(path = "credentials/index.html")]
struct IndexPage<'a> {
    chrome: &'a Chrome,
    keys: Vec<SshKeyRow>,
    registries: Vec<RegistryRow>,
    git: Vec<GitCredentialRow>,
}

/// Non-secret fields of the registry and git forms, kept after an error.
#[derive(Debug, Default)]
struct CredentialValues {
    name: String,
    host: String,
    username: String,
    provider: String,
}

#[derive(Template)]
#[template(path = "credentials/registry_new.html")]
struct RegistryPage<'a> {
    chrome: &'a Chrome,
    values: CredentialValues,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "credentials/git_new.html")]
struct GitPage<'a> {
    chrome: &'a Chrome,
    values: CredentialValues,
    providers: [&'static str; 5],
    errors: FieldErrors,
}

/// The one page that shows a secret: the answer to a reveal POST.
#[derive(Template)]
#[template(path = "credentials/revealed.html")]
struct RevealedPage<'a> {
    chrome: &'a Chrome,
    what: String,
    value: &'a str,
    back: String,
}

/// Answers a reveal: `what` and its value, in this response only, never
/// stored or cached.
pub fn revealed(
    chrome: &Chrome,
    what: String,
    value: &str,
    back: String,
) -> Result<HttpResponse, ApiError> {
    let mut response = chrome.ok(&RevealedPage {
        chrome,
        what,
        value,
        back,
    })?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /credentials`.
pub async fn index(state: web::Data<AppState>, chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    chrome.ok(&IndexPage {
        chrome: &chrome,
        keys: ssh_keys::list(&state).await?,
        registries: registries::list(&state).await?,
        git: git::list(&state).await?,
    })
}

/// `GET /credentials/registries/new`.
pub async fn new_registry(chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    chrome.ok(&RegistryPage {
        chrome: &chrome,
        values: CredentialValues::default(),
        errors: FieldErrors::default(),
    })
}

/// `POST /credentials/registries`.
pub async fn create_registry(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let values = CredentialValues {
        name: form.text("name"),
        host: form.text("host"),
        username: form.text("username"),
        provider: String::new(),
    };
    let new = NewRegistry {
        name: values.name.clone(),
        host: values.host.clone(),
        username: values.username.clone(),
        password: form.secret("password"),
    };
    let errors =
        match registries::create(&state, chrome.origin.clone(), chrome.principal()?, new).await {
            Ok(row) => {
                let text = format!("Registry credential {} saved.", row.name);
                return Ok(chrome.redirect("/credentials#registries", Flash::success(text)));
            }
            Err(e) => FieldErrors::from_service(e, &[])?,
        };
    chrome.invalid(&RegistryPage {
        chrome: &chrome,
        values,
        errors,
    })
}

/// `GET /credentials/git/new`.
pub async fn new_git(chrome: Chrome) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    chrome.ok(&GitPage {
        chrome: &chrome,
        values: CredentialValues::default(),
        providers: PROVIDERS.map(Provider::as_str),
        errors: FieldErrors::default(),
    })
}

/// `POST /credentials/git`.
pub async fn create_git(
    state: web::Data<AppState>,
    chrome: Chrome,
    mut form: Form,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let values = CredentialValues {
        name: form.text("name"),
        host: String::new(),
        username: form.text("username"),
        provider: form.text("provider"),
    };
    let mut errors = FieldErrors::default();
    match PROVIDERS
        .into_iter()
        .find(|p| p.as_str() == values.provider)
    {
        None => errors.add("provider", "pick a provider"),
        Some(provider) => {
            let new = NewGitCredential {
                name: values.name.clone(),
                provider,
                username: Some(values.username.clone()).filter(|u| !u.is_empty()),
                token: form.secret("token"),
            };
            match git::create(&state, chrome.origin.clone(), chrome.principal()?, new).await {
                Ok(row) => {
                    let text = format!("Git credential {} saved.", row.name);
                    return Ok(chrome.redirect("/credentials#git", Flash::success(text)));
                }
                Err(e) => errors = FieldErrors::from_service(e, &[])?,
            }
        }
    }
    chrome.invalid(&GitPage {
        chrome: &chrome,
        values,
        providers: PROVIDERS.map(Provider::as_str),
        errors,
    })
}

async fn reveal(
    state: &AppState,
    chrome: Chrome,
    field: credentials::SecretField,
    id: String,
    what: String,
) -> Result<HttpResponse, ApiError> {
    let chrome = chrome.at("credentials");
    let value =
        credentials::reveal(state, chrome.origin.clone(), chrome.principal()?, field, id).await?;
    revealed(&chrome, what, value.expose(), "/credentials".into())
}

/// `POST /credentials/registries/{id}/reveal`: the password, once, audited.
pub async fn reveal_registry(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = registries::get(&state, id.clone()).await?;
    let what = format!("The password of registry credential {}", row.name);
    reveal(&state, chrome, registries::PASSWORD, id, what).await
}

/// `POST /credentials/registries/{id}/delete`.
pub async fn delete_registry(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    registries::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await?;
    let flash = Flash::success("Registry credential deleted.");
    Ok(chrome.redirect("/credentials#registries", flash))
}

/// `POST /credentials/git/{id}/reveal`: the token, once, audited.
pub async fn reveal_git(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = git::get(&state, id.clone()).await?;
    let what = format!("The token of git credential {}", row.name);
    reveal(&state, chrome, git::TOKEN, id, what).await
}

/// `POST /credentials/git/{id}/delete`.
pub async fn delete_git(
    state: web::Data<AppState>,
    chrome: Chrome,
    id: web::Path<String>,
    _form: Form,
) -> Result<HttpResponse, ApiError> {
    git::delete(
        &state,
        chrome.origin.clone(),
        chrome.principal()?,
        id.into_inner(),
    )
    .await?;
    Ok(chrome.redirect(
        "/credentials#git",
        Flash::success("Git credential deleted."),
    ))
}
