//! `ecgr1 store migrate`: copies a workstation's SQLite history into another store (a
//! department's PostgreSQL database) and verifies both chains.
//!
//! The source chain must verify under its own key first. Every row is copied with new ids
//! (users are matched by name, patients by identifier), and every source event is appended to
//! the destination chain under the destination's key: same actor, role, time, action and
//! payloads, the entity id translated to the destination's, and the reason replaced by a JSON
//! record of the source event's position, entity id, reason and hash. Each source event can so
//! be rebuilt exactly and the source chain re-verified with the workstation's key; the final
//! `import` event records the source chain's signed head (sequence number, hash and MAC) and
//! key id.
//! The copy is one destination transaction: it lands whole or not at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::shared::Store;
use super::shared::chain::{self, Appender, Draft, read_head, read_page};
use super::sql::{Backend, RowRead, SqlTx, Val};
use super::sqlite::SqliteBackend;
use super::{Result, Role, Session, StoreError};
use crate::audit::{AuditEvent, AuditKey, Chain};

/// What the copy did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub source: String,
    pub destination: String,
    pub source_events: u64,
    pub source_head_seq: i64,
    pub source_head_hash: String,
    pub source_key_id: String,
    /// Rows copied per table.
    pub rows: Vec<(String, u64)>,
    /// Destination sequence numbers of the first copied event and of the `import` event.
    pub first_seq: i64,
    pub import_seq: i64,
    /// The destination chain verified after the copy.
    pub destination_events: u64,
}

#[derive(Clone, Debug)]
enum Owned {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Blob(Vec<u8>),
}

impl Owned {
    fn val(&self) -> Val<'_> {
        match self {
            Self::Int(v) => Val::Int(*v),
            Self::Real(v) => Val::Real(*v),
            Self::Text(v) => Val::Text(v.as_deref()),
            Self::Blob(v) => Val::Blob(v),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

/// A copied column: its name, its type, and the table its ids refer to.
type Column = (&'static str, Kind, Option<&'static str>);

/// The tables with their own ids, in an order where every reference points backwards.
const TABLES: [(&str, &[Column]); 9] = [
    (
        "ecg_inputs",
        &[
            ("file_name", Kind::Text, None),
            ("format", Kind::Text, None),
            ("kind", Kind::Text, None),
            ("sha256", Kind::Text, None),
            ("original", Kind::Blob, None),
            ("sample_rate_hz", Kind::Real, None),
            ("leads_json", Kind::Text, None),
            ("metadata_json", Kind::Text, None),
            ("created_at", Kind::Text, None),
            ("created_by", Kind::Int, Some("users")),
        ],
    ),
    (
        "cases",
        &[
            ("patient_id", Kind::Int, Some("patients")),
            ("ecg_input_id", Kind::Int, Some("ecg_inputs")),
            ("status", Kind::Text, None),
            ("created_at", Kind::Text, None),
            ("created_by", Kind::Int, Some("users")),
        ],
    ),
    (
        "notes",
        &[
            ("case_id", Kind::Int, Some("cases")),
            ("version", Kind::Int, None),
            ("text", Kind::Text, None),
            ("author", Kind::Int, Some("users")),
            ("created_at", Kind::Text, None),
        ],
    ),
    (
        "runs",
        &[
            ("case_id", Kind::Int, Some("cases")),
            ("engine_json", Kind::Text, None),
            ("task", Kind::Text, None),
            ("parameters_json", Kind::Text, None),
            ("seed", Kind::Int, None),
            ("started_at", Kind::Text, None),
            ("finished_at", Kind::Text, None),
            ("raw_output", Kind::Text, None),
            ("report_json", Kind::Text, None),
            ("p_yes", Kind::Real, None),
            ("band", Kind::Text, None),
            ("measurements_json", Kind::Text, None),
            ("verifier_flags_json", Kind::Text, None),
            ("status", Kind::Text, None),
            ("error", Kind::Text, None),
            ("created_by", Kind::Int, Some("users")),
            ("comparison_json", Kind::Text, None),
            ("digitiser_version", Kind::Text, None),
            ("digitisation_json", Kind::Text, None),
            ("digitised_signal_csv", Kind::Text, None),
        ],
    ),
    (
        "decisions",
        &[
            ("run_id", Kind::Int, Some("runs")),
            ("case_id", Kind::Int, Some("cases")),
            ("kind", Kind::Text, None),
            ("final_answer", Kind::Text, None),
            ("reason", Kind::Text, None),
            ("meaning", Kind::Text, None),
            ("signed_at", Kind::Text, None),
            ("signer", Kind::Int, Some("users")),
        ],
    ),
    (
        "case_sets",
        &[
            ("name", Kind::Text, None),
            ("created_at", Kind::Text, None),
            ("created_by", Kind::Int, Some("users")),
        ],
    ),
    (
        "teaching_sessions",
        &[
            ("case_set_id", Kind::Int, Some("case_sets")),
            ("title", Kind::Text, None),
            ("created_at", Kind::Text, None),
            ("created_by", Kind::Int, Some("users")),
        ],
    ),
    (
        "trainee_answers",
        &[
            ("session_id", Kind::Int, Some("teaching_sessions")),
            ("case_id", Kind::Int, Some("cases")),
            ("trainee", Kind::Int, Some("users")),
            ("answer", Kind::Text, None),
            ("answered_at", Kind::Text, None),
        ],
    ),
    (
        "case_set_items",
        &[
            ("case_set_id", Kind::Int, Some("case_sets")),
            ("position", Kind::Int, None),
            ("case_id", Kind::Int, Some("cases")),
        ],
    ),
];

/// Source id → destination id, per table.
#[derive(Default)]
struct IdMap(HashMap<&'static str, HashMap<i64, i64>>);

impl IdMap {
    fn insert(&mut self, table: &'static str, from: i64, to: i64) {
        self.0.entry(table).or_default().insert(from, to);
    }
    fn get(&self, table: &str, from: i64) -> Result<i64> {
        self.0
            .get(table)
            .and_then(|m| m.get(&from))
            .copied()
            .ok_or_else(|| StoreError::Invalid {
                field: "source database".into(),
                problem: format!("a row refers to {table} {from}, which the source does not hold"),
            })
    }
}

/// The table an event's entity id refers to.
fn entity_table(entity_type: &str) -> Option<&'static str> {
    Some(match entity_type {
        "user" => "users",
        "patient" | "patient_identity" => "patients",
        "ecg_input" => "ecg_inputs",
        "case" | "teaching_case" => "cases",
        "note" => "notes",
        "run" | "report" => "runs",
        "decision" => "decisions",
        "case_set" => "case_sets",
        "teaching_session" => "teaching_sessions",
        "trainee_answer" => "trainee_answers",
        _ => return None,
    })
}

/// Where the source is and the key that signs its chain.
#[derive(Clone, Debug)]
pub struct ImportSource {
    pub path: PathBuf,
    pub key: PathBuf,
}

impl<D: Backend> Store<D> {
    /// Copies the SQLite store at `source` into this store, acting as `session` (an admin).
    pub fn import_sqlite(&self, session: &Session, source: &ImportSource) -> Result<ImportReport> {
        if !session.has(Role::Admin) {
            return Err(StoreError::PermissionDenied {
                user: session.name.clone(),
                roles: session.roles_text(),
                action: "copy another store's history into this one".into(),
                needs: "admin".into(),
            });
        }
        if !source.path.is_file() {
            return Err(StoreError::NotADatabase {
                path: source.path.display().to_string(),
                problem: "there is no such file".into(),
            });
        }
        let source_key = AuditKey::load(&source.key)?;
        let report = self.block_on(self.import_async(session, &source.path, &source_key))?;
        Ok(report)
    }

    async fn import_async(
        &self,
        session: &Session,
        path: &Path,
        source_key: &AuditKey,
    ) -> Result<ImportReport> {
        let location = path.display().to_string();
        let src = SqliteBackend::connect_existing(path, &location).await?;
        let mut s = src.read().await?;
        let key_id = Chain::new(source_key).key_id();
        let stored = s
            .fetch_optional(
                "SELECT value FROM store_meta WHERE key = 'audit_key_id'",
                &[],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?;
        if stored.as_deref().is_some_and(|k| k != key_id) {
            return Err(StoreError::WrongKey {
                key: "the source key".into(),
                db: location,
                found: key_id,
                expected: stored.unwrap_or_default(),
            });
        }
        let verification = chain::verify(&mut s, source_key).await?;
        if let Some(b) = &verification.first_break {
            return Err(StoreError::ChainInconsistent {
                problem: format!(
                    "the source history {location} does not verify (event {}: {b}); nothing was copied",
                    b.seq()
                ),
            });
        }
        let head = read_head(&mut s).await?;
        let (head_seq, head_hash, head_mac) = head
            .as_ref()
            .map_or((0, String::new(), String::new()), |h| {
                (h.seq, hex::encode(&h.hash), hex::encode(&h.mac))
            });

        let mut d = self.backend().write().await?;
        let mut ids = IdMap::default();
        let mut rows = Vec::new();
        rows.push((
            "users".to_string(),
            copy_users(&mut s, &mut d, &mut ids).await?,
        ));
        rows.push((
            "patients".to_string(),
            copy_patients(&mut s, &mut d, &mut ids).await?,
        ));
        for (table, columns) in TABLES {
            rows.push((
                table.to_string(),
                copy_table(&mut s, &mut d, table, columns, &mut ids).await?,
            ));
        }

        let mut appender = Appender::start(&mut d, self.key()).await?;
        let mut first_seq = 0;
        let mut after = 0;
        loop {
            let page = read_page(&mut s, after).await?;
            if page.is_empty() {
                break;
            }
            for (event, hash) in page {
                after = event.seq;
                let seq = appender
                    .push(&mut d, imported(&event, &hash, &location, &ids))
                    .await?;
                if first_seq == 0 {
                    first_seq = seq;
                }
            }
        }
        s.commit().await?;
        let draft = Draft::new("import", "audit_chain", &location).after(json!({
            "source": location,
            "source_events": verification.events,
            "source_head_seq": head_seq,
            "source_head_hash": head_hash,
            "source_head_mac": head_mac,
            "source_key_id": key_id,
            "first_seq": first_seq,
            "rows": rows,
        }));
        let import_event = AuditEvent {
            seq: 0,
            at: self.clock_now(),
            actor: session.name.clone(),
            role: session.roles_text(),
            action: draft.action.into(),
            entity_type: draft.entity_type.into(),
            entity_id: draft.entity_id.clone(),
            before_json: None,
            after_json: draft.after.as_ref().map(ToString::to_string),
            reason: Some("copied a workstation's history into this store".into()),
        };
        let import_seq = appender.push(&mut d, import_event).await?;
        appender.finish(&mut d).await?;
        d.commit().await?;
        src.close().await;

        let destination = self.verify_audit_now().await?;
        if let Some(b) = &destination.first_break {
            return Err(StoreError::ChainInconsistent {
                problem: format!("after the copy the destination does not verify: {b}"),
            });
        }
        Ok(ImportReport {
            source: location,
            destination: self.location().to_string(),
            source_events: verification.events,
            source_head_seq: head_seq,
            source_head_hash: head_hash,
            source_key_id: key_id,
            rows,
            first_seq: if first_seq == 0 {
                import_seq
            } else {
                first_seq
            },
            import_seq,
            destination_events: destination.events,
        })
    }
}

/// A source event as appended to the destination chain (see the module docs).
fn imported(event: &AuditEvent, hash: &[u8], source: &str, ids: &IdMap) -> AuditEvent {
    let entity_id = match (&event.entity_id, entity_table(&event.entity_type)) {
        (Some(id), Some(table)) => {
            match id.parse::<i64>().ok().and_then(|n| ids.get(table, n).ok()) {
                Some(mapped) => Some(mapped.to_string()),
                None => Some(id.clone()),
            }
        }
        (id, _) => id.clone(),
    };
    let provenance = json!({
        "imported_from": source,
        "source_seq": event.seq,
        "source_entity_id": event.entity_id,
        "source_reason": event.reason,
        "source_hash": hex::encode(hash),
    });
    AuditEvent {
        seq: 0,
        at: event.at.clone(),
        actor: event.actor.clone(),
        role: event.role.clone(),
        action: event.action.clone(),
        entity_type: event.entity_type.clone(),
        entity_id,
        before_json: event.before_json.clone(),
        after_json: event.after_json.clone(),
        reason: Some(provenance.to_string()),
    }
}

async fn copy_users<S: SqlTx, D: SqlTx>(s: &mut S, d: &mut D, ids: &mut IdMap) -> Result<u64> {
    let users = s
        .fetch_all(
            "SELECT id, name, password_hash, created_at, active FROM users ORDER BY id",
            &[],
        )
        .await?;
    let mut copied = 0;
    for u in &users {
        let (id, name) = (u.i64(0)?, u.text(1)?);
        let existing = d
            .fetch_optional("SELECT id FROM users WHERE name = $1", &[(&name).into()])
            .await?;
        let to = if let Some(row) = existing {
            row.i64(0)?
        } else {
            {
                copied += 1;
                d.insert(
                    "INSERT INTO users (name, password_hash, created_at, active) VALUES ($1, $2, $3, $4) RETURNING id",
                    &[
                        (&name).into(),
                        (&u.opt_text(2)?).into(),
                        (&u.text(3)?).into(),
                        u.i64(4)?.into(),
                    ],
                )
                .await?
            }
        };
        ids.insert("users", id, to);
        for role in s
            .fetch_all(
                "SELECT role FROM user_roles WHERE user_id = $1",
                &[id.into()],
            )
            .await?
        {
            d.execute(
                "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[to.into(), (&role.text(0)?).into()],
            )
            .await?;
        }
    }
    Ok(copied)
}

async fn copy_patients<S: SqlTx, D: SqlTx>(s: &mut S, d: &mut D, ids: &mut IdMap) -> Result<u64> {
    let patients = s
        .fetch_all(
            "SELECT p.id, p.pseudonym, p.created_at, i.name, i.identifier, i.birth_date, i.sex, \
             i.patient_id IS NOT NULL FROM patients p LEFT JOIN patient_identity i ON i.patient_id = p.id ORDER BY p.id",
            &[],
        )
        .await?;
    let mut copied = 0;
    for p in &patients {
        let identifier = p.opt_text(4)?;
        let existing = match &identifier {
            Some(identifier) => d
                .fetch_optional(
                    "SELECT patient_id FROM patient_identity WHERE identifier = $1 LIMIT 1",
                    &[identifier.into()],
                )
                .await?
                .map(|r| r.i64(0))
                .transpose()?,
            None => None,
        };
        let to = if let Some(id) = existing {
            id
        } else {
            {
                copied += 1;
                let id = d
                    .insert(
                        "INSERT INTO patients (pseudonym, created_at) VALUES ($1, $2) RETURNING id",
                        &[(&p.text(1)?).into(), (&p.text(2)?).into()],
                    )
                    .await?;
                if p.i64(7)? != 0 {
                    d.execute(
                        "INSERT INTO patient_identity (patient_id, name, identifier, birth_date, sex) \
                         VALUES ($1, $2, $3, $4, $5)",
                        &[
                            id.into(),
                            (&p.opt_text(3)?).into(),
                            (&identifier).into(),
                            (&p.opt_text(5)?).into(),
                            (&p.opt_text(6)?).into(),
                        ],
                    )
                    .await?;
                }
                id
            }
        };
        ids.insert("patients", p.i64(0)?, to);
    }
    Ok(copied)
}

/// Rows read per page (ECG inputs can be large).
const PAGE: i64 = 64;

async fn copy_table<S: SqlTx, D: SqlTx>(
    s: &mut S,
    d: &mut D,
    table: &'static str,
    columns: &[Column],
    ids: &mut IdMap,
) -> Result<u64> {
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let has_id = table != "case_set_items";
    let key = if has_id { "id" } else { "rowid" };
    let select = format!(
        "SELECT {key}, {} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2",
        names.join(", ")
    );
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({}){}",
        names.join(", "),
        placeholders.join(", "),
        if has_id { " RETURNING id" } else { "" }
    );
    let mut copied = 0;
    let mut after = 0i64;
    loop {
        let page = s.fetch_all(&select, &[after.into(), PAGE.into()]).await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            after = row.i64(0)?;
            let mut values = Vec::with_capacity(columns.len());
            for (i, (_, kind, refers)) in columns.iter().enumerate() {
                let at = i + 1;
                values.push(match (kind, refers) {
                    (Kind::Int, Some(table)) => {
                        Owned::Int(row.opt_i64(at)?.map(|id| ids.get(table, id)).transpose()?)
                    }
                    (Kind::Int, None) => Owned::Int(row.opt_i64(at)?),
                    (Kind::Real, _) => Owned::Real(row.opt_f64(at)?),
                    (Kind::Text, _) => Owned::Text(row.opt_text(at)?),
                    (Kind::Blob, _) => Owned::Blob(row.blob(at)?),
                });
            }
            let args: Vec<Val<'_>> = values.iter().map(Owned::val).collect();
            if has_id {
                let to = d.insert(&insert, &args).await?;
                ids.insert(table, after, to);
            } else {
                d.execute(&insert, &args).await?;
            }
            copied += 1;
        }
    }
    Ok(copied)
}
