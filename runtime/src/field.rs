//! Setting request fields from path variables and query parameters.

use tonic::Code;

use super::error::Error;

/// The message in an optional message field, created when unset: `{a.b}` sets `a` on demand.
pub fn message<M: Default>(slot: &mut Option<M>) -> &mut M {
    slot.get_or_insert_with(M::default)
}

/// The message of a oneof member, made the oneof's value when it is not (a path variable wins
/// over the body): `{no.note}` sets `note` inside the member `no`. `wrap` is the member's
/// variant and `get` finds it.
pub fn oneof_message<O, M: Default>(
    slot: &mut Option<O>,
    wrap: fn(M) -> O,
    get: fn(&mut O) -> Option<&mut M>,
) -> Result<&mut M, Error> {
    if slot.as_mut().and_then(get).is_none() {
        *slot = Some(wrap(M::default()));
    }
    slot.as_mut().and_then(get).ok_or_else(|| {
        Error::new(
            Code::Internal,
            "a oneof member did not hold after it was set",
        )
    })
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
