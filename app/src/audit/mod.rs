//! The tamper-evident audit chain: canonical encoding of an event, the chained HMAC, the
//! signed head record, and verification that names the first broken link.
//!
//! # Canonical encoding (version 1)
//!
//! An event is encoded as the ASCII tag `ecgr1-audit-v1`, then the sequence number as 8 bytes
//! big-endian, then nine text fields in this fixed order: `at`, `actor`, `role`, `action`,
//! `entity_type`, `entity_id`, `before_json`, `after_json`, `reason`. Each text field is one
//! presence byte (0 = NULL, 1 = present) followed, when present, by its UTF-8 length as 4 bytes
//! big-endian and the bytes themselves. Length prefixes make the encoding injective: no two
//! different events encode to the same bytes.
//!
//! `hash(event n) = HMAC-SHA-256(key, hash(event n-1) || encoding(event n))`, with 32 zero
//! bytes standing in for the hash before event 1.
//!
//! The head record holds the last sequence number and hash with
//! `mac = HMAC-SHA-256(key, "ecgr1-audit-head-v1" || seq (8 bytes BE) || hash)`; a chain that
//! verifies but ends before the head says it should is a truncated tail.

pub mod key;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use key::{AuditKey, KeyError};

type HmacSha256 = Hmac<Sha256>;

/// Hash length of the chain (HMAC-SHA-256).
pub const HASH_LEN: usize = 32;
/// The hash that precedes event 1.
pub const GENESIS: [u8; HASH_LEN] = [0; HASH_LEN];

const EVENT_TAG: &[u8] = b"ecgr1-audit-v1";
const HEAD_TAG: &[u8] = b"ecgr1-audit-head-v1";
const KEY_ID_TAG: &[u8] = b"ecgr1-audit-key-id-v1";

/// One audit event as stored (without its hash).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// UTC, RFC 3339 with microseconds ("2026-11-23T20:15:00.123456Z").
    pub at: String,
    pub actor: String,
    /// The actor's roles at the time, comma-separated.
    pub role: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub reason: Option<String>,
}

/// Appends the canonical encoding of `event` to `buf` (see the module docs).
pub fn encode_event(event: &AuditEvent, buf: &mut Vec<u8>) {
    fn field(buf: &mut Vec<u8>, value: Option<&str>) {
        match value {
            None => buf.push(0),
            Some(text) => {
                buf.push(1);
                // Fields longer than 4 GiB cannot reach here: SQLite's own limit is 1 GB.
                let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(text.as_bytes());
            }
        }
    }
    buf.extend_from_slice(EVENT_TAG);
    buf.extend_from_slice(&event.seq.to_be_bytes());
    field(buf, Some(&event.at));
    field(buf, Some(&event.actor));
    field(buf, Some(&event.role));
    field(buf, Some(&event.action));
    field(buf, Some(&event.entity_type));
    field(buf, event.entity_id.as_deref());
    field(buf, event.before_json.as_deref());
    field(buf, event.after_json.as_deref());
    field(buf, event.reason.as_deref());
}

/// Computes chain hashes with one keyed HMAC state, cloned per event (the key pads are hashed
/// once, not per event).
#[derive(Clone)]
pub struct Chain {
    keyed: HmacSha256,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Chain { key: <hidden> }")
    }
}

impl Chain {
    pub fn new(key: &AuditKey) -> Self {
        Self {
            keyed: keyed(key.bytes()),
            buf: Vec::with_capacity(512),
        }
    }

    /// `HMAC(key, prev || encoding(event))`.
    pub fn link(&mut self, prev: &[u8; HASH_LEN], event: &AuditEvent) -> [u8; HASH_LEN] {
        self.buf.clear();
        encode_event(event, &mut self.buf);
        let mut mac = self.keyed.clone();
        mac.update(prev);
        mac.update(&self.buf);
        mac.finalize().into_bytes().into()
    }

    /// The MAC of the head record.
    pub fn head_mac(&self, seq: i64, hash: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(HEAD_TAG);
        mac.update(&seq.to_be_bytes());
        mac.update(hash);
        mac.finalize().into_bytes().into()
    }

    /// A short public fingerprint of the key, stored in the database so a wrong key file is
    /// recognised as such rather than reported as thousands of broken links.
    pub fn key_id(&self) -> String {
        let mut mac = self.keyed.clone();
        mac.update(KEY_ID_TAG);
        let bytes: [u8; HASH_LEN] = mac.finalize().into_bytes().into();
        hex::encode(&bytes[..8])
    }

    /// Raw HMAC-SHA-256 over `prev || bytes` (used by the benchmark as its baseline).
    pub fn raw_mac(&self, prev: &[u8; HASH_LEN], bytes: &[u8]) -> [u8; HASH_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(prev);
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }
}

fn keyed(key: &[u8; 32]) -> HmacSha256 {
    // HMAC zero-pads keys shorter than the hash's 64-byte block, so the padded key gives the
    // same MAC as the 32-byte key and goes through the infallible block-sized constructor.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

/// The signed head record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub mac: Vec<u8>,
}

/// What is wrong with the chain at the first broken link.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainBreak {
    /// Events are missing: the next stored event after `after_seq` is `found_seq`.
    Gap { expected_seq: i64, found_seq: i64 },
    /// The event stored at `seq` does not match its hash: its content was changed.
    HashMismatch { seq: i64 },
    /// Rows were reordered: the intact event that belongs at `seq` is stored at `found_at`.
    Reordered { seq: i64, found_at: i64 },
    /// The stored hash column is not 32 bytes.
    MalformedHash { seq: i64 },
    /// The head record says the chain ends at `head_seq`, but the table ends at `last_seq`.
    TailTruncated { head_seq: i64, last_seq: i64 },
    /// Events after the head: appended without going through the store.
    BeyondHead { head_seq: i64, last_seq: i64 },
    /// The head's hash does not equal the hash of the event it names.
    HeadHashMismatch { head_seq: i64 },
    /// The head record's own MAC is wrong: it was forged or altered.
    HeadForged { head_seq: i64 },
    /// Events exist but the head record is missing.
    HeadMissing { last_seq: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gap {
                expected_seq,
                found_seq,
            } => {
                if found_seq - expected_seq == 1 {
                    write!(
                        f,
                        "event {expected_seq} is missing (deleted): the chain jumps to event {found_seq}"
                    )
                } else {
                    write!(
                        f,
                        "events {expected_seq} to {} are missing (deleted): the chain jumps to event {found_seq}",
                        found_seq - 1
                    )
                }
            }
            Self::HashMismatch { seq } => write!(
                f,
                "event {seq} was altered: its content does not match its hash"
            ),
            Self::Reordered { seq, found_at } => write!(
                f,
                "event {seq} is out of order: the event that belongs at position {seq} is stored at position {found_at}"
            ),
            Self::MalformedHash { seq } => {
                write!(f, "event {seq} has a malformed hash (not 32 bytes)")
            }
            Self::TailTruncated { head_seq, last_seq } => write!(
                f,
                "the tail was truncated: the signed head names event {head_seq} but the history ends at event {last_seq}; event {} onwards is missing",
                last_seq + 1
            ),
            Self::BeyondHead { head_seq, last_seq } => write!(
                f,
                "events {} to {last_seq} were appended outside the store: the signed head ends at event {head_seq}",
                head_seq + 1
            ),
            Self::HeadHashMismatch { head_seq } => write!(
                f,
                "the signed head does not match event {head_seq}: the head or the last event was replaced"
            ),
            Self::HeadForged { head_seq } => write!(
                f,
                "the head record (event {head_seq}) has an invalid signature: it was altered"
            ),
            Self::HeadMissing { last_seq } => write!(
                f,
                "the signed head record is missing (the history has {last_seq} events)"
            ),
        }
    }
}

impl ChainBreak {
    /// The sequence number of the first broken or missing link.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { expected_seq, .. } => *expected_seq,
            Self::HashMismatch { seq }
            | Self::Reordered { seq, .. }
            | Self::MalformedHash { seq } => *seq,
            Self::TailTruncated { last_seq, .. } => last_seq + 1,
            Self::BeyondHead { head_seq, .. } => head_seq + 1,
            Self::HeadHashMismatch { head_seq } | Self::HeadForged { head_seq } => *head_seq,
            Self::HeadMissing { last_seq } => *last_seq,
        }
    }
}

/// Outcome of verifying the whole chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Events checked (read from the table).
    pub events: u64,
    /// Last sequence number seen.
    pub last_seq: i64,
    /// The first problem, if any.
    pub first_break: Option<ChainBreak>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Walks events in storage order, feeding each with its stored hash; stops at the first break.
#[derive(Debug)]
pub struct Verifier {
    chain: Chain,
    prev: [u8; HASH_LEN],
    expected_seq: i64,
    events: u64,
    first_break: Option<ChainBreak>,
}

impl Verifier {
    pub fn new(key: &AuditKey) -> Self {
        Self {
            chain: Chain::new(key),
            prev: GENESIS,
            expected_seq: 1,
            events: 0,
            first_break: None,
        }
    }

    /// Whether the walk has already found its first break (callers may stop reading).
    pub fn broken(&self) -> bool {
        self.first_break.is_some()
    }

    /// Checks the next stored event. Returns false once the chain is broken.
    pub fn feed(&mut self, event: &AuditEvent, stored_hash: &[u8]) -> bool {
        if self.first_break.is_some() {
            return false;
        }
        self.events += 1;
        if event.seq != self.expected_seq {
            self.first_break = Some(ChainBreak::Gap {
                expected_seq: self.expected_seq,
                found_seq: event.seq,
            });
            return false;
        }
        let Ok(stored) = <[u8; HASH_LEN]>::try_from(stored_hash) else {
            self.first_break = Some(ChainBreak::MalformedHash { seq: event.seq });
            return false;
        };
        let computed = self.chain.link(&self.prev, event);
        if computed != stored {
            self.first_break = Some(ChainBreak::HashMismatch { seq: event.seq });
            return false;
        }
        self.prev = stored;
        self.expected_seq += 1;
        true
    }

    /// Checks a page of stored events in order, like calling [`Verifier::feed`] on each, but
    /// checks the links on all cores first: with the stored hashes every link
    /// `HMAC(stored[i-1], event[i]) == stored[i]` is independent of the others. The sequential
    /// walk then only replays from the first bad link to classify it. Returns false once broken.
    pub fn feed_page(&mut self, page: &[(AuditEvent, Vec<u8>)]) -> bool {
        if self.first_break.is_some() {
            return false;
        }
        let first_bad = self.first_bad_link(page);
        let good = first_bad.unwrap_or(page.len());
        if let Some((last, hash)) = good.checked_sub(1).and_then(|i| page.get(i)) {
            // Every link up to `good` verified, so the stored hashes equal the computed ones.
            if let Ok(h) = <[u8; HASH_LEN]>::try_from(hash.as_slice()) {
                self.prev = h;
                self.expected_seq = last.seq + 1;
                self.events += good as u64;
            }
        }
        match first_bad.and_then(|i| page.get(i)) {
            Some((event, hash)) => self.feed(event, hash),
            None => true,
        }
    }

    /// Index of the first event in `page` whose link does not verify, checked in parallel.
    fn first_bad_link(&self, page: &[(AuditEvent, Vec<u8>)]) -> Option<usize> {
        let link_ok = |chain: &mut Chain, i: usize| -> bool {
            let (event, hash) = &page[i];
            let (prev, expected_seq) = if i == 0 {
                (Some(self.prev), self.expected_seq)
            } else {
                let (before, before_hash) = &page[i - 1];
                (
                    <[u8; HASH_LEN]>::try_from(before_hash.as_slice()).ok(),
                    before.seq + 1,
                )
            };
            let Some(prev) = prev else { return false };
            event.seq == expected_seq
                && <[u8; HASH_LEN]>::try_from(hash.as_slice())
                    .is_ok_and(|stored| chain.link(&prev, event) == stored)
        };
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let chunk = page.len().div_ceil(threads.max(1)).max(1);
        if threads <= 1 || page.len() < 2048 {
            let mut chain = self.chain.clone();
            return (0..page.len()).find(|&i| !link_ok(&mut chain, i));
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..page.len())
                .step_by(chunk)
                .map(|start| {
                    let mut chain = self.chain.clone();
                    let link_ok = &link_ok;
                    scope.spawn(move || {
                        (start..(start + chunk).min(page.len())).find(|&i| !link_ok(&mut chain, i))
                    })
                })
                .collect();
            // Chunks are in order, so the first chunk with a bad link holds the first one. A
            // panicked worker (impossible: the closure indexes within bounds) counts as bad.
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Some(0)))
                .find_map(|bad| bad)
        })
    }

    /// After a hash mismatch, the caller may offer the other stored events: if one of them,
    /// placed at the broken position, links correctly, the rows were reordered, not edited.
    pub fn candidate_for_break(&mut self, other: &AuditEvent, other_hash: &[u8]) -> bool {
        let Some(ChainBreak::HashMismatch { seq }) = self.first_break else {
            return false;
        };
        let Ok(stored) = <[u8; HASH_LEN]>::try_from(other_hash) else {
            return false;
        };
        let mut moved = other.clone();
        moved.seq = seq;
        if self.chain.link(&self.prev, &moved) == stored && other.seq != seq {
            self.first_break = Some(ChainBreak::Reordered {
                seq,
                found_at: other.seq,
            });
            return true;
        }
        false
    }

    /// The event position where a mismatch was found, if that is the break.
    pub fn mismatch_seq(&self) -> Option<i64> {
        match self.first_break {
            Some(ChainBreak::HashMismatch { seq }) => Some(seq),
            _ => None,
        }
    }

    /// Finishes the walk by comparing the end of the chain with the signed head.
    pub fn finish(mut self, head: Option<&Head>) -> Verification {
        let last_seq = self.expected_seq - 1;
        if self.first_break.is_none() {
            self.first_break = match head {
                None if last_seq > 0 => Some(ChainBreak::HeadMissing { last_seq }),
                None => None,
                Some(head) => check_head(&self.chain, head, last_seq, &self.prev),
            };
        }
        Verification {
            events: self.events,
            last_seq,
            first_break: self.first_break,
        }
    }
}

fn check_head(
    chain: &Chain,
    head: &Head,
    last_seq: i64,
    last_hash: &[u8; HASH_LEN],
) -> Option<ChainBreak> {
    let head_seq = head.seq;
    let Ok(head_hash) = <[u8; HASH_LEN]>::try_from(head.hash.as_slice()) else {
        return Some(ChainBreak::HeadForged { head_seq });
    };
    if chain.head_mac(head_seq, &head_hash).as_slice() != head.mac.as_slice() {
        return Some(ChainBreak::HeadForged { head_seq });
    }
    if head_seq > last_seq {
        return Some(ChainBreak::TailTruncated { head_seq, last_seq });
    }
    if head_seq < last_seq {
        return Some(ChainBreak::BeyondHead { head_seq, last_seq });
    }
    if head_hash != *last_hash {
        return Some(ChainBreak::HeadHashMismatch { head_seq });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at: "2026-11-23T20:00:00.000000Z".into(),
            actor: "ana".into(),
            role: "cardiologist".into(),
            action: action.into(),
            entity_type: "run".into(),
            entity_id: Some(seq.to_string()),
            before_json: None,
            after_json: Some("{}".into()),
            reason: None,
        }
    }

    fn build(key: &AuditKey, n: i64) -> (Vec<(AuditEvent, [u8; 32])>, Head) {
        let mut chain = Chain::new(key);
        let mut prev = GENESIS;
        let mut rows = Vec::new();
        for seq in 1..=n {
            let e = event(seq, "create");
            prev = chain.link(&prev, &e);
            rows.push((e, prev));
        }
        let head = Head {
            seq: n,
            hash: prev.to_vec(),
            mac: chain.head_mac(n, &prev).to_vec(),
        };
        (rows, head)
    }

    fn verify(key: &AuditKey, rows: &[(AuditEvent, [u8; 32])], head: &Head) -> Verification {
        let sequential = verify_with(key, rows, head, false);
        let paged = verify_with(key, rows, head, true);
        assert_eq!(sequential, paged, "page-wise and event-wise walks agree");
        sequential
    }

    fn verify_with(
        key: &AuditKey,
        rows: &[(AuditEvent, [u8; 32])],
        head: &Head,
        paged: bool,
    ) -> Verification {
        let mut v = Verifier::new(key);
        if paged {
            let owned: Vec<(AuditEvent, Vec<u8>)> =
                rows.iter().map(|(e, h)| (e.clone(), h.to_vec())).collect();
            for page in owned.chunks(3) {
                if !v.feed_page(page) {
                    break;
                }
            }
        } else {
            for (e, h) in rows {
                if !v.feed(e, h) {
                    break;
                }
            }
        }
        if v.mismatch_seq().is_some() {
            for (e, h) in rows {
                if v.candidate_for_break(e, h) {
                    break;
                }
            }
        }
        v.finish(Some(head))
    }

    #[test]
    fn padded_key_equals_standard_hmac() {
        let key = [0x42u8; 32];
        let mut a = keyed(&key);
        let mut b = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        a.update(b"message");
        b.update(b"message");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn encoding_is_length_prefixed_and_distinguishes_null_from_empty() {
        let mut a = event(1, "x");
        let mut b = a.clone();
        a.reason = None;
        b.reason = Some(String::new());
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        encode_event(&a, &mut ea);
        encode_event(&b, &mut eb);
        assert_ne!(ea, eb);
        // Moving a character between adjacent fields changes the encoding.
        let mut c = a.clone();
        c.actor = "an".into();
        c.role = "acardiologist".into();
        let mut ec = Vec::new();
        encode_event(&c, &mut ec);
        assert_ne!(ea, ec);
    }

    #[test]
    fn intact_chain_verifies_and_edits_are_named() {
        let key = AuditKey::from_bytes([7; 32]);
        let (mut rows, head) = build(&key, 10);
        assert!(verify(&key, &rows, &head).is_intact());

        rows[4].0.reason = Some("edited".into());
        let v = verify(&key, &rows, &head);
        assert_eq!(v.first_break, Some(ChainBreak::HashMismatch { seq: 5 }));
    }

    #[test]
    fn deletion_reorder_and_truncation_are_named() {
        let key = AuditKey::from_bytes([9; 32]);
        let (rows, head) = build(&key, 10);

        let mut deleted = rows.clone();
        deleted.remove(6);
        assert_eq!(
            verify(&key, &deleted, &head).first_break,
            Some(ChainBreak::Gap {
                expected_seq: 7,
                found_seq: 8
            })
        );

        // Swap the contents of positions 3 and 4 (sequence numbers stay in place).
        let mut swapped = rows.clone();
        let (a, b) = (swapped[2].clone(), swapped[3].clone());
        swapped[2] = (AuditEvent { seq: 3, ..b.0 }, b.1);
        swapped[3] = (AuditEvent { seq: 4, ..a.0 }, a.1);
        assert_eq!(
            verify(&key, &swapped, &head).first_break,
            Some(ChainBreak::Reordered {
                seq: 3,
                found_at: 4
            })
        );

        let truncated = &rows[..8];
        assert_eq!(
            verify(&key, truncated, &head).first_break,
            Some(ChainBreak::TailTruncated {
                head_seq: 10,
                last_seq: 8
            })
        );

        let other_key = AuditKey::from_bytes([1; 32]);
        assert_eq!(
            verify(&other_key, &rows, &head).first_break,
            Some(ChainBreak::HashMismatch { seq: 1 })
        );
    }

    #[test]
    fn parallel_page_check_finds_the_first_bad_link() {
        let key = AuditKey::from_bytes([5; 32]);
        let (mut rows, head) = build(&key, 5000);
        let owned = |rows: &[(AuditEvent, [u8; 32])]| -> Vec<(AuditEvent, Vec<u8>)> {
            rows.iter().map(|(e, h)| (e.clone(), h.to_vec())).collect()
        };
        let mut v = Verifier::new(&key);
        assert!(v.feed_page(&owned(&rows)));
        assert!(v.finish(Some(&head)).is_intact());
        rows[3210].0.actor = "mallory".into();
        rows[4000].0.actor = "mallory".into();
        let mut v = Verifier::new(&key);
        assert!(!v.feed_page(&owned(&rows)));
        let result = v.finish(Some(&head));
        assert_eq!(
            result.first_break,
            Some(ChainBreak::HashMismatch { seq: 3211 })
        );
        assert_eq!(result.events, 3211);
    }

    #[test]
    fn forged_head_is_detected() {
        let key = AuditKey::from_bytes([3; 32]);
        let (rows, mut head) = build(&key, 4);
        head.seq = 3;
        assert_eq!(
            verify(&key, &rows, &head).first_break,
            Some(ChainBreak::HeadForged { head_seq: 3 })
        );
    }
}
