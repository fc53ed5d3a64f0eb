-- The keyring (data keys wrapped by the master key) and credentials whose
-- secret columns are sealed under a data key named in the *_key_id column.

CREATE TABLE data_keys (
    id TEXT PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL UNIQUE,
    wrapped TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE ssh_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('server', 'builder')),
    algorithm TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    private_key TEXT NOT NULL,
    private_key_key_id TEXT NOT NULL,
    passphrase TEXT,
    passphrase_key_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX ssh_keys_name_live ON ssh_keys (name) WHERE deleted_at IS NULL;
CREATE INDEX ssh_keys_private_key_key ON ssh_keys (private_key_key_id);
CREATE INDEX ssh_keys_passphrase_key ON ssh_keys (passphrase_key_id);

CREATE TABLE registries (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    password_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX registries_name_live ON registries (name) WHERE deleted_at IS NULL;
CREATE INDEX registries_password_key ON registries (password_key_id);

CREATE TABLE git_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('github', 'gitlab', 'gitea', 'forgejo', 'other')),
    username TEXT,
    token TEXT NOT NULL,
    token_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX git_credentials_name_live ON git_credentials (name) WHERE deleted_at IS NULL;
CREATE INDEX git_credentials_token_key ON git_credentials (token_key_id);

CREATE TABLE env_sets (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX env_sets_name_live ON env_sets (name) WHERE deleted_at IS NULL;

CREATE TABLE env_versions (
    id TEXT PRIMARY KEY NOT NULL,
    env_set_id TEXT NOT NULL REFERENCES env_sets (id),
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (env_set_id, version)
);

CREATE TABLE env_values (
    id TEXT PRIMARY KEY NOT NULL,
    env_version_id TEXT NOT NULL REFERENCES env_versions (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key_id TEXT NOT NULL,
    UNIQUE (env_version_id, name)
);
CREATE INDEX env_values_value_key ON env_values (value_key_id);
