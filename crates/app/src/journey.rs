//! The client journey: one client's whole record as a timeline, and the subject access export.
//!
//! The journey page answers "what contact has this person had with care"
//! (issue 4 part 6); the export answers a subject access request: everything
//! held about one person, with who accessed the record (security-reliability
//! §1.2, UK GDPR Art. 15; dcr-practice §10.5 item 5: a client-visible access log).

use std::collections::{HashMap, HashSet};

use haven_domain::{
    audit::AuditAction,
    auth::Action,
    care::{ReferralStatus, referral_category_label, service_label},
    clock::{local_date, local_day_bounds, local_hhmm},
    drugcheck::{Finding, Method},
    emergency::Outcome,
    journey::{Entry, EntryKind, Filter, timeline},
};
use haven_store::{AuditRow, ClientRow, JourneyRecords, SiteRow, Store};
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::{AppResult, Ctx, clients::client_site};

/// How many access-log events the journey page shows (the export has all).
const PAGE_ACCESS_LOG: i64 = 500;

/// One access to the client's record: who, under which role, when, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// When, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Username.
    pub who: String,
    /// Role the access was made under.
    pub role: Option<String>,
    /// Stored action code (`read`, `export`, `merge`, …).
    pub action: String,
    /// Stored subject type (`client`, `client_identity`, `client_journey`).
    pub subject: String,
    /// In words.
    pub what: String,
}

fn access_entry(a: AuditRow) -> AccessEntry {
    let what = match (a.action.as_str(), a.subject_type.as_str()) {
        ("read", "client") => "Viewed the client record".to_string(),
        ("read", "client_identity") => "Viewed the identity record".to_string(),
        ("read", "client_journey") => "Viewed the client journey".to_string(),
        ("read", "visit") => "Viewed a visit and its services".to_string(),
        ("export", _) => "Exported everything held (subject access)".to_string(),
        ("create", "client") => "Registered the client".to_string(),
        ("merge", _) => "Merged a duplicate record".to_string(),
        ("unmerge", _) => "Undid a merge".to_string(),
        (action, subject) => format!("{action} {subject}"),
    };
    AccessEntry {
        at: a.at,
        who: a.actor_name,
        role: a.role,
        action: a.action,
        subject: a.subject_type,
        what,
    }
}

/// The access log of a client and the records merged into it, newest first,
/// at most `limit` events.
async fn access_log(store: &Store, ids: &[String], limit: i64) -> AppResult<Vec<AccessEntry>> {
    let mut rows = Vec::new();
    for id in ids {
        rows.extend(store.client_access_log(id, limit).await?);
    }
    rows.sort_by_key(|a| std::cmp::Reverse(a.seq));
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows.into_iter().map(access_entry).collect())
}

/// What the journey page shows.
#[derive(Debug, Clone)]
pub struct JourneyView {
    /// The client.
    pub client: ClientRow,
    /// Their site (time zone for display).
    pub site: SiteRow,
    /// The filter applied.
    pub filter: Filter,
    /// Entries the filter keeps, newest first.
    pub entries: Vec<Entry>,
    /// Who accessed the record, newest first: only for roles that may see it.
    pub access_log: Option<Vec<AccessEntry>>,
}

/// The client's journey: visits, episodes, emergencies, services, referrals,
/// supplies, tests and drug checks as one timeline, filtered. The read is
/// audited as one event; voided visits (and what hangs off them) only show to
/// roles that see the access log, as on the client page.
pub async fn journey(store: &Store, ctx: &Ctx, client_id: &str, filter: &Filter) -> AppResult<JourneyView> {
    let site_id = client_site(store, ctx, client_id).await?;
    let audit = ctx.allow(store, Action::ViewClient, &site_id).await?;
    let client = store.client(&site_id, client_id).await?;
    store
        .audit(&audit, AuditAction::Read, "client_journey", Some(client_id.to_string()))
        .await?;
    let site = store.site(&site_id).await?;
    let managers = ctx.can(Action::ViewAccessLog, &site_id);
    let ids = store.client_and_merged_ids(client_id).await?;
    let mut records = store.journey_records(&site_id, &ids).await?;
    if !managers {
        hide_voided(&mut records);
    }
    let entries = timeline(entries_of(&site, &records), filter);
    let access_log = if managers {
        Some(access_log(store, &ids, PAGE_ACCESS_LOG).await?)
    } else {
        None
    };
    Ok(JourneyView {
        client,
        site,
        filter: filter.clone(),
        entries,
        access_log,
    })
}

/// Drops voided visits and every record of them.
fn hide_voided(r: &mut JourneyRecords) {
    let voided: HashSet<String> = r
        .visits
        .iter()
        .filter(|v| v.voided_at.is_some())
        .map(|v| v.id.clone())
        .collect();
    if voided.is_empty() {
        return;
    }
    let gone = |v: &Option<String>| v.as_ref().is_some_and(|id| voided.contains(id));
    r.visits.retain(|v| v.voided_at.is_none());
    r.episodes.retain(|e| !voided.contains(&e.visit_id));
    r.aftercare.retain(|a| !voided.contains(&a.visit_id));
    r.emergencies.retain(|e| !gone(&e.visit_id));
    let services: HashSet<String> = r
        .services
        .iter()
        .filter(|s| voided.contains(&s.visit_id))
        .map(|s| s.id.clone())
        .collect();
    r.services.retain(|s| !voided.contains(&s.visit_id));
    r.test_results.retain(|t| !services.contains(&t.service_id));
    let samples: HashSet<String> = r
        .samples
        .iter()
        .filter(|s| gone(&s.visit_id))
        .map(|s| s.id.clone())
        .collect();
    r.samples.retain(|s| !gone(&s.visit_id));
    r.drug_results.retain(|d| !samples.contains(&d.sample_id));
    let txs: HashSet<String> = r
        .supplies
        .iter()
        .filter(|t| gone(&t.visit_id))
        .map(|t| t.id.clone())
        .collect();
    r.supplies.retain(|t| !gone(&t.visit_id));
    r.supply_lines.retain(|l| !txs.contains(&l.tx_id));
}

/// Label of a supply item: the default list's, else the code humanised.
pub fn item_label(code: &str) -> String {
    haven_domain::supply::default_items()
        .into_iter()
        .find(|i| i.code == code)
        .map_or_else(|| code.replace('_', " "), |i| i.label)
}

/// A drug-checking result in one line, e.g. "FTIR: heroin (80%), caffeine".
pub fn finding_text(method: &str, finding_json: &str) -> String {
    let m = Method::parse(method).map_or(method.to_string(), |m| match m {
        Method::Ftir => "FTIR".to_string(),
        Method::Laboratory => "Laboratory".to_string(),
        other => format!("{} strip", other.strip_substance().unwrap_or("test")),
    });
    let what = match serde_json::from_str::<Finding>(finding_json) {
        Ok(Finding::Strip { result }) => result.code().to_string(),
        Ok(Finding::Components { components }) => components
            .iter()
            .map(|c| match c.percent {
                Some(p) => format!("{} ({p}%)", c.substance),
                None => c.substance.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(Finding::NoMatch) => "no match".to_string(),
        Err(_) => "unreadable result".to_string(),
    };
    format!("{m}: {what}")
}

fn substances(json: &str) -> String {
    serde_json::from_str::<Vec<String>>(json)
        .unwrap_or_default()
        .join(" + ")
}

/// Builds every timeline entry from the records, with the site's local day.
pub fn entries_of(site: &SiteRow, r: &JourneyRecords) -> Vec<Entry> {
    let tz = site.timezone.as_str();
    let day = |t: OffsetDateTime| local_date(tz, t).unwrap_or_else(|| t.date());
    let hhmm = |t: OffsetDateTime| local_hhmm(tz, t);
    let entry = |at: OffsetDateTime, kind: EntryKind, title: String, detail: String, link: Option<String>| Entry {
        at,
        day: day(at),
        kind,
        title,
        detail,
        link,
    };
    let mut out = Vec::new();
    for v in &r.visits {
        let mut detail = Vec::new();
        let subs = v.substance_list().join(" + ");
        if !subs.is_empty() {
            detail.push(subs);
        }
        if let Some(route) = &v.route {
            detail.push(format!("by {route}"));
        }
        if let Some(reason) = &v.refusal_reason {
            detail.push(format!("reason: {reason}"));
        }
        if let Some(l) = v.left_at {
            detail.push(format!("left {}", hhmm(l)));
        }
        if v.voided_at.is_some() {
            detail.push(format!("VOIDED: {}", v.void_reason.as_deref().unwrap_or("")));
        }
        let title = if v.status == "refused" {
            "Refused at the door"
        } else if v.route.is_none() {
            "Visit (no consumption)"
        } else {
            "Visit"
        };
        out.push(entry(
            v.arrived_at,
            EntryKind::Visits,
            title.into(),
            detail.join("; "),
            None,
        ));
    }
    let checks: HashMap<&str, i64> = r.check_counts.iter().map(|(id, n)| (id.as_str(), *n)).collect();
    for e in &r.episodes {
        let n = checks.get(e.id.as_str()).copied().unwrap_or(0);
        let mut detail = vec![
            format!("{} by {}", e.substance_list().join(" + "), e.route),
            format!("{n} observation check{}", if n == 1 { "" } else { "s" }),
        ];
        match e.ended_at {
            Some(t) => detail.push(format!("ended {}", hhmm(t))),
            None => detail.push("still running".into()),
        }
        if e.equipment_left == Some(true) {
            detail.push("equipment left in the space".into());
        }
        out.push(entry(
            e.started_at,
            EntryKind::Episodes,
            format!("Episode in {}", e.space_label),
            detail.join("; "),
            Some(format!("/episodes/{}", e.id)),
        ));
    }
    for a in &r.aftercare {
        let mut detail = Vec::new();
        if !a.observation.is_empty() {
            detail.push(a.observation.clone());
        }
        if let Some(l) = a.left_at {
            detail.push(format!("left {}", hhmm(l)));
        }
        out.push(entry(
            a.entered_at,
            EntryKind::Episodes,
            "After-care".into(),
            detail.join("; "),
            None,
        ));
    }
    for m in &r.emergencies {
        let outcome = m
            .outcome
            .as_deref()
            .and_then(Outcome::parse)
            .map_or("open".to_string(), |o| o.label().to_string());
        let mut detail = vec![format!("at {}", m.location.replace('_', " "))];
        let subs = substances(&m.substances);
        if !subs.is_empty() {
            detail.push(subs);
        }
        out.push(entry(
            m.started_at,
            EntryKind::Emergencies,
            format!("Emergency: {outcome}"),
            detail.join("; "),
            Some(format!("/emergencies/{}", m.id)),
        ));
    }
    for s in &r.services {
        let tests: Vec<String> = serde_json::from_str(&s.tests).unwrap_or_default();
        let mut detail = Vec::new();
        if !tests.is_empty() {
            detail.push(format!("tests: {}", tests.join(", ").to_uppercase()));
        }
        if let Some(n) = &s.note {
            detail.push(n.clone());
        }
        out.push(entry(
            s.at,
            EntryKind::Services,
            service_label(&s.code),
            detail.join("; "),
            None,
        ));
    }
    for t in &r.test_results {
        out.push(entry(
            t.result_at,
            EntryKind::Tests,
            format!("{} test result: {}", t.test.to_uppercase(), t.result.replace('_', " ")),
            String::new(),
            None,
        ));
    }
    let categories: HashMap<&str, &str> = r
        .referrals
        .iter()
        .map(|x| (x.id.as_str(), x.category.as_str()))
        .collect();
    for ev in &r.referral_events {
        let status = ReferralStatus::parse(&ev.status).map_or(ev.status.clone(), |s| s.label().to_string());
        let category = categories
            .get(ev.referral_id.as_str())
            .map(|c| referral_category_label(c))
            .unwrap_or_default();
        out.push(entry(
            referral_time(tz, ev.on_date, ev.recorded_at),
            EntryKind::Referrals,
            format!("Referral {}: {category}", status.to_lowercase()),
            ev.note.clone().unwrap_or_default(),
            Some(format!("/referrals/{}", ev.referral_id)),
        ));
    }
    for s in &r.samples {
        let results: Vec<String> = r
            .drug_results
            .iter()
            .filter(|d| d.sample_id == s.id)
            .map(|d| finding_text(&d.method, &d.finding))
            .collect();
        out.push(entry(
            s.received_at,
            EntryKind::DrugChecks,
            format!("Drug check: {} ({})", s.expected, s.form),
            if results.is_empty() {
                "no result yet".into()
            } else {
                results.join("; ")
            },
            Some(format!("/drug-checks/{}", s.id)),
        ));
    }
    for t in &r.supplies {
        let lines: Vec<String> = r
            .supply_lines
            .iter()
            .filter(|l| l.tx_id == t.id)
            .map(|l| format!("{} × {}", l.quantity, item_label(&l.item)))
            .collect();
        let title = match t.kind.as_str() {
            "given" => "Supplies given",
            "returned" => "Used equipment returned",
            _ => "Supplies",
        };
        out.push(entry(t.at, EntryKind::Supplies, title.into(), lines.join(", "), None));
    }
    out
}

/// A referral step is dated, not timed: its time is when it was recorded if
/// that was on the same local day, else the start of that day.
fn referral_time(tz: &str, on: Date, recorded_at: OffsetDateTime) -> OffsetDateTime {
    if local_date(tz, recorded_at) == Some(on) {
        return recorded_at;
    }
    local_day_bounds(tz, on).map_or_else(|| on.midnight().assume_utc(), |(start, _)| start)
}

// ---------- the subject access export ----------

/// The client profile as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileExport {
    /// Id.
    pub id: String,
    /// Client code.
    pub code: String,
    /// Alias.
    pub alias: Option<String>,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender code.
    pub gender: String,
    /// Home area.
    pub home_area: String,
    /// Flags.
    pub flags: Vec<String>,
    /// Registered.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Merged into another record.
    pub merged_into: Option<String>,
}

/// The identity record as exported.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityExport {
    /// Name.
    pub name: Option<String>,
    /// CHI number.
    pub chi: Option<String>,
    /// Other health number.
    pub other_number: Option<String>,
}

/// A visit as exported.
#[derive(Debug, Clone, Serialize)]
pub struct VisitExport {
    /// Id.
    pub id: String,
    /// Record (client code) it was made under: a merged record keeps its code.
    pub client_code: String,
    /// `attended` or `refused`.
    pub status: String,
    /// Arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub arrived_at: OffsetDateTime,
    /// Left.
    #[serde(with = "time::serde::rfc3339::option")]
    pub left_at: Option<OffsetDateTime>,
    /// Substances.
    pub substances: Vec<String>,
    /// Route.
    pub route: Option<String>,
    /// Where the person would otherwise have used.
    pub otherwise_place: Option<String>,
    /// Refusal reason.
    pub refusal_reason: Option<String>,
    /// Voided.
    #[serde(with = "time::serde::rfc3339::option")]
    pub voided_at: Option<OffsetDateTime>,
    /// Why voided.
    pub void_reason: Option<String>,
    /// Eligibility results as recorded.
    pub eligibility: Option<serde_json::Value>,
    /// Why a failing rule was overridden.
    pub override_reason: Option<String>,
}

/// An observation check as exported.
#[derive(Debug, Clone, Serialize)]
pub struct CheckExport {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Responsiveness.
    pub status: String,
    /// Breaths per minute.
    pub resp_rate: Option<i32>,
    /// SpO2 %.
    pub spo2: Option<i32>,
    /// Sedation score.
    pub sedation: Option<i32>,
}

/// An episode as exported.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeExport {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: String,
    /// Space label.
    pub space: String,
    /// Substances.
    pub substances: Vec<String>,
    /// Route.
    pub route: String,
    /// Start.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Equipment left in the space.
    pub equipment_left: Option<bool>,
    /// Observation checks.
    pub checks: Vec<CheckExport>,
}

/// An after-care stay as exported.
#[derive(Debug, Clone, Serialize)]
pub struct AftercareExport {
    /// Visit.
    pub visit_id: String,
    /// Entered.
    #[serde(with = "time::serde::rfc3339")]
    pub entered_at: OffsetDateTime,
    /// Left.
    #[serde(with = "time::serde::rfc3339::option")]
    pub left_at: Option<OffsetDateTime>,
    /// Observation note.
    pub observation: String,
}

/// One stored entry of an emergency's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct EmergencyEntryExport {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Kind code.
    pub kind: String,
    /// The entry as recorded.
    pub data: serde_json::Value,
}

/// An emergency as exported.
#[derive(Debug, Clone, Serialize)]
pub struct EmergencyExport {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: Option<String>,
    /// Episode.
    pub episode_id: Option<String>,
    /// Location code.
    pub location: String,
    /// Location detail.
    pub location_detail: String,
    /// Substances.
    pub substances: Vec<String>,
    /// Began.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Outcome code.
    pub outcome: Option<String>,
    /// Debrief note.
    pub debrief: String,
    /// Timeline.
    pub timeline: Vec<EmergencyEntryExport>,
}

/// A BBV test result as exported.
#[derive(Debug, Clone, Serialize)]
pub struct TestResultExport {
    /// `hiv`, `hcv` or `hbv`.
    pub test: String,
    /// Result code.
    pub result: String,
    /// When the result came.
    #[serde(with = "time::serde::rfc3339")]
    pub result_at: OffsetDateTime,
}

/// A service as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceExport {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: String,
    /// Service code.
    pub code: String,
    /// Label.
    pub label: String,
    /// Given at.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// BBV tests offered or taken.
    pub tests: Vec<String>,
    /// Note.
    pub note: Option<String>,
    /// Test results.
    pub results: Vec<TestResultExport>,
}

/// A referral step as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralStepExport {
    /// Status code.
    pub status: String,
    /// Date (YYYY-MM-DD).
    pub on: String,
    /// Note.
    pub note: Option<String>,
}

/// A referral as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralExport {
    /// Id.
    pub id: String,
    /// Category code.
    pub category: String,
    /// Label.
    pub label: String,
    /// Made on (YYYY-MM-DD).
    pub made_on: String,
    /// Steps, oldest first.
    pub steps: Vec<ReferralStepExport>,
}

/// A drug-checking result as exported.
#[derive(Debug, Clone, Serialize)]
pub struct DrugResultExport {
    /// Method code.
    pub method: String,
    /// The finding as recorded.
    pub finding: serde_json::Value,
    /// In words.
    pub summary: String,
    /// Read at.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A drug-checking sample as exported.
#[derive(Debug, Clone, Serialize)]
pub struct DrugCheckExport {
    /// Id.
    pub id: String,
    /// Visit it was linked to (with consent).
    pub visit_id: Option<String>,
    /// What the person expected.
    pub expected: String,
    /// Form.
    pub form: String,
    /// Received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Results.
    pub results: Vec<DrugResultExport>,
}

/// A supply line as exported.
#[derive(Debug, Clone, Serialize)]
pub struct SupplyLineExport {
    /// Item code.
    pub item: String,
    /// Label.
    pub label: String,
    /// Units.
    pub quantity: i32,
}

/// A supply transaction as exported.
#[derive(Debug, Clone, Serialize)]
pub struct SupplyExport {
    /// Id.
    pub id: String,
    /// Visit.
    pub visit_id: Option<String>,
    /// `given` or `returned`.
    pub kind: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Note.
    pub reason: Option<String>,
    /// Lines.
    pub lines: Vec<SupplyLineExport>,
}

/// Everything held about one client (subject access, UK GDPR Art. 15;
/// security-reliability §1.2: "export everything about person X, including
/// the audit trail of who accessed it").
#[derive(Debug, Clone, Serialize)]
pub struct SubjectAccessExport {
    /// Format name and version.
    pub format: &'static str,
    /// When generated.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Who generated it.
    pub generated_by: String,
    /// Site code.
    pub site_code: String,
    /// Site name.
    pub site_name: String,
    /// The client profile.
    pub client: ProfileExport,
    /// Codes of records merged into this one (their history is included).
    pub merged_records: Vec<String>,
    /// The identity record, if one is kept.
    pub identity: Option<IdentityExport>,
    /// Visits and refusals, voided ones included and marked.
    pub visits: Vec<VisitExport>,
    /// Episodes.
    pub episodes: Vec<EpisodeExport>,
    /// After-care stays.
    pub aftercare: Vec<AftercareExport>,
    /// Emergencies.
    pub emergencies: Vec<EmergencyExport>,
    /// Services with test results.
    pub services: Vec<ServiceExport>,
    /// Referrals with their steps.
    pub referrals: Vec<ReferralExport>,
    /// Drug checks linked to visits.
    pub drug_checks: Vec<DrugCheckExport>,
    /// Supplies given or returned at visits.
    pub supplies: Vec<SupplyExport>,
    /// All of the above as one timeline, newest first.
    pub timeline: Vec<Entry>,
    /// Everyone who accessed the record, newest first, this export included.
    pub access_log: Vec<AccessEntry>,
}

/// Exports everything held about a client (managers). The export is audited
/// first, so it appears in its own access log and in every later one.
pub async fn export(store: &Store, ctx: &Ctx, client_id: &str) -> AppResult<SubjectAccessExport> {
    let site_id = client_site(store, ctx, client_id).await?;
    let audit = ctx.allow(store, Action::ExportSubjectAccess, &site_id).await?;
    let client = store.client(&site_id, client_id).await?;
    store
        .audit(&audit, AuditAction::Export, "client", Some(client_id.to_string()))
        .await?;
    let site = store.site(&site_id).await?;
    let ids = store.client_and_merged_ids(client_id).await?;
    let mut merged_records = Vec::new();
    for id in ids.iter().skip(1) {
        merged_records.push(store.client(&site_id, id).await?.code);
    }
    let r = store.journey_records(&site_id, &ids).await?;
    let identity = store
        .identity_unaudited(&site_id, client_id)
        .await?
        .map(|i| IdentityExport {
            name: i.name,
            chi: i.chi,
            other_number: i.other_number,
        });
    let mut episodes = Vec::with_capacity(r.episodes.len());
    for e in &r.episodes {
        let checks = store
            .checks(&site_id, &e.id)
            .await?
            .into_iter()
            .map(|c| CheckExport {
                at: c.at,
                status: c.status,
                resp_rate: c.resp_rate,
                spo2: c.spo2,
                sedation: c.sedation,
            })
            .collect();
        episodes.push(EpisodeExport {
            id: e.id.clone(),
            visit_id: e.visit_id.clone(),
            space: e.space_label.clone(),
            substances: e.substance_list(),
            route: e.route.clone(),
            started_at: e.started_at,
            ended_at: e.ended_at,
            equipment_left: e.equipment_left,
            checks,
        });
    }
    let mut emergencies = Vec::with_capacity(r.emergencies.len());
    for m in &r.emergencies {
        let timeline = store
            .emergency_entries(&site_id, &m.id)
            .await?
            .into_iter()
            .map(|x| EmergencyEntryExport {
                at: x.at,
                kind: x.kind,
                data: serde_json::from_str(&x.data).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        emergencies.push(EmergencyExport {
            id: m.id.clone(),
            visit_id: m.visit_id.clone(),
            episode_id: m.episode_id.clone(),
            location: m.location.clone(),
            location_detail: m.location_detail.clone(),
            substances: m.substance_list(),
            started_at: m.started_at,
            closed_at: m.closed_at,
            outcome: m.outcome.clone(),
            debrief: m.debrief.clone(),
            timeline,
        });
    }
    let access_log = access_log(store, &ids, i64::MAX).await?;
    Ok(SubjectAccessExport {
        format: "haven-subject-access/1",
        generated_at: haven_domain::clock::now(),
        generated_by: ctx.actor.username.clone(),
        site_code: site.code.clone(),
        site_name: site.name.clone(),
        client: ProfileExport {
            flags: client.flag_list(),
            id: client.id,
            code: client.code,
            alias: client.alias,
            year_of_birth: client.year_of_birth,
            gender: client.gender,
            home_area: client.home_area,
            registered_at: client.registered_at,
            merged_into: client.merged_into,
        },
        merged_records,
        identity,
        visits: r
            .visits
            .iter()
            .map(|v| VisitExport {
                id: v.id.clone(),
                client_code: v.client_code.clone(),
                status: v.status.clone(),
                arrived_at: v.arrived_at,
                left_at: v.left_at,
                substances: v.substance_list(),
                route: v.route.clone(),
                otherwise_place: v.otherwise_place.clone(),
                refusal_reason: v.refusal_reason.clone(),
                voided_at: v.voided_at,
                void_reason: v.void_reason.clone(),
                eligibility: v.eligibility.as_deref().and_then(|e| serde_json::from_str(e).ok()),
                override_reason: v.override_reason.clone(),
            })
            .collect(),
        episodes,
        aftercare: r
            .aftercare
            .iter()
            .map(|a| AftercareExport {
                visit_id: a.visit_id.clone(),
                entered_at: a.entered_at,
                left_at: a.left_at,
                observation: a.observation.clone(),
            })
            .collect(),
        emergencies,
        services: r
            .services
            .iter()
            .map(|s| ServiceExport {
                id: s.id.clone(),
                visit_id: s.visit_id.clone(),
                code: s.code.clone(),
                label: service_label(&s.code),
                at: s.at,
                tests: serde_json::from_str(&s.tests).unwrap_or_default(),
                note: s.note.clone(),
                results: r
                    .test_results
                    .iter()
                    .filter(|t| t.service_id == s.id)
                    .map(|t| TestResultExport {
                        test: t.test.clone(),
                        result: t.result.clone(),
                        result_at: t.result_at,
                    })
                    .collect(),
            })
            .collect(),
        referrals: r
            .referrals
            .iter()
            .map(|x| ReferralExport {
                id: x.id.clone(),
                category: x.category.clone(),
                label: referral_category_label(&x.category),
                made_on: x.made_on.to_string(),
                steps: r
                    .referral_events
                    .iter()
                    .filter(|e| e.referral_id == x.id)
                    .map(|e| ReferralStepExport {
                        status: e.status.clone(),
                        on: e.on_date.to_string(),
                        note: e.note.clone(),
                    })
                    .collect(),
            })
            .collect(),
        drug_checks: r
            .samples
            .iter()
            .map(|s| DrugCheckExport {
                id: s.id.clone(),
                visit_id: s.visit_id.clone(),
                expected: s.expected.clone(),
                form: s.form.clone(),
                received_at: s.received_at,
                results: r
                    .drug_results
                    .iter()
                    .filter(|d| d.sample_id == s.id)
                    .map(|d| DrugResultExport {
                        method: d.method.clone(),
                        finding: serde_json::from_str(&d.finding).unwrap_or(serde_json::Value::Null),
                        summary: finding_text(&d.method, &d.finding),
                        at: d.at,
                    })
                    .collect(),
            })
            .collect(),
        supplies: r
            .supplies
            .iter()
            .map(|t| SupplyExport {
                id: t.id.clone(),
                visit_id: t.visit_id.clone(),
                kind: t.kind.clone(),
                at: t.at,
                reason: t.reason.clone(),
                lines: r
                    .supply_lines
                    .iter()
                    .filter(|l| l.tx_id == t.id)
                    .map(|l| SupplyLineExport {
                        item: l.item.clone(),
                        label: item_label(&l.item),
                        quantity: l.quantity,
                    })
                    .collect(),
            })
            .collect(),
        timeline: timeline(entries_of(&site, &r), &Filter::default()),
        access_log,
    })
}
