-- Webhooks: one per application at most, its secret sealed (and the one it
-- replaced, accepted until previous_until), the branch a push must be to;
-- and every delivery received, with its verdict and what it queued.

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    branch TEXT NOT NULL,
    secret TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_key_id TEXT,
    previous_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    CHECK ((previous_secret IS NULL) = (previous_secret_key_id IS NULL)),
    CHECK ((previous_secret IS NULL) = (previous_until IS NULL))
);
CREATE UNIQUE INDEX webhooks_app_live ON webhooks (app_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    provider TEXT NOT NULL,
    -- The provider's delivery id, when it sent one.
    delivery TEXT,
    event TEXT,
    git_ref TEXT,
    commit_sha TEXT,
    verdict TEXT NOT NULL CHECK (verdict IN ('queued', 'ignored', 'duplicate', 'rejected')),
    reason TEXT NOT NULL,
    deployment_id TEXT REFERENCES deployments (id),
    received_at TIMESTAMP NOT NULL
);
-- A delivery counts once; a commit of a branch deploys once.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (app_id, provider, delivery)
    WHERE delivery IS NOT NULL AND verdict <> 'rejected';
CREATE UNIQUE INDEX webhook_deliveries_commit ON webhook_deliveries (app_id, git_ref, commit_sha)
    WHERE verdict = 'queued';
CREATE INDEX webhook_deliveries_app ON webhook_deliveries (app_id, received_at);
