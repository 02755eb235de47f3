//! Overdose and medical-emergency records: a timeline of timed entries,
//! amendments that keep the original time, closing, and figures derived from
//! the timeline rather than stored flags (dcr-practice §7.3).
//!
//! Staff record afterwards; nothing here sits on the critical path of the
//! response (dcr-practice §7.3).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::Invalid;
use crate::clock::truncate_micros;
use crate::visit::FUTURE_TOLERANCE;

/// How far back the start of an emergency may be entered after the fact.
pub const START_BACKDATE_LIMIT: Duration = Duration::hours(24);

/// Where the emergency happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// In a booth or inhalation place.
    Space,
    /// In the aftercare (chill-out) area.
    Aftercare,
    /// Anywhere else on or by the site (washroom, outside).
    Elsewhere,
}

/// All location codes.
pub const LOCATIONS: [&str; 3] = ["space", "aftercare", "elsewhere"];

impl Location {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Space => "space",
            Location::Aftercare => "aftercare",
            Location::Elsewhere => "elsewhere",
        }
    }

    /// Parses the stored code.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "space" => Some(Location::Space),
            "aftercare" => Some(Location::Aftercare),
            "elsewhere" => Some(Location::Elsewhere),
            _ => None,
        }
    }

    /// Human text.
    pub fn label(self) -> &'static str {
        match self {
            Location::Space => "Booth / space",
            Location::Aftercare => "Aftercare",
            Location::Elsewhere => "Elsewhere",
        }
    }
}

/// Signs that can be recorded (codes); dcr-practice §7.1 \[od-form\] signs plus
/// stimulant-toxicity signs.
pub const SIGNS: [&str; 12] = [
    "unresponsive",
    "not_breathing",
    "slow_breathing",
    "cyanosis",
    "pinpoint_pupils",
    "snoring",
    "seizure",
    "chest_pain",
    "agitation",
    "hyperthermia",
    "vomiting",
    "other",
];

/// Vital signs; each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vitals {
    /// Respiratory rate, breaths per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp_rate: Option<u16>,
    /// Oxygen saturation by pulse oximetry, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spo2: Option<u16>,
    /// Heart rate, beats per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulse: Option<u16>,
    /// Glasgow Coma Scale total, 3–15.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gcs: Option<u16>,
    /// Opioid sedation score, 0 (awake) to 3 (hard to rouse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sedation: Option<u16>,
}

/// Pushes one error per out-of-range value, named by its field.
pub fn validate_vitals(v: &Vitals, inv: &mut Invalid) {
    // Bounds are plausibility limits that catch typos, not clinical thresholds.
    let ranges: [(&str, Option<u16>, u16, u16, &str); 5] = [
        ("resp_rate", v.resp_rate, 0, 60, "/min"),
        ("spo2", v.spo2, 50, 100, " %"),
        ("pulse", v.pulse, 0, 250, "/min"),
        // Glasgow Coma Scale: eye 1–4 + verbal 1–5 + motor 1–6 = 3–15 (dcr-practice §7.1 [od-form]).
        ("gcs", v.gcs, 3, 15, ""),
        // dcr-practice §7.3 asks for "GCS or sedation score"; 0–3 is the UK
        // opioid sedation score (0 awake … 3 hard to rouse).
        ("sedation", v.sedation, 0, 3, ""),
    ];
    for (field, value, lo, hi, unit) in ranges {
        if let Some(x) = value
            && !(lo..=hi).contains(&x)
        {
            inv.push(field, format!("must be between {lo} and {hi}{unit}"));
        }
    }
}

/// Whether no vital sign was recorded.
pub fn vitals_is_empty(v: &Vitals) -> bool {
    v.resp_rate.is_none() && v.spo2.is_none() && v.pulse.is_none() && v.gcs.is_none() && v.sedation.is_none()
}

/// Route of a naloxone dose; intranasal and IM are counted separately
/// (dcr-practice §7.1 \[onhrdb-diff\]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NaloxoneRoute {
    /// Intramuscular.
    #[serde(rename = "IM")]
    Im,
    /// Intranasal.
    #[serde(rename = "IN")]
    In,
    /// Intravenous.
    #[serde(rename = "IV")]
    Iv,
}

/// The doses the emergency page's one-tap naloxone buttons record, in
/// micrograms: the site's own products. Defaults \[U, product doses, not in
/// the reference files\]: 400 µg intramuscular (one 0.4 mg/ml dose, as in UK
/// take-home kits), 1,800 µg intranasal (one spray of the UK nasal product);
/// a North American site with 4 mg nasal spray sets 4000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NaloxoneDoses {
    /// Intramuscular one-tap dose, µg.
    pub intramuscular_mcg: u32,
    /// Intranasal one-tap dose, µg.
    pub intranasal_mcg: u32,
}

impl Default for NaloxoneDoses {
    fn default() -> Self {
        Self {
            intramuscular_mcg: 400,
            intranasal_mcg: 1_800,
        }
    }
}

impl NaloxoneDoses {
    /// Each dose above 0 and within [`MAX_NALOXONE_MG`].
    pub fn validate(&self) -> Result<(), crate::Invalid> {
        let mut inv = crate::Invalid::default();
        let max = (MAX_NALOXONE_MG * 1000.0) as u32;
        for (name, v) in [
            ("naloxone_doses.intramuscular_mcg", self.intramuscular_mcg),
            ("naloxone_doses.intranasal_mcg", self.intranasal_mcg),
        ] {
            if v == 0 || v > max {
                inv.push(name, format!("use 1 to {max} µg"));
            }
        }
        inv.into_result()
    }

    /// The one-tap dose for a route, in mg (IV has none: it is titrated).
    pub fn mg(&self, route: NaloxoneRoute) -> Option<f64> {
        match route {
            NaloxoneRoute::Im => Some(f64::from(self.intramuscular_mcg) / 1000.0),
            NaloxoneRoute::In => Some(f64::from(self.intranasal_mcg) / 1000.0),
            NaloxoneRoute::Iv => None,
        }
    }
}

/// All naloxone route codes.
pub const NALOXONE_ROUTES: [&str; 3] = ["IM", "IN", "IV"];

impl NaloxoneRoute {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            NaloxoneRoute::Im => "IM",
            NaloxoneRoute::In => "IN",
            NaloxoneRoute::Iv => "IV",
        }
    }

    /// Parses the code, ignoring case (forms may send lower case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "IM" => Some(NaloxoneRoute::Im),
            "IN" => Some(NaloxoneRoute::In),
            "IV" => Some(NaloxoneRoute::Iv),
            _ => None,
        }
    }
}

/// Largest naloxone dose accepted in one entry, mg: above every product's
/// single dose, so larger values are typos.
pub const MAX_NALOXONE_MG: f64 = 10.0;
/// Oxygen flow limits, L/min (the range of a standard regulator).
pub const OXYGEN_FLOW_L_MIN: (f64, f64) = (0.5, 15.0);
/// Longest note, characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// One timeline entry's content; JSON is tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EntryData {
    /// The emergency was recognised.
    Recognition,
    /// A sign was observed (code from [`SIGNS`]).
    Sign {
        /// Sign code.
        sign: String,
    },
    /// Vital signs were taken.
    Vitals(Vitals),
    /// Physical stimulation (sternal rub, calling the name).
    Stimulation,
    /// Placed in the recovery position.
    RecoveryPosition,
    /// Oxygen given.
    Oxygen {
        /// Flow, L/min.
        flow_l_min: f64,
    },
    /// Rescue breathing with a bag-valve-mask.
    BagValveMask,
    /// Airway adjunct inserted.
    Airway,
    /// A naloxone dose.
    Naloxone {
        /// Dose, mg.
        dose_mg: f64,
        /// Route.
        route: NaloxoneRoute,
    },
    /// Cardiopulmonary resuscitation.
    Cpr,
    /// Defibrillator (AED) applied.
    Defibrillator,
    /// Ambulance called.
    AmbulanceCalled,
    /// Ambulance arrived.
    AmbulanceArrived,
    /// Handed over for transport to hospital.
    Transfer,
    /// Free-text note.
    Note {
        /// Text, 1–1000 characters.
        text: String,
    },
}

/// All entry kind codes.
pub const ENTRY_KINDS: [&str; 15] = [
    "recognition",
    "sign",
    "vitals",
    "stimulation",
    "recovery_position",
    "oxygen",
    "bag_valve_mask",
    "airway",
    "naloxone",
    "cpr",
    "defibrillator",
    "ambulance_called",
    "ambulance_arrived",
    "transfer",
    "note",
];

/// `0.4` → "0.4", `15.0` → "15".
fn num(x: f64) -> String {
    format!("{x}")
}

impl EntryData {
    /// Kind code (the JSON `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            EntryData::Recognition => "recognition",
            EntryData::Sign { .. } => "sign",
            EntryData::Vitals(_) => "vitals",
            EntryData::Stimulation => "stimulation",
            EntryData::RecoveryPosition => "recovery_position",
            EntryData::Oxygen { .. } => "oxygen",
            EntryData::BagValveMask => "bag_valve_mask",
            EntryData::Airway => "airway",
            EntryData::Naloxone { .. } => "naloxone",
            EntryData::Cpr => "cpr",
            EntryData::Defibrillator => "defibrillator",
            EntryData::AmbulanceCalled => "ambulance_called",
            EntryData::AmbulanceArrived => "ambulance_arrived",
            EntryData::Transfer => "transfer",
            EntryData::Note { .. } => "note",
        }
    }

    /// Whether the entry is something staff did to the person (dcr-practice §7.3
    /// interventions list).
    pub fn is_intervention(&self) -> bool {
        matches!(
            self,
            EntryData::Stimulation
                | EntryData::RecoveryPosition
                | EntryData::Oxygen { .. }
                | EntryData::BagValveMask
                | EntryData::Airway
                | EntryData::Naloxone { .. }
                | EntryData::Cpr
                | EntryData::Defibrillator
        )
    }

    /// Human text, e.g. "Naloxone 0.4 mg IM".
    pub fn label(&self) -> String {
        match self {
            EntryData::Recognition => "Emergency recognised".into(),
            EntryData::Sign { sign } => format!("Sign: {}", sign.replace('_', " ")),
            EntryData::Vitals(v) => {
                let mut parts = Vec::new();
                if let Some(x) = v.resp_rate {
                    parts.push(format!("RR {x}/min"));
                }
                if let Some(x) = v.spo2 {
                    parts.push(format!("SpO2 {x}%"));
                }
                if let Some(x) = v.pulse {
                    parts.push(format!("pulse {x}/min"));
                }
                if let Some(x) = v.gcs {
                    parts.push(format!("GCS {x}"));
                }
                if let Some(x) = v.sedation {
                    parts.push(format!("sedation {x}"));
                }
                if parts.is_empty() {
                    "Vitals".into()
                } else {
                    format!("Vitals: {}", parts.join(", "))
                }
            }
            EntryData::Stimulation => "Stimulation".into(),
            EntryData::RecoveryPosition => "Recovery position".into(),
            EntryData::Oxygen { flow_l_min } => format!("Oxygen {} L/min", num(*flow_l_min)),
            EntryData::BagValveMask => "Bag-valve-mask ventilation".into(),
            EntryData::Airway => "Airway inserted".into(),
            EntryData::Naloxone { dose_mg, route } => format!("Naloxone {} mg {}", num(*dose_mg), route.as_str()),
            EntryData::Cpr => "CPR".into(),
            EntryData::Defibrillator => "Defibrillator (AED)".into(),
            EntryData::AmbulanceCalled => "Ambulance called".into(),
            EntryData::AmbulanceArrived => "Ambulance arrived".into(),
            EntryData::Transfer => "Transferred to hospital".into(),
            EntryData::Note { text } => format!("Note: {text}"),
        }
    }
}

/// Checks an entry's content; returns it normalised (note text trimmed).
pub fn validate_entry_data(data: &EntryData, inv: &mut Invalid) -> EntryData {
    match data {
        EntryData::Sign { sign } if !SIGNS.contains(&sign.as_str()) => {
            inv.push(
                "sign",
                format!("unknown sign `{sign}`; choose one of: {}", SIGNS.join(", ")),
            );
        }
        EntryData::Vitals(v) => {
            if vitals_is_empty(v) {
                inv.push("vitals", "record at least one vital sign");
            }
            validate_vitals(v, inv);
        }
        // Written so that NaN fails too.
        EntryData::Oxygen { flow_l_min }
            if !(*flow_l_min >= OXYGEN_FLOW_L_MIN.0 && *flow_l_min <= OXYGEN_FLOW_L_MIN.1) =>
        {
            let (lo, hi) = OXYGEN_FLOW_L_MIN;
            inv.push("flow_l_min", format!("must be between {lo} and {hi} L/min"));
        }
        EntryData::Naloxone { dose_mg, .. } if !(*dose_mg > 0.0 && *dose_mg <= MAX_NALOXONE_MG) => {
            inv.push(
                "dose_mg",
                format!("must be more than 0 and at most {MAX_NALOXONE_MG} mg (record each dose separately)"),
            );
        }
        EntryData::Note { text } => {
            let t = text.trim();
            if t.is_empty() {
                inv.push("text", "write a note");
            } else if t.chars().count() > MAX_NOTE_CHARS {
                inv.push("text", format!("at most {MAX_NOTE_CHARS} characters"));
            }
            return EntryData::Note { text: t.to_string() };
        }
        _ => {}
    }
    data.clone()
}

/// Raw entry input (API JSON): `{"kind": "naloxone", "dose_mg": 0.4, "route": "IM", "at": …}`.
///
/// Deserialized by hand: serde's `deny_unknown_fields` does not work with
/// `flatten`, and internally tagged unit variants ignore extra fields, so a
/// misspelt `at` on e.g. `ambulance_called` would silently become "now".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryDraft {
    /// When it happened; defaults to now.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub at: Option<OffsetDateTime>,
    /// What happened.
    #[serde(flatten)]
    pub data: EntryData,
}

impl<'de> Deserialize<'de> for EntryDraft {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        let mut map = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let at = match map.remove("at") {
            None | Some(Value::Null) => None,
            Some(v) => Some(time::serde::rfc3339::deserialize(v).map_err(D::Error::custom)?),
        };
        let extra: Vec<String> = map.keys().filter(|k| *k != "kind").cloned().collect();
        let data: EntryData = serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        // Struct variants refuse unknown fields themselves; unit variants take none.
        let fieldless = !matches!(
            data,
            EntryData::Sign { .. }
                | EntryData::Vitals(_)
                | EntryData::Oxygen { .. }
                | EntryData::Naloxone { .. }
                | EntryData::Note { .. }
        );
        if fieldless && let Some(k) = extra.first() {
            return Err(D::Error::custom(format!(
                "unknown field `{k}` for kind `{}`",
                data.kind()
            )));
        }
        Ok(EntryDraft { at, data })
    }
}

/// Validates an entry: `at` defaults to now; not before the emergency began,
/// not in the future; content within range.
pub fn prepare_entry(
    draft: &EntryDraft,
    started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, EntryData), Invalid> {
    let mut inv = Invalid::default();
    // A defaulted time never falls before the start, which may lie slightly
    // ahead of this server's clock (device drift within the tolerance).
    let at = truncate_micros(draft.at.unwrap_or(now.max(started_at)));
    if at < started_at {
        inv.push(
            "at",
            format!(
                "cannot be before the emergency began ({})",
                crate::clock::rfc3339(started_at)
            ),
        );
    } else if at > now + FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    }
    let data = validate_entry_data(&draft.data, &mut inv);
    inv.into_result()?;
    Ok((at, data))
}

/// Validates the start of an emergency: defaults to now, at most 24 hours
/// back, not in the future.
pub fn prepare_start(at: Option<OffsetDateTime>, now: OffsetDateTime) -> Result<OffsetDateTime, Invalid> {
    let at = truncate_micros(at.unwrap_or(now));
    if at > now + FUTURE_TOLERANCE {
        return Err(Invalid::one("started_at", "cannot be in the future"));
    }
    if at < now - START_BACKDATE_LIMIT {
        return Err(Invalid::one("started_at", "cannot be more than 24 hours ago"));
    }
    Ok(at)
}

/// A stored entry. Its time is never overwritten: corrections are
/// [`Amendment`]s, so the original stays visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Entry id.
    pub id: String,
    /// Time as first recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Content.
    pub data: EntryData,
    /// When it was written down.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Who wrote it down.
    pub recorded_by: String,
}

/// A correction of an entry's time, with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// The entry corrected.
    pub entry_id: String,
    /// The corrected time.
    #[serde(with = "time::serde::rfc3339")]
    pub new_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// When the correction was written down.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Who corrected it.
    pub recorded_by: String,
}

/// Validates an amendment: a reason of 3–500 characters; the new time not
/// before the start, not in the future, and different from the current one.
pub fn prepare_amendment(
    current_at: OffsetDateTime,
    new_at: OffsetDateTime,
    reason: &str,
    started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, String), Invalid> {
    let mut inv = Invalid::default();
    let reason = reason.trim();
    let n = reason.chars().count();
    if n < 3 {
        inv.push("reason", "give a reason for the correction (at least 3 characters)");
    } else if n > 500 {
        inv.push("reason", "at most 500 characters");
    }
    let new_at = truncate_micros(new_at);
    if new_at < started_at {
        inv.push(
            "at",
            format!(
                "cannot be before the emergency began ({})",
                crate::clock::rfc3339(started_at)
            ),
        );
    } else if new_at > now + FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    } else if new_at == current_at {
        inv.push("at", "is the same as the current time");
    }
    inv.into_result()?;
    Ok((new_at, reason.to_string()))
}

/// An entry as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Entry id.
    pub id: String,
    /// Effective time: the latest amendment's, else the original.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Time as first recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub original_at: OffsetDateTime,
    /// Whether the time was corrected.
    pub amended: bool,
    /// Corrections, oldest first.
    pub amendments: Vec<Amendment>,
    /// Content.
    pub data: EntryData,
    /// Who recorded the entry.
    pub recorded_by: String,
}

/// Builds the timeline: sorted by effective time, ties in recorded order.
/// Amendments for unknown entries are ignored.
pub fn timeline(entries: &[StoredEntry], amendments: &[Amendment]) -> Vec<TimelineEntry> {
    let mut out: Vec<(OffsetDateTime, TimelineEntry)> = entries
        .iter()
        .map(|e| {
            let mut ams: Vec<Amendment> = amendments.iter().filter(|a| a.entry_id == e.id).cloned().collect();
            // Stable: amendments recorded at the same instant keep input order.
            ams.sort_by_key(|a| a.recorded_at);
            let at = ams.last().map_or(e.at, |a| a.new_at);
            let t = TimelineEntry {
                id: e.id.clone(),
                at,
                original_at: e.at,
                amended: !ams.is_empty(),
                amendments: ams,
                data: e.data.clone(),
                recorded_by: e.recorded_by.clone(),
            };
            (e.recorded_at, t)
        })
        .collect();
    out.sort_by_key(|(recorded_at, t)| (t.at, *recorded_at));
    out.into_iter().map(|(_, t)| t).collect()
}

/// How the emergency ended (dcr-practice §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Recovered on site.
    RecoveredOnSite,
    /// Transferred to hospital.
    Transferred,
    /// Refused transport.
    RefusedTransfer,
    /// Died.
    Died,
}

/// All outcome codes.
pub const OUTCOMES: [&str; 4] = ["recovered_on_site", "transferred", "refused_transfer", "died"];

impl Outcome {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::RecoveredOnSite => "recovered_on_site",
            Outcome::Transferred => "transferred",
            Outcome::RefusedTransfer => "refused_transfer",
            Outcome::Died => "died",
        }
    }

    /// Parses the stored code.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recovered_on_site" => Some(Outcome::RecoveredOnSite),
            "transferred" => Some(Outcome::Transferred),
            "refused_transfer" => Some(Outcome::RefusedTransfer),
            "died" => Some(Outcome::Died),
            _ => None,
        }
    }

    /// Human text.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::RecoveredOnSite => "Recovered on site",
            Outcome::Transferred => "Transferred to hospital",
            Outcome::RefusedTransfer => "Refused transfer",
            Outcome::Died => "Died",
        }
    }
}

/// A validated close of an emergency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseRecord {
    /// Outcome.
    pub outcome: Outcome,
    /// Debrief note, trimmed (may be empty).
    pub debrief: String,
    /// Staff involved, trimmed, without repeats.
    pub staff_involved: Vec<String>,
    /// When it was closed.
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: OffsetDateTime,
}

/// Longest debrief note, characters.
pub const MAX_DEBRIEF_CHARS: usize = 4000;
/// Most staff names on one emergency.
pub const MAX_STAFF_INVOLVED: usize = 20;

/// Validates closing: a known outcome, a debrief of at most 4000 characters,
/// 0–20 staff names of 1–100 characters, and a close time not before the
/// start or the last entry and not in the future. A transfer outcome does not
/// require a transfer entry.
pub fn prepare_close(
    outcome: &str,
    debrief: &str,
    staff_involved: &[String],
    closed_at: Option<OffsetDateTime>,
    started_at: OffsetDateTime,
    last_entry_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<CloseRecord, Invalid> {
    let mut inv = Invalid::default();
    let parsed = Outcome::parse(outcome.trim());
    if parsed.is_none() {
        if outcome.trim().is_empty() {
            inv.push("outcome", format!("choose an outcome: {}", OUTCOMES.join(", ")));
        } else {
            inv.push(
                "outcome",
                format!("unknown outcome `{outcome}`; choose one of: {}", OUTCOMES.join(", ")),
            );
        }
    }
    let debrief = debrief.trim();
    if debrief.chars().count() > MAX_DEBRIEF_CHARS {
        inv.push("debrief", format!("at most {MAX_DEBRIEF_CHARS} characters"));
    }
    let mut staff: Vec<String> = Vec::new();
    if staff_involved.len() > MAX_STAFF_INVOLVED {
        inv.push("staff_involved", format!("at most {MAX_STAFF_INVOLVED} names"));
    }
    for name in staff_involved {
        let n = name.trim();
        let len = n.chars().count();
        if len == 0 || len > 100 {
            inv.push("staff_involved", "each name must be 1 to 100 characters");
        } else if !staff.iter().any(|s| s == n) {
            staff.push(n.to_string());
        }
    }
    // A defaulted time never falls before the start or the last entry, which
    // may lie slightly ahead of this server's clock.
    let floor = last_entry_at.map_or(started_at, |l| l.max(started_at));
    let closed_at = truncate_micros(closed_at.unwrap_or(now.max(floor)));
    if closed_at < started_at {
        inv.push(
            "closed_at",
            format!(
                "cannot be before the emergency began ({})",
                crate::clock::rfc3339(started_at)
            ),
        );
    } else if let Some(last) = last_entry_at.filter(|l| closed_at < *l) {
        inv.push(
            "closed_at",
            format!(
                "cannot be before the last timeline entry ({})",
                crate::clock::rfc3339(last)
            ),
        );
    } else if closed_at > now + FUTURE_TOLERANCE {
        inv.push("closed_at", "cannot be in the future");
    }
    inv.into_result()?;
    let Some(outcome) = parsed else {
        return Err(Invalid::one("outcome", "choose an outcome"));
    };
    Ok(CloseRecord {
        outcome,
        debrief: debrief.to_string(),
        staff_involved: staff,
        closed_at,
    })
}

/// Type of event: MSIC classification, simplified to three classes
/// (dcr-practice §7.1 \[msic-6m\]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Opioid overdose (heroin and non-heroin opioids).
    OpioidOverdose,
    /// Stimulant (cocaine) toxicity.
    StimulantToxicity,
    /// Anything else.
    Other,
}

impl EventType {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OpioidOverdose => "opioid_overdose",
            EventType::StimulantToxicity => "stimulant_toxicity",
            EventType::Other => "other",
        }
    }

    /// Human text.
    pub fn label(self) -> &'static str {
        match self {
            EventType::OpioidOverdose => "Opioid overdose",
            EventType::StimulantToxicity => "Stimulant toxicity",
            EventType::Other => "Other medical emergency",
        }
    }
}

/// What makes an event count as potentially fatal; sites choose a set
/// (setting `potentially_fatal`), default Milloy et al. 2008.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FatalCriterion {
    /// Naloxone was given.
    Naloxone,
    /// An ambulance was called (or arrived).
    Ambulance,
    /// Rescue breathing with a bag-valve-mask.
    BagValveMask,
    /// An airway adjunct was inserted.
    Airway,
    /// CPR was given.
    Cpr,
    /// The person was transferred to hospital.
    Transfer,
}

/// All fatal-criterion codes.
pub const FATAL_CRITERIA: [&str; 6] = ["naloxone", "ambulance", "bag_valve_mask", "airway", "cpr", "transfer"];

impl FatalCriterion {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            FatalCriterion::Naloxone => "naloxone",
            FatalCriterion::Ambulance => "ambulance",
            FatalCriterion::BagValveMask => "bag_valve_mask",
            FatalCriterion::Airway => "airway",
            FatalCriterion::Cpr => "cpr",
            FatalCriterion::Transfer => "transfer",
        }
    }

    /// Parses the stored code.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "naloxone" => Some(FatalCriterion::Naloxone),
            "ambulance" => Some(FatalCriterion::Ambulance),
            "bag_valve_mask" => Some(FatalCriterion::BagValveMask),
            "airway" => Some(FatalCriterion::Airway),
            "cpr" => Some(FatalCriterion::Cpr),
            "transfer" => Some(FatalCriterion::Transfer),
            _ => None,
        }
    }

    /// Whether a timeline entry meets this criterion.
    pub fn met_by(self, data: &EntryData) -> bool {
        match self {
            FatalCriterion::Naloxone => matches!(data, EntryData::Naloxone { .. }),
            // Milloy's "a 911 call or an ambulance": an arrival implies a call.
            FatalCriterion::Ambulance => matches!(data, EntryData::AmbulanceCalled | EntryData::AmbulanceArrived),
            FatalCriterion::BagValveMask => matches!(data, EntryData::BagValveMask),
            FatalCriterion::Airway => matches!(data, EntryData::Airway),
            FatalCriterion::Cpr => matches!(data, EntryData::Cpr),
            FatalCriterion::Transfer => matches!(data, EntryData::Transfer),
        }
    }
}

/// The default: potentially fatal = "required the provision of naloxone, a 911
/// call or an ambulance" (Milloy et al. 2008, PLoS One 3(10):e3351;
/// impact-methods §1.1).
pub fn default_fatal_criteria() -> Vec<FatalCriterion> {
    vec![FatalCriterion::Naloxone, FatalCriterion::Ambulance]
}

/// Validates a list of criterion codes (setting `potentially_fatal`):
/// non-empty, known, no repeats.
pub fn parse_fatal_criteria(codes: &[String]) -> Result<Vec<FatalCriterion>, Invalid> {
    const FIELD: &str = "potentially_fatal";
    let mut inv = Invalid::default();
    if codes.is_empty() {
        inv.push(FIELD, format!("choose at least one of: {}", FATAL_CRITERIA.join(", ")));
    }
    let mut out = Vec::new();
    for c in codes {
        match FatalCriterion::parse(c) {
            None => inv.push(
                FIELD,
                format!("unknown criterion `{c}`; choose from: {}", FATAL_CRITERIA.join(", ")),
            ),
            Some(f) if out.contains(&f) => inv.push(FIELD, format!("`{c}` is listed twice")),
            Some(f) => out.push(f),
        }
    }
    inv.into_result()?;
    Ok(out)
}

/// Figures derived from the timeline (dcr-practice §7.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    /// Event type.
    pub event_type: EventType,
    /// Whether any naloxone was given.
    pub naloxone_given: bool,
    /// Number of naloxone entries.
    pub naloxone_doses: u32,
    /// Sum of naloxone doses, mg.
    pub naloxone_total_mg: f64,
    /// From recognition to the first intervention; none without an intervention.
    #[serde(rename = "first_intervention_after_s", serialize_with = "ser_opt_secs")]
    pub first_intervention_after: Option<Duration>,
    /// Bag-valve-mask used.
    pub bvm_used: bool,
    /// Ambulance called.
    pub ambulance_called: bool,
    /// Transferred to hospital.
    pub transferred: bool,
    /// Potentially fatal under the site's criteria.
    pub potentially_fatal: bool,
}

/// JSON carries whole seconds: `time::Duration`'s own form is a tuple.
fn ser_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.whole_seconds()),
        None => s.serialize_none(),
    }
}

/// Substance-code fragments that mark an opioid (matched inside codes, so
/// `carfentanil` or `non_heroin_opioid` count).
const OPIOID_WORDS: [&str; 8] = [
    "heroin",
    "fentanyl",
    "methadone",
    "morphine",
    "oxycodone",
    "nitazene",
    "opioid",
    "buprenorphine",
];
/// Substance-code fragments that mark a stimulant.
const STIMULANT_WORDS: [&str; 4] = ["cocaine", "crack", "methamphetamine", "amphetamine"];
/// Signs of opioid toxicity (dcr-practice §7.1 \[od-form\]: constricted pupils, slow breathing).
const OPIOID_SIGNS: [&str; 3] = ["pinpoint_pupils", "slow_breathing", "not_breathing"];
const STIMULANT_SIGNS: [&str; 4] = ["seizure", "chest_pain", "hyperthermia", "agitation"];
/// "RR < 12 is the best predictor of opioid overdose" (dcr-practice §7.1 \[od-form\]).
pub const OPIOID_RESP_RATE_BELOW: u16 = 12;

fn mentions(substances: &[String], words: &[&str]) -> bool {
    substances.iter().any(|s| {
        let s = s.to_ascii_lowercase();
        words.iter().any(|w| s.contains(w))
    })
}

fn has_sign(timeline: &[TimelineEntry], signs: &[&str]) -> bool {
    timeline
        .iter()
        .any(|e| matches!(&e.data, EntryData::Sign { sign } if signs.contains(&sign.as_str())))
}

/// Derives the figures from the timeline rather than stored flags
/// (dcr-practice §7.3). An empty `criteria` falls back to the Milloy default.
pub fn derive(
    started_at: OffsetDateTime,
    substances: &[String],
    timeline: &[TimelineEntry],
    criteria: &[FatalCriterion],
) -> Derived {
    let any = |f: &dyn Fn(&EntryData) -> bool| timeline.iter().any(|e| f(&e.data));
    let mut naloxone_doses = 0u32;
    let mut naloxone_total_mg = 0.0;
    for e in timeline {
        if let EntryData::Naloxone { dose_mg, .. } = e.data {
            naloxone_doses += 1;
            naloxone_total_mg += dose_mg;
        }
    }
    let recognised = timeline
        .iter()
        .filter(|e| matches!(e.data, EntryData::Recognition))
        .map(|e| e.at)
        .min()
        .unwrap_or(started_at);
    // An intervention before the recorded recognition means it was recognised
    // by then at the latest, so the delay is zero rather than negative.
    let first_intervention_after = timeline
        .iter()
        .filter(|e| e.data.is_intervention())
        .map(|e| e.at)
        .min()
        .map(|t| (t - recognised).max(Duration::ZERO));
    let low_rr = any(&|d| matches!(d, EntryData::Vitals(v) if v.resp_rate.is_some_and(|r| r < OPIOID_RESP_RATE_BELOW)));
    // MSIC classes, simplified (dcr-practice §7.1 [msic-6m]); opioid first since
    // naloxone or respiratory depression settles it even in a combination.
    let event_type =
        if naloxone_doses > 0 || mentions(substances, &OPIOID_WORDS) || has_sign(timeline, &OPIOID_SIGNS) || low_rr {
            EventType::OpioidOverdose
        } else if mentions(substances, &STIMULANT_WORDS) || has_sign(timeline, &STIMULANT_SIGNS) {
            EventType::StimulantToxicity
        } else {
            EventType::Other
        };
    let default = default_fatal_criteria();
    // parse_fatal_criteria refuses an empty list; falling back keeps a bad
    // setting from silently counting nothing.
    let criteria = if criteria.is_empty() { &default[..] } else { criteria };
    Derived {
        event_type,
        naloxone_given: naloxone_doses > 0,
        naloxone_doses,
        naloxone_total_mg,
        first_intervention_after,
        bvm_used: any(&|d| matches!(d, EntryData::BagValveMask)),
        ambulance_called: any(&|d| matches!(d, EntryData::AmbulanceCalled | EntryData::AmbulanceArrived)),
        transferred: any(&|d| matches!(d, EntryData::Transfer)),
        potentially_fatal: timeline.iter().any(|e| criteria.iter().any(|c| c.met_by(&e.data))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);
    const START: OffsetDateTime = datetime!(2025-06-01 11:30 UTC);

    fn fields(e: &Invalid) -> Vec<&str> {
        e.0.iter().map(|x| x.field.as_str()).collect()
    }

    fn draft(at: Option<OffsetDateTime>, data: EntryData) -> EntryDraft {
        EntryDraft { at, data }
    }

    fn entry_err(data: EntryData) -> Vec<String> {
        let e = prepare_entry(&draft(None, data), START, NOW).unwrap_err();
        e.0.into_iter().map(|x| x.field).collect()
    }

    fn stored(id: &str, mins: i64, data: EntryData) -> StoredEntry {
        StoredEntry {
            id: id.into(),
            at: START + Duration::minutes(mins),
            data,
            recorded_at: NOW,
            recorded_by: "staff".into(),
        }
    }

    fn nalox(dose_mg: f64, route: NaloxoneRoute) -> EntryData {
        EntryData::Naloxone { dose_mg, route }
    }

    fn all_variants() -> Vec<EntryData> {
        vec![
            EntryData::Recognition,
            EntryData::Sign {
                sign: "pinpoint_pupils".into(),
            },
            EntryData::Vitals(Vitals {
                resp_rate: Some(6),
                spo2: Some(82),
                pulse: Some(110),
                gcs: Some(8),
                sedation: Some(3),
            }),
            EntryData::Stimulation,
            EntryData::RecoveryPosition,
            EntryData::Oxygen { flow_l_min: 15.0 },
            EntryData::BagValveMask,
            EntryData::Airway,
            nalox(0.4, NaloxoneRoute::Im),
            EntryData::Cpr,
            EntryData::Defibrillator,
            EntryData::AmbulanceCalled,
            EntryData::AmbulanceArrived,
            EntryData::Transfer,
            EntryData::Note {
                text: "came round".into(),
            },
        ]
    }

    #[test]
    fn every_entry_kind_round_trips_through_json() {
        let vs = all_variants();
        assert_eq!(vs.iter().map(EntryData::kind).collect::<Vec<_>>(), ENTRY_KINDS);
        for d in vs {
            let j = serde_json::to_value(&d).unwrap();
            assert_eq!(j["kind"], d.kind());
            assert_eq!(serde_json::from_value::<EntryData>(j).unwrap(), d);
            let dr = draft(Some(START), d.clone());
            let s = serde_json::to_string(&dr).unwrap();
            assert_eq!(serde_json::from_str::<EntryDraft>(&s).unwrap(), dr, "{s}");
        }
    }

    #[test]
    fn vitals_json_is_flat() {
        let d: EntryDraft = serde_json::from_str(r#"{"kind":"vitals","resp_rate":6,"spo2":82}"#).unwrap();
        assert_eq!(d.at, None);
        assert_eq!(
            d.data,
            EntryData::Vitals(Vitals {
                resp_rate: Some(6),
                spo2: Some(82),
                ..Vitals::default()
            })
        );
        assert_eq!(
            serde_json::to_string(&d.data).unwrap(),
            r#"{"kind":"vitals","resp_rate":6,"spo2":82}"#
        );
        let n: EntryDraft =
            serde_json::from_str(r#"{"kind":"naloxone","dose_mg":0.4,"route":"IN","at":"2025-06-01T11:40:00Z"}"#)
                .unwrap();
        assert_eq!(n.at, Some(datetime!(2025-06-01 11:40 UTC)));
        assert_eq!(n.data, nalox(0.4, NaloxoneRoute::In));
    }

    #[test]
    fn unknown_kind_or_field_fails_to_parse() {
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"exorcism"}"#).is_err());
        assert!(serde_json::from_str::<EntryDraft>(r#"{"resp_rate":6}"#).is_err());
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"vitals","resp_rate":6,"bp":120}"#).is_err());
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"naloxone","dose":0.4,"route":"IM"}"#).is_err());
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"naloxone","dose_mg":0.4,"route":"SC"}"#).is_err());
        assert!(serde_json::from_str::<EntryData>(r#"{"kind":"oxygen","flow_l_min":2,"mask":"nrb"}"#).is_err());
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"cpr","time":"2025-06-01T11:40:00Z"}"#).is_err());
        let ok: EntryDraft = serde_json::from_str(r#"{"kind":"vitals","spo2":null,"resp_rate":6,"at":null}"#).unwrap();
        assert_eq!(ok.data.label(), "Vitals: RR 6/min");
        assert!(serde_json::from_str::<EntryDraft>(r#"{"kind":"cpr","at":"11:40"}"#).is_err());
    }

    #[test]
    fn entry_before_start_is_refused_and_names_the_start() {
        let e = prepare_entry(&draft(Some(START - Duration::minutes(1)), EntryData::Cpr), START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["at"]);
        assert!(e.0[0].message.contains("2025-06-01T11:30:00Z"), "{}", e.0[0].message);
        let e = prepare_entry(&draft(Some(NOW + Duration::minutes(2)), EntryData::Cpr), START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["at"]);
        let (at, _) = prepare_entry(&draft(Some(NOW + Duration::seconds(30)), EntryData::Cpr), START, NOW).unwrap();
        assert_eq!(at, NOW + Duration::seconds(30));
    }

    #[test]
    fn entry_time_defaults_to_now_truncated() {
        let now = datetime!(2025-06-01 12:00:00.123456789 UTC);
        let (at, d) = prepare_entry(&draft(None, EntryData::Recognition), START, now).unwrap();
        assert_eq!(at.nanosecond(), 123_456_000);
        assert_eq!(d, EntryData::Recognition);
        // A start slightly ahead of this clock (drift) does not refuse a defaulted time.
        let (at, _) = prepare_entry(&draft(None, EntryData::Cpr), NOW + Duration::seconds(20), NOW).unwrap();
        assert_eq!(at, NOW + Duration::seconds(20));
    }

    #[test]
    fn naloxone_dose_must_be_positive_and_at_most_10_mg() {
        assert_eq!(entry_err(nalox(10.5, NaloxoneRoute::Im)), ["dose_mg"]);
        assert_eq!(entry_err(nalox(-0.4, NaloxoneRoute::Im)), ["dose_mg"]);
        assert_eq!(entry_err(nalox(0.0, NaloxoneRoute::In)), ["dose_mg"]);
        assert_eq!(entry_err(nalox(f64::NAN, NaloxoneRoute::Iv)), ["dose_mg"]);
        assert!(prepare_entry(&draft(None, nalox(10.0, NaloxoneRoute::In)), START, NOW).is_ok());
        assert!(prepare_entry(&draft(None, nalox(0.04, NaloxoneRoute::Iv)), START, NOW).is_ok());
    }

    #[test]
    fn oxygen_flow_is_between_half_and_15_l_min() {
        assert_eq!(entry_err(EntryData::Oxygen { flow_l_min: 0.2 }), ["flow_l_min"]);
        assert_eq!(entry_err(EntryData::Oxygen { flow_l_min: 16.0 }), ["flow_l_min"]);
        assert!(prepare_entry(&draft(None, EntryData::Oxygen { flow_l_min: 0.5 }), START, NOW).is_ok());
    }

    #[test]
    fn spo2_above_100_is_refused() {
        let v = Vitals {
            spo2: Some(120),
            ..Vitals::default()
        };
        assert_eq!(entry_err(EntryData::Vitals(v)), ["spo2"]);
    }

    #[test]
    fn gcs_below_3_is_refused_glasgow_coma_scale_dcr_practice_7_1() {
        let mut inv = Invalid::default();
        validate_vitals(
            &Vitals {
                gcs: Some(2),
                ..Vitals::default()
            },
            &mut inv,
        );
        assert_eq!(fields(&inv), ["gcs"]);
        assert!(inv.0[0].message.contains("3 and 15"));
        let mut inv = Invalid::default();
        validate_vitals(
            &Vitals {
                gcs: Some(16),
                ..Vitals::default()
            },
            &mut inv,
        );
        assert_eq!(fields(&inv), ["gcs"]);
    }

    #[test]
    fn every_out_of_range_vital_is_named_sedation_score_dcr_practice_7_3() {
        let v = Vitals {
            resp_rate: Some(61),
            spo2: Some(49),
            pulse: Some(251),
            gcs: Some(2),
            sedation: Some(4),
        };
        assert_eq!(
            entry_err(EntryData::Vitals(v)),
            ["resp_rate", "spo2", "pulse", "gcs", "sedation"]
        );
        assert_eq!(entry_err(EntryData::Vitals(Vitals::default())), ["vitals"]);
        assert!(vitals_is_empty(&Vitals::default()));
        let ok = Vitals {
            resp_rate: Some(0),
            spo2: Some(100),
            pulse: Some(0),
            gcs: Some(15),
            sedation: Some(0),
        };
        assert!(!vitals_is_empty(&ok));
        assert!(prepare_entry(&draft(None, EntryData::Vitals(ok)), START, NOW).is_ok());
    }

    #[test]
    fn unknown_sign_is_refused() {
        assert_eq!(entry_err(EntryData::Sign { sign: "glowing".into() }), ["sign"]);
        for s in SIGNS {
            assert!(prepare_entry(&draft(None, EntryData::Sign { sign: s.into() }), START, NOW).is_ok());
        }
    }

    #[test]
    fn note_is_trimmed_and_limited() {
        assert_eq!(entry_err(EntryData::Note { text: "   ".into() }), ["text"]);
        assert_eq!(entry_err(EntryData::Note { text: "x".repeat(1001) }), ["text"]);
        let (_, d) = prepare_entry(&draft(None, EntryData::Note { text: " ok ".into() }), START, NOW).unwrap();
        assert_eq!(d, EntryData::Note { text: "ok".into() });
    }

    #[test]
    fn labels_read_as_staff_write() {
        assert_eq!(nalox(0.4, NaloxoneRoute::Im).label(), "Naloxone 0.4 mg IM");
        assert_eq!(EntryData::Oxygen { flow_l_min: 15.0 }.label(), "Oxygen 15 L/min");
        assert_eq!(
            EntryData::Sign {
                sign: "pinpoint_pupils".into()
            }
            .label(),
            "Sign: pinpoint pupils"
        );
        assert_eq!(
            EntryData::Vitals(Vitals {
                resp_rate: Some(6),
                spo2: Some(82),
                ..Vitals::default()
            })
            .label(),
            "Vitals: RR 6/min, SpO2 82%"
        );
        let interventions: Vec<_> = all_variants()
            .into_iter()
            .filter(EntryData::is_intervention)
            .map(|d| d.kind())
            .collect();
        assert_eq!(
            interventions,
            [
                "stimulation",
                "recovery_position",
                "oxygen",
                "bag_valve_mask",
                "airway",
                "naloxone",
                "cpr",
                "defibrillator"
            ]
        );
    }

    #[test]
    fn codes_parse_back() {
        for c in LOCATIONS {
            assert_eq!(Location::parse(c).map(Location::as_str), Some(c));
        }
        for c in NALOXONE_ROUTES {
            assert_eq!(NaloxoneRoute::parse(c).map(NaloxoneRoute::as_str), Some(c));
        }
        assert_eq!(NaloxoneRoute::parse("im"), Some(NaloxoneRoute::Im));
        for c in OUTCOMES {
            assert_eq!(Outcome::parse(c).map(Outcome::as_str), Some(c));
        }
        for c in FATAL_CRITERIA {
            assert_eq!(FatalCriterion::parse(c).map(FatalCriterion::as_str), Some(c));
        }
        assert_eq!(serde_json::to_string(&Location::Aftercare).unwrap(), r#""aftercare""#);
        assert_eq!(
            serde_json::to_string(&Outcome::RefusedTransfer).unwrap(),
            r#""refused_transfer""#
        );
    }

    #[test]
    fn start_is_at_most_24_hours_back_and_not_future() {
        assert_eq!(prepare_start(None, NOW).unwrap(), NOW);
        assert!(prepare_start(Some(NOW - Duration::hours(24)), NOW).is_ok());
        let e = prepare_start(Some(NOW - Duration::hours(25)), NOW).unwrap_err();
        assert_eq!(fields(&e), ["started_at"]);
        let e = prepare_start(Some(NOW + Duration::minutes(5)), NOW).unwrap_err();
        assert_eq!(fields(&e), ["started_at"]);
    }

    #[test]
    fn amendment_needs_reason_and_a_different_valid_time() {
        let cur = START + Duration::minutes(5);
        let (t, r) = prepare_amendment(cur, START + Duration::minutes(3), "  clock was off ", START, NOW).unwrap();
        assert_eq!((t, r.as_str()), (START + Duration::minutes(3), "clock was off"));
        let e = prepare_amendment(cur, START + Duration::minutes(3), "x", START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["reason"]);
        let e = prepare_amendment(cur, START + Duration::minutes(3), &"x".repeat(501), START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["reason"]);
        let e = prepare_amendment(cur, START - Duration::seconds(1), "typo", START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["at"]);
        let e = prepare_amendment(cur, NOW + Duration::minutes(2), "typo", START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["at"]);
        let e = prepare_amendment(cur, cur, "typo", START, NOW).unwrap_err();
        assert_eq!(fields(&e), ["at"]);
    }

    #[test]
    fn amendment_keeps_the_original_and_reorders_the_timeline() {
        let entries = [
            stored("a", 1, EntryData::Recognition),
            stored("b", 2, EntryData::Stimulation),
            stored("c", 3, nalox(0.4, NaloxoneRoute::Im)),
        ];
        let am = |new_min: i64, rec_min: i64| Amendment {
            entry_id: "c".into(),
            new_at: START + Duration::minutes(new_min),
            reason: "wrong time".into(),
            recorded_at: NOW + Duration::minutes(rec_min),
            recorded_by: "lead".into(),
        };
        // Given out of order: the later-recorded amendment (minute 0) wins.
        let ams = [am(0, 2), am(10, 1)];
        let t = timeline(&entries, &ams);
        assert_eq!(t.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["c", "a", "b"]);
        assert_eq!(t[0].at, START);
        assert_eq!(t[0].original_at, START + Duration::minutes(3));
        assert!(t[0].amended && !t[1].amended);
        assert_eq!(t[0].amendments.len(), 2);
        assert_eq!(t[0].amendments[1].new_at, START);
    }

    #[test]
    fn timeline_ties_keep_recorded_order() {
        let mut a = stored("a", 1, EntryData::Stimulation);
        a.recorded_at = NOW + Duration::seconds(5);
        let b = stored("b", 1, EntryData::Recognition);
        let c = stored("c", 1, EntryData::Cpr);
        let t = timeline(&[a, b, c], &[]);
        assert_eq!(t.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["b", "c", "a"]);
    }

    #[test]
    fn close_validates_each_field() {
        let r = prepare_close(
            "transferred",
            " ok ",
            &[" Ana ".into(), "Ben".into(), "Ana".into()],
            None,
            START,
            Some(START + Duration::minutes(20)),
            NOW,
        )
        .unwrap();
        assert_eq!(r.outcome, Outcome::Transferred);
        assert_eq!(r.debrief, "ok");
        assert_eq!(r.staff_involved, ["Ana", "Ben"]);
        assert_eq!(r.closed_at, NOW);
        let e = prepare_close("", "", &[], None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["outcome"]);
        let e = prepare_close("vanished", "", &[], None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["outcome"]);
        let e = prepare_close("died", &"x".repeat(4001), &[], None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["debrief"]);
        let many: Vec<String> = (0..21).map(|i| format!("s{i}")).collect();
        let e = prepare_close("died", "", &many, None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["staff_involved"]);
        let e = prepare_close("died", "", &[" ".into()], None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["staff_involved"]);
        let e = prepare_close("died", "", &["x".repeat(101)], None, START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["staff_involved"]);
        let e = prepare_close("died", "", &[], Some(START - Duration::minutes(1)), START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["closed_at"]);
        let last = Some(START + Duration::minutes(20));
        let e = prepare_close("died", "", &[], Some(START + Duration::minutes(10)), START, last, NOW).unwrap_err();
        assert_eq!(fields(&e), ["closed_at"]);
        let e = prepare_close("died", "", &[], Some(NOW + Duration::minutes(5)), START, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["closed_at"]);
    }

    #[test]
    fn fatal_criteria_setting_is_validated() {
        let s = |xs: &[&str]| xs.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_fatal_criteria(&s(&["naloxone", "bag_valve_mask"])).unwrap(),
            [FatalCriterion::Naloxone, FatalCriterion::BagValveMask]
        );
        for bad in [s(&[]), s(&["naloxone", "naloxone"]), s(&["oxygen"])] {
            let e = parse_fatal_criteria(&bad).unwrap_err();
            assert_eq!(fields(&e), ["potentially_fatal"]);
        }
    }

    #[test]
    fn potentially_fatal_default_follows_milloy_2008() {
        assert_eq!(
            default_fatal_criteria(),
            [FatalCriterion::Naloxone, FatalCriterion::Ambulance]
        );
        let heroin = ["heroin".to_string()];
        let entries = [
            stored("r", 1, EntryData::Recognition),
            stored(
                "s",
                2,
                EntryData::Sign {
                    sign: "slow_breathing".into(),
                },
            ),
            stored("n1", 3, nalox(0.4, NaloxoneRoute::Im)),
            stored("a", 4, EntryData::AmbulanceCalled),
            stored("n2", 6, nalox(0.4, NaloxoneRoute::In)),
        ];
        let d = derive(START, &heroin, &timeline(&entries, &[]), &default_fatal_criteria());
        assert_eq!(d.event_type, EventType::OpioidOverdose);
        assert!(d.naloxone_given);
        assert_eq!(d.naloxone_doses, 2);
        assert!((d.naloxone_total_mg - 0.8).abs() < 1e-9);
        assert_eq!(d.first_intervention_after, Some(Duration::minutes(2)));
        assert!(d.ambulance_called && !d.transferred && !d.bvm_used);
        assert!(d.potentially_fatal);
        // A 911 call alone is enough under Milloy.
        let call = [stored("a", 4, EntryData::AmbulanceCalled)];
        assert!(derive(START, &[], &timeline(&call, &[]), &default_fatal_criteria()).potentially_fatal);
        let j = serde_json::to_value(&d).unwrap();
        assert_eq!(j["first_intervention_after_s"], 120);
        assert_eq!(j["event_type"], "opioid_overdose");
    }

    #[test]
    fn oxygen_only_is_not_potentially_fatal_under_milloy_2008_but_bvm_criterion_is_configurable_dcr_practice_7_2() {
        let oxygen = [
            stored("o", 2, EntryData::Oxygen { flow_l_min: 10.0 }),
            stored(
                "v",
                3,
                EntryData::Vitals(Vitals {
                    resp_rate: Some(8),
                    ..Vitals::default()
                }),
            ),
        ];
        let t = timeline(&oxygen, &[]);
        let d = derive(START, &[], &t, &default_fatal_criteria());
        assert!(!d.potentially_fatal);
        // No recognition entry: measured from the start.
        assert_eq!(d.first_intervention_after, Some(Duration::minutes(2)));
        // RR < 12 is the best predictor of opioid overdose (dcr-practice §7.1 [od-form]).
        assert_eq!(d.event_type, EventType::OpioidOverdose);
        // The SCS nurse's severity marker: bagging (dcr-practice §7.2 [sc-nurse]).
        let site = [
            FatalCriterion::Naloxone,
            FatalCriterion::Ambulance,
            FatalCriterion::BagValveMask,
        ];
        assert!(!derive(START, &[], &t, &site).potentially_fatal);
        let mut with_bvm = oxygen.to_vec();
        with_bvm.push(stored("b", 4, EntryData::BagValveMask));
        let d = derive(START, &[], &timeline(&with_bvm, &[]), &site);
        assert!(d.potentially_fatal && d.bvm_used);
        assert!(!derive(START, &[], &timeline(&with_bvm, &[]), &default_fatal_criteria()).potentially_fatal);
    }

    #[test]
    fn cocaine_and_seizure_is_stimulant_toxicity_msic_dcr_practice_7_1() {
        let t = timeline(&[stored("s", 1, EntryData::Sign { sign: "seizure".into() })], &[]);
        let d = derive(START, &["cocaine".to_string()], &t, &default_fatal_criteria());
        assert_eq!(d.event_type, EventType::StimulantToxicity);
        assert!(!d.naloxone_given && d.first_intervention_after.is_none());
        assert_eq!(derive(START, &[], &[], &[]).event_type, EventType::Other);
        // Heroin + cocaine with respiratory depression is treated as opioid.
        let both = ["heroin".to_string(), "crack".to_string()];
        assert_eq!(derive(START, &both, &t, &[]).event_type, EventType::OpioidOverdose);
    }

    #[test]
    fn resp_rate_below_12_is_opioid_od_form_dcr_practice_7_1() {
        let vit = |rr| {
            let v = Vitals {
                resp_rate: Some(rr),
                ..Vitals::default()
            };
            timeline(&[stored("v", 1, EntryData::Vitals(v))], &[])
        };
        assert_eq!(derive(START, &[], &vit(11), &[]).event_type, EventType::OpioidOverdose);
        assert_eq!(derive(START, &[], &vit(12), &[]).event_type, EventType::Other);
    }

    #[test]
    fn derived_from_timeline_not_flags_dcr_practice_7_3() {
        // A recognition recorded after the first intervention gives zero, not a negative delay.
        let entries = [
            stored("st", 2, EntryData::Stimulation),
            stored("r", 4, EntryData::Recognition),
            stored("t", 9, EntryData::Transfer),
        ];
        let d = derive(START, &[], &timeline(&entries, &[]), &[]);
        assert_eq!(d.first_intervention_after, Some(Duration::ZERO));
        assert!(d.transferred && !d.ambulance_called && !d.potentially_fatal);
        assert!(derive(START, &[], &timeline(&entries, &[]), &[FatalCriterion::Transfer]).potentially_fatal);
    }

    proptest! {
        #[test]
        fn naloxone_total_is_the_sum_of_valid_doses(tenths in proptest::collection::vec(1u32..=100, 0..12)) {
            let entries: Vec<StoredEntry> = tenths
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let data = nalox(f64::from(*t) / 10.0, NaloxoneRoute::In);
                    let (at, data) = prepare_entry(&draft(Some(START + Duration::minutes(i as i64)), data), START, NOW)
                        .expect("valid dose");
                    StoredEntry { id: i.to_string(), at, data, recorded_at: NOW, recorded_by: "s".into() }
                })
                .collect();
            let d = derive(START, &[], &timeline(&entries, &[]), &default_fatal_criteria());
            let sum: f64 = tenths.iter().map(|t| f64::from(*t) / 10.0).sum();
            prop_assert_eq!(d.naloxone_doses as usize, tenths.len());
            prop_assert!((d.naloxone_total_mg - sum).abs() < 1e-9);
            prop_assert_eq!(d.naloxone_given, !tenths.is_empty());
            // Milloy et al. 2008: any naloxone makes it potentially fatal.
            prop_assert_eq!(d.potentially_fatal, !tenths.is_empty());
        }

        #[test]
        fn timeline_is_sorted_by_effective_time(
            offsets in proptest::collection::vec(0i64..60, 1..10),
            ams in proptest::collection::vec((0usize..10, 0i64..60, 0i64..5), 0..15),
        ) {
            let entries: Vec<StoredEntry> = offsets
                .iter()
                .enumerate()
                .map(|(i, m)| stored(&i.to_string(), *m, EntryData::Stimulation))
                .collect();
            let amendments: Vec<Amendment> = ams
                .iter()
                .map(|(i, m, r)| Amendment {
                    entry_id: (i % offsets.len()).to_string(),
                    new_at: START + Duration::minutes(*m),
                    reason: "fix".into(),
                    recorded_at: NOW + Duration::minutes(*r),
                    recorded_by: "s".into(),
                })
                .collect();
            let t = timeline(&entries, &amendments);
            prop_assert_eq!(t.len(), entries.len());
            prop_assert!(t.windows(2).all(|w| w[0].at <= w[1].at));
            for e in &t {
                let i: usize = e.id.parse().expect("numeric id");
                prop_assert_eq!(e.original_at, entries[i].at);
                let latest = amendments
                    .iter()
                    .filter(|a| a.entry_id == e.id)
                    .max_by_key(|a| a.recorded_at)
                    .map(|a| a.new_at);
                // max_by_key returns the last of equal maxima, as the stable sort does.
                prop_assert_eq!(e.at, latest.unwrap_or(entries[i].at));
                prop_assert_eq!(e.amended, latest.is_some());
            }
        }
    }

    #[test]
    fn one_tap_naloxone_doses_are_a_site_setting_with_product_defaults() {
        let d = NaloxoneDoses::default();
        assert_eq!(d.mg(NaloxoneRoute::Im), Some(0.4));
        assert_eq!(d.mg(NaloxoneRoute::In), Some(1.8));
        assert_eq!(d.mg(NaloxoneRoute::Iv), None);
        assert!(d.validate().is_ok());
        let bad = NaloxoneDoses {
            intramuscular_mcg: 0,
            intranasal_mcg: 20_000,
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 2);
    }
}
