//! `CaseDoc`: one case as an Automerge document, and the only code that speaks
//! Automerge.
//!
//! Layout: the root holds `profile` and `programme` maps, and one map per
//! collection (`visits`, `goals`, `concerns`, …) keyed by random record ids.
//! Records live in maps rather than lists so that two devices adding records
//! concurrently never interleave or reorder each other's. Every scalar is its
//! own key, so two people editing different fields of the same record merge
//! cleanly, and the same field edited on both sides is kept twice by Automerge
//! and surfaced by [`CaseDoc::conflicts`] until someone resolves it.
//!
//! Writes are JSON patches applied under one commit per save, carrying the
//! author (practitioner and device) in the commit message and the time in the
//! commit timestamp; fields whose value is unchanged are not rewritten, so an
//! edit of one field neither costs ops for the others nor creates conflicts.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutoSerde, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::model::Case;
use super::validate::instant_string;
use crate::error::{Error, Result};

/// Who is making a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// User name (the enrolled user's, once the vault is enrolled).
    pub by: String,
    /// Role from the directory, if enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Device id (hex).
    pub device: String,
}

#[derive(Serialize, Deserialize)]
struct ChangeMessage {
    by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    device: String,
    what: String,
}

/// One change in a case's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub by: String,
    /// As the writing device stated it (see the threat model).
    #[serde(default)]
    pub role: Option<String>,
    pub device: String,
    pub what: String,
    pub change: String,
}

/// One of the values a conflicting field holds, and who wrote it when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    pub value: Json,
    pub by: String,
    pub device: String,
    pub at: String,
}

/// A field set differently by concurrent changes. `values[0]` is the one
/// Automerge shows by default; nothing is dropped until it is resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: String,
    pub values: Vec<ConflictValue>,
}

/// A write: merge `value` (a JSON object, or a scalar) into the document at
/// `path`. `null` members leave the existing value alone. A *replacing*
/// patch puts a new object (a record whose fields must all come from one
/// writer, such as a signed sign-off); a *deleting* patch removes the key.
#[derive(Debug, Clone)]
pub struct Patch {
    pub path: Vec<String>,
    pub value: Json,
    pub mode: PatchMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchMode {
    Merge,
    Replace,
    Delete,
}

impl Patch {
    pub fn new<I, S>(path: I, value: Json) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            path: path.into_iter().map(Into::into).collect(),
            value,
            mode: PatchMode::Merge,
        }
    }

    pub fn replace<I, S>(path: I, value: Json) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            mode: PatchMode::Replace,
            ..Self::new(path, value)
        }
    }

    pub fn delete<I, S>(path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            mode: PatchMode::Delete,
            ..Self::new(path, Json::Null)
        }
    }
}

pub struct CaseDoc {
    doc: AutoCommit,
}

/// Maps created with every new case (with the record collections), so that no
/// two devices ever create the same container concurrently.
const CONTAINERS: &[&str] = &["profile", "programme", "signs_of_safety"];

impl CaseDoc {
    /// A new case document with its containers and the `initial` patches
    /// (typically the profile), all in one commit: "case opened".
    pub fn create(
        actor: &[u8],
        id: &str,
        author: &Author,
        at: DateTime<Utc>,
        initial: &[Patch],
    ) -> Result<Self> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(actor));
        doc.put(ROOT, "id", id)?;
        doc.put(ROOT, "schema", 1_i64)?;
        for c in CONTAINERS.iter().chain(RECORD_COLLECTIONS) {
            doc.put_object(ROOT, *c, ObjType::Map)?;
        }
        let sos = match doc.get(ROOT, "signs_of_safety")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => {
                return Err(Error::Document(
                    "new case has no Signs of Safety map".into(),
                ));
            }
        };
        for c in [
            "worries",
            "working_well",
            "needs_to_happen",
            "danger_statements",
        ] {
            doc.put_object(&sos, c, ObjType::Map)?;
        }
        let mut this = Self { doc };
        initial.iter().try_for_each(|p| this.apply_patch(p))?;
        this.commit(author, "case opened", at);
        Ok(this)
    }

    /// Rebuilds a document from its stored snapshot and change chunks.
    ///
    /// Bytes may come from another device or a file, and Automerge's
    /// decoders can panic on crafted input (the fuzzer found two such
    /// inputs, `fuzz/known-crashes/`): a panic here is a load error, never a
    /// crash or a sync that fails for good.
    pub fn load<'a>(
        actor: &[u8],
        snapshot: Option<&[u8]>,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, DocLoadError> {
        let chunks: Vec<&[u8]> = chunks.into_iter().collect();
        std::panic::catch_unwind(|| Self::load_unguarded(actor, snapshot, &chunks))
            .unwrap_or(Err(DocLoadError::Snapshot))
    }

    fn load_unguarded(
        actor: &[u8],
        snapshot: Option<&[u8]>,
        chunks: &[&[u8]],
    ) -> Result<Self, DocLoadError> {
        let start = || match snapshot {
            Some(bytes) => AutoCommit::load(bytes).map_err(|_| DocLoadError::Snapshot),
            None => Ok(AutoCommit::new()),
        };
        let mut doc = start()?;
        // One `load_incremental` over all chunks: Automerge applies a batch far
        // faster than one call per chunk. Only if the batch fails are the
        // chunks replayed one by one, to name the bad one.
        if !chunks.is_empty() && doc.load_incremental(&chunks.concat()).is_err() {
            doc = start()?;
            for (i, chunk) in chunks.iter().enumerate() {
                doc.load_incremental(chunk)
                    .map_err(|_| DocLoadError::Chunk(i))?;
            }
        }
        doc.set_actor(ActorId::from(actor));
        Ok(Self { doc })
    }

    /// The document's heads (to save what comes after them).
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Changes made since `heads`, in Automerge's compact change format.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Applies changes received from another device (Automerge's
    /// `load_incremental`: changes already present are ignored; changes whose
    /// dependencies are missing are queued, see [`CaseDoc::missing_deps`]).
    /// A panic inside the decoder is an error; the document may then be
    /// half-changed, so the caller drops it (and reloads from disk).
    pub fn apply_changes(&mut self, bytes: &[u8]) -> Result<(), DocLoadError> {
        let doc = &mut self.doc;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.load_incremental(bytes)))
            .map_err(|_| DocLoadError::Chunk(0))?
            .map(|_| ())
            .map_err(|_| DocLoadError::Chunk(0))
    }

    /// Whether `bytes` begin with a whole document (Automerge's document
    /// chunk, as `save` writes it) rather than changes: a case's first
    /// upload, or a snapshot standing in for its history.
    pub fn is_whole_document(bytes: &[u8]) -> bool {
        const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
        bytes.len() > 8 && bytes[..4] == MAGIC && bytes[8] == 0
    }

    /// Whether `bytes` are Automerge data at all (one or more whole chunks).
    /// `load_incremental` silently skips what it cannot parse, so a received
    /// item that changed nothing is checked with this before it is taken for
    /// a harmless duplicate.
    pub fn is_automerge(bytes: &[u8]) -> bool {
        std::panic::catch_unwind(|| {
            automerge::Automerge::load_with_options(
                bytes,
                automerge::LoadOptions::new()
                    .on_partial_load(automerge::OnPartialLoad::Error)
                    .verification_mode(automerge::VerificationMode::DontCheck),
            )
            .is_ok()
        })
        .unwrap_or(false)
    }

    /// Whether any change this document depends on is missing.
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// Merges another replica of the same case into this one.
    pub fn merge(&mut self, other: &mut CaseDoc) -> Result<()> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// A replica of this document for another actor (tests and drafts).
    pub fn fork(&mut self, actor: &[u8]) -> CaseDoc {
        CaseDoc {
            doc: self.doc.fork().with_actor(ActorId::from(actor)),
        }
    }

    /// The document as plain JSON (the deterministic winner of every field).
    /// Built from one `hydrate` pass over the document, which is an order of
    /// magnitude faster than a `get` per key (14 ms → ~1 ms for 200 visits).
    pub fn to_json(&self) -> Json {
        match self.doc.hydrate(ROOT, None) {
            Ok(v) => hydrated_json(&v),
            Err(_) => serde_json::to_value(AutoSerde::from(&self.doc)).unwrap_or(Json::Null),
        }
    }

    /// The document as a typed case. A record whose shape this version does
    /// not understand (written by a newer app, or only partly received) is
    /// left out and its path listed in `Case::unreadable`, so one odd record
    /// never hides the rest of the case.
    pub fn read(&self) -> Result<Case> {
        let mut json = self.to_json();
        let mut unreadable = Vec::new();
        if let Json::Object(root) = &mut json {
            for collection in RECORD_COLLECTIONS {
                prune_unreadable(root, collection, &mut unreadable);
            }
            if let Some(Json::Object(sos)) = root.get_mut("signs_of_safety") {
                for column in [
                    "worries",
                    "working_well",
                    "needs_to_happen",
                    "danger_statements",
                ] {
                    let before = unreadable.len();
                    prune_unreadable(sos, column, &mut unreadable);
                    for p in &mut unreadable[before..] {
                        *p = format!("signs_of_safety/{p}");
                    }
                }
            }
        }
        let mut case: Case = serde_json::from_value(json).map_err(|_| {
            Error::Document("this case's profile or programme has an unexpected shape".into())
        })?;
        case.unreadable = unreadable;
        Ok(case)
    }

    /// Applies `patches` as one commit. On any error nothing is applied.
    pub fn apply(
        &mut self,
        author: &Author,
        what: &str,
        at: DateTime<Utc>,
        patches: &[Patch],
    ) -> Result<bool> {
        let result = patches.iter().try_for_each(|p| self.apply_patch(p));
        if let Err(e) = result {
            self.doc.rollback();
            return Err(e);
        }
        if self.doc.pending_ops() == 0 {
            return Ok(false);
        }
        self.commit(author, what, at);
        Ok(true)
    }

    fn commit(&mut self, author: &Author, what: &str, at: DateTime<Utc>) {
        let message = ChangeMessage {
            by: author.by.clone(),
            role: author.role.clone(),
            device: author.device.clone(),
            what: what.to_string(),
        };
        let message = serde_json::to_string(&message).unwrap_or_default();
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(message)
                .with_time(at.timestamp()),
        );
    }

    fn apply_patch(&mut self, patch: &Patch) -> Result<()> {
        let (last, parents) = match patch.path.split_last() {
            Some(x) => x,
            None => {
                let Json::Object(map) = &patch.value else {
                    return Err(Error::Document(
                        "the document root takes only fields".into(),
                    ));
                };
                return write_map(&mut self.doc, &ROOT, map, false);
            }
        };
        let mut obj = ROOT;
        let mut fresh = false;
        for key in parents {
            (obj, fresh) = if fresh {
                (self.doc.put_object(&obj, key.as_str(), ObjType::Map)?, true)
            } else {
                ensure_map(&mut self.doc, &obj, key)?
            };
        }
        match patch.mode {
            PatchMode::Merge => write_value(&mut self.doc, &obj, last, &patch.value, fresh),
            PatchMode::Replace => write_new(&mut self.doc, &obj, last, &patch.value),
            PatchMode::Delete => {
                if !fresh && self.doc.get(&obj, last.as_str())?.is_some() {
                    self.doc.delete(&obj, last.as_str())?;
                }
                Ok(())
            }
        }
    }

    /// How many contacts the case holds (what makes reading it long).
    pub fn visit_count(&self) -> usize {
        match self.doc.get(&ROOT, "visits") {
            Ok(Some((Value::Object(ObjType::Map), id))) => self.doc.length(&id),
            _ => 0,
        }
    }

    /// Whether a map exists at `path` (e.g. `["visits", id]`).
    pub fn exists(&self, path: &[&str]) -> bool {
        let mut obj = ROOT;
        for key in path {
            match self.doc.get(&obj, *key) {
                Ok(Some((Value::Object(ObjType::Map), child))) => obj = child,
                _ => return false,
            }
        }
        true
    }

    /// Every field currently holding more than one value.
    pub fn conflicts(&mut self) -> Vec<Conflict> {
        let mut found = Vec::new();
        walk_conflicts(&self.doc, &ROOT, String::new(), &mut found);
        found
            .into_iter()
            .map(|(field, values)| Conflict {
                field,
                values: values
                    .into_iter()
                    .map(|(value, id)| {
                        let (by, device, at) = self.who_wrote(&id);
                        ConflictValue {
                            value,
                            by,
                            device,
                            at,
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    fn who_wrote(&mut self, op: &ObjId) -> (String, String, String) {
        let Some(hash) = self.doc.hash_for_opid(op) else {
            return Default::default();
        };
        match self.doc.get_change_meta_by_hash(&hash) {
            Some(m) => {
                let msg: Option<ChangeMessage> = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                let (by, device) = msg.map(|m| (m.by, m.device)).unwrap_or_default();
                (by, device, timestamp_string(m.timestamp))
            }
            None => Default::default(),
        }
    }

    /// Settles a conflict at `field` (a `/`-separated path) with `value`,
    /// which may be one of the conflicting values or a new one.
    pub fn resolve(
        &mut self,
        author: &Author,
        at: DateTime<Utc>,
        field: &str,
        value: Json,
    ) -> Result<()> {
        let parts: Vec<&str> = field.split('/').collect();
        let Some((last, parents)) = parts.split_last() else {
            return Err(Error::NoSuchConflict);
        };
        let mut obj = ROOT;
        for key in parents {
            match self.doc.get(&obj, *key) {
                Ok(Some((Value::Object(ObjType::Map), child))) => obj = child,
                _ => return Err(Error::NoSuchConflict),
            }
        }
        if self.doc.get_all(&obj, *last).map(|v| v.len()).unwrap_or(0) < 2 {
            return Err(Error::NoSuchConflict);
        }
        let result = match &value {
            Json::Object(map) => self
                .doc
                .put_object(&obj, *last, ObjType::Map)
                .map_err(Error::from)
                .and_then(|child| write_map(&mut self.doc, &child, map, true)),
            other => write_new(&mut self.doc, &obj, last, other),
        };
        if let Err(e) = result {
            self.doc.rollback();
            return Err(e);
        }
        self.commit(author, &format!("conflict resolved: {field}"), at);
        Ok(())
    }

    /// Every change, oldest first, with who made it and when.
    pub fn history(&mut self) -> Vec<HistoryEntry> {
        let mut metas = self.doc.get_changes_meta(&[]);
        // The same order on every replica, whatever order changes arrived
        // in: by time, then by op counter (a change always follows what it
        // depends on), then by hash.
        metas.sort_by(|a, b| {
            (a.timestamp, a.start_op, a.hash).cmp(&(b.timestamp, b.start_op, b.hash))
        });
        metas
            .into_iter()
            .map(|m| {
                let msg: Option<ChangeMessage> = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                let (by, role, device, what) = msg
                    .map(|m| (m.by, m.role, m.device, m.what))
                    .unwrap_or_default();
                HistoryEntry {
                    at: timestamp_string(m.timestamp),
                    by,
                    role,
                    device,
                    what,
                    change: m.hash.to_string(),
                }
            })
            .collect()
    }
}

/// Collections of records keyed by id.
const RECORD_COLLECTIONS: &[&str] = &[
    "consents",
    "goals",
    "scales",
    "visits",
    "concerns",
    "referrals",
    "meetings",
    "events",
];

/// Removes from `parent[collection]` every entry that does not deserialize as
/// that collection's record type, noting its path.
fn prune_unreadable(
    parent: &mut Map<String, Json>,
    collection: &str,
    unreadable: &mut Vec<String>,
) {
    use super::model as m;
    let Some(Json::Object(entries)) = parent.get_mut(collection) else {
        parent.remove(collection);
        return;
    };
    fn fits<T: serde::de::DeserializeOwned>(v: &Json) -> bool {
        T::deserialize(v).is_ok()
    }
    let check: fn(&Json) -> bool = match collection {
        "consents" => fits::<m::Consent>,
        "goals" => fits::<m::Goal>,
        "scales" => fits::<m::ScaleReading>,
        "visits" => fits::<m::Visit>,
        "concerns" => fits::<m::Concern>,
        "referrals" => fits::<m::Referral>,
        "meetings" => fits::<m::Meeting>,
        "events" => fits::<m::ProgrammeEvent>,
        "danger_statements" => fits::<m::DangerStatement>,
        _ => fits::<m::SosEntry>,
    };
    let bad: Vec<String> = entries
        .iter()
        .filter(|(_, v)| !check(v))
        .map(|(k, _)| k.clone())
        .collect();
    for k in bad {
        entries.remove(&k);
        unreadable.push(format!("{collection}/{k}"));
    }
}

/// Why a stored document could not be rebuilt.
#[derive(Debug, PartialEq, Eq)]
pub enum DocLoadError {
    Snapshot,
    Chunk(usize),
}

type FoundConflict = (String, Vec<(Json, ObjId)>);

fn walk_conflicts(doc: &AutoCommit, obj: &ObjId, path: String, out: &mut Vec<FoundConflict>) {
    for key in doc.keys(obj) {
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}/{key}")
        };
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        if all.len() > 1 {
            // Automerge's default winner is the last; list it first.
            let values = all
                .iter()
                .rev()
                .map(|(v, id)| (value_json(doc, v, id), id.clone()))
                .collect();
            out.push((field.clone(), values));
        }
        if let Ok(Some((Value::Object(ObjType::Map), child))) = doc.get(obj, key.as_str()) {
            walk_conflicts(doc, &child, field, out);
        }
    }
}

fn timestamp_string(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(instant_string)
        .unwrap_or_default()
}

/// The map at `obj[key]`, created if missing; `true` when it was just created.
fn ensure_map(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<(ObjId, bool)> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok((id, false)),
        _ => Ok((doc.put_object(obj, key, ObjType::Map)?, true)),
    }
}

/// Writes every member of `map` into `obj`. `fresh` means `obj` was just
/// created, so there is nothing to compare against (the common case of a new
/// record, and the hot path of recording a visit).
fn write_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    map: &Map<String, Json>,
    fresh: bool,
) -> Result<()> {
    for (k, v) in map {
        write_value(doc, obj, k, v, fresh)?;
    }
    Ok(())
}

/// Writes `value` at `obj[key]` unless it is already there.
fn write_value(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: &Json,
    fresh: bool,
) -> Result<()> {
    match value {
        Json::Null => Ok(()),
        Json::Object(map) => {
            let (child, created) = if fresh {
                (doc.put_object(obj, key, ObjType::Map)?, true)
            } else {
                ensure_map(doc, obj, key)?
            };
            write_map(doc, &child, map, created)
        }
        other => {
            let unchanged = !fresh
                && match doc.get(obj, key)? {
                    Some((v, id)) => {
                        value_json(doc, &v, &id) == *other && doc.get_all(obj, key)?.len() == 1
                    }
                    None => false,
                };
            if unchanged {
                Ok(())
            } else {
                write_new(doc, obj, key, other)
            }
        }
    }
}

/// Puts a scalar or a list, replacing whatever `obj[key]` held.
fn write_new(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &Json) -> Result<()> {
    match value {
        Json::Array(items) => {
            let list = doc.put_object(obj, key, ObjType::List)?;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::Object(map) => {
                        let child = doc.insert_object(&list, i, ObjType::Map)?;
                        write_map(doc, &child, map, true)?;
                    }
                    other => {
                        doc.insert(&list, i, to_scalar(other))?;
                    }
                }
            }
            Ok(())
        }
        Json::Object(map) => {
            let child = doc.put_object(obj, key, ObjType::Map)?;
            write_map(doc, &child, map, true)
        }
        other => {
            doc.put(obj, key, to_scalar(other))?;
            Ok(())
        }
    }
}

fn to_scalar(v: &Json) -> ScalarValue {
    match v {
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        _ => ScalarValue::Null,
    }
}

fn scalar_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::F64(f) => Json::from(*f),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Timestamp(t) => Json::from(*t),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::Bytes(b) => Json::String(hex::encode(b)),
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
    }
}

fn hydrated_json(v: &automerge::hydrate::Value) -> Json {
    use automerge::hydrate::Value as H;
    match v {
        H::Scalar(s) => scalar_json(s),
        H::Map(m) => Json::Object(
            m.iter()
                .map(|(k, mv)| (k.clone(), hydrated_json(&mv.value)))
                .collect(),
        ),
        H::List(l) => Json::Array(l.iter().map(|lv| hydrated_json(&lv.value)).collect()),
        H::Text(t) => Json::String(t.to_string()),
    }
}

/// The JSON form of a value found at some key (an object is read whole).
fn value_json<R: ReadDoc>(doc: &R, v: &Value<'_>, id: &ObjId) -> Json {
    match v {
        Value::Scalar(s) => scalar_json(s),
        Value::Object(ObjType::Map) | Value::Object(ObjType::Table) => {
            let mut map = Map::new();
            for key in doc.keys(id) {
                if let Ok(Some((cv, cid))) = doc.get(id, key.as_str()) {
                    map.insert(key, value_json(doc, &cv, &cid));
                }
            }
            Json::Object(map)
        }
        Value::Object(ObjType::List) => {
            let n = doc.length(id);
            let items = (0..n)
                .filter_map(|i| doc.get(id, i).ok().flatten())
                .map(|(cv, cid)| value_json(doc, &cv, &cid))
                .collect();
            Json::Array(items)
        }
        Value::Object(ObjType::Text) => Json::String(doc.text(id).unwrap_or_default()),
    }
}
