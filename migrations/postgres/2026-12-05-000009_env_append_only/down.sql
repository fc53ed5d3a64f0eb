DROP TRIGGER env_values_newest_version_only ON env_values;
DROP FUNCTION env_values_newest_version_only();
DROP TRIGGER env_versions_next_only ON env_versions;
DROP FUNCTION env_versions_next_only();
DROP TRIGGER env_values_no_truncate ON env_values;
DROP TRIGGER env_values_no_delete ON env_values;
DROP TRIGGER env_versions_no_truncate ON env_versions;
DROP TRIGGER env_versions_no_delete ON env_versions;
DROP FUNCTION env_append_only();
