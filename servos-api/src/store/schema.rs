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

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, api_tokens);
