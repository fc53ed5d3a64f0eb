-- Applications: what to run (image, port, health check, restart policy,
-- limits, labels, domain), where (target servers) and with which
-- environment (an environment set the application owns). The health
-- check and the labels are JSON objects, validated by the API.

-- Variables delivered to the container as a file rather than in its environment.
ALTER TABLE env_values ADD COLUMN file_secret BOOLEAN NOT NULL DEFAULT 0;

-- `shared`: a named set managed under /api/v1/env-sets; `app`: the
-- environment of one application, managed under /api/v1/apps/{id}/env.
ALTER TABLE env_sets ADD COLUMN scope TEXT NOT NULL DEFAULT 'shared' CHECK (scope IN ('shared', 'app'));
DROP INDEX env_sets_name_live;
CREATE UNIQUE INDEX env_sets_name_live ON env_sets (name) WHERE deleted_at IS NULL AND scope = 'shared';

CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    registry_id TEXT REFERENCES registries (id),
    env_set_id TEXT NOT NULL UNIQUE REFERENCES env_sets (id),
    container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
    health_check TEXT NOT NULL,
    restart_policy TEXT NOT NULL,
    memory_bytes BIGINT CHECK (memory_bytes > 0),
    milli_cpus INTEGER CHECK (milli_cpus > 0),
    labels TEXT NOT NULL,
    domain TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX apps_name_live ON apps (name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX apps_domain_live ON apps (domain) WHERE deleted_at IS NULL AND domain IS NOT NULL;

CREATE TABLE app_servers (
    app_id TEXT NOT NULL REFERENCES apps (id),
    server_id TEXT NOT NULL REFERENCES servers (id),
    PRIMARY KEY (app_id, server_id)
);
CREATE INDEX app_servers_server ON app_servers (server_id);

-- A version of an environment is immutable once written: a rollback must
-- find the values as they were. Only re-sealing (key rotation) may rewrite
-- a value, and only its ciphertext and key id.
CREATE TRIGGER env_versions_immutable BEFORE UPDATE ON env_versions
BEGIN
    SELECT RAISE(ABORT, 'env_versions are immutable');
END;
CREATE TRIGGER env_values_immutable BEFORE UPDATE OF id, env_version_id, name, file_secret ON env_values
BEGIN
    SELECT RAISE(ABORT, 'env_values are immutable except for re-sealing');
END;
