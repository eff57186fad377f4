-- Schema version 3 (as the SQLite migration of the same version): a run whose input was an
-- image keeps what it measured, the signal digitised from the page, beside the image the model
-- saw (kept in ecg_inputs as before): the digitiser's version, its report (JSON of
-- ecgr1_engine::digitise::DigitisationReport) and the digitised signal as the project's CSV
-- (time_s then one column per lead in µV, absent samples empty). All NULL for a signal input.
-- The runs table stays append-only (its triggers refuse UPDATE, DELETE and TRUNCATE): the
-- columns are written once, by the INSERT. The application role's table-wide SELECT and INSERT
-- cover the new columns.
ALTER TABLE runs ADD COLUMN digitiser_version TEXT;
ALTER TABLE runs ADD COLUMN digitisation_json TEXT;
ALTER TABLE runs ADD COLUMN digitised_signal_csv TEXT;
