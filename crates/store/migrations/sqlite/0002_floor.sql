-- Floor operations (SQLite): eligibility on visits, space cleaning state,
-- episodes, observation checks, after-care, emergencies with an append-only
-- timeline, handover notes. The PostgreSQL file of the same name matches.

ALTER TABLE spaces ADD COLUMN needs_cleaning BOOLEAN NOT NULL DEFAULT 0;

-- Every rule's result as JSON (dcr-practice §4.2), and any override.
ALTER TABLE visits ADD COLUMN eligibility TEXT;
ALTER TABLE visits ADD COLUMN override_reason TEXT;
ALTER TABLE visits ADD COLUMN override_by TEXT REFERENCES users (id);

CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    visit_id TEXT NOT NULL REFERENCES visits (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    space_id TEXT NOT NULL REFERENCES spaces (id),
    substances TEXT NOT NULL DEFAULT '[]',
    route TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_by TEXT NOT NULL REFERENCES users (id),
    ended_at TEXT,
    ended_by TEXT REFERENCES users (id),
    equipment_left BOOLEAN
);
-- One running episode per space and per visit: the last free space cannot be
-- given twice even if two requests pass the state check together.
CREATE UNIQUE INDEX episodes_space_open ON episodes (space_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX episodes_visit_open ON episodes (visit_id) WHERE ended_at IS NULL;
CREATE INDEX episodes_site_started ON episodes (site_id, started_at);
CREATE INDEX episodes_visit ON episodes (visit_id);

CREATE TABLE observation_checks (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    episode_id TEXT NOT NULL REFERENCES episodes (id),
    at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('responsive', 'drowsy', 'unresponsive')),
    resp_rate INTEGER,
    spo2 INTEGER,
    sedation INTEGER,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX observation_checks_episode ON observation_checks (episode_id, at);

CREATE TABLE aftercare (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    visit_id TEXT NOT NULL REFERENCES visits (id),
    entered_at TEXT NOT NULL,
    entered_by TEXT NOT NULL REFERENCES users (id),
    left_at TEXT,
    left_by TEXT REFERENCES users (id),
    observation TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX aftercare_visit_open ON aftercare (visit_id) WHERE left_at IS NULL;
CREATE INDEX aftercare_site_entered ON aftercare (site_id, entered_at);

CREATE TABLE emergencies (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    visit_id TEXT REFERENCES visits (id),
    episode_id TEXT REFERENCES episodes (id),
    space_id TEXT REFERENCES spaces (id),
    client_id TEXT REFERENCES clients (id),
    location TEXT NOT NULL CHECK (location IN ('space', 'aftercare', 'elsewhere')),
    location_detail TEXT NOT NULL DEFAULT '',
    person_description TEXT NOT NULL DEFAULT '',
    substances TEXT NOT NULL DEFAULT '[]',
    started_at TEXT NOT NULL,
    opened_by TEXT NOT NULL REFERENCES users (id),
    closed_at TEXT,
    closed_by TEXT REFERENCES users (id),
    outcome TEXT CHECK (outcome IN ('recovered_on_site', 'transferred', 'refused_transfer', 'died')),
    debrief TEXT NOT NULL DEFAULT '',
    staff_involved TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX emergencies_site_started ON emergencies (site_id, started_at);
CREATE INDEX emergencies_client ON emergencies (client_id);

-- The timeline is append-only: a time is corrected by an amendment row.
CREATE TABLE emergency_entries (
    id TEXT PRIMARY KEY,
    emergency_id TEXT NOT NULL REFERENCES emergencies (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX emergency_entries_emergency ON emergency_entries (emergency_id, at);

CREATE TABLE emergency_amendments (
    id TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL REFERENCES emergency_entries (id),
    emergency_id TEXT NOT NULL REFERENCES emergencies (id),
    new_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX emergency_amendments_emergency ON emergency_amendments (emergency_id);

CREATE TABLE handover_notes (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    text TEXT NOT NULL,
    written_by TEXT NOT NULL REFERENCES users (id),
    written_at TEXT NOT NULL
);
CREATE INDEX handover_notes_site ON handover_notes (site_id, written_at);

CREATE TRIGGER emergency_entries_append_only_u BEFORE UPDATE ON emergency_entries
BEGIN SELECT RAISE(ABORT, 'emergency_entries is append-only; amend instead'); END;
CREATE TRIGGER emergency_entries_append_only_d BEFORE DELETE ON emergency_entries
BEGIN SELECT RAISE(ABORT, 'emergency_entries is append-only; amend instead'); END;
CREATE TRIGGER emergency_amendments_append_only_u BEFORE UPDATE ON emergency_amendments
BEGIN SELECT RAISE(ABORT, 'emergency_amendments is append-only'); END;
CREATE TRIGGER emergency_amendments_append_only_d BEFORE DELETE ON emergency_amendments
BEGIN SELECT RAISE(ABORT, 'emergency_amendments is append-only'); END;
CREATE TRIGGER observation_checks_append_only_u BEFORE UPDATE ON observation_checks
BEGIN SELECT RAISE(ABORT, 'observation_checks is append-only'); END;
CREATE TRIGGER observation_checks_append_only_d BEFORE DELETE ON observation_checks
BEGIN SELECT RAISE(ABORT, 'observation_checks is append-only'); END;
CREATE TRIGGER episodes_no_delete BEFORE DELETE ON episodes
BEGIN SELECT RAISE(ABORT, 'episodes are never deleted'); END;
CREATE TRIGGER emergencies_no_delete BEFORE DELETE ON emergencies
BEGIN SELECT RAISE(ABORT, 'emergencies are never deleted'); END;
