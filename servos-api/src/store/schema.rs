//! diesel table definitions, identical for SQLite and PostgreSQL.

diesel::table! {
    /// Local accounts.
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Browser sessions, keyed by the SHA-256 of the cookie value.
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// API tokens, stored as SHA-256 only.
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The first-run setup token's hash (at most one row, id 1).
    setup_token (id) {
        id -> Integer,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// The database's own keys and the key-check value, sealed under the master key.
    system_keys (name) {
        name -> Text,
        value -> Text,
        key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// The append-only, hash-chained audit trail.
    audit_log (seq) {
        seq -> BigInt,
        id -> Text,
        at -> Timestamp,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        actor_label -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        fields -> Text,
        request_id -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    /// Data keys, wrapped (sealed) under the master key.
    data_keys (id) {
        id -> Text,
        generation -> BigInt,
        wrapped -> Text,
        master_key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// SSH private keys (sealed) with their public halves.
    ssh_keys (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        algorithm -> Text,
        public_key -> Text,
        fingerprint -> Text,
        private_key -> Text,
        private_key_key_id -> Text,
        passphrase -> Nullable<Text>,
        passphrase_key_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Container registry credentials.
    registries (id) {
        id -> Text,
        name -> Text,
        host -> Text,
        username -> Text,
        password -> Text,
        password_key_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Git hosting tokens.
    git_credentials (id) {
        id -> Text,
        name -> Text,
        provider -> Text,
        username -> Nullable<Text>,
        token -> Text,
        token_key_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Named, versioned sets of environment variables.
    env_sets (id) {
        id -> Text,
        name -> Text,
        current_version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        scope -> Text,
    }
}

diesel::table! {
    /// One immutable version of an environment set.
    env_versions (id) {
        id -> Text,
        env_set_id -> Text,
        version -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// One variable of one version; the value is sealed.
    env_values (id) {
        id -> Text,
        env_version_id -> Text,
        name -> Text,
        value -> Text,
        value_key_id -> Text,
        file_secret -> Bool,
    }
}

diesel::table! {
    /// Servers reached over SSH.
    servers (id) {
        id -> Text,
        name -> Text,
        address -> Text,
        port -> Integer,
        ssh_user -> Text,
        ssh_key_id -> Text,
        roles -> Text,
        labels -> Text,
        host_key_fingerprint -> Nullable<Text>,
        pending_fingerprint -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Health checks of servers, newest last.
    server_checks (id) {
        id -> Text,
        server_id -> Text,
        at -> Timestamp,
        status -> Text,
        fingerprint -> Nullable<Text>,
        docker_version -> Nullable<Text>,
        disk_free_bytes -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Applications: what to run, where, and with which environment set.
    apps (id) {
        id -> Text,
        name -> Text,
        image -> Text,
        registry_id -> Nullable<Text>,
        env_set_id -> Text,
        container_port -> Integer,
        health_check -> Text,
        restart_policy -> Text,
        memory_bytes -> Nullable<BigInt>,
        milli_cpus -> Nullable<Integer>,
        labels -> Text,
        domain -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Where applications built from git are built from (no row for an
    /// application run from an image).
    app_git_sources (app_id) {
        app_id -> Text,
        url -> Text,
        branch -> Text,
        dockerfile -> Text,
        context -> Text,
        builder_server_id -> Text,
        git_credential_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// Build arguments of applications built from git: a value in clear or
    /// sealed for "{app_id}/{name}".
    app_build_args (id) {
        id -> Text,
        app_id -> Text,
        name -> Text,
        value -> Nullable<Text>,
        sealed_value -> Nullable<Text>,
        sealed_value_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// The servers an application runs on.
    app_servers (app_id, server_id) {
        app_id -> Text,
        server_id -> Text,
    }
}

diesel::joinable!(env_versions -> env_sets (env_set_id));
diesel::joinable!(env_values -> env_versions (env_version_id));
diesel::allow_tables_to_appear_in_same_query!(
    env_sets,
    env_versions,
    env_values,
    apps,
    app_servers,
    servers,
    mesh_nodes
);
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, api_tokens);
diesel::joinable!(apps -> env_sets (env_set_id));
diesel::joinable!(app_servers -> apps (app_id));
diesel::joinable!(app_servers -> servers (server_id));
diesel::joinable!(app_build_args -> apps (app_id));
diesel::joinable!(app_git_sources -> apps (app_id));
diesel::allow_tables_to_appear_in_same_query!(app_build_args, app_git_sources, apps);

diesel::table! {
    /// Deployment jobs.
    deployments (id) {
        id -> Text,
        app_id -> Text,
        image -> Text,
        image_digest -> Nullable<Text>,
        env_version -> BigInt,
        state -> Text,
        reason -> Nullable<Text>,
        rollback_of -> Nullable<Text>,
        requested_by -> Text,
        cancel_requested -> Bool,
        worker -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        attempt -> Integer,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The build of a deployment of an application built from git.
    builds (deployment_id) {
        deployment_id -> Text,
        app_id -> Text,
        commit_sha -> Text,
        image -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// One server of a deployment.
    deployment_targets (id) {
        id -> Text,
        deployment_id -> Text,
        server_id -> Text,
        state -> Text,
        container -> Nullable<Text>,
        host_port -> Nullable<Integer>,
        image_digest -> Nullable<Text>,
        reason -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        total_ms -> Nullable<BigInt>,
        docker_ms -> Nullable<BigInt>,
        health_wait_ms -> Nullable<BigInt>,
        drain_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The append-only step log of deployments.
    deployment_logs (deployment_id, seq) {
        deployment_id -> Text,
        seq -> BigInt,
        server_id -> Nullable<Text>,
        at -> Timestamp,
        text -> Text,
    }
}

diesel::joinable!(deployment_targets -> deployments (deployment_id));
diesel::joinable!(deployment_logs -> deployments (deployment_id));
diesel::joinable!(deployments -> apps (app_id));
diesel::allow_tables_to_appear_in_same_query!(deployments, apps);
diesel::allow_tables_to_appear_in_same_query!(deployments, deployment_targets, deployment_logs);

diesel::table! {
    /// Servers running the agent: their mesh address, key and last heartbeat.
    mesh_nodes (id) {
        id -> Text,
        server_id -> Text,
        address_index -> BigInt,
        public_key -> Text,
        endpoint -> Nullable<Text>,
        listen_port -> Integer,
        facts -> Text,
        token_hash -> Text,
        applied_version -> Nullable<BigInt>,
        last_heartbeat_at -> Nullable<Timestamp>,
        last_status -> Nullable<Text>,
        enrolled_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One-time tokens that enroll a server's agent.
    enrollment_tokens (id) {
        id -> Text,
        server_id -> Text,
        token_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Installs of the agent on a server.
    agent_installs (id) {
        id -> Text,
        server_id -> Text,
        state -> Text,
        reason -> Nullable<Text>,
        requested_by -> Text,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The step log of agent installs.
    agent_install_logs (install_id, seq) {
        install_id -> Text,
        seq -> BigInt,
        at -> Timestamp,
        text -> Text,
    }
}

diesel::table! {
    /// The mesh configuration's version.
    mesh_state (id) {
        id -> Integer,
        version -> BigInt,
        default_action -> Text,
    }
}

diesel::table! {
    /// Mesh policy rules.
    mesh_rules (id) {
        id -> BigInt,
        src_kind -> Text,
        src_ref -> Nullable<Text>,
        dst_kind -> Text,
        dst_ref -> Nullable<Text>,
        protocol -> Text,
        port_first -> Nullable<Integer>,
        port_last -> Nullable<Integer>,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Applications that joined the mesh, with their index.
    mesh_apps (app_id) {
        app_id -> Text,
        mesh_index -> BigInt,
        member -> Bool,
        joined_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Applications' webhooks.
    webhooks (id) {
        id -> Text,
        app_id -> Text,
        branch -> Text,
        secret -> Text,
        secret_key_id -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_key_id -> Nullable<Text>,
        previous_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Deliveries webhooks received.
    webhook_deliveries (id) {
        id -> Text,
        app_id -> Text,
        provider -> Text,
        delivery -> Nullable<Text>,
        event -> Nullable<Text>,
        git_ref -> Nullable<Text>,
        commit_sha -> Nullable<Text>,
        verdict -> Text,
        reason -> Text,
        deployment_id -> Nullable<Text>,
        received_at -> Timestamp,
    }
}

diesel::joinable!(mesh_nodes -> servers (server_id));
diesel::joinable!(mesh_apps -> apps (app_id));
diesel::allow_tables_to_appear_in_same_query!(mesh_apps, apps);
