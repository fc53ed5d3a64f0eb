-- Deployments: jobs that run an application's image, with one environment
-- version, on each of its servers. Workers claim queued jobs and hold a
-- lease while they run one; a job whose lease ran out is taken over.

CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    -- The image as requested (a reference, or a digest for a rollback).
    image TEXT NOT NULL,
    -- What the image resolved to after the pull.
    image_digest TEXT,
    env_version BIGINT NOT NULL CHECK (env_version >= 0),
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    reason TEXT,
    rollback_of TEXT REFERENCES deployments (id),
    requested_by TEXT NOT NULL,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    worker TEXT,
    lease_until TIMESTAMP,
    attempt INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
-- At most one deployment of an application runs at a time.
CREATE UNIQUE INDEX deployments_one_running ON deployments (app_id) WHERE state = 'running';
CREATE INDEX deployments_state ON deployments (state, created_at);
CREATE INDEX deployments_app ON deployments (app_id, created_at);

-- One row per server of a deployment.
CREATE TABLE deployment_targets (
    id TEXT PRIMARY KEY NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    server_id TEXT NOT NULL REFERENCES servers (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'pulling', 'starting', 'checking', 'switching', 'draining', 'succeeded', 'failed', 'cancelled')),
    container TEXT,
    host_port INTEGER CHECK (host_port BETWEEN 1 AND 65535),
    image_digest TEXT,
    reason TEXT,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (deployment_id, server_id)
);

-- The step log: lines are only ever appended.
CREATE TABLE deployment_logs (
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    seq BIGINT NOT NULL,
    server_id TEXT REFERENCES servers (id),
    at TIMESTAMP NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);
CREATE FUNCTION deployment_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'deployment_logs is append-only';
END;
$$;
CREATE TRIGGER deployment_logs_no_change BEFORE UPDATE OR DELETE ON deployment_logs
    FOR EACH ROW EXECUTE FUNCTION deployment_logs_append_only();
CREATE TRIGGER deployment_logs_no_truncate BEFORE TRUNCATE ON deployment_logs
    FOR EACH STATEMENT EXECUTE FUNCTION deployment_logs_append_only();
