DROP TRIGGER env_values_newest_version_only;
DROP TRIGGER env_values_no_delete;
DROP TRIGGER env_versions_next_only;
DROP TRIGGER env_versions_no_delete;
