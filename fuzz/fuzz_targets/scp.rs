#![no_main]
//! Any bytes must give a record or a FormatError, never a panic or an absurd allocation.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ecgr1_engine::formats::scp::read(data, "fuzz.bin");
});
