DROP TABLE mesh_apps;
DROP TABLE mesh_rules;
DROP TABLE mesh_state;
DROP TABLE agent_install_logs;
DROP TABLE agent_installs;
DROP TABLE enrollment_tokens;
DROP TABLE mesh_nodes;
