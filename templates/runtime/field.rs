//! Setting request fields from path variables and query parameters.

use super::error::Error;

/// The message in an optional message field, created when unset: `{a.b}` sets `a` on demand.
pub fn message<M: Default>(slot: &mut Option<M>) -> &mut M {
    slot.get_or_insert_with(M::default)
}

/// Sets a oneof member, refusing a second member of the same oneof.
pub fn set_oneof<T>(slot: &mut Option<T>, value: T, oneof: &str, name: &str) -> Result<(), Error> {
    let other_member = slot
        .as_ref()
        .is_some_and(|current| std::mem::discriminant(current) != std::mem::discriminant(&value));
    if other_member {
        return Err(Error::bad_request(format!(
            "`{name}` sets oneof `{oneof}`, which another field already set"
        )));
    }
    *slot = Some(value);
    Ok(())
}
