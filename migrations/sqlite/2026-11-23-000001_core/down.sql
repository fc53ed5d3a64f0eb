DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
DROP TABLE system_keys;
DROP TABLE setup_token;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
