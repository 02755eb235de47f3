//! PostgreSQL refuses TRUNCATE on every append-only or never-deleted table
//! (TRUNCATE fires no row trigger, and TRUNCATE … CASCADE would empty every
//! referencing table too). Architecture principle: nothing is deleted.

use crate::common::db::{Backend, TestDb};

const TABLES: [&str; 20] = [
    "TRUNCATE audit_events CASCADE",
    "TRUNCATE clients CASCADE",
    "TRUNCATE visits CASCADE",
    "TRUNCATE episodes CASCADE",
    "TRUNCATE observation_checks CASCADE",
    "TRUNCATE emergencies CASCADE",
    "TRUNCATE emergency_entries CASCADE",
    "TRUNCATE emergency_amendments CASCADE",
    "TRUNCATE services CASCADE",
    "TRUNCATE test_results CASCADE",
    "TRUNCATE referrals CASCADE",
    "TRUNCATE referral_events CASCADE",
    "TRUNCATE drug_samples CASCADE",
    "TRUNCATE drug_results CASCADE",
    "TRUNCATE alerts CASCADE",
    "TRUNCATE supply_tx CASCADE",
    "TRUNCATE supply_lines CASCADE",
    "TRUNCATE supply_discrepancies CASCADE",
    "TRUNCATE community_audits CASCADE",
    "TRUNCATE needle_reports CASCADE",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_truncate_on_append_only_tables() {
    let db = TestDb::new(Backend::Postgres).await;
    for sql in TABLES {
        let r = db.store.execute_raw_for_tests(sql).await;
        let e = r.expect_err(sql).to_string();
        assert!(e.contains("append-only or never deleted"), "{sql}: {e}");
    }
    db.cleanup().await;
}
