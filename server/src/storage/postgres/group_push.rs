//! A push group checked against facts read once for the whole group and
//! written in one statement.
//!
//! Why: the writer thread is one connection, and every statement it makes
//! is a round trip it waits for, in series, while every push of the herd
//! waits behind it. Push by push ([`push::push_in`]) that is four to eight
//! statements a push (its savepoint, its cases' share locks, their facts,
//! each envelope key's starter and holder, each recipient, the writes);
//! here it is a handful for the whole group, whatever its size.
//!
//! Only the common case is done here: a live device writing, once per
//! group and within its quota, to cases that exist and that it may read at
//! their current epoch, or registering a new case (with its recovery
//! envelope), and sealing keys to devices that may read the case. Every
//! other push — a refusal of any kind, an old epoch, an erased or
//! transferred case, a recovery envelope from a device that did not start
//! the epoch, a case another push of the group registers, a device's second
//! push in the group — is left to [`push::push_in`], in its own savepoint,
//! after this group's writes. Nothing here refuses anything, so no refusal
//! can differ from the rules' own. The group's order is arbitrary anyway
//! (its pushes arrived together), so "these first, then the others one by
//! one" is a serial order like any other.
//!
//! The facts hold for the whole group: its cases are share-locked first
//! (no rotation, transfer, assignment or erasure of them commits under it,
//! and every lock is taken before the log lock), and the only facts one
//! push of this kind changes for another are keys received (an envelope
//! sealed to a device makes it a key holder), carried from push to push
//! here (`Plan::received`), and cases registered, which no other push of
//! the plan may name (`Plan::registered`).

use std::collections::{BTreeSet, HashMap, HashSet};

use outreach_protocol::{Ack, Id, PushResponse, RECOVERY_RECIPIENT};

use super::{Tx, id, may_access, push, rules, share_cases};
use crate::storage::group::PushJob;
use crate::storage::{Result, StorageError};

/// How a group's pushes were decided.
pub(super) struct Decided {
    /// Each push's result, in the jobs' order.
    pub(super) results: Vec<Result<PushResponse>>,
    /// The order they were decided in: the plan's, then the others' (for
    /// the tests, which replay it push by push).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) order: Vec<usize>,
    /// How many of them the plan wrote.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) planned: usize,
}

/// Pushes `jobs` in the caller's transaction: the common ones together,
/// the rest one by one. An `Err` fails the whole group (nothing of it is
/// kept).
pub(super) fn push_group(tx: &Tx, jobs: &[PushJob], quota: u64) -> Result<Decided> {
    let cases: BTreeSet<Id> = jobs
        .iter()
        .flat_map(|j| {
            j.changes
                .iter()
                .map(|c| c.case_id)
                .chain(j.envelopes.iter().map(|e| e.case_id))
        })
        .collect();
    // Before the facts, in a statement of its own: read committed gives a
    // statement the snapshot of its start, and the facts must come after
    // any commit the locks waited for.
    share_cases(tx, cases.iter().copied())?;
    let facts = Facts::load(tx, jobs, &cases)?;
    let mut plan = Plan::default();
    let mut devices = HashSet::new();
    let mut slow = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        // A device's second push in the group may depend on its first
        // (a retry of the same upload): one by one, after.
        let first = devices.insert(job.device.device_id);
        if !(first && plan.add(i, job, &facts, quota)) {
            slow.push(i);
        }
    }
    let mut results: Vec<Option<Result<PushResponse>>> = jobs.iter().map(|_| None).collect();
    // The order the pushes are decided in: the plan's, then the others'.
    let mut order: Vec<usize> = plan.pushes.iter().map(|p| p.job).collect();
    match tx.savepoint(|| plan.write(tx, jobs, quota)) {
        Ok(responses) => {
            for (i, response) in responses {
                results[i] = Some(Ok(response));
            }
        }
        // Something another instance committed since the facts were read
        // (the same upload, a case registered, a device's bytes counted) or
        // a deadlock with a revocation: the plan's writes are rolled back
        // and its pushes go on alone too, each deciding on what is there
        // now — one push's conflict is no reason to fail its group.
        Err(e) => {
            tracing::info!(error = %e, pushes = order.len(), "a push group's plan fell back to pushes one by one");
            slow = std::mem::take(&mut order).into_iter().chain(slow).collect();
        }
    }
    let planned = order.len();
    order.extend(&slow);
    for i in slow {
        let job = &jobs[i];
        results[i] = Some(tx.savepoint(|| {
            push::push_in(
                tx,
                &job.device,
                &job.changes,
                &job.envelopes,
                job.now,
                quota,
            )
        }));
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StorageError::CommitFailed)))
        .collect();
    Ok(Decided {
        results,
        order,
        planned,
    })
}

/// What the group's pushes are decided on, read in one statement.
#[derive(Default)]
struct Facts {
    /// Each existing case: team, epoch.
    cases: HashMap<Id, (Option<String>, u32)>,
    /// (case, user) for the pushers' users assigned to the group's cases.
    assigned: HashSet<(Id, Id)>,
    /// Each pushing device: whether live, bytes stored.
    devices: HashMap<Id, (bool, u64)>,
    /// Changes already in the log, (device, client id) → (sequence number,
    /// case).
    stored: HashMap<(Id, Id), (u64, Id)>,
    /// Who started each case key epoch the group seals.
    starters: HashMap<(Id, u32), Id>,
    /// (case, epoch, device) where another device sealed the key to the
    /// device.
    received: HashSet<(Id, u32, Id)>,
    /// (recipient, case) where the recipient is a live device that may read
    /// the case.
    may_read: HashSet<(Id, Id)>,
    /// The group's case ids that were erased.
    erased: HashSet<Id>,
    /// The live devices of each user whose push could register a case.
    user_devices: HashMap<Id, Vec<Id>>,
    /// The live devices of the supervisors of each such user's team.
    supervisor_devices: HashMap<String, Vec<Id>>,
}

/// One statement, one row shape: a tag and the columns each tag uses.
/// Every branch is an index lookup per element of its arrays (`LATERAL`
/// where a generic plan would otherwise hash a whole table: every device,
/// every assignment).
const GROUP_FACTS: &str = "
    SELECT 0, c.case_id, NULL::bytea, NULL::bytea, c.epoch, c.team, NULL::bool
      FROM cases c WHERE c.case_id = ANY($1)
    UNION ALL
    SELECT 1, a.case_id, a.user_id, NULL, NULL, NULL, NULL
      FROM assignments a WHERE a.case_id = ANY($1) AND a.user_id = ANY($2)
    UNION ALL
    SELECT 2, d.device_id, NULL, NULL, d.stored_bytes, NULL, d.revoked_at IS NULL
      FROM devices d WHERE d.device_id = ANY($3)
    UNION ALL
    SELECT 3, l.device_id, l.client_id, l.case_id, l.seq, NULL, NULL
      FROM unnest($4::bytea[], $5::bytea[]) AS k(device_id, client_id)
      JOIN log l ON l.kind = 0 AND l.device_id = k.device_id AND l.client_id = k.client_id
    UNION ALL
    SELECT 4, ce.case_id, ce.device_id, NULL, ce.epoch, NULL, NULL
      FROM unnest($6::bytea[], $7::bigint[]) AS k(case_id, epoch)
      JOIN case_epochs ce ON ce.case_id = k.case_id AND ce.epoch = k.epoch
    UNION ALL
    SELECT 5, k.case_id, k.device_id, NULL, k.epoch, NULL, NULL
      FROM unnest($8::bytea[], $9::bigint[], $10::bytea[]) AS k(case_id, epoch, device_id)
      WHERE EXISTS (SELECT 1 FROM log l WHERE l.kind = 1 AND l.case_id = k.case_id
                      AND l.epoch = k.epoch AND l.target = k.device_id
                      AND l.device_id <> k.device_id)
    UNION ALL
    SELECT 6, k.recipient, k.case_id, NULL, NULL, NULL, NULL
      FROM unnest($11::bytea[], $12::bytea[]) AS k(recipient, case_id)
      CROSS JOIN LATERAL (
          SELECT 1 FROM cases c JOIN devices d ON d.device_id = k.recipient
          WHERE c.case_id = k.case_id AND d.revoked_at IS NULL
            AND (EXISTS (SELECT 1 FROM assignments a
                         WHERE a.case_id = k.case_id AND a.user_id = d.user_id)
                 OR (c.team IS NOT NULL AND EXISTS (
                     SELECT 1 FROM users u WHERE u.user_id = d.user_id
                       AND u.team = c.team AND u.role = 'supervisor')))
          LIMIT 1) ok
    UNION ALL
    SELECT 7, e.case_id, NULL, NULL, NULL, NULL, NULL FROM erased e WHERE e.case_id = ANY($1)
    UNION ALL
    SELECT 8, d.user_id, d.device_id, NULL, NULL, NULL, NULL
      FROM unnest($14::bytea[]) AS k(user_id)
      CROSS JOIN LATERAL (SELECT d.user_id, d.device_id FROM devices d
                          WHERE d.user_id = k.user_id AND d.revoked_at IS NULL OFFSET 0) d
    UNION ALL
    SELECT 9, d.device_id, NULL, NULL, NULL, u.team, NULL
      FROM users u
      CROSS JOIN LATERAL (SELECT d.device_id FROM devices d
                          WHERE d.user_id = u.user_id AND d.revoked_at IS NULL OFFSET 0) d
      WHERE u.team = ANY($13) AND u.role = 'supervisor'";

impl Facts {
    fn load(tx: &Tx, jobs: &[PushJob], cases: &BTreeSet<Id>) -> Result<Self> {
        let case_ids: Vec<&[u8]> = cases.iter().map(|c| &c[..]).collect();
        let users: BTreeSet<&[u8]> = jobs.iter().map(|j| &j.device.user.user_id[..]).collect();
        let users: Vec<&[u8]> = users.into_iter().collect();
        let devices: BTreeSet<&[u8]> = jobs.iter().map(|j| &j.device.device_id[..]).collect();
        let devices: Vec<&[u8]> = devices.into_iter().collect();
        let (mut stored_devices, mut stored_ids) = (Vec::new(), Vec::new());
        for job in jobs {
            for c in &job.changes {
                stored_devices.push(&job.device.device_id[..]);
                stored_ids.push(&c.client_id[..]);
            }
        }
        let keys: BTreeSet<(Id, u32)> = jobs
            .iter()
            .flat_map(|j| j.envelopes.iter().map(|e| (e.case_id, e.epoch)))
            .collect();
        let (key_cases, key_epochs): (Vec<&[u8]>, Vec<i64>) =
            keys.iter().map(|(c, e)| (&c[..], i64::from(*e))).unzip();
        let sealers: BTreeSet<(Id, u32, Id)> = jobs
            .iter()
            .flat_map(|j| {
                j.envelopes
                    .iter()
                    .map(|e| (e.case_id, e.epoch, j.device.device_id))
            })
            .collect();
        let (mut sealer_cases, mut sealer_epochs, mut sealer_ids) =
            (Vec::new(), Vec::new(), Vec::new());
        for (c, e, d) in &sealers {
            sealer_cases.push(&c[..]);
            sealer_epochs.push(i64::from(*e));
            sealer_ids.push(&d[..]);
        }
        // Whether each recipient may read the case (its case's team
        // decides: see `device_may_read`).
        let recipients: BTreeSet<(Id, Id)> = jobs
            .iter()
            .flat_map(|j| {
                j.envelopes
                    .iter()
                    .filter(|e| e.recipient != RECOVERY_RECIPIENT)
                    .map(|e| (e.recipient, e.case_id))
            })
            .collect();
        let (rec_ids, rec_cases): (Vec<&[u8]>, Vec<&[u8]>) =
            recipients.iter().map(|(r, c)| (&r[..], &c[..])).unzip();
        // For a case registered in the group, who may read it: her devices
        // and her team's supervisors'. Asked only for the pushes that could
        // register one (a new case comes with its recovery envelope).
        let registering: Vec<&PushJob> = jobs
            .iter()
            .filter(|j| {
                j.envelopes
                    .iter()
                    .any(|e| e.recipient == RECOVERY_RECIPIENT && e.epoch == 0)
            })
            .collect();
        let readers_of: BTreeSet<&[u8]> = registering
            .iter()
            .map(|j| &j.device.user.user_id[..])
            .collect();
        let readers_of: Vec<&[u8]> = readers_of.into_iter().collect();
        let teams: BTreeSet<&str> = registering
            .iter()
            .filter_map(|j| j.device.user.team.as_deref())
            .collect();
        let teams: Vec<&str> = teams.into_iter().collect();
        let rows = tx.rows(
            GROUP_FACTS,
            &[
                &case_ids,
                &users,
                &devices,
                &stored_devices,
                &stored_ids,
                &key_cases,
                &key_epochs,
                &sealer_cases,
                &sealer_epochs,
                &sealer_ids,
                &rec_ids,
                &rec_cases,
                &teams,
                &readers_of,
            ],
        )?;
        let mut facts = Facts::default();
        for r in &rows {
            let a = id(r.try_get(1)?)?;
            let b = || -> Result<Id> { id(r.try_get(2)?) };
            let n =
                || -> Result<i64> { r.try_get::<_, Option<i64>>(4)?.ok_or(StorageError::Corrupt) };
            match r.try_get::<_, i32>(0)? {
                0 => {
                    facts.cases.insert(a, (r.try_get(5)?, epoch(n()?)?));
                }
                1 => {
                    facts.assigned.insert((a, b()?));
                }
                2 => {
                    let live: bool = r.try_get(6)?;
                    facts
                        .devices
                        .insert(a, (live, u64::try_from(n()?).unwrap_or(0)));
                }
                3 => {
                    let seq = u64::try_from(n()?).map_err(|_| StorageError::Corrupt)?;
                    facts.stored.insert((a, b()?), (seq, id(r.try_get(3)?)?));
                }
                4 => {
                    facts.starters.insert((a, epoch(n()?)?), b()?);
                }
                5 => {
                    facts.received.insert((a, epoch(n()?)?, b()?));
                }
                6 => {
                    facts.may_read.insert((a, b()?));
                }
                7 => {
                    facts.erased.insert(a);
                }
                8 => {
                    facts.user_devices.entry(a).or_default().push(b()?);
                }
                9 => {
                    let team: String = r.try_get(5)?;
                    facts.supervisor_devices.entry(team).or_default().push(a);
                }
                _ => return Err(StorageError::Corrupt),
            }
        }
        Ok(facts)
    }
}

fn epoch(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| StorageError::Corrupt)
}

/// The group's common pushes, checked, and their writes.
#[derive(Default)]
struct Plan {
    /// The planned pushes, in the group's order.
    pushes: Vec<Planned>,
    /// Keys sealed to a device by another in a push planned here (case,
    /// epoch, recipient): it holds them for the pushes after it.
    received: HashSet<(Id, u32, Id)>,
    /// Cases registered by a push planned here: any other push naming one
    /// is left to the rules, after this plan's writes.
    registered: HashSet<Id>,
    changes: Columns,
    envelopes: Columns,
    met_cases: Vec<Vec<u8>>,
    met_epochs: Vec<i64>,
    met_recipients: Vec<Vec<u8>>,
    new_cases: NewCases,
    /// Bytes of the items planned.
    bytes: usize,
    /// [`MAX_PLAN_BYTES`], unless a test sets less.
    limit: Option<usize>,
}

/// Bytes of items one plan writes at most; pushes past it go on alone.
/// Every planned body travels in one statement's arrays, and PostgreSQL
/// takes at most 1 GiB in one message and one array: a full group of the
/// largest pushes would reach it (128 × 8 MiB).
const MAX_PLAN_BYTES: usize = 64 << 20;

struct Planned {
    job: usize,
    /// Per change of the job: its sequence number if it is stored already.
    stored: Vec<Option<u64>>,
}

/// A log insert's columns, one array each.
#[derive(Default)]
struct Columns {
    devices: Vec<Vec<u8>>,
    cases: Vec<Vec<u8>>,
    epochs: Vec<i64>,
    /// A change's client id, an envelope's recipient.
    keys: Vec<Vec<u8>>,
    bodies: Vec<Vec<u8>>,
    /// The time of the push (each push's own).
    at: Vec<i64>,
}

impl Columns {
    fn push(&mut self, job: &PushJob, case: &Id, epoch: u32, key: &Id, body: Vec<u8>) {
        self.at.push(job.now);
        self.devices.push(job.device.device_id.to_vec());
        self.cases.push(case.to_vec());
        self.epochs.push(i64::from(epoch));
        self.keys.push(key.to_vec());
        self.bodies.push(body);
    }
}

/// Cases registered by the plan (as `push::register_case` does one): the
/// case of the pusher's team, assigned to her, its first epoch started by
/// her device, and its key needed by every device that may read it, less
/// those the push itself sealed it to.
#[derive(Default)]
struct NewCases {
    cases: Vec<Vec<u8>>,
    teams: Vec<Option<String>>,
    users: Vec<Vec<u8>>,
    devices: Vec<Vec<u8>>,
    at: Vec<i64>,
    need_cases: Vec<Vec<u8>>,
    need_recipients: Vec<Vec<u8>>,
}

/// What one push adds, before it is accepted into the plan.
struct Draft {
    stored: Vec<Option<u64>>,
    changes: Vec<(usize, Vec<u8>)>,
    /// Envelope index, body, whether it meets a need.
    envelopes: Vec<(usize, Vec<u8>, bool)>,
    /// Cases it registers, with the devices that may read each.
    registers: HashMap<Id, Vec<Id>>,
    /// Its envelopes of a first epoch (case, recipient).
    sealed_first: HashSet<(Id, Id)>,
    /// Bytes of its items.
    bytes: usize,
}

impl Draft {
    /// The case as this push finds it, if the pusher may write to it:
    /// (team, epoch, whether registered by this push).
    fn case<'f>(
        &self,
        facts: &'f Facts,
        job: &'f PushJob,
        case_id: &Id,
    ) -> Option<(Option<&'f str>, u32)> {
        let user = &job.device.user;
        if self.registers.contains_key(case_id) {
            return Some((user.team.as_deref(), 0));
        }
        let (team, epoch) = facts.cases.get(case_id)?;
        let assigned = facts.assigned.contains(&(*case_id, user.user_id));
        may_access(user, team.as_deref(), assigned).then_some((team.as_deref(), *epoch))
    }

    /// The devices that may read a case this push registers.
    fn readers(&self, case_id: &Id) -> Option<&[Id]> {
        self.registers.get(case_id).map(|r| &r[..])
    }
}

impl Plan {
    fn max_bytes(&self) -> usize {
        self.limit.unwrap_or(MAX_PLAN_BYTES)
    }

    /// Plans `job` if it is a common push (see the module's doc); `false`
    /// leaves it to be pushed on its own.
    fn add(&mut self, index: usize, job: &PushJob, facts: &Facts, quota: u64) -> bool {
        let Some(draft) = self.draft(job, facts, quota) else {
            return false;
        };
        if self.bytes.saturating_add(draft.bytes) > self.max_bytes() {
            return false;
        }
        self.bytes += draft.bytes;
        let device = &job.device;
        for (i, body) in draft.changes {
            let c = &job.changes[i];
            self.changes
                .push(job, &c.case_id, c.epoch, &c.client_id, body);
        }
        for (case_id, readers) in &draft.registers {
            let nc = &mut self.new_cases;
            nc.cases.push(case_id.to_vec());
            nc.teams.push(device.user.team.clone());
            nc.users.push(device.user.user_id.to_vec());
            nc.devices.push(device.device_id.to_vec());
            nc.at.push(job.now);
            // Who needs the key (`rules::first_needs`), but those it
            // sealed it to in this push.
            for r in rules::first_needs(readers.clone(), &device.device_id) {
                if !draft.sealed_first.contains(&(*case_id, r)) {
                    nc.need_cases.push(case_id.to_vec());
                    nc.need_recipients.push(r.to_vec());
                }
            }
            self.registered.insert(*case_id);
        }
        for (i, body, meets_need) in draft.envelopes {
            let e = &job.envelopes[i];
            self.envelopes
                .push(job, &e.case_id, e.epoch, &e.recipient, body);
            if meets_need {
                self.met_cases.push(e.case_id.to_vec());
                self.met_epochs.push(i64::from(e.epoch));
                self.met_recipients.push(e.recipient.to_vec());
            }
            if e.recipient != RECOVERY_RECIPIENT && e.recipient != device.device_id {
                self.received.insert((e.case_id, e.epoch, e.recipient));
            }
        }
        self.pushes.push(Planned {
            job: index,
            stored: draft.stored,
        });
        true
    }

    /// `job`'s writes if every one of its items is one the rules accept
    /// without a further lookup; `None` otherwise.
    fn draft(&self, job: &PushJob, facts: &Facts, quota: u64) -> Option<Draft> {
        let device = &job.device;
        let &(live, stored_bytes) = facts.devices.get(&device.device_id)?;
        if !live {
            return None;
        }
        let mut bytes = 0u64;
        let mut ids = HashSet::new();
        let mut draft = Draft {
            stored: Vec::with_capacity(job.changes.len()),
            changes: Vec::with_capacity(job.changes.len()),
            envelopes: Vec::with_capacity(job.envelopes.len()),
            registers: HashMap::new(),
            sealed_first: HashSet::new(),
            bytes: 0,
        };
        for (i, change) in job.changes.iter().enumerate() {
            let case_epoch = match draft.case(facts, job, &change.case_id) {
                Some((_, epoch)) => epoch,
                // A case first seen here, registered by this push.
                None if !facts.cases.contains_key(&change.case_id)
                    && !facts.erased.contains(&change.case_id)
                    && !self.registered.contains(&change.case_id)
                    && rules::may_register_case(device, &change.case_id, &job.envelopes)
                        .is_ok() =>
                {
                    let mut readers = facts
                        .user_devices
                        .get(&device.user.user_id)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(team) = &device.user.team {
                        readers.extend(facts.supervisor_devices.get(team).into_iter().flatten());
                    }
                    readers.sort_unstable();
                    readers.dedup();
                    draft.registers.insert(change.case_id, readers);
                    0
                }
                None => return None,
            };
            if change.epoch != case_epoch || !ids.insert(change.client_id) {
                return None;
            }
            match facts.stored.get(&(device.device_id, change.client_id)) {
                Some((seq, case_id)) if *case_id == change.case_id => {
                    draft.stored.push(Some(*seq));
                }
                Some(_) => return None,
                None => {
                    let body = push::change_body(change);
                    bytes = bytes.saturating_add(body.len() as u64);
                    draft.stored.push(None);
                    draft.changes.push((i, body));
                }
            }
        }
        for (i, env) in job.envelopes.iter().enumerate() {
            let (_, case_epoch) = draft.case(facts, job, &env.case_id)?;
            rules::push_envelope(env, case_epoch).ok()?;
            let key = (env.case_id, env.epoch);
            let starter = match draft.readers(&env.case_id) {
                Some(_) => Some(&device.device_id),
                None => facts.starters.get(&key),
            };
            if env.recipient == RECOVERY_RECIPIENT {
                if starter != Some(&device.device_id) {
                    return None;
                }
            } else {
                let may_read = match draft.readers(&env.case_id) {
                    Some(readers) => readers.contains(&env.recipient),
                    None => facts.may_read.contains(&(env.recipient, env.case_id)),
                };
                if !may_read {
                    return None;
                }
            }
            // A need of a case registered here is not written in the first
            // place (see `add`).
            let holds_key = draft.readers(&env.case_id).is_none()
                && (starter == Some(&device.device_id)
                    || facts
                        .received
                        .contains(&(env.case_id, env.epoch, device.device_id))
                    || self
                        .received
                        .contains(&(env.case_id, env.epoch, device.device_id)));
            let body = push::envelope_body(env);
            bytes = bytes.saturating_add(body.len() as u64);
            draft.envelopes.push((i, body, holds_key));
            if env.epoch == 0 && draft.readers(&env.case_id).is_some() {
                draft.sealed_first.insert((env.case_id, env.recipient));
            }
        }
        // At most this many bytes are added (fewer if an envelope is there
        // already): within the quota, whatever is there already.
        if bytes > 0 && rules::within_quota(stored_bytes.saturating_add(bytes), quota).is_err() {
            return None;
        }
        draft.bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        Some(draft)
    }

    /// Writes the plan in one statement; each planned push's response.
    fn write(self, tx: &Tx, jobs: &[PushJob], quota: u64) -> Result<Vec<(usize, PushResponse)>> {
        if self.pushes.is_empty() {
            return Ok(Vec::new());
        }
        // (device, client id) → sequence number, for each change appended.
        let mut appended: HashMap<(Id, Id), u64> = HashMap::new();
        // Device → envelopes appended.
        let mut envelopes: HashMap<Id, u32> = HashMap::new();
        if !self.changes.bodies.is_empty()
            || !self.envelopes.bodies.is_empty()
            || !self.new_cases.cases.is_empty()
        {
            tx.lock_log()?;
            let nc = &self.new_cases;
            let rows = tx.rows(
                &push::WRITE_ITEMS,
                &[
                    &self.changes.at,
                    &self.changes.devices,
                    &self.changes.cases,
                    &self.changes.epochs,
                    &self.changes.keys,
                    &self.changes.bodies,
                    &self.envelopes.devices,
                    &self.envelopes.cases,
                    &self.envelopes.epochs,
                    &self.envelopes.keys,
                    &self.envelopes.bodies,
                    &self.envelopes.at,
                    &self.met_cases,
                    &self.met_epochs,
                    &self.met_recipients,
                    &nc.cases,
                    &nc.teams,
                    &nc.users,
                    &nc.devices,
                    &nc.at,
                    &nc.need_cases,
                    &nc.need_recipients,
                ],
            )?;
            for r in &rows {
                let device = id(r.try_get(1)?)?;
                match r.try_get::<_, Option<Vec<u8>>>(2)? {
                    Some(client_id) => {
                        let seq = r.try_get::<_, i64>(3)?;
                        appended.insert(
                            (device, id(client_id)?),
                            u64::try_from(seq).map_err(|_| StorageError::Corrupt)?,
                        );
                    }
                    None => {
                        // Planned within the quota as the facts had it; a
                        // push of the same device on another instance may
                        // have committed since: the plan falls back to
                        // pushes one by one (`push_group`).
                        let total = r.try_get::<_, i64>(5)?;
                        if rules::within_quota(u64::try_from(total).unwrap_or(0), quota).is_err() {
                            return Err(StorageError::Retryable);
                        }
                        let count = r.try_get::<_, i64>(4)?;
                        envelopes.insert(device, u32::try_from(count).unwrap_or(u32::MAX));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(self.pushes.len());
        for planned in self.pushes {
            let job = &jobs[planned.job];
            let device = job.device.device_id;
            let mut acks = Vec::with_capacity(job.changes.len());
            for (change, stored) in job.changes.iter().zip(&planned.stored) {
                let seq = match stored {
                    Some(seq) => *seq,
                    // Not appended though not stored when the facts were
                    // read: another instance stored it meanwhile, and the
                    // plan falls back to pushes one by one.
                    None => *appended
                        .get(&(device, change.client_id))
                        .ok_or(StorageError::Retryable)?,
                };
                acks.push(Ack {
                    client_id: change.client_id,
                    seq,
                });
            }
            out.push((
                planned.job,
                PushResponse {
                    acks,
                    envelopes_stored: envelopes.get(&device).copied().unwrap_or(0),
                    stale: Vec::new(),
                },
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Device, User};
    use outreach_protocol::{Change, Role};

    fn job(n: u8, bytes: usize) -> PushJob {
        let (reply, _) = tokio::sync::oneshot::channel();
        PushJob {
            device: Device {
                device_id: [n; 16],
                user: User {
                    user_id: [n; 16],
                    name: format!("P{n}"),
                    role: Role::Practitioner,
                    team: Some("north".into()),
                },
                sign_pk: [0; 32],
                kex_pk: [0; 32],
                revoked: false,
            },
            changes: vec![Change {
                client_id: [n; 16],
                case_id: [0xc1; 16],
                epoch: 0,
                author: [n; 16],
                ciphertext: vec![0; bytes],
                signature: vec![0; 64],
            }],
            envelopes: Vec::new(),
            now: 0,
            reply,
        }
    }

    /// A plan takes pushes only up to its byte limit (every planned body
    /// travels in one statement, and PostgreSQL takes 1 GiB a message at
    /// most): a push past it is left to be pushed on its own, and a smaller
    /// one after it still fits.
    #[test]
    fn a_plan_stops_at_its_byte_limit() {
        let mut facts = Facts::default();
        facts.cases.insert([0xc1; 16], (Some("north".into()), 0));
        for n in 1..=3 {
            facts.assigned.insert(([0xc1; 16], [n; 16]));
            facts.devices.insert([n; 16], (true, 0));
        }
        let mut plan = Plan {
            limit: Some(3_000),
            ..Plan::default()
        };
        assert!(plan.add(0, &job(1, 2_000), &facts, u64::MAX));
        assert!(
            !plan.add(1, &job(2, 2_000), &facts, u64::MAX),
            "past the limit"
        );
        assert!(plan.add(2, &job(3, 500), &facts, u64::MAX));
        assert_eq!(plan.pushes.len(), 2);
        assert!(plan.bytes <= 3_000);
    }
}
