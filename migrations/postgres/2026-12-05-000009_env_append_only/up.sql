-- Versions of environment sets are append-only: none is ever deleted, a
-- new one is the set's next (its current version, above every other), and
-- values go only into a set's newest version. (Values are also sealed for
-- their set, version and name, so a row moved elsewhere does not open.)
CREATE FUNCTION env_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER env_versions_no_delete BEFORE DELETE ON env_versions
    FOR EACH ROW EXECUTE FUNCTION env_append_only();
CREATE TRIGGER env_versions_no_truncate BEFORE TRUNCATE ON env_versions
    FOR EACH STATEMENT EXECUTE FUNCTION env_append_only();
CREATE TRIGGER env_values_no_delete BEFORE DELETE ON env_values
    FOR EACH ROW EXECUTE FUNCTION env_append_only();
CREATE TRIGGER env_values_no_truncate BEFORE TRUNCATE ON env_values
    FOR EACH STATEMENT EXECUTE FUNCTION env_append_only();

CREATE FUNCTION env_versions_next_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version <= COALESCE((SELECT MAX(version) FROM env_versions WHERE env_set_id = NEW.env_set_id), 0)
        OR NEW.version IS DISTINCT FROM (SELECT current_version FROM env_sets WHERE id = NEW.env_set_id) THEN
        RAISE EXCEPTION 'a new env_version must be its set''s next and current version';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER env_versions_next_only BEFORE INSERT ON env_versions
    FOR EACH ROW EXECUTE FUNCTION env_versions_next_only();

CREATE FUNCTION env_values_newest_version_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    of_set TEXT;
    this_version BIGINT;
BEGIN
    SELECT env_set_id, version INTO of_set, this_version FROM env_versions WHERE id = NEW.env_version_id;
    IF this_version IS DISTINCT FROM (SELECT MAX(version) FROM env_versions WHERE env_set_id = of_set) THEN
        RAISE EXCEPTION 'env_values go only into the newest version of their set';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER env_values_newest_version_only BEFORE INSERT ON env_values
    FOR EACH ROW EXECUTE FUNCTION env_values_newest_version_only();
