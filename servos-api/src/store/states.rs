//! The states of deployments and of their per-server targets, stored as
//! text and shown as the same lowercase words in JSON and pages.

use std::fmt;
use std::str::FromStr;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[diesel(sql_type = Text)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every state, in the order a job goes through them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(String::from_sql(bytes)?.parse()?)
            }
        }
    };
}

text_enum!(
    /// Where a deployment stands.
    DeploymentState {
        /// Waiting for a worker.
        Queued = "queued",
        /// Claimed by a worker that holds its lease.
        Running = "running",
        /// Every server runs the new version.
        Succeeded = "succeeded",
        /// Ended with an error (its reason says which).
        Failed = "failed",
        /// Cancelled before it ended.
        Cancelled = "cancelled",
    }
);

impl DeploymentState {
    /// True once it ended (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

text_enum!(
    /// Where one server's part of a deployment stands.
    TargetState {
        /// Not started.
        Pending = "pending",
        /// Connecting, logging in to the registry, pulling.
        Pulling = "pulling",
        /// Starting the new container.
        Starting = "starting",
        /// Health-checking the new container.
        Checking = "checking",
        /// Pointing the proxy at it.
        Switching = "switching",
        /// The proxy sends requests to it; the old one drains.
        Draining = "draining",
        /// The new container serves.
        Succeeded = "succeeded",
        /// Failed; the old container (if any) still serves.
        Failed = "failed",
        /// Stopped by a cancel before the switch.
        Cancelled = "cancelled",
    }
);

impl TargetState {
    /// True once this server's part ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_written() {
        for state in DeploymentState::ALL {
            assert_eq!(state.as_str().parse::<DeploymentState>(), Ok(*state));
        }
        for state in TargetState::ALL {
            assert_eq!(state.to_string().parse::<TargetState>(), Ok(*state));
        }
        assert!("done".parse::<DeploymentState>().is_err());
    }
}
