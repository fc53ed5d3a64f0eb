DROP TRIGGER deployment_logs_no_delete;
DROP TRIGGER deployment_logs_no_update;
DROP TABLE deployment_logs;
DROP TABLE deployment_targets;
DROP TABLE deployments;
