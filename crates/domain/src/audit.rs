//! The hash-chained audit log: each event stores the hash of the one before,
//! so a changed, removed or reordered event breaks the chain.
//!
//! Design: security-reliability §3 ("hash = SHA-256(prev_hash || canonical_bytes(row))",
//! written in the same transaction as the change it records). Events never hold
//! clinical text: only who, what, which record, when, and the request id
//! (ISO 27789 minimum content, security-reliability §1.5).

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as recorded in `audit_events.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A record was created.
    Create,
    /// A record was changed.
    Update,
    /// A record was voided (never deleted).
    Void,
    /// A client record (or other personal record) was read.
    Read,
    /// Two clients were merged.
    Merge,
    /// A merge was undone.
    Unmerge,
    /// A successful login.
    Login,
    /// A failed login (unknown user or wrong password: not told apart here either).
    LoginFailed,
    /// A logout.
    Logout,
    /// An action refused by authorisation, CSRF or an expired session.
    Denied,
    /// Records exported.
    Export,
}

impl AuditAction {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Void => "void",
            AuditAction::Read => "read",
            AuditAction::Merge => "merge",
            AuditAction::Unmerge => "unmerge",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Logout => "logout",
            AuditAction::Denied => "denied",
            AuditAction::Export => "export",
        }
    }
}

/// One audit event as stored (without its hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, UTC, microseconds.
    pub at: OffsetDateTime,
    /// Acting user id, if known.
    pub actor_id: Option<String>,
    /// Acting username (or the name tried, for a failed login).
    pub actor_name: String,
    /// Role the action was taken under.
    pub role: Option<String>,
    /// Site the action concerned.
    pub site_id: Option<String>,
    /// What happened ([`AuditAction::as_str`]).
    pub action: String,
    /// Kind of record: `client`, `visit`, `user`, `site`, `space`, `session`, ...
    pub subject_type: String,
    /// Record id.
    pub subject_id: Option<String>,
    /// Request id, to join with server logs.
    pub request_id: Option<String>,
}

/// Canonical bytes of an event: fields in a fixed order, each length-prefixed
/// so no two different events can encode the same.
pub fn canonical_bytes(e: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut field = |s: &str| {
        out.extend_from_slice(&(s.len() as u64).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    field(&e.seq.to_string());
    field(&crate::clock::unix_micros(e.at).to_string());
    field(e.actor_id.as_deref().unwrap_or("\u{0}"));
    field(&e.actor_name);
    field(e.role.as_deref().unwrap_or("\u{0}"));
    field(e.site_id.as_deref().unwrap_or("\u{0}"));
    field(&e.action);
    field(&e.subject_type);
    field(e.subject_id.as_deref().unwrap_or("\u{0}"));
    field(e.request_id.as_deref().unwrap_or("\u{0}"));
    out
}

/// `hex(SHA-256(prev_hash || canonical_bytes(event)))`.
pub fn chain_hash(prev_hash: &str, e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical_bytes(e));
    hex::encode(h.finalize())
}

/// Where the chain first fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at event {seq}: {reason}")]
pub struct ChainBreak {
    /// Sequence number of the first event that does not match.
    pub seq: i64,
    /// What did not match.
    pub reason: String,
}

/// Checks events one at a time, in `seq` order, so a long chain can be
/// verified page by page without holding it in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev: String,
    next_seq: i64,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev: GENESIS_HASH.to_string(),
            next_seq: 1,
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event with its stored `prev_hash` and `hash`.
    pub fn check(&mut self, e: &AuditEvent, stored_prev: &str, stored_hash: &str) -> Result<(), ChainBreak> {
        let brk = |reason: String| ChainBreak { seq: e.seq, reason };
        if e.seq != self.next_seq {
            return Err(brk(format!(
                "expected event {} here (missing or reordered)",
                self.next_seq
            )));
        }
        if stored_prev != self.prev {
            return Err(brk("prev_hash does not match the hash of the event before".into()));
        }
        let h = chain_hash(&self.prev, e);
        if h != stored_hash {
            return Err(brk("content does not match its hash (altered)".into()));
        }
        self.prev = h;
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Compares the end of the chain with a recorded head (the chain head row,
    /// or a checkpoint kept off the box): only this detects a truncated tail.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<(u64, String), ChainBreak> {
        if head_seq != self.next_seq - 1 || head_hash != self.prev {
            return Err(ChainBreak {
                seq: self.next_seq,
                reason: format!(
                    "chain ends at event {} but the recorded head is event {head_seq} (events removed from the end)",
                    self.next_seq - 1
                ),
            });
        }
        Ok((self.checked, self.prev))
    }

    /// Events checked so far and the running head hash.
    pub fn state(&self) -> (u64, &str) {
        (self.checked, &self.prev)
    }
}

/// Verifies events in `seq` order, each with its stored `prev_hash` and
/// `hash`. Returns how many were checked and the head hash.
pub fn verify_chain<I>(events: I) -> Result<(u64, String), ChainBreak>
where
    I: IntoIterator<Item = (AuditEvent, String, String)>,
{
    let mut v = ChainVerifier::default();
    for (e, p, h) in events {
        v.check(&e, &p, &h)?;
    }
    let (n, head) = v.state();
    Ok((n, head.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn event(seq: i64, subject: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at: datetime!(2025-01-13 09:00 UTC) + time::Duration::seconds(seq),
            actor_id: Some("u1".into()),
            actor_name: "worker".into(),
            role: Some("worker".into()),
            site_id: Some("s1".into()),
            action: "read".into(),
            subject_type: "client".into(),
            subject_id: Some(subject.into()),
            request_id: Some(format!("r{seq}")),
        }
    }

    fn chain(n: i64) -> Vec<(AuditEvent, String, String)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|i| {
                let e = event(i, &format!("c{i}"));
                let h = chain_hash(&prev, &e);
                let row = (e, prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        let (n, _) = verify_chain(chain(5)).unwrap();
        assert_eq!(n, 5);
    }

    #[test]
    fn truncated_tail_is_caught_only_against_a_recorded_head_t6() {
        let rows = chain(5);
        let (head_seq, head) = (5, rows[4].2.clone());
        let mut v = ChainVerifier::default();
        for (e, p, h) in rows.iter().take(4) {
            v.check(e, p, h).unwrap();
        }
        assert_eq!(v.finish(head_seq, &head).unwrap_err().seq, 5);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = event(1, "ab");
        a.actor_name = "x".into();
        let mut b = a.clone();
        b.actor_name = "xa".into();
        b.subject_id = Some("b".into());
        assert_ne!(canonical_bytes(&a), canonical_bytes(&b));
    }

    proptest! {
        // security-reliability T6: every mutation is detected.
        #[test]
        fn tamper_t6_altered_event_is_detected(n in 2i64..20, victim in 0usize..20, which in 0u8..4) {
            let mut rows = chain(n);
            let victim = victim % rows.len();
            match which {
                0 => rows[victim].0.actor_name.push('x'),
                1 => rows[victim].0.at += time::Duration::microseconds(1),
                2 => rows[victim].0.subject_id = Some("other".into()),
                _ => rows[victim].0.action = "update".into(),
            }
            let err = verify_chain(rows).unwrap_err();
            prop_assert_eq!(err.seq, victim as i64 + 1);
        }

        #[test]
        fn tamper_t6_removed_event_is_detected(n in 2i64..20, victim in 0usize..19) {
            let mut rows = chain(n);
            let victim = victim % (rows.len() - 1);
            rows.remove(victim);
            prop_assert!(verify_chain(rows).is_err());
        }

        #[test]
        fn tamper_t6_swapped_events_are_detected(n in 3i64..20, a in 0usize..19) {
            let mut rows = chain(n);
            let a = a % (rows.len() - 1);
            rows.swap(a, a + 1);
            prop_assert!(verify_chain(rows).is_err());
        }

        #[test]
        fn tamper_t6_rehashed_with_wrong_prev_is_detected(n in 2i64..20, victim in 1usize..19) {
            let mut rows = chain(n);
            // Not the last: a rewritten tail is only caught against an
            // off-box checkpoint (security-reliability T6).
            let victim = victim % (rows.len() - 1);
            // Rewrite one event and recompute its own hash, but not the rest.
            rows[victim].0.actor_name = "forged".into();
            rows[victim].2 = chain_hash(&rows[victim].1, &rows[victim].0);
            prop_assert!(verify_chain(rows).is_err());
        }
    }
}
