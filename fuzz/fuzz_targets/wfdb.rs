#![no_main]
//! The input is split at the first NUL byte into a header and a data file; any bytes must give
//! a record or a FormatError, never a panic or an absurd allocation.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (header, rest) = data.split_at(split);
    let dat = rest.get(1..).unwrap_or_default().to_vec();
    let mut loader = |_name: &str| Ok(dat.clone());
    let _ = ecgr1_engine::formats::wfdb::read(header, "fuzz.hea", &mut loader);
});
