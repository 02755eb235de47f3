-- Haven foundation schema (PostgreSQL). The SQLite file of the same name holds the same schema.
-- Times are timestamptz; ids are UUIDv7 text; enums are TEXT with CHECK.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    opens TEXT NOT NULL,
    closes TEXT NOT NULL,
    code_scheme TEXT NOT NULL CHECK (code_scheme IN ('site', 'onhrdb', 'slk581')),
    settings TEXT NOT NULL DEFAULT '{}',
    next_client_seq BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE spaces (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('injecting', 'inhalation')),
    wheelchair BOOLEAN NOT NULL DEFAULT FALSE,
    in_service BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (site_id, label)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    password_changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    role TEXT NOT NULL CHECK (role IN ('worker', 'nurse', 'prescriber', 'pharmacist', 'manager', 'evaluator', 'admin')),
    PRIMARY KEY (user_id, site_id)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    site_id TEXT REFERENCES sites (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    code TEXT COLLATE "C" NOT NULL,
    year_of_birth INTEGER NOT NULL,
    gender TEXT NOT NULL,
    home_area TEXT NOT NULL,
    alias TEXT COLLATE "C",
    flags TEXT NOT NULL DEFAULT '[]',
    registered_at TIMESTAMPTZ NOT NULL,
    registered_by TEXT REFERENCES users (id),
    merged_into TEXT REFERENCES clients (id),
    UNIQUE (site_id, code)
);
CREATE INDEX clients_site_yob ON clients (site_id, year_of_birth);
CREATE INDEX clients_site_alias ON clients (site_id, alias);

-- Identity lives apart from the pseudonymous record (architecture principle 4).
CREATE TABLE client_identities (
    client_id TEXT PRIMARY KEY REFERENCES clients (id),
    name TEXT,
    chi TEXT,
    other_number TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE client_merges (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    from_client_id TEXT NOT NULL REFERENCES clients (id),
    into_client_id TEXT NOT NULL REFERENCES clients (id),
    reason TEXT NOT NULL,
    merged_by TEXT NOT NULL REFERENCES users (id),
    merged_at TIMESTAMPTZ NOT NULL,
    undone_by TEXT REFERENCES users (id),
    undone_at TIMESTAMPTZ
);

CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    status TEXT NOT NULL CHECK (status IN ('attended', 'refused')),
    arrived_at TIMESTAMPTZ NOT NULL,
    left_at TIMESTAMPTZ,
    substances TEXT NOT NULL DEFAULT '[]',
    route TEXT,
    otherwise_place TEXT CHECK (otherwise_place IN ('private', 'public', 'semi_public', 'declined')),
    refusal_reason TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    idempotency_key TEXT,
    voided_at TIMESTAMPTZ,
    voided_by TEXT REFERENCES users (id),
    void_reason TEXT
);
CREATE INDEX visits_site_arrived ON visits (site_id, arrived_at);
CREATE INDEX visits_client ON visits (client_id, arrived_at);
CREATE UNIQUE INDEX visits_idempotency ON visits (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Nothing is deleted: a mistaken visit is voided, a wrong client merged.
CREATE FUNCTION haven_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only or never deleted (%)', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE TRIGGER visits_no_delete BEFORE DELETE ON visits
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER clients_no_delete BEFORE DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();

CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    role TEXT,
    site_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    request_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit_events (subject_type, subject_id);

-- Append-only, enforced by the database itself: a trigger for every role,
-- and no UPDATE/DELETE rights for PUBLIC (grant the application role only
-- SELECT, INSERT on this table; see docs/operations.md).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;

-- The chain head: one row, locked by every audit append.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
