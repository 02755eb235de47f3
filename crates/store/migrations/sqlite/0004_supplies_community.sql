-- Supplies and stock, street audits and council needle reports (SQLite).
-- The PostgreSQL file of the same name matches.

-- One equipment transaction (dcr-practice §5.5): a hand-out to a visit or
-- anonymous / bulk, used equipment returned, a delivery, or a stock count.
CREATE TABLE supply_tx (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    kind TEXT NOT NULL CHECK (kind IN ('given', 'returned', 'received', 'adjustment')),
    visit_id TEXT REFERENCES visits (id),
    anonymous BOOLEAN NOT NULL DEFAULT 0,
    reason TEXT,
    at TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX supply_tx_site_at ON supply_tx (site_id, at);
CREATE INDEX supply_tx_visit ON supply_tx (visit_id);

CREATE TABLE supply_lines (
    tx_id TEXT NOT NULL REFERENCES supply_tx (id),
    item TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (tx_id, item)
);

-- The running level per item; changed only in the transaction that writes
-- the supply_tx row, so it always equals the ledger replayed.
CREATE TABLE stock (
    site_id TEXT NOT NULL REFERENCES sites (id),
    item TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level >= 0),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, item)
);

-- A hand-out beyond stock, or a count that differs from the records:
-- recorded, never blocking (issue 4, bad input).
CREATE TABLE supply_discrepancies (
    id TEXT PRIMARY KEY,
    tx_id TEXT NOT NULL REFERENCES supply_tx (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    item TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('shortfall', 'count')),
    wanted INTEGER NOT NULL,
    available INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX supply_discrepancies_site_at ON supply_discrepancies (site_id, at);

-- A street audit walk (dcr-practice §9, Wood 2004 design).
CREATE TABLE community_audits (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    on_date TEXT NOT NULL,
    start_time TEXT NOT NULL,
    zone TEXT NOT NULL,
    observer TEXT NOT NULL,
    weather TEXT NOT NULL,
    police_present BOOLEAN NOT NULL,
    needles INTEGER NOT NULL CHECK (needles >= 0),
    other_litter INTEGER NOT NULL CHECK (other_litter >= 0),
    people_injecting INTEGER NOT NULL CHECK (people_injecting >= 0),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX community_audits_site_date ON community_audits (site_id, on_date);

-- Council discarded-needle report counts, one per site, date and zone: a
-- second import of the same day and zone is refused, never double counted.
CREATE TABLE needle_report_imports (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    filename TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    imported_by TEXT NOT NULL REFERENCES users (id),
    imported_at TEXT NOT NULL
);

CREATE TABLE needle_reports (
    id TEXT PRIMARY KEY,
    import_id TEXT NOT NULL REFERENCES needle_report_imports (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    on_date TEXT NOT NULL,
    zone TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    UNIQUE (site_id, on_date, zone)
);

CREATE TRIGGER supply_tx_append_only_u BEFORE UPDATE ON supply_tx
BEGIN SELECT RAISE(ABORT, 'supply_tx is append-only'); END;
CREATE TRIGGER supply_tx_append_only_d BEFORE DELETE ON supply_tx
BEGIN SELECT RAISE(ABORT, 'supply_tx is append-only'); END;
CREATE TRIGGER supply_lines_append_only_u BEFORE UPDATE ON supply_lines
BEGIN SELECT RAISE(ABORT, 'supply_lines is append-only'); END;
CREATE TRIGGER supply_lines_append_only_d BEFORE DELETE ON supply_lines
BEGIN SELECT RAISE(ABORT, 'supply_lines is append-only'); END;
CREATE TRIGGER supply_discrepancies_append_only_u BEFORE UPDATE ON supply_discrepancies
BEGIN SELECT RAISE(ABORT, 'supply_discrepancies is append-only'); END;
CREATE TRIGGER supply_discrepancies_append_only_d BEFORE DELETE ON supply_discrepancies
BEGIN SELECT RAISE(ABORT, 'supply_discrepancies is append-only'); END;
CREATE TRIGGER community_audits_no_delete BEFORE DELETE ON community_audits
BEGIN SELECT RAISE(ABORT, 'community audits are never deleted'); END;
CREATE TRIGGER needle_reports_append_only_u BEFORE UPDATE ON needle_reports
BEGIN SELECT RAISE(ABORT, 'needle_reports is append-only'); END;
CREATE TRIGGER needle_reports_append_only_d BEFORE DELETE ON needle_reports
BEGIN SELECT RAISE(ABORT, 'needle_reports is append-only'); END;
