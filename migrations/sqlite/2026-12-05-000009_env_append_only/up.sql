-- Versions of environment sets are append-only: none is ever deleted, a
-- new one is the set's next (its current version, above every other), and
-- values go only into a set's newest version. (Values are also sealed for
-- their set, version and name, so a row moved elsewhere does not open.)
CREATE TRIGGER env_versions_no_delete BEFORE DELETE ON env_versions
BEGIN
    SELECT RAISE(ABORT, 'env_versions are append-only');
END;
CREATE TRIGGER env_versions_next_only BEFORE INSERT ON env_versions
WHEN NEW.version <= COALESCE((SELECT MAX(version) FROM env_versions WHERE env_set_id = NEW.env_set_id), 0)
    OR NEW.version <> (SELECT current_version FROM env_sets WHERE id = NEW.env_set_id)
BEGIN
    SELECT RAISE(ABORT, 'a new env_version must be its set''s next and current version');
END;
CREATE TRIGGER env_values_no_delete BEFORE DELETE ON env_values
BEGIN
    SELECT RAISE(ABORT, 'env_values are append-only');
END;
CREATE TRIGGER env_values_newest_version_only BEFORE INSERT ON env_values
WHEN (SELECT version FROM env_versions WHERE id = NEW.env_version_id)
    IS NOT (SELECT MAX(v.version) FROM env_versions v
            WHERE v.env_set_id = (SELECT env_set_id FROM env_versions WHERE id = NEW.env_version_id))
BEGIN
    SELECT RAISE(ABORT, 'env_values go only into the newest version of their set');
END;
