//! Field masks derived from PATCH bodies (DESIGN.md §3.9, grpc-gateway's `allow_patch_feature`).
//!
//! For a PATCH binding with `body: "<field>"` whose request has one `google.protobuf.FieldMask`
//! field, a client that leaves the mask unset gets one listing the JSON keys it sent: proto field
//! names, dot-joined, relative to the body field's message (not prefixed with the body field's
//! name), sorted. Objects of message-typed fields are descended into; repeated fields, maps,
//! well-known types (Struct, Value, Timestamp, Any, …) and scalars are leaves; a key whose value
//! is `null`, or an empty object, names the field itself.
//!
//! The generator implements [`FieldMaskPaths`] for each message a body can reach. Those impls
//! match keys through the same field tables as the ProtoJSON reader, so JSON names and proto
//! names are both accepted and unknown keys follow the reader's options; no reflection.

use prost_types::FieldMask;

use super::error::Error;
use super::json::{self, JsonError, JsonOptions, Next, Reader};

/// A message whose JSON object can be walked for field-mask paths. Generated for every message
/// reachable from the body field of a PATCH binding that derives its mask.
pub trait FieldMaskPaths {
    /// Reads one JSON object of this message (the reader is positioned at its `{`) and records
    /// a path in `paths` for every known key, descending into nested message objects.
    fn mask_paths(r: &mut Reader<'_>, paths: &mut MaskPaths) -> Result<(), JsonError>;
}

/// The paths found so far, and the path of the object being walked.
#[derive(Debug, Default)]
pub struct MaskPaths {
    /// Dot-joined proto names of the objects entered so far; empty at the body's top level.
    prefix: String,
    paths: Vec<String>,
}

impl MaskPaths {
    fn push(&mut self, name: &str) {
        let path = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        };
        self.paths.push(path);
    }

    /// A field whose value is not descended into (scalar, enum, repeated, map, well-known type,
    /// `null`): skips the value and records the field's path.
    pub fn leaf(&mut self, r: &mut Reader<'_>, name: &str) -> Result<(), JsonError> {
        r.skip_value()?;
        self.push(name);
        Ok(())
    }

    /// A singular message field: an object is descended into with `M`'s walker; anything else
    /// (`null`) is a leaf. An object with no known keys (`{}`) records the field itself, since
    /// it sets the field to an empty message.
    pub fn message<M: FieldMaskPaths>(
        &mut self,
        r: &mut Reader<'_>,
        name: &str,
    ) -> Result<(), JsonError> {
        if r.peek_next() != Some(Next::Object) {
            return self.leaf(r, name);
        }
        let before = self.paths.len();
        let outer = self.prefix.len();
        if !self.prefix.is_empty() {
            self.prefix.push('.');
        }
        self.prefix.push_str(name);
        let walked = M::mask_paths(r, self);
        self.prefix.truncate(outer);
        walked?;
        if self.paths.len() == before {
            self.push(name);
        }
        Ok(())
    }
}

/// The field mask a JSON body for message `M` implies: the proto-name paths of the keys present,
/// sorted. An empty body, `{}` or `null` gives an empty mask.
///
/// # Errors
/// The body is not valid JSON for `M` (callers decode it first, so this does not happen in
/// practice).
pub fn derive<M: FieldMaskPaths>(body: &[u8], opts: &JsonOptions) -> Result<FieldMask, JsonError> {
    let mut paths = MaskPaths::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        json::read(body, opts, &[], |r| {
            if r.peek_next() == Some(Next::Object) {
                M::mask_paths(r, &mut paths)
            } else {
                r.skip_value()
            }
        })?;
    }
    let mut paths = paths.paths;
    paths.sort_unstable();
    Ok(FieldMask { paths })
}

/// [`derive`] for a generated handler: a body that does not read is a 400.
///
/// # Errors
/// As [`derive`], as the body's 400 response.
pub fn from_body<M: FieldMaskPaths>(body: &[u8], opts: &JsonOptions) -> Result<FieldMask, Error> {
    derive::<M>(body, opts).map_err(|e| Error::body(&e))
}
