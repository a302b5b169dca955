//! The HttpRule path template parser (`codegen/src/template.rs`): any text is a template or an
//! error, never a panic. A parsed template prints in a canonical form that parses back to the
//! same template, and its flattened form agrees with its variables; an error's offset lies
//! within the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protogate::template::{self, Flat, Segment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match template::parse(text) {
        Ok(parsed) => {
            let printed = parsed.to_string();
            let reparsed = template::parse(&printed)
                .unwrap_or_else(|e| panic!("{text:?} prints as {printed:?}, which fails: {e}"));
            assert_eq!(parsed, reparsed, "{text:?} prints as {printed:?}");
            assert_eq!(printed, reparsed.to_string());
            assert!(!parsed.segments.is_empty());
            let variables = parsed.variables();
            let flat = parsed.flatten();
            let starts = flat
                .iter()
                .filter(|f| matches!(f, Flat::VarStart(_)))
                .count();
            assert_eq!(starts, variables.len());
            for variable in &variables {
                assert!(!variable.field_path.is_empty());
                assert!(!variable.segments.is_empty());
                assert!(
                    !variable
                        .segments
                        .iter()
                        .any(|s| matches!(s, Segment::Variable(_))),
                    "{text:?}: a nested variable"
                );
            }
            let deep = flat
                .iter()
                .filter(|f| matches!(f, Flat::DeepWildcard))
                .count();
            assert!(deep <= 1, "{text:?}: more than one `**`");
        }
        Err(e) => {
            assert!(
                e.offset <= text.len(),
                "{text:?}: offset {} out of range",
                e.offset
            );
            assert!(!e.message.is_empty() && !e.hint.is_empty());
            let _ = e.to_string();
        }
    }
});
