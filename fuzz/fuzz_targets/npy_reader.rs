//! Arbitrary bytes as a `.npy` file, then through the analysis if they parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = ess_cli::input::read_bytes(data, "npy", None) {
        let _ = ess_cli::analyse_tensor("fuzz", &t, &Default::default());
    }
});
