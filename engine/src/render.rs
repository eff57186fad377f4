//! ECG paper rendering (being written in its own change).
