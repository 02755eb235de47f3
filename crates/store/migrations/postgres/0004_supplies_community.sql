-- Supplies and stock, street audits and council needle reports (PostgreSQL).
-- The SQLite file of the same name matches.

-- One equipment transaction (dcr-practice §5.5): a hand-out to a visit or
-- anonymous / bulk, used equipment returned, a delivery, or a stock count.
CREATE TABLE supply_tx (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    kind TEXT NOT NULL CHECK (kind IN ('given', 'returned', 'received', 'adjustment')),
    visit_id TEXT REFERENCES visits (id),
    anonymous BOOLEAN NOT NULL DEFAULT FALSE,
    reason TEXT,
    at TIMESTAMPTZ NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMPTZ NOT NULL
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
    updated_at TIMESTAMPTZ NOT NULL,
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
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX supply_discrepancies_site_at ON supply_discrepancies (site_id, at);

-- A street audit walk (dcr-practice §9, Wood 2004 design).
CREATE TABLE community_audits (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    on_date DATE NOT NULL,
    start_time TEXT NOT NULL,
    zone TEXT NOT NULL,
    observer TEXT NOT NULL,
    weather TEXT NOT NULL,
    police_present BOOLEAN NOT NULL,
    needles INTEGER NOT NULL CHECK (needles >= 0),
    other_litter INTEGER NOT NULL CHECK (other_litter >= 0),
    people_injecting INTEGER NOT NULL CHECK (people_injecting >= 0),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TIMESTAMPTZ NOT NULL
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
    imported_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE needle_reports (
    id TEXT PRIMARY KEY,
    import_id TEXT NOT NULL REFERENCES needle_report_imports (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    on_date DATE NOT NULL,
    zone TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    UNIQUE (site_id, on_date, zone)
);

CREATE TRIGGER supply_tx_append_only BEFORE UPDATE OR DELETE ON supply_tx
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER supply_lines_append_only BEFORE UPDATE OR DELETE ON supply_lines
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER supply_discrepancies_append_only BEFORE UPDATE OR DELETE ON supply_discrepancies
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER community_audits_no_delete BEFORE DELETE ON community_audits
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER needle_reports_append_only BEFORE UPDATE OR DELETE ON needle_reports
    FOR EACH ROW EXECUTE FUNCTION haven_refuse_change();

-- TRUNCATE fires no row trigger (and TRUNCATE … CASCADE empties every table
-- that references the one named), so the append-only and never-deleted
-- tables of 0001–0004 also refuse it, as audit_events does since 0001.
-- SQLite has no TRUNCATE: its DELETE without WHERE fires the row triggers.
CREATE TRIGGER clients_no_truncate BEFORE TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER visits_no_truncate BEFORE TRUNCATE ON visits
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER episodes_no_truncate BEFORE TRUNCATE ON episodes
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER observation_checks_no_truncate BEFORE TRUNCATE ON observation_checks
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER emergencies_no_truncate BEFORE TRUNCATE ON emergencies
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER emergency_entries_no_truncate BEFORE TRUNCATE ON emergency_entries
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER emergency_amendments_no_truncate BEFORE TRUNCATE ON emergency_amendments
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER services_no_truncate BEFORE TRUNCATE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER test_results_no_truncate BEFORE TRUNCATE ON test_results
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER referrals_no_truncate BEFORE TRUNCATE ON referrals
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER referral_events_no_truncate BEFORE TRUNCATE ON referral_events
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER drug_samples_no_truncate BEFORE TRUNCATE ON drug_samples
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER drug_results_no_truncate BEFORE TRUNCATE ON drug_results
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER alerts_no_truncate BEFORE TRUNCATE ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER supply_tx_no_truncate BEFORE TRUNCATE ON supply_tx
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER supply_lines_no_truncate BEFORE TRUNCATE ON supply_lines
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER supply_discrepancies_no_truncate BEFORE TRUNCATE ON supply_discrepancies
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER community_audits_no_truncate BEFORE TRUNCATE ON community_audits
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
CREATE TRIGGER needle_reports_no_truncate BEFORE TRUNCATE ON needle_reports
    FOR EACH STATEMENT EXECUTE FUNCTION haven_refuse_change();
