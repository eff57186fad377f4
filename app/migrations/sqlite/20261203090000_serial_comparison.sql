-- Schema version 2: a run keeps the serial comparison with the patient's prior ECG that its
-- reading was made with (JSON of ecgr1_engine::serial::SerialComparison; NULL for none).
-- The runs table stays append-only: the column is written once, by the INSERT.
ALTER TABLE runs ADD COLUMN comparison_json TEXT;
