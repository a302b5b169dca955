//! The HttpRule YAML reader (`codegen/src/service_config.rs`): any text gives rules or
//! diagnostics, never a panic, and every diagnostic prints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protogate::service_config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match service_config::parse("fuzz.yaml", text) {
        Ok(rules) => {
            for rule in rules {
                assert!(!rule.selector.is_empty());
                let _ = rule.location.to_string();
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            for d in diagnostics {
                let _ = d.to_string();
            }
        }
    }
});
