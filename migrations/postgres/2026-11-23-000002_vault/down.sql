DROP TABLE env_values;
DROP TABLE env_versions;
DROP TABLE env_sets;
DROP TABLE git_credentials;
DROP TABLE registries;
DROP TABLE ssh_keys;
DROP TABLE data_keys;
