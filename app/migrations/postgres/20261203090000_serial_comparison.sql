-- Schema version 2 (as the SQLite migration of the same version): a run keeps the serial
-- comparison with the patient's prior ECG that its reading was made with (JSON of
-- ecgr1_engine::serial::SerialComparison; NULL for none). The runs table stays append-only
-- (its triggers refuse UPDATE, DELETE and TRUNCATE): the column is written once, by the INSERT.
-- The application role's table-wide SELECT and INSERT cover the new column.
ALTER TABLE runs ADD COLUMN comparison_json TEXT;
