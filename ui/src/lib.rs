//! egui views and widgets of the ECG-R1 workstation. They draw data handed to them and report
//! what the user did; they own no application state and do no I/O.
