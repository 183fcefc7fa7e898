//! Arbitrary bytes as a `.safetensors` file, then through the analysis if they parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = ess_cli::input::read_bytes(data, "safetensors", None) {
        let _ = ess_cli::analyse_tensor("fuzz", &t, &Default::default());
    }
    let _ = ess_cli::input::read_bytes(data, "safetensors", Some("attn"));
});
