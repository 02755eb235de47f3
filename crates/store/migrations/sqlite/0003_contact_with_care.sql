-- Contact with care: services given at a visit (with BBV test results
-- recorded later), referrals with their history, drug checking and
-- site-wide alerts (SQLite). A sample (linked to a visit only
-- with the person's consent) and its results, append-only; an alert raised
-- from a result that finds a substance of concern points back at the sample.
-- The PostgreSQL file of the same name matches.

-- Services given on site at a visit; a BBV test's result arrives later
-- as its own row.
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    visit_id TEXT NOT NULL REFERENCES visits (id),
    code TEXT NOT NULL,
    at TEXT NOT NULL,
    tests TEXT NOT NULL DEFAULT '[]',
    note TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX services_visit ON services (visit_id);
CREATE INDEX services_site_at ON services (site_id, at);

CREATE TABLE test_results (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services (id),
    test TEXT NOT NULL CHECK (test IN ('hiv', 'hcv', 'hbv')),
    result TEXT NOT NULL,
    result_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX test_results_service ON test_results (service_id);

-- Referrals to services elsewhere; each status step is its own row (made,
-- accepted or declined, attended or not, closed), dated, never rewritten.
CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    visit_id TEXT REFERENCES visits (id),
    category TEXT NOT NULL,
    made_on TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL
);
CREATE INDEX referrals_site_made ON referrals (site_id, made_on);
CREATE INDEX referrals_client ON referrals (client_id);

CREATE TABLE referral_events (
    id TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    status TEXT NOT NULL CHECK (status IN ('made', 'accepted', 'declined', 'attended', 'not_attended', 'closed')),
    on_date TEXT NOT NULL,
    note TEXT,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX referral_events_referral ON referral_events (referral_id, on_date);

CREATE TABLE drug_samples (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    visit_id TEXT REFERENCES visits (id),
    expected TEXT NOT NULL,
    form TEXT NOT NULL,
    received_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX drug_samples_site_received ON drug_samples (site_id, received_at);

CREATE TABLE drug_results (
    id TEXT PRIMARY KEY,
    sample_id TEXT NOT NULL REFERENCES drug_samples (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    method TEXT NOT NULL,
    finding TEXT NOT NULL,
    at TEXT NOT NULL,
    recorded_by TEXT NOT NULL REFERENCES users (id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX drug_results_sample ON drug_results (sample_id, at);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites (id),
    text TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT 0,
    drug_sample_id TEXT REFERENCES drug_samples (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    withdrawn_at TEXT,
    withdrawn_by TEXT REFERENCES users (id)
);
CREATE INDEX alerts_site_expires ON alerts (site_id, expires_at);
CREATE INDEX alerts_shared_expires ON alerts (shared, expires_at);

CREATE TRIGGER alerts_no_delete BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts are never deleted; withdraw them'); END;
CREATE TRIGGER drug_results_append_only_u BEFORE UPDATE ON drug_results
BEGIN SELECT RAISE(ABORT, 'drug_results is append-only'); END;
CREATE TRIGGER drug_results_append_only_d BEFORE DELETE ON drug_results
BEGIN SELECT RAISE(ABORT, 'drug_results is append-only'); END;
CREATE TRIGGER drug_samples_no_delete BEFORE DELETE ON drug_samples
BEGIN SELECT RAISE(ABORT, 'drug samples are never deleted'); END;
CREATE TRIGGER referral_events_append_only_u BEFORE UPDATE ON referral_events
BEGIN SELECT RAISE(ABORT, 'referral_events is append-only'); END;
CREATE TRIGGER referral_events_append_only_d BEFORE DELETE ON referral_events
BEGIN SELECT RAISE(ABORT, 'referral_events is append-only'); END;
CREATE TRIGGER referrals_no_delete BEFORE DELETE ON referrals
BEGIN SELECT RAISE(ABORT, 'referrals are never deleted'); END;
CREATE TRIGGER services_no_delete BEFORE DELETE ON services
BEGIN SELECT RAISE(ABORT, 'services are never deleted'); END;
CREATE TRIGGER test_results_append_only_u BEFORE UPDATE ON test_results
BEGIN SELECT RAISE(ABORT, 'test_results is append-only'); END;
CREATE TRIGGER test_results_append_only_d BEFORE DELETE ON test_results
BEGIN SELECT RAISE(ABORT, 'test_results is append-only'); END;
