-- Applications built from git: the repository, branch, Dockerfile, build
-- context, builder server and git credential of each (no row for an
-- application run from an image), and its build arguments. An application
-- built from git has an empty `image` until its first build. A build
-- argument's value is in clear (`value`) or sealed for "{app_id}/{name}"
-- (`sealed_value`, `sealed_value_key_id`), never both.

CREATE TABLE app_git_sources (
    app_id TEXT PRIMARY KEY NOT NULL REFERENCES apps (id),
    url TEXT NOT NULL,
    branch TEXT NOT NULL,
    dockerfile TEXT NOT NULL,
    context TEXT NOT NULL,
    builder_server_id TEXT NOT NULL REFERENCES servers (id),
    git_credential_id TEXT REFERENCES git_credentials (id)
);
CREATE INDEX app_git_sources_builder ON app_git_sources (builder_server_id);

CREATE TABLE app_build_args (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    name TEXT NOT NULL,
    value TEXT,
    sealed_value TEXT,
    sealed_value_key_id TEXT,
    CHECK ((sealed_value IS NULL) = (sealed_value_key_id IS NULL)),
    CHECK ((value IS NULL) <> (sealed_value IS NULL))
);
CREATE UNIQUE INDEX app_build_args_name ON app_build_args (app_id, name);
CREATE INDEX app_build_args_key ON app_build_args (sealed_value_key_id);
