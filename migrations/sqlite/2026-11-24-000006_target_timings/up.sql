-- Where each server's share of a deployment spent its time, in
-- milliseconds, recorded when it ends: in all, in the server's Docker,
-- waiting for the new container's health check, and draining the old one.
-- ServOS's own time is the total less the other three.
ALTER TABLE deployment_targets ADD COLUMN total_ms BIGINT CHECK (total_ms >= 0);
ALTER TABLE deployment_targets ADD COLUMN docker_ms BIGINT CHECK (docker_ms >= 0);
ALTER TABLE deployment_targets ADD COLUMN health_wait_ms BIGINT CHECK (health_wait_ms >= 0);
ALTER TABLE deployment_targets ADD COLUMN drain_ms BIGINT CHECK (drain_ms >= 0);
