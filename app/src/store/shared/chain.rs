//! The audit chain on top of any backend: appending events inside the caller's write
//! transaction, and walking the whole chain to verify it.

use serde_json::Value;

use super::super::clock::Clock;
use super::super::sql::{RowRead, SqlTx};
use super::super::{Result, Session, StoreError};
use crate::audit::{AuditEvent, AuditKey, Chain, GENESIS, HASH_LEN, Head, Verification, Verifier};

/// Rows read per page when verifying the chain (bounds memory for any history length).
const VERIFY_PAGE: i64 = 20_000;

/// The columns of an event row, in [`event_from_row`]'s order.
pub(crate) const EVENT_COLUMNS: &str =
    "seq, at, actor, role, action, entity_type, entity_id, before_json, after_json, reason, hash";

/// An audit event before it is numbered, timed and chained.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
}

impl Draft {
    pub fn new(
        action: &'static str,
        entity_type: &'static str,
        entity_id: impl std::fmt::Display,
    ) -> Self {
        Self {
            action,
            entity_type,
            entity_id: Some(entity_id.to_string()),
            ..Self::default()
        }
    }
    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }
    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }
    pub fn reason(mut self, text: impl Into<String>) -> Self {
        self.reason = Some(text.into());
        self
    }
}

/// Who an event is attributed to.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub name: String,
    pub role: String,
}

impl From<&Session> for Actor {
    fn from(s: &Session) -> Self {
        Self {
            name: s.name.clone(),
            role: s.roles_text(),
        }
    }
}

fn hash_of(seq: i64, hash: &[u8]) -> Result<[u8; HASH_LEN]> {
    hash.try_into().map_err(|_| StoreError::ChainInconsistent {
        problem: format!("event {seq} has a malformed hash"),
    })
}

/// Appends events to the chain inside the caller's write transaction and moves the signed
/// head; see [`Appender`]. Returns the last sequence number.
pub(crate) async fn append_events<T: SqlTx>(
    tx: &mut T,
    key: &AuditKey,
    clock: &Clock,
    actor: &Actor,
    drafts: &[Draft],
) -> Result<i64> {
    let mut appender = Appender::start(tx, key).await?;
    for draft in drafts {
        let event = AuditEvent {
            seq: 0,
            at: clock.now(),
            actor: actor.name.clone(),
            role: actor.role.clone(),
            action: draft.action.to_string(),
            entity_type: draft.entity_type.to_string(),
            entity_id: draft.entity_id.clone(),
            before_json: draft.before.as_ref().map(Value::to_string),
            after_json: draft.after.as_ref().map(Value::to_string),
            reason: draft.reason.clone(),
        };
        appender.push(tx, event).await?;
    }
    appender.finish(tx).await
}

/// Extends the chain inside a write transaction, which holds the database's write lock, so
/// the head read at the start is still the head at commit. Sequence numbers are head + 1,
/// head + 2, …, never taken from a database sequence, which would leave gaps after a
/// rolled-back transaction. Refuses to start when the table's end and the signed head
/// disagree, so a truncated tail is never papered over by new events.
pub(crate) struct Appender {
    chain: Chain,
    seq: i64,
    prev: [u8; HASH_LEN],
    pushed: bool,
}

impl Appender {
    pub async fn start<T: SqlTx>(tx: &mut T, key: &AuditKey) -> Result<Self> {
        let chain = Chain::new(key);
        let last = tx
            .fetch_optional(
                "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?
            .map(|r| Ok::<_, StoreError>((r.i64(0)?, r.blob(1)?)))
            .transpose()?;
        let head = read_head(tx).await?;
        let (seq, prev) = match (last, head) {
            (None, None) => (0, GENESIS),
            (Some((seq, hash)), Some(head)) => {
                let hash = hash_of(seq, &hash)?;
                let head_ok = head.seq == seq
                    && head.hash.as_slice() == hash.as_slice()
                    && chain.head_mac(head.seq, &hash).as_slice() == head.mac.as_slice();
                if !head_ok {
                    return Err(StoreError::ChainInconsistent {
                        problem: format!(
                            "the history ends at event {seq} but the signed head names event {}",
                            head.seq
                        ),
                    });
                }
                (seq, hash)
            }
            (None, Some(head)) => {
                return Err(StoreError::ChainInconsistent {
                    problem: format!(
                        "the history is empty but the signed head names event {}",
                        head.seq
                    ),
                });
            }
            (Some((seq, _)), None) => {
                return Err(StoreError::ChainInconsistent {
                    problem: format!("the history has {seq} events but no signed head"),
                });
            }
        };
        Ok(Self {
            chain,
            seq,
            prev,
            pushed: false,
        })
    }

    /// Numbers, chains and inserts one event (its `seq` is ignored); returns its number.
    pub async fn push<T: SqlTx>(&mut self, tx: &mut T, mut event: AuditEvent) -> Result<i64> {
        self.seq += 1;
        event.seq = self.seq;
        let hash = self.chain.link(&self.prev, &event);
        insert_event(tx, &event, &hash).await?;
        self.prev = hash;
        self.pushed = true;
        Ok(self.seq)
    }

    /// Moves the signed head to the last event pushed; returns its number.
    pub async fn finish<T: SqlTx>(self, tx: &mut T) -> Result<i64> {
        if !self.pushed {
            return Ok(self.seq);
        }
        let mac = self.chain.head_mac(self.seq, &self.prev);
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
            &[self.seq.into(), (&self.prev[..]).into(), (&mac[..]).into()],
        )
        .await?;
        Ok(self.seq)
    }
}

/// Inserts one already chained event.
pub(crate) async fn insert_event<T: SqlTx>(
    tx: &mut T,
    event: &AuditEvent,
    hash: &[u8],
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_events (seq, at, actor, role, action, entity_type, entity_id, \
         before_json, after_json, reason, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            event.seq.into(),
            (&event.at).into(),
            (&event.actor).into(),
            (&event.role).into(),
            (&event.action).into(),
            (&event.entity_type).into(),
            (&event.entity_id).into(),
            (&event.before_json).into(),
            (&event.after_json).into(),
            (&event.reason).into(),
            hash.into(),
        ],
    )
    .await?;
    Ok(())
}

/// An event row selected as [`EVENT_COLUMNS`], with its stored hash.
pub(crate) fn event_from_row(row: &impl RowRead) -> Result<(AuditEvent, Vec<u8>)> {
    Ok((
        AuditEvent {
            seq: row.i64(0)?,
            at: row.text(1)?,
            actor: row.text(2)?,
            role: row.text(3)?,
            action: row.text(4)?,
            entity_type: row.text(5)?,
            entity_id: row.opt_text(6)?,
            before_json: row.opt_text(7)?,
            after_json: row.opt_text(8)?,
            reason: row.opt_text(9)?,
        },
        row.blob(10)?,
    ))
}

/// Up to [`VERIFY_PAGE`] events after `after`, in sequence order.
pub(crate) async fn read_page<T: SqlTx>(
    tx: &mut T,
    after: i64,
) -> Result<Vec<(AuditEvent, Vec<u8>)>> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
    tx.fetch_all(&sql, &[after.into(), VERIFY_PAGE.into()])
        .await?
        .iter()
        .map(event_from_row)
        .collect()
}

/// The signed head record, if there is one.
pub(crate) async fn read_head<T: SqlTx>(tx: &mut T) -> Result<Option<Head>> {
    tx.fetch_optional("SELECT seq, hash, mac FROM audit_head WHERE id = 1", &[])
        .await?
        .map(|r| {
            Ok(Head {
                seq: r.i64(0)?,
                hash: r.blob(1)?,
                mac: r.blob(2)?,
            })
        })
        .transpose()
}

/// Re-computes the whole chain inside `tx` (one consistent snapshot, even while other
/// processes append) and compares its end with the signed head.
pub(crate) async fn verify<T: SqlTx>(tx: &mut T, key: &AuditKey) -> Result<Verification> {
    let mut verifier = Verifier::new(key);
    let mut after = 0i64;
    loop {
        let page = read_page(tx, after).await?;
        if page.is_empty() {
            break;
        }
        after = page.last().map_or(after, |(e, _)| e.seq);
        if !verifier.feed_page(&page) {
            break;
        }
    }
    if verifier.mismatch_seq().is_some() {
        // Tell a reorder from an edit: does any stored event belong at the break?
        let mut after = 0i64;
        'search: loop {
            let page = read_page(tx, after).await?;
            if page.is_empty() {
                break;
            }
            for (event, hash) in &page {
                after = event.seq;
                if verifier.candidate_for_break(event, hash) {
                    break 'search;
                }
            }
        }
    }
    let head = read_head(tx).await?;
    Ok(verifier.finish(head.as_ref()))
}
