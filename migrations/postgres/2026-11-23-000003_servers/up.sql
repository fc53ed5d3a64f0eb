-- Servers reached over SSH, pinned by their host key on first use.

CREATE TABLE servers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    ssh_user TEXT NOT NULL,
    ssh_key_id TEXT NOT NULL REFERENCES ssh_keys (id),
    roles TEXT NOT NULL,
    labels TEXT NOT NULL,
    host_key_fingerprint TEXT,
    pending_fingerprint TEXT,
    status TEXT NOT NULL CHECK (status IN ('new', 'ready', 'docker_unavailable', 'unreachable', 'host_key_changed')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX servers_name_live ON servers (name) WHERE deleted_at IS NULL;

CREATE TABLE server_checks (
    id TEXT PRIMARY KEY NOT NULL,
    server_id TEXT NOT NULL REFERENCES servers (id),
    at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT,
    docker_version TEXT,
    disk_free_bytes BIGINT,
    error TEXT
);
CREATE INDEX server_checks_server ON server_checks (server_id, at);
