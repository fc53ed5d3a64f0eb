-- The build of each deployment of an application built from git: the
-- commit it builds and the image it makes (a deployment of an image, and a
-- rollback, which runs what an earlier build made, have none).
CREATE TABLE builds (
    deployment_id TEXT PRIMARY KEY NOT NULL REFERENCES deployments (id),
    app_id TEXT NOT NULL REFERENCES apps (id),
    commit_sha TEXT NOT NULL,
    image TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX builds_app_commit ON builds (app_id, commit_sha);
