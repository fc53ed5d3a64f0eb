DROP TRIGGER deployment_logs_no_truncate ON deployment_logs;
DROP TRIGGER deployment_logs_no_change ON deployment_logs;
DROP FUNCTION deployment_logs_append_only();
DROP TABLE deployment_logs;
DROP TABLE deployment_targets;
DROP TABLE deployments;
