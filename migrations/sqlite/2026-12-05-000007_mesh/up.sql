-- The mesh: one node per server running the agent, the one-time tokens
-- that enroll them, installs of the agent with their step log, and the
-- version of the mesh configuration that agents wait on.

CREATE TABLE mesh_nodes (
    id TEXT PRIMARY KEY NOT NULL,
    server_id TEXT NOT NULL REFERENCES servers (id),
    -- Position in the node half of the mesh CIDR: the node's address and
    -- its container subnet both derive from it (docs/agent-protocol.md).
    address_index BIGINT NOT NULL CHECK (address_index > 0),
    public_key TEXT NOT NULL,
    -- host:port other nodes reach this one at; NULL: the server's address.
    endpoint TEXT,
    listen_port INTEGER NOT NULL CHECK (listen_port BETWEEN 1 AND 65535),
    -- What the agent said of itself: host name, kernel, backend, version (JSON).
    facts TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- The configuration version the agent last reported as applied.
    applied_version BIGINT,
    last_heartbeat_at TIMESTAMP,
    -- The last heartbeat's peers and counters, JSON.
    last_status TEXT,
    enrolled_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX mesh_nodes_server_live ON mesh_nodes (server_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX mesh_nodes_address_live ON mesh_nodes (address_index) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX mesh_nodes_key_live ON mesh_nodes (public_key) WHERE deleted_at IS NULL;

CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    server_id TEXT NOT NULL REFERENCES servers (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX enrollment_tokens_server ON enrollment_tokens (server_id, created_at);

CREATE TABLE agent_installs (
    id TEXT PRIMARY KEY NOT NULL,
    server_id TEXT NOT NULL REFERENCES servers (id),
    state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    reason TEXT,
    requested_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX agent_installs_server ON agent_installs (server_id, created_at);

CREATE TABLE agent_install_logs (
    install_id TEXT NOT NULL REFERENCES agent_installs (id),
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (install_id, seq)
);

-- One row: the mesh configuration's version, raised by every change, and
-- what the classifier does with traffic no rule allows.
CREATE TABLE mesh_state (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL,
    default_action TEXT NOT NULL CHECK (default_action IN ('deny', 'allow'))
);
INSERT INTO mesh_state (id, version, default_action) VALUES (1, 1, 'deny');

-- Mesh policy: each rule allows traffic from a source (any, a node or an
-- application) to a destination, for a protocol and a port range. A rule's
-- id names its counters; ids are never reused.
CREATE TABLE mesh_rules (
    id BIGINT PRIMARY KEY NOT NULL,
    src_kind TEXT NOT NULL CHECK (src_kind IN ('any', 'node', 'app')),
    src_ref TEXT,
    dst_kind TEXT NOT NULL CHECK (dst_kind IN ('any', 'node', 'app')),
    dst_ref TEXT,
    protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'any')),
    port_first INTEGER CHECK (port_first BETWEEN 1 AND 65535),
    port_last INTEGER CHECK (port_last BETWEEN 1 AND 65535),
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    CHECK ((src_kind = 'any') = (src_ref IS NULL)),
    CHECK ((dst_kind = 'any') = (dst_ref IS NULL)),
    CHECK ((port_first IS NULL) = (port_last IS NULL) AND (port_first IS NULL OR port_first <= port_last))
);

-- Applications that joined the mesh. Each holds an index, its /30 block
-- in every node's container subnet (docs/agent-protocol.md). Leaving keeps
-- the index, so a container still holding an address of the block can
-- never be taken for another application; the row goes with the
-- application, unless a forced delete left containers behind.
CREATE TABLE mesh_apps (
    app_id TEXT PRIMARY KEY NOT NULL REFERENCES apps (id),
    mesh_index BIGINT NOT NULL UNIQUE CHECK (mesh_index BETWEEN 1 AND 63),
    member BOOLEAN NOT NULL DEFAULT 0,
    joined_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
