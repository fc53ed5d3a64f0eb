ALTER TABLE deployment_targets DROP COLUMN drain_ms;
ALTER TABLE deployment_targets DROP COLUMN health_wait_ms;
ALTER TABLE deployment_targets DROP COLUMN docker_ms;
ALTER TABLE deployment_targets DROP COLUMN total_ms;
