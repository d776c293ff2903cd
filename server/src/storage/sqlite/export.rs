//! [`ServerData`] over a SQLite data directory, for offline recovery.
//!
//! Never reads the database in place: a connection to the original would
//! create or update its `-shm` and could checkpoint its WAL, i.e. write into
//! the server's data. Instead `outreach-server.db` and its `-wal` (if any)
//! are copied into a private temporary folder and that copy is opened. The
//! server may be running: the copy is taken again until the database file
//! was the same before and after (by content hash) and the WAL was not
//! restarted meanwhile (its header is the same), so the copy is one
//! committed state. A torn last WAL frame is ignored by SQLite's checksums.
//! The copy is checked (`quick_check`) before anything is read, and deleted
//! when the snapshot is dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use outreach_protocol::{Id, RECOVERY_RECIPIENT, Role};
use rusqlite::{Connection, OptionalExtension};

use super::{DB_FILE, MIGRATIONS};
use crate::storage::export::{ExportError, ExportedDevice, ExportedItem, ExportedOrg, ServerData};

/// Log kinds read here (see the `log` table in `SCHEMA_V1`).
const KIND_CHANGE: i64 = 0;
const KIND_ENVELOPE: i64 = 1;
/// The schema version that added the `erased` tombstones.
const ERASED_SINCE: i64 = 5;
/// Copies tried while the server keeps changing its files.
const COPY_ATTEMPTS: usize = 10;

/// A private, consistent copy of a server's database, opened read-only.
pub struct SqliteSnapshot {
    conn: Connection,
    version: i64,
    // Dropped after the connection (fields drop in order): the folder goes.
    _copy: PrivateDir,
}

/// A folder only this user can read, removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<Self, ExportError> {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|_| ExportError::Copy("no random bytes".into()))?;
        let path = std::env::temp_dir().join(format!("outreach-recover-{}", hex::encode(raw)));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&path)
            .map_err(|e| ExportError::Copy(e.kind().to_string()))?;
        Ok(Self(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_err(e: std::io::Error) -> ExportError {
    ExportError::Copy(e.kind().to_string())
}

/// Copies `from` to `to`, returning the BLAKE3 hash of what was copied.
fn copy_hashed(from: &Path, to: &Path) -> Result<blake3::Hash, ExportError> {
    let mut src = File::open(from).map_err(copy_err)?;
    let mut dst = File::create(to).map_err(copy_err)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = src.read(&mut buf).map_err(copy_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(copy_err)?;
    }
    dst.sync_all().map_err(copy_err)?;
    Ok(h.finalize())
}

fn hash_file(path: &Path) -> Result<blake3::Hash, ExportError> {
    let mut f = File::open(path).map_err(copy_err)?;
    let mut h = blake3::Hasher::new();
    std::io::copy(&mut f, &mut h).map_err(copy_err)?;
    Ok(h.finalize())
}

/// The WAL's header (magic, page size, checkpoint sequence, salts): it
/// changes exactly when the WAL is restarted. `None` without a WAL.
fn wal_header(path: &Path) -> Result<Option<Vec<u8>>, ExportError> {
    match File::open(path) {
        Ok(mut f) => {
            let mut head = Vec::with_capacity(32);
            Read::by_ref(&mut f)
                .take(32)
                .read_to_end(&mut head)
                .map_err(copy_err)?;
            Ok(Some(head))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(copy_err(e)),
    }
}

impl SqliteSnapshot {
    /// Copies the database of the data folder `data` privately and opens
    /// the copy. Nothing is written in `data`.
    pub fn open(data: &Path) -> Result<Self, ExportError> {
        let db = data.join(DB_FILE);
        if !db.is_file() {
            return Err(ExportError::NoDatabase {
                file: DB_FILE,
                dir: data.display().to_string(),
            });
        }
        let wal = data.join(format!("{DB_FILE}-wal"));
        let copy = PrivateDir::new()?;
        let copy_db = copy.0.join(DB_FILE);
        let copy_wal = copy.0.join(format!("{DB_FILE}-wal"));
        let mut stable = false;
        for attempt in 0..COPY_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(100 * attempt as u64));
            }
            let wal_before = wal_header(&wal)?;
            let copied = copy_hashed(&db, &copy_db)?;
            match &wal_before {
                Some(_) => match copy_hashed(&wal, &copy_wal) {
                    Ok(_) => {}
                    // The server closed its last connection meanwhile (SQLite
                    // removes the WAL then): take the copy again.
                    Err(_) if !wal.exists() => continue,
                    Err(e) => return Err(e),
                },
                None => {
                    let _ = std::fs::remove_file(&copy_wal);
                }
            }
            if hash_file(&db)? == copied && wal_header(&wal)? == wal_before {
                stable = true;
                break;
            }
        }
        if !stable {
            return Err(ExportError::Unstable);
        }
        let conn = Connection::open(&copy_db)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(ExportError::SchemaTooNew(version));
        }
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(ExportError::Damaged(
                "SQLite's integrity check failed".into(),
            ));
        }
        conn.pragma_update(None, "query_only", true)?;
        Ok(Self {
            conn,
            version,
            _copy: copy,
        })
    }
}

fn id16(bytes: Vec<u8>) -> Result<Id, ExportError> {
    bytes
        .try_into()
        .map_err(|_| ExportError::Damaged("an id of the wrong length".into()))
}

fn key32(bytes: Vec<u8>) -> Result<[u8; 32], ExportError> {
    bytes
        .try_into()
        .map_err(|_| ExportError::Damaged("a key of the wrong length".into()))
}

impl ServerData for SqliteSnapshot {
    fn org(&self) -> Result<ExportedOrg, ExportError> {
        let row = self
            .conn
            .query_row(
                "SELECT org_id, name, recovery_pk FROM org WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()?;
        let (org_id, name, pk) = row.ok_or(ExportError::NotInitialised)?;
        Ok(ExportedOrg {
            org_id: id16(org_id)?,
            name,
            recovery_pk: key32(pk)?,
        })
    }

    fn devices(&self) -> Result<Vec<ExportedDevice>, ExportError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.device_id, d.sign_pk, d.revoked_at, u.user_id, u.name, u.role, u.team
             FROM devices d JOIN users u ON u.user_id = d.user_id ORDER BY d.enrolled_at",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (device, pk, revoked_at, user, user_name, role, team) = row?;
            out.push(ExportedDevice {
                device_id: id16(device)?,
                sign_pk: key32(pk)?,
                user_id: id16(user)?,
                user_name,
                role: Role::parse(&role)
                    .ok_or_else(|| ExportError::Damaged("a user with an unknown role".into()))?,
                team,
                revoked_at,
            });
        }
        Ok(out)
    }

    fn cases(&self) -> Result<Vec<Id>, ExportError> {
        // A case's row, or items of it in the log without one (a damaged
        // database still shows what it holds).
        let mut stmt = self.conn.prepare(
            "SELECT case_id FROM (
                 SELECT case_id, created_at AS at FROM cases
                 UNION ALL
                 SELECT case_id, MIN(created_at) FROM log WHERE kind IN (?1, ?2) GROUP BY case_id)
             GROUP BY case_id ORDER BY MIN(at), case_id",
        )?;
        let rows = stmt.query_map([KIND_CHANGE, KIND_ENVELOPE], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| id16(r?)).collect()
    }

    fn erased(&self) -> Result<Vec<(Id, i64)>, ExportError> {
        if self.version < ERASED_SINCE {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT case_id, erased_at FROM erased ORDER BY erased_at, case_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (case, at) = r?;
            Ok((id16(case)?, at))
        })
        .collect()
    }

    fn case_items(&self, case: &Id) -> Result<Vec<ExportedItem>, ExportError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, created_at, body FROM log
             WHERE case_id = ?1 AND (kind = ?2 OR (kind = ?3 AND target = ?4))
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![
                &case[..],
                KIND_CHANGE,
                KIND_ENVELOPE,
                &RECOVERY_RECIPIENT[..]
            ],
            |r| {
                Ok(ExportedItem {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    stored_at: r.get(1)?,
                    body: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
