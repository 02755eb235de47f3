-- Site-wide alerts (SQLite), e.g. a dangerous adulterant found by drug
-- checking. Shown on the board, at check-in and on every page until they
-- expire or are withdrawn; a shared alert shows at every site of the
-- installation. The PostgreSQL file of the same name matches.

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    text TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    withdrawn_at TEXT,
    withdrawn_by TEXT REFERENCES users (id)
);
CREATE INDEX alerts_site_expires ON alerts (site_id, expires_at);
CREATE INDEX alerts_shared_expires ON alerts (shared, expires_at);

CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are never deleted; withdraw them'); END;
