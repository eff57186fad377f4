-- ECG-R1 case store, schema version 1.
--
-- Append-only rules are enforced here, in the database, not only in the application: audit
-- events, ECG inputs, note versions, runs and decisions reject UPDATE and DELETE once written.
-- "ECG1" marks the file as an ecgr1 store so a foreign SQLite file is recognised before it is touched.
PRAGMA application_id = 1162037041;

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    -- PHC string (argon2id); NULL until the user sets a password.
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id),
    role    TEXT NOT NULL CHECK (role IN ('cardiologist', 'auditor', 'trainer', 'admin')),
    PRIMARY KEY (user_id, role)
) STRICT;

-- A patient is known to the store only by a pseudonym; identifying fields live in
-- patient_identity so de-identified views and exports never read them.
CREATE TABLE patients (
    id         INTEGER PRIMARY KEY,
    pseudonym  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE patient_identity (
    patient_id INTEGER PRIMARY KEY REFERENCES patients(id),
    name       TEXT,
    identifier TEXT,
    birth_date TEXT,
    sex        TEXT
) STRICT;

CREATE TABLE ecg_inputs (
    id             INTEGER PRIMARY KEY,
    file_name      TEXT NOT NULL,
    format         TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('signal', 'image')),
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64),
    original       BLOB NOT NULL,
    sample_rate_hz REAL,
    leads_json     TEXT NOT NULL,
    metadata_json  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     INTEGER NOT NULL REFERENCES users(id)
) STRICT;
CREATE INDEX ecg_inputs_sha256 ON ecg_inputs(sha256);

CREATE TABLE cases (
    id           INTEGER PRIMARY KEY,
    patient_id   INTEGER REFERENCES patients(id),
    ecg_input_id INTEGER NOT NULL REFERENCES ecg_inputs(id),
    status       TEXT NOT NULL CHECK (status IN ('open', 'signed', 'closed')),
    created_at   TEXT NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES users(id)
) STRICT;

-- Versioned: an edit adds a row with the next version, never overwrites.
CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    version    INTEGER NOT NULL CHECK (version >= 1),
    text       TEXT NOT NULL,
    author     INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    UNIQUE (case_id, version)
) STRICT;

CREATE TABLE runs (
    id                  INTEGER PRIMARY KEY,
    case_id             INTEGER NOT NULL REFERENCES cases(id),
    engine_json         TEXT NOT NULL,
    task                TEXT NOT NULL,
    parameters_json     TEXT NOT NULL,
    seed                INTEGER,
    started_at          TEXT NOT NULL,
    finished_at         TEXT NOT NULL,
    raw_output          TEXT NOT NULL,
    report_json         TEXT,
    p_yes               REAL CHECK (p_yes IS NULL OR (p_yes >= 0.0 AND p_yes <= 1.0)),
    band                TEXT CHECK (band IS NULL OR band IN ('low', 'intermediate', 'high')),
    measurements_json   TEXT,
    verifier_flags_json TEXT,
    status              TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled')),
    error               TEXT,
    created_by          INTEGER NOT NULL REFERENCES users(id)
) STRICT;
CREATE INDEX runs_case ON runs(case_id);

CREATE TABLE decisions (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    kind         TEXT NOT NULL CHECK (kind IN ('agree', 'override')),
    final_answer TEXT NOT NULL,
    reason       TEXT NOT NULL,
    meaning      TEXT NOT NULL CHECK (meaning IN ('reviewed', 'approved')),
    signed_at    TEXT NOT NULL,
    signer       INTEGER NOT NULL REFERENCES users(id)
) STRICT;
CREATE INDEX decisions_run ON decisions(run_id);

CREATE TABLE case_sets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id)
) STRICT;

CREATE TABLE case_set_items (
    case_set_id INTEGER NOT NULL REFERENCES case_sets(id),
    position    INTEGER NOT NULL,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    PRIMARY KEY (case_set_id, position)
) STRICT;

CREATE TABLE teaching_sessions (
    id          INTEGER PRIMARY KEY,
    case_set_id INTEGER NOT NULL REFERENCES case_sets(id),
    title       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id)
) STRICT;

CREATE TABLE trainee_answers (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES teaching_sessions(id),
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    trainee     INTEGER NOT NULL REFERENCES users(id),
    answer      TEXT NOT NULL,
    answered_at TEXT NOT NULL
) STRICT;

-- The audit history. hash = HMAC-SHA-256(key, previous hash || canonical encoding of the row);
-- see app/src/audit/mod.rs for the encoding.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT,
    before_json TEXT,
    after_json  TEXT,
    reason      TEXT,
    hash        BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE INDEX audit_events_actor ON audit_events(actor);
CREATE INDEX audit_events_entity ON audit_events(entity_type, entity_id);

-- The signed head: the last sequence number and hash, MAC'd, so a truncated tail is detected.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    mac  BLOB NOT NULL CHECK (length(mac) = 32)
) STRICT;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;
CREATE TRIGGER runs_no_update BEFORE UPDATE ON runs
BEGIN SELECT RAISE(ABORT, 'runs are append-only: UPDATE refused'); END;
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
BEGIN SELECT RAISE(ABORT, 'runs are append-only: DELETE refused'); END;
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only: UPDATE refused'); END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only: DELETE refused'); END;
CREATE TRIGGER notes_no_update BEFORE UPDATE ON notes
BEGIN SELECT RAISE(ABORT, 'note versions are append-only: UPDATE refused'); END;
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
BEGIN SELECT RAISE(ABORT, 'note versions are append-only: DELETE refused'); END;
CREATE TRIGGER ecg_inputs_no_update BEFORE UPDATE ON ecg_inputs
BEGIN SELECT RAISE(ABORT, 'ECG inputs are append-only: UPDATE refused'); END;
CREATE TRIGGER ecg_inputs_no_delete BEFORE DELETE ON ecg_inputs
BEGIN SELECT RAISE(ABORT, 'ECG inputs are append-only: DELETE refused'); END;
CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
BEGIN SELECT RAISE(ABORT, 'cases are never deleted'); END;
CREATE TRIGGER users_no_delete BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'users are never deleted (deactivate instead)'); END;
