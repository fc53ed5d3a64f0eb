DROP TRIGGER env_values_immutable;
DROP TRIGGER env_versions_immutable;
DROP TABLE app_servers;
DROP TABLE apps;
DELETE FROM env_values WHERE env_version_id IN (
    SELECT v.id FROM env_versions v JOIN env_sets s ON s.id = v.env_set_id WHERE s.scope = 'app'
);
DELETE FROM env_versions WHERE env_set_id IN (SELECT id FROM env_sets WHERE scope = 'app');
DELETE FROM env_sets WHERE scope = 'app';
DROP INDEX env_sets_name_live;
CREATE UNIQUE INDEX env_sets_name_live ON env_sets (name) WHERE deleted_at IS NULL;
ALTER TABLE env_sets DROP COLUMN scope;
ALTER TABLE env_values DROP COLUMN file_secret;
