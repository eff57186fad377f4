//! Evaluation of an engine on a labelled set of ECGs: the statistics live here (pure), the
//! harness that runs engines over a manifest lives in the app.

pub mod metrics;
