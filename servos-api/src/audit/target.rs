//! What an audit entry can be about: every kind of target written to the
//! trail. The audit page's filter offers exactly these.

use std::fmt;
use std::str::FromStr;

/// The kind of resource an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// An account's sign-in (logins, failures).
    Account,
    /// An API token.
    ApiToken,
    /// An application.
    App,
    /// A data key of the keyring.
    DataKey,
    /// A deployment.
    Deployment,
    /// A shared environment set.
    EnvSet,
    /// A git credential.
    GitCredential,
    /// The keyring as a whole (master key rotation).
    Keyring,
    /// A node of the mesh.
    MeshNode,
    /// The mesh policy (its default action).
    MeshPolicy,
    /// A rule of the mesh policy.
    MeshRule,
    /// A registry credential.
    Registry,
    /// A route of the API (refused access).
    Route,
    /// A server.
    Server,
    /// An SSH key.
    SshKey,
    /// A user account.
    User,
}

impl TargetType {
    /// Every target type, in the order the audit page offers them.
    pub const ALL: [TargetType; 16] = [
        Self::Account,
        Self::ApiToken,
        Self::App,
        Self::DataKey,
        Self::Deployment,
        Self::EnvSet,
        Self::GitCredential,
        Self::Keyring,
        Self::MeshNode,
        Self::MeshPolicy,
        Self::MeshRule,
        Self::Registry,
        Self::Route,
        Self::Server,
        Self::SshKey,
        Self::User,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::ApiToken => "api_token",
            Self::App => "app",
            Self::DataKey => "data_key",
            Self::Deployment => "deployment",
            Self::EnvSet => "env_set",
            Self::GitCredential => "git_credential",
            Self::Keyring => "keyring",
            Self::MeshNode => "mesh_node",
            Self::MeshPolicy => "mesh_policy",
            Self::MeshRule => "mesh_rule",
            Self::Registry => "registry",
            Self::Route => "route",
            Self::Server => "server",
            Self::SshKey => "ssh_key",
            Self::User => "user",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TargetType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| format!("unknown target type {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::TargetType;

    #[test]
    fn every_type_reads_back() {
        for t in TargetType::ALL {
            assert_eq!(t.as_str().parse::<TargetType>(), Ok(t));
        }
        assert!("system".parse::<TargetType>().is_err());
    }
}
