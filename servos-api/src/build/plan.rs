//! What a build needs, loaded with its deployment's plan: the source, the
//! commit, the builder, the image to make, the build arguments (secret
//! ones opened) and the git login. Secret values live only here, in
//! zeroizing memory, until the job ends.

use std::collections::BTreeMap;

use servos_common::secret::SecretText;

use crate::apps::git::GitSource;
use crate::apps::App;
use crate::credentials;
use crate::error::ServiceError;
use crate::store::servers::{self, ServerRow};
use crate::store::{build_args, git_credentials, DbConn};
use crate::vault::keyring::Keyring;

use super::git::{GitLogin, TOKEN_USER};

/// Everything a build needs.
#[derive(Debug)]
pub struct BuildPlan {
    /// Repository, branch, Dockerfile, context.
    pub source: GitSource,
    /// The commit to build.
    pub commit: String,
    /// The builder.
    pub builder: ServerRow,
    /// The image it makes (the deployment's image).
    pub image: String,
    /// Build arguments in clear.
    pub clear_args: BTreeMap<String, String>,
    /// Secret build arguments, opened.
    pub secret_args: BTreeMap<String, SecretText>,
    /// The git login, for a private repository.
    pub login: Option<GitLogin>,
}

/// The login of `source`'s git credential, opened; `None` without one.
pub fn git_login(
    conn: &mut DbConn,
    keyring: &Keyring,
    source: &GitSource,
) -> Result<Option<GitLogin>, ServiceError> {
    let Some(id) = &source.git_credential_id else {
        return Ok(None);
    };
    let row = git_credentials::find_live(conn, id)?
        .ok_or_else(|| ServiceError::conflict("the application's git credential was deleted"))?;
    let plain = credentials::open(
        conn,
        keyring,
        credentials::git::TOKEN.table,
        credentials::git::TOKEN.column,
        &row.id,
        &row.token,
        &row.token_key_id,
    )?;
    Ok(Some(GitLogin {
        username: row.username.unwrap_or_else(|| TOKEN_USER.to_owned()),
        token: credentials::text(plain)?,
    }))
}

/// The build of `commit` of `app` into `image`, inside the plan's
/// transaction; an error says what is missing.
pub fn load(
    conn: &mut DbConn,
    keyring: &Keyring,
    app: &App,
    commit: &str,
    image: &str,
) -> Result<BuildPlan, ServiceError> {
    let source = app.spec.git.clone().ok_or_else(|| {
        ServiceError::conflict("the application is no longer built from git; deploy it again")
    })?;
    let builder = servers::find_live(conn, &source.builder_server_id)?
        .ok_or_else(|| ServiceError::conflict("the application's builder server was deleted"))?;
    if !builder.roles.split(',').any(|role| role == "build") {
        return Err(ServiceError::conflict(format!(
            "server {} no longer has the build role",
            builder.name
        )));
    }
    let mut clear_args = BTreeMap::new();
    let mut secret_args = BTreeMap::new();
    for row in build_args::of_app(conn, &app.id)? {
        match (row.value, row.sealed_value, row.sealed_value_key_id) {
            (Some(value), _, _) => {
                clear_args.insert(row.name, value);
            }
            (None, Some(sealed), Some(key_id)) => {
                let identity = build_args::identity(app.id.as_str(), &row.name);
                let plain = credentials::open(
                    conn,
                    keyring,
                    "app_build_args",
                    "sealed_value",
                    &identity,
                    &sealed,
                    &key_id,
                )?;
                secret_args.insert(row.name, credentials::text(plain)?);
            }
            _ => return Err(ServiceError::Undecryptable),
        }
    }
    let login = git_login(conn, keyring, &source)?;
    Ok(BuildPlan {
        source,
        commit: commit.to_owned(),
        builder,
        image: image.to_owned(),
        clear_args,
        secret_args,
        login,
    })
}
