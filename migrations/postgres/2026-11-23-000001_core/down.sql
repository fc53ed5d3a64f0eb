DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE system_keys;
DROP TABLE setup_token;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
