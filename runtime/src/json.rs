// ProtoJSON (the proto3 JSON mapping) for generated messages: a writer that appends straight
// into a `Vec<u8>` and a pull reader over `&[u8]` that borrows from the input and allocates
// only for the values it returns. Generated code implements `ProtoJson` for each message by
// calling the typed methods below; nothing here reflects over descriptors.
//
// Plain `//` comments on purpose: this file is also pulled into a user's module with
// `include!`, where inner doc comments are not allowed. Siblings are reached as `super::…`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::scalar::{self, ScalarError};

// =============================================================================================
// Options and traits

/// How messages are written and read. The defaults are grpc-gateway v2's output choices
/// (emit fields at their defaults, lowerCamelCase names, enum names) and protogate's stricter
/// input (unknown fields are an error), with a nesting limit against stack exhaustion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonOptions {
    /// Write fields that hold their default value (`0`, `""`, `[]`, `{}`, `null`).
    pub emit_defaults: bool,
    /// Write proto field names (`copies_printed`) instead of JSON names (`copiesPrinted`).
    pub proto_names: bool,
    /// Write enum values as numbers instead of names.
    pub enums_as_numbers: bool,
    /// Skip unknown object keys (and read unknown enum names as 0) instead of failing.
    pub ignore_unknown_fields: bool,
    /// Deepest nesting of objects and arrays the reader accepts.
    pub max_depth: usize,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            emit_defaults: true,
            proto_names: false,
            enums_as_numbers: false,
            ignore_unknown_fields: false,
            max_depth: 100,
        }
    }
}

/// A type with a ProtoJSON form. Generated for every message; implemented by the runtime for
/// the well-known types and the wrapper primitives.
pub trait ProtoJson: Default {
    /// Appends this value's JSON form.
    fn write_json(&self, w: &mut Writer<'_>);
    /// Reads one JSON value into `self` (merging, as protobuf parsing does).
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError>;
    /// JSON `null` is a value of this type rather than "unset" (only `google.protobuf.Value`).
    const NULL_IS_VALUE: bool = false;
    /// The type has a special JSON form, so inside an `Any` it goes under `"value"`.
    const WKT: bool = false;
}

/// Boxed (recursive) message fields are `Option<Box<M>>`; this lets `Reader::message` and
/// `Writer::message` take them exactly like `Option<M>`.
impl<M: ProtoJson> ProtoJson for Box<M> {
    fn write_json(&self, w: &mut Writer<'_>) {
        (**self).write_json(w);
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        (**self).merge_json(r)
    }
    const NULL_IS_VALUE: bool = M::NULL_IS_VALUE;
    const WKT: bool = M::WKT;
}

pub use super::scalar::ProtoEnum;

impl ProtoEnum for prost_types::NullValue {
    fn name(value: i32) -> Option<&'static str> {
        (value == 0).then_some("NULL_VALUE")
    }
    fn from_name(name: &str) -> Option<i32> {
        (name == "NULL_VALUE").then_some(0)
    }
    const NULL_VALUE: bool = true;
}

/// Whether a singular proto3 field holds its default value (and so is omitted when defaults
/// are not emitted).
pub trait IsDefault {
    /// True for the proto3 default of the type.
    fn is_default(&self) -> bool;
}

/// Whether `v` is its type's proto3 default; generated code calls this per field.
#[inline]
pub fn is_default<T: IsDefault + ?Sized>(v: &T) -> bool {
    v.is_default()
}

macro_rules! is_default_zero {
    ($($t:ty),*) => {$(
        impl IsDefault for $t {
            #[inline]
            fn is_default(&self) -> bool {
                *self == 0
            }
        }
    )*};
}
is_default_zero!(i32, i64, u32, u64);

// Floats compare bitwise: -0.0 is not the default, so it survives a round trip.
impl IsDefault for f32 {
    #[inline]
    fn is_default(&self) -> bool {
        self.to_bits() == 0
    }
}

impl IsDefault for f64 {
    #[inline]
    fn is_default(&self) -> bool {
        self.to_bits() == 0
    }
}

impl IsDefault for bool {
    #[inline]
    fn is_default(&self) -> bool {
        !*self
    }
}

impl IsDefault for String {
    #[inline]
    fn is_default(&self) -> bool {
        self.is_empty()
    }
}

impl IsDefault for Vec<u8> {
    #[inline]
    fn is_default(&self) -> bool {
        self.is_empty()
    }
}

/// A protobuf map key type. JSON object keys are always strings, so keys are written quoted
/// and parsed back from the key text with range checks.
pub trait MapKey: Ord + Sized {
    /// Appends the key as a quoted JSON string.
    fn write_key(&self, w: &mut Writer<'_>);
    /// Reads the key from the (unescaped) object key text.
    fn parse_key(key: Cow<'_, str>) -> Result<Self, ScalarError>;
}

impl MapKey for String {
    fn write_key(&self, w: &mut Writer<'_>) {
        write_escaped(w.buf, self);
    }
    fn parse_key(key: Cow<'_, str>) -> Result<Self, ScalarError> {
        Ok(key.into_owned())
    }
}

impl MapKey for bool {
    fn write_key(&self, w: &mut Writer<'_>) {
        w.buf
            .extend_from_slice(if *self { b"\"true\"" } else { b"\"false\"" });
    }
    fn parse_key(key: Cow<'_, str>) -> Result<Self, ScalarError> {
        scalar::parse_bool(&key)
    }
}

macro_rules! int_map_key {
    ($($t:ty => $parse:ident),*) => {$(
        impl MapKey for $t {
            fn write_key(&self, w: &mut Writer<'_>) {
                w.buf.push(b'"');
                w.buf.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
                w.buf.push(b'"');
            }
            fn parse_key(key: Cow<'_, str>) -> Result<Self, ScalarError> {
                scalar::$parse(&key)
            }
        }
    )*};
}
int_map_key!(i32 => parse_i32, i64 => parse_i64, u32 => parse_u32, u64 => parse_u64);

// =============================================================================================
// Any registry

/// A message type that may travel inside `google.protobuf.Any`. The generator lists the
/// request and response types of the service; the runtime adds the well-known types itself.
#[derive(Clone, Copy)]
pub struct AnyType {
    /// Fully-qualified proto name, e.g. `library.v1.Book` (matched against the part of the
    /// type URL after its last `/`).
    pub type_name: &'static str,
    /// Decodes the binary payload and writes the whole Any object; false when it does not
    /// decode (the caller then falls back to base64).
    pub(super) write: fn(&str, &[u8], &mut Writer<'_>) -> bool,
    /// Reads the Any object (positioned at its `{`) and returns the binary payload.
    pub(super) read: fn(&mut Reader<'_>) -> Result<Vec<u8>, JsonError>,
}

impl AnyType {
    /// Registers `M` under `type_name` so Any values holding it are written and read in their
    /// JSON form.
    pub const fn of<M: ProtoJson + prost::Message + Default>(type_name: &'static str) -> AnyType {
        AnyType {
            type_name,
            write: any_write::<M>,
            read: any_read::<M>,
        }
    }
}

impl fmt::Debug for AnyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyType")
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

fn any_write<M: ProtoJson + prost::Message + Default>(
    url: &str,
    payload: &[u8],
    w: &mut Writer<'_>,
) -> bool {
    let Ok(m) = M::decode(payload) else {
        return false;
    };
    any_object(url, M::WKT, w, &|w| m.write_json(w));
    true
}

/// The object of an `Any` holding a message that `write` writes: the message's fields beside
/// `@type`, or a well-known type's JSON under `value`.
fn any_object(url: &str, wkt: bool, w: &mut Writer<'_>, write: &dyn Fn(&mut Writer<'_>)) {
    w.begin_object();
    w.key("@type", "@type");
    w.string(url);
    if wkt {
        w.key("value", "value");
        write(w);
        w.end_object();
    } else {
        // Write the message's own object, then splice it into ours: its `{` becomes our `,`.
        let at = w.buf.len();
        write(w);
        if w.buf.get(at..) == Some(b"{}".as_slice()) {
            w.buf.truncate(at);
            w.buf.push(b'}');
        } else if let Some(open) = w.buf.get_mut(at).filter(|b| **b == b'{') {
            *open = b',';
        }
        w.first = false;
    }
}

fn any_read<M: ProtoJson + prost::Message + Default>(
    r: &mut Reader<'_>,
) -> Result<Vec<u8>, JsonError> {
    let mut m = M::default();
    any_fields(r, M::WKT, &mut |r| m.merge_json(r))?;
    Ok(m.encode_to_vec())
}

/// Reads the object of an `Any` into the message `merge` reads: its fields beside `@type`, or a
/// well-known type's JSON under `value`.
fn any_fields(
    r: &mut Reader<'_>,
    wkt: bool,
    merge: &mut dyn FnMut(&mut Reader<'_>) -> Result<(), JsonError>,
) -> Result<(), JsonError> {
    if wkt {
        let mut found = false;
        let start = r.skip_ws();
        r.object(&[("@type", "@type"), ("value", "value")], |r, field| {
            if field == 0 {
                r.skip_value()
            } else {
                found = true;
                merge(r)
            }
        })?;
        if !found {
            return Err(r.error_at(start, "missing \"value\" field in Any"));
        }
        Ok(())
    } else {
        r.skip_type_key = true;
        let res = merge(r);
        r.skip_type_key = false;
        res
    }
}

// =============================================================================================
// Errors

/// Why a JSON document could not be read: what was wrong, at which field path, and where in
/// the input (byte offset, 1-based line and column), so a 400 response can say exactly that.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonError(Box<ErrorInner>);

#[derive(Clone, PartialEq, Eq)]
struct ErrorInner {
    message: String,
    path: String,
    offset: usize,
    line: usize,
    column: usize,
}

impl JsonError {
    /// Dotted path of the offending field as written in the input: `book.author.born`,
    /// `tags[2]`, `labels["k"]`; empty at the top level.
    pub fn path(&self) -> &str {
        &self.0.path
    }
    /// Byte offset of the offending token in the input.
    pub fn offset(&self) -> usize {
        self.0.offset
    }
    /// 1-based line of the offending token.
    pub fn line(&self) -> usize {
        self.0.line
    }
    /// 1-based column (in characters) of the offending token.
    pub fn column(&self) -> usize {
        self.0.column
    }
    /// What went wrong, without path or position.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// Puts `name` in front of the path, for callers that read a message which sits in a
    /// named field of something larger (e.g. the request field a body maps to).
    pub fn in_field(mut self, name: &str) -> Self {
        let p = &mut self.0.path;
        if !p.is_empty() && !p.starts_with('[') {
            p.insert(0, '.');
        }
        p.insert_str(0, name);
        self
    }
    fn in_segment(mut self, segment: fmt::Arguments<'_>) -> Self {
        let p = &mut self.0.path;
        let mut s = segment.to_string();
        if !p.is_empty() && !p.starts_with('[') {
            s.push('.');
        }
        p.insert_str(0, &s);
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if !e.path.is_empty() {
            write!(f, "{}: ", e.path)?;
        }
        write!(f, "{} (line {}, column {})", e.message, e.line, e.column)
    }
}

impl fmt::Debug for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonError")
            .field("path", &self.0.path)
            .field("message", &self.0.message)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for JsonError {}

/// Why a message has no ProtoJSON form, so that writing it failed: a Timestamp or Duration
/// outside the range the JSON mapping can spell, a FieldMask path that would not read back, a
/// `Value` with no kind. protojson refuses these too; the proxy answers 500 instead of sending
/// JSON that does not mean the message it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError(Cow<'static, str>);

impl WriteError {
    /// An error saying `message`.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        WriteError(message.into())
    }
    /// What could not be written.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

/// A reply that cannot be written as JSON is the proxy's 500 (grpc-gateway answers the same
/// when marshalling fails), with the reason in the `google.rpc.Status` body.
impl From<WriteError> for super::error::Error {
    fn from(e: WriteError) -> Self {
        super::error::Error::new(
            tonic::Code::Internal,
            format!("the upstream's reply has no JSON form: {e}"),
        )
    }
}

/// Longest excerpt of offending input quoted in a message, in characters.
const EXCERPT_CHARS: usize = 40;

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", s.get(..cut).unwrap_or_default()),
        None => s.into_owned(),
    }
}

/// A name or key quoted for a message, truncated like other excerpts.
fn quoted(s: &str) -> String {
    let mut buf = Vec::with_capacity(s.len() + 2);
    write_escaped(&mut buf, s);
    excerpt(&buf)
}

// =============================================================================================
// Writer

/// Appends ProtoJSON to a byte buffer. Generated `write_json` calls `key`/`item` before each
/// value and one typed value method; the writer puts the separators in. A value with no JSON
/// form records a [`WriteError`] (the first one is kept) instead of failing each call: the
/// generated code stays straight-line, and [`Writer::finish`] (or the entry points) reports it.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    opts: &'a JsonOptions,
    types: &'a [AnyType],
    /// Nothing written yet in the innermost object or array (so no `,` before the next key).
    first: bool,
    /// The first value that had no JSON form; the buffer's content is then meaningless.
    error: Option<WriteError>,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("len", &self.buf.len())
            .field("opts", self.opts)
            .finish_non_exhaustive()
    }
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`; `types` resolves the payloads of `Any` values.
    pub fn new(buf: &'a mut Vec<u8>, opts: &'a JsonOptions, types: &'a [AnyType]) -> Self {
        Writer {
            buf,
            opts,
            types,
            first: true,
            error: None,
        }
    }

    /// Records that a value has no JSON form (the first such error is the one reported).
    #[cold]
    pub fn fail(&mut self, error: WriteError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Whether everything written so far had a JSON form.
    #[inline]
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// Ends writing: `Err` with the first value that had no JSON form, if any (the buffer then
    /// holds no valid document and must be dropped).
    #[inline]
    pub fn finish(self) -> Result<(), WriteError> {
        match self.error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &'a JsonOptions {
        self.opts
    }

    /// The registered Any payload types.
    pub fn types(&self) -> &'a [AnyType] {
        self.types
    }

    /// Whether fields at their default value are written (generated code asks per field).
    #[inline]
    pub fn emit_defaults(&self) -> bool {
        self.opts.emit_defaults
    }

    /// Starts an object.
    #[inline]
    pub fn begin_object(&mut self) {
        self.buf.push(b'{');
        self.first = true;
    }

    /// Ends an object.
    #[inline]
    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    /// Starts an array.
    #[inline]
    pub fn begin_array(&mut self) {
        self.buf.push(b'[');
        self.first = true;
    }

    /// Ends an array.
    #[inline]
    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    #[inline]
    fn separator(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    /// Writes a field key (JSON or proto name, as the options say) with its separators. The
    /// names come escaped (the generator escapes a `json_name` that needs it) and are copied
    /// as they are.
    #[inline]
    pub fn key(&mut self, json_name: &str, proto_name: &str) {
        self.separator();
        let name = if self.opts.proto_names {
            proto_name
        } else {
            json_name
        };
        self.buf.reserve(name.len() + 3);
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Marks the start of the next array element.
    #[inline]
    pub fn item(&mut self) {
        self.separator();
    }

    /// Writes a map entry's key (always a JSON string) with its separators.
    #[inline]
    pub fn map_key<K: MapKey>(&mut self, key: &K) {
        self.separator();
        key.write_key(self);
        self.buf.push(b':');
    }

    /// Writes `null`.
    #[inline]
    pub fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    /// Writes `true` or `false`.
    #[inline]
    pub fn bool(&mut self, v: &bool) {
        self.buf
            .extend_from_slice(if *v { b"true".as_slice() } else { b"false" });
    }

    /// Writes an int32/sint32/sfixed32 as a JSON number.
    #[inline]
    pub fn int32(&mut self, v: &i32) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
    }

    /// Writes a uint32/fixed32 as a JSON number.
    #[inline]
    pub fn uint32(&mut self, v: &u32) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
    }

    /// Writes an int64/sint64/sfixed64 as a JSON string (JSON numbers lose precision past 2^53).
    #[inline]
    pub fn int64(&mut self, v: &i64) {
        self.buf.push(b'"');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
        self.buf.push(b'"');
    }

    /// Writes a uint64/fixed64 as a JSON string.
    #[inline]
    pub fn uint64(&mut self, v: &u64) {
        self.buf.push(b'"');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
        self.buf.push(b'"');
    }

    /// Writes a float: the shortest text that reads back to the same f32, in the notation
    /// protojson uses; NaN and the infinities as the strings `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`.
    pub fn float(&mut self, v: &f32) {
        let v = *v;
        if !v.is_finite() {
            self.non_finite(v.is_nan(), v.is_sign_negative());
            return;
        }
        let a = v.abs();
        let sci = a != 0.0 && !(1e-6..1e21).contains(&a);
        write_number(self.buf, ryu::Buffer::new().format_finite(v), sci);
    }

    /// Writes a double like [`Writer::float`], shortest round-trip for f64.
    pub fn double(&mut self, v: &f64) {
        let v = *v;
        if !v.is_finite() {
            self.non_finite(v.is_nan(), v.is_sign_negative());
            return;
        }
        let a = v.abs();
        let sci = a != 0.0 && !(1e-6..1e21).contains(&a);
        write_number(self.buf, ryu::Buffer::new().format_finite(v), sci);
    }

    fn non_finite(&mut self, nan: bool, negative: bool) {
        self.buf.extend_from_slice(if nan {
            b"\"NaN\"".as_slice()
        } else if negative {
            b"\"-Infinity\""
        } else {
            b"\"Infinity\""
        });
    }

    /// Writes a JSON string: `"`, `\` and control characters escaped, all else raw UTF-8.
    #[inline]
    pub fn string(&mut self, v: &str) {
        write_escaped(self.buf, v);
    }

    /// Writes bytes as standard base64 with padding, in a JSON string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.push(b'"');
        if let Some(n) = base64::encoded_len(v.len(), true) {
            let start = self.buf.len();
            self.buf.resize(start + n, 0);
            if let Some(tail) = self.buf.get_mut(start..) {
                let _ = base64::Engine::encode_slice(
                    &base64::engine::general_purpose::STANDARD,
                    v,
                    tail,
                );
            }
        }
        self.buf.push(b'"');
    }

    /// Writes an enum value: its name, or its number when unknown or when the options ask
    /// for numbers; `NullValue` is always `null`.
    pub fn enumeration<E: ProtoEnum>(&mut self, v: &i32) {
        if E::NULL_VALUE {
            self.null();
            return;
        }
        match E::name(*v) {
            Some(name) if !self.opts.enums_as_numbers => write_escaped(self.buf, name),
            _ => self.int32(v),
        }
    }

    /// Writes a message (or well-known type) through its `ProtoJson` impl.
    #[inline]
    pub fn message<M: ProtoJson>(&mut self, m: &M) {
        m.write_json(self);
    }

    /// Writes a JSON string whose content `f` appends unescaped (Timestamp, Duration and
    /// FieldMask text); escapes it afterwards in the rare case it needs it. When `f` finds the
    /// value has no JSON form it appends nothing and the writer records the error (writing
    /// `null` in its place, so the rest stays well-formed).
    pub(super) fn raw_string(&mut self, f: impl FnOnce(&mut Vec<u8>) -> Result<(), WriteError>) {
        self.buf.push(b'"');
        let start = self.buf.len();
        if let Err(e) = f(self.buf) {
            self.buf.truncate(start - 1);
            self.null();
            self.fail(e);
            return;
        }
        let needs_escape = self
            .buf
            .get(start..)
            .is_some_and(|s| plain_len(s) < s.len());
        if needs_escape {
            let tail = self.buf.split_off(start);
            self.buf.truncate(start - 1);
            write_escaped(self.buf, &String::from_utf8_lossy(&tail));
        } else {
            self.buf.push(b'"');
        }
    }
}

/// Per byte: 0 = copy as is, `u` = `\u00XX`, else the letter after the backslash.
#[allow(clippy::indexing_slicing)] // evaluated at compile time
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

#[inline]
fn escape_of(c: u8) -> u8 {
    ESCAPE.get(usize::from(c)).copied().unwrap_or(0)
}

/// Appends `s` as a quoted JSON string, copying unescaped runs in one go.
fn write_escaped(buf: &mut Vec<u8>, s: &str) {
    let hex = |d: u8| {
        b"0123456789abcdef"
            .get(usize::from(d))
            .copied()
            .unwrap_or(b'0')
    };
    let mut rest = s.as_bytes();
    buf.reserve(rest.len() + 2);
    buf.push(b'"');
    loop {
        let plain = plain_len(rest);
        let (run, tail) = rest.split_at(plain.min(rest.len()));
        buf.extend_from_slice(run);
        let Some((&c, tail)) = tail.split_first() else {
            break;
        };
        let esc = escape_of(c);
        if esc == b'u' {
            buf.extend_from_slice(b"\\u00");
            buf.extend_from_slice(&[hex(c >> 4), hex(c & 0xf)]);
        } else {
            buf.push(b'\\');
            buf.push(esc);
        }
        rest = tail;
    }
    buf.push(b'"');
}

/// How many bytes at the start of `bytes` a JSON string holds as they are: up to the first
/// control character, quote or backslash (the bytes [`ESCAPE`] marks), or all of them. Eight
/// bytes at a time: most strings have none of those, and writer and reader both scan for them.
#[inline]
fn plain_len(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut done = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let special = special_bytes(u64::from_le_bytes(word));
        if special != 0 {
            // The lowest marked byte is exact (the borrows only ever mark bytes above a match).
            return done + (special.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + chunks
        .remainder()
        .iter()
        .position(|&c| escape_of(c) != 0)
        .unwrap_or(chunks.remainder().len())
}

/// The high bit of each byte of `w` that is a control character, a quote or a backslash. A byte
/// is below 0x20 when subtracting 0x20 borrows into its high bit while it had none; it equals `c`
/// when `w ^ c` has a zero byte, found the same way.
#[inline]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero_byte(w ^ (ONES * u64::from(b'"'))) | zero_byte(w ^ (ONES * u64::from(b'\\')))
}

/// Re-lays ryu's shortest digits in protojson's notation (Go's `encoding/json` rules): plain
/// decimal for 1e-6 <= |v| < 1e21, otherwise `1e+21` / `1e-7` exponent form; no `.0` suffix.
fn write_number(buf: &mut Vec<u8>, ryu: &str, sci: bool) {
    // ryu writes plain decimal (`12.5`, `4000.0`, `0.001`) for 1e-5 <= |v| < 1e16, inside
    // protojson's plain range: only an integer's `.0` differs. Most numbers take this path.
    if !sci && !ryu.contains('e') {
        buf.extend_from_slice(ryu.strip_suffix(".0").unwrap_or(ryu).as_bytes());
        return;
    }
    let b = ryu.as_bytes();
    let (neg, body) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let (mantissa, exp) = match body.iter().position(|&c| c == b'e') {
        Some(p) => {
            let (m, e) = body.split_at(p);
            let e = std::str::from_utf8(e.get(1..).unwrap_or_default())
                .ok()
                .and_then(|e| e.parse::<i32>().ok());
            match e {
                Some(e) => (m, e),
                None => {
                    buf.extend_from_slice(b);
                    return;
                }
            }
        }
        None => (body, 0),
    };
    // Digits without the point; `point` = how many of them precede the decimal point.
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut point: i32 = 0;
    let mut seen_point = false;
    for &c in mantissa {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if n == 0 && c == b'0' {
            // A leading zero: shifts the point left if after it, otherwise does nothing.
            if seen_point {
                point -= 1;
            }
            continue;
        }
        let Some(slot) = digits.get_mut(n) else {
            buf.extend_from_slice(b);
            return;
        };
        *slot = c;
        n += 1;
        if !seen_point {
            point += 1;
        }
    }
    while n > 0 && digits.get(n - 1) == Some(&b'0') {
        n -= 1;
    }
    if neg {
        buf.push(b'-');
    }
    let digits = digits.get(..n).unwrap_or_default();
    if digits.is_empty() {
        buf.push(b'0');
        return;
    }
    let point = point + exp;
    if sci {
        let (first, rest) = digits.split_at(1);
        buf.extend_from_slice(first);
        if !rest.is_empty() {
            buf.push(b'.');
            buf.extend_from_slice(rest);
        }
        let e = point - 1;
        buf.extend_from_slice(if e < 0 { b"e-" } else { b"e+" });
        let mut ib = itoa::Buffer::new();
        let es = ib.format(e.unsigned_abs());
        if e >= 0 && es.len() < 2 {
            buf.push(b'0');
        }
        buf.extend_from_slice(es.as_bytes());
        return;
    }
    let len = i32::try_from(n).unwrap_or(i32::MAX);
    if point <= 0 {
        buf.extend_from_slice(b"0.");
        for _ in 0..-point {
            buf.push(b'0');
        }
        buf.extend_from_slice(digits);
    } else if point >= len {
        buf.extend_from_slice(digits);
        for _ in len..point {
            buf.push(b'0');
        }
    } else {
        let (int, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        buf.extend_from_slice(int);
        buf.push(b'.');
        buf.extend_from_slice(frac);
    }
}

// =============================================================================================
// Reader

/// What kind of JSON value comes next (for types whose JSON form is open, like `Value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    Null,
    Bool,
    Number,
    String,
    Object,
    Array,
}

/// Reads one member of an object: its value, given the key and the key's offset.
type ReadMember<'a, 'f> =
    dyn FnMut(&mut Reader<'a>, Cow<'a, str>, usize) -> Result<(), JsonError> + 'f;

/// Pulls ProtoJSON values out of a byte slice. Generated `merge_json` calls `object` with its
/// field names and reads each field with one typed method; strings are borrowed from the
/// input while parsing and only the values returned to the caller are allocated.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    opts: &'a JsonOptions,
    types: &'a [AnyType],
    depth: usize,
    /// Set while a JSON `null` is read for a oneof member, list element, map value or
    /// optional: message readers then return a default instead of failing.
    null_probe: bool,
    /// Set by readers that took a JSON `null` as a real value (Value, NullValue).
    null_accepted: bool,
    /// The next object read is an Any payload: its `@type` key is not a field.
    skip_type_key: bool,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("pos", &self.pos)
            .field("len", &self.input.len())
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<'a> Reader<'a> {
    /// A reader over one JSON document; `types` resolves the payloads of `Any` values.
    pub fn new(input: &'a [u8], opts: &'a JsonOptions, types: &'a [AnyType]) -> Self {
        Reader {
            input,
            pos: 0,
            opts,
            types,
            depth: 0,
            null_probe: false,
            null_accepted: false,
            skip_type_key: false,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &'a JsonOptions {
        self.opts
    }

    /// The registered Any payload types.
    pub fn types(&self) -> &'a [AnyType] {
        self.types
    }

    /// Byte offset of the next unread input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Checks that only whitespace is left after the value that was read.
    pub fn finish(&mut self) -> Result<(), JsonError> {
        let at = self.skip_ws();
        if at < self.input.len() {
            return Err(self.error_at(at, "trailing data after the JSON value"));
        }
        Ok(())
    }

    // -- errors ------------------------------------------------------------------------------

    pub(super) fn error_at(&self, offset: usize, message: impl Into<String>) -> JsonError {
        let offset = offset.min(self.input.len());
        let before = self.input.get(..offset).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let column = 1 + before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&c| c & 0xC0 != 0x80)
            .count();
        JsonError(Box::new(ErrorInner {
            message: message.into(),
            path: String::new(),
            offset,
            line,
            column,
        }))
    }

    /// "expected X, got <token>[: detail]" for the token at `at`.
    fn value_error(&self, at: usize, expected: &str, detail: &str) -> JsonError {
        let got = self.describe_at(at);
        if detail.is_empty() {
            self.error_at(at, format!("expected {expected}, got {got}"))
        } else {
            self.error_at(at, format!("expected {expected}, got {got}: {detail}"))
        }
    }

    pub(super) fn scalar_error(&self, at: usize, e: ScalarError) -> JsonError {
        self.value_error(at, e.expected, e.detail)
    }

    /// A short description of the token at `at` for messages.
    fn describe_at(&self, at: usize) -> String {
        let rest = self.input.get(at..).unwrap_or_default();
        match rest.first() {
            None => "end of input".to_owned(),
            Some(b'{') => "an object".to_owned(),
            Some(b'[') => "an array".to_owned(),
            Some(b'"') => excerpt(rest.get(..raw_string_len(rest)).unwrap_or(rest)),
            Some(_) => {
                let end = rest
                    .iter()
                    .position(|c| {
                        matches!(
                            c,
                            b' ' | b'\t'
                                | b'\n'
                                | b'\r'
                                | b','
                                | b':'
                                | b'{'
                                | b'}'
                                | b'['
                                | b']'
                                | b'"'
                        )
                    })
                    .unwrap_or(rest.len())
                    .max(1);
                excerpt(rest.get(..end).unwrap_or(rest))
            }
        }
    }

    // -- tokens ------------------------------------------------------------------------------

    /// Skips whitespace and returns the offset of the next token.
    #[inline]
    fn skip_ws(&mut self) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
        self.pos
    }

    #[inline]
    fn peek_byte(&mut self) -> Option<u8> {
        let at = self.skip_ws();
        self.input.get(at).copied()
    }

    /// What kind of value comes next, or `None` at the end of input or a stray character.
    pub(super) fn peek_next(&mut self) -> Option<Next> {
        Some(match self.peek_byte()? {
            b'n' => Next::Null,
            b't' | b'f' => Next::Bool,
            b'-' | b'0'..=b'9' => Next::Number,
            b'"' => Next::String,
            b'{' => Next::Object,
            b'[' => Next::Array,
            _ => return None,
        })
    }

    /// Consumes `lit` if the input continues with it.
    #[inline]
    fn eat(&mut self, lit: &[u8]) -> bool {
        if self
            .input
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(lit))
        {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    /// Reads the number token at `start` (already positioned there).
    fn number_token(&mut self, start: usize, expected: &str) -> Result<&'a str, JsonError> {
        let input = self.input;
        let rest = input.get(start..).unwrap_or_default();
        let len = scalar::number_len(rest).ok_or_else(|| self.value_error(start, expected, ""))?;
        let tok = rest.get(..len).unwrap_or_default();
        self.pos = start + len;
        std::str::from_utf8(tok).map_err(|_| self.value_error(start, expected, ""))
    }

    /// Decodes the escape whose backslash is at `at`: the char and the bytes it spans.
    fn escape_at(&self, at: usize) -> Result<(char, usize), JsonError> {
        let c = match self.input.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4(at + 2)?;
                if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.error_at(at, "lone low surrogate in string escape"));
                }
                if !(0xD800..0xDC00).contains(&hi) {
                    let c = char::from_u32(hi)
                        .ok_or_else(|| self.error_at(at, "invalid string escape"))?;
                    return Ok((c, 6));
                }
                let lo = if self.input.get(at + 6..at + 8) == Some(b"\\u".as_slice()) {
                    self.hex4(at + 8)?
                } else {
                    0
                };
                if !(0xDC00..0xE000).contains(&lo) {
                    return Err(self.error_at(at, "lone high surrogate in string escape"));
                }
                let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    .ok_or_else(|| self.error_at(at, "invalid string escape"))?;
                return Ok((c, 12));
            }
            _ => return Err(self.error_at(at, "invalid string escape")),
        };
        Ok((c, 2))
    }

    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .input
            .get(at..at + 4)
            .ok_or_else(|| self.error_at(at, "invalid \\u escape"))?;
        let mut v = 0u32;
        for &c in digits {
            let d = char::from(c)
                .to_digit(16)
                .ok_or_else(|| self.error_at(at, "invalid \\u escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn utf8(&self, from: usize, to: usize) -> Result<&'a str, JsonError> {
        let input = self.input;
        let bytes = input.get(from..to).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map_err(|e| self.error_at(from + e.valid_up_to(), "invalid UTF-8 in string"))
    }

    /// Reads the string token at the current position (its `"`): borrowed when it has no
    /// escapes, owned otherwise.
    fn str_token(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.pos;
        // Fast path: the first quote, backslash or control character ends the plain run.
        let mut i = start + 1;
        i += plain_len(self.input.get(i..).unwrap_or_default());
        match self.input.get(i) {
            None => return Err(self.error_at(start, "unterminated string")),
            Some(b'"') => {
                let s = self.utf8(start + 1, i)?;
                self.pos = i + 1;
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.error_at(i, "control character in string")),
        }
        let mut out = String::with_capacity(i - start + 16);
        let mut run = start + 1;
        loop {
            match self.input.get(i) {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(b'"') => {
                    out.push_str(self.utf8(run, i)?);
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    out.push_str(self.utf8(run, i)?);
                    let (c, len) = self.escape_at(i)?;
                    out.push(c);
                    i += len;
                    run = i;
                    i += plain_len(self.input.get(i..).unwrap_or_default());
                }
                Some(_) => return Err(self.error_at(i, "control character in string")),
            }
        }
    }

    /// Validates and skips the string token at the current position without allocating.
    fn skip_string(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        let mut i = start + 1;
        loop {
            i += plain_len(self.input.get(i..).unwrap_or_default());
            match self.input.get(i) {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => i += self.escape_at(i)?.1,
                Some(_) => return Err(self.error_at(i, "control character in string")),
            }
        }
        // Escapes are ASCII, so checking the raw span checks the text.
        self.utf8(start + 1, i)?;
        self.pos = i + 1;
        Ok(())
    }

    fn enter(&mut self, at: usize) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            return Err(self.error_at(
                at,
                format!("nesting deeper than {} levels", self.opts.max_depth),
            ));
        }
        Ok(())
    }

    /// Iterates an object's entries: `f` gets each key (and its offset) with the reader
    /// positioned at the value, and must consume the value.
    /// Reads an object's members, `f` reading each value after its key. Not generic, as
    /// everything that reads objects of every message type: it is compiled once.
    fn entries(&mut self, f: &mut ReadMember<'a, '_>) -> Result<(), JsonError> {
        let start = self.skip_ws();
        if self.input.get(start) != Some(&b'{') {
            return Err(self.value_error(start, "an object", ""));
        }
        self.enter(start)?;
        self.pos = start + 1;
        if self.peek_byte() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let key_at = self.skip_ws();
            if self.input.get(key_at) != Some(&b'"') {
                return Err(self.value_error(key_at, "a field name string", ""));
            }
            let key = self.str_token()?;
            let colon = self.skip_ws();
            if self.input.get(colon) != Some(&b':') {
                return Err(self.value_error(colon, "':'", ""));
            }
            self.pos = colon + 1;
            f(self, key, key_at)?;
            let next = self.skip_ws();
            match self.input.get(next) {
                Some(b',') => self.pos = next + 1,
                Some(b'}') => {
                    self.pos = next + 1;
                    break;
                }
                _ => return Err(self.value_error(next, "',' or '}'", "")),
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Iterates an array's elements: `f` gets each index with the reader positioned at the
    /// element, and must consume it. Errors get the index prepended to their path.
    fn elements(
        &mut self,
        mut f: impl FnMut(&mut Self, usize) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        let start = self.skip_ws();
        if self.input.get(start) != Some(&b'[') {
            return Err(self.value_error(start, "an array", ""));
        }
        self.enter(start)?;
        self.pos = start + 1;
        if self.peek_byte() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            f(self, index).map_err(|e| e.in_segment(format_args!("[{index}]")))?;
            index += 1;
            let next = self.skip_ws();
            match self.input.get(next) {
                Some(b',') => self.pos = next + 1,
                Some(b']') => {
                    self.pos = next + 1;
                    break;
                }
                _ => return Err(self.value_error(next, "',' or ']'", "")),
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Reads a value for a oneof member, list element, map value or optional when the input
    /// holds `null`: `Some` only if `read` took the null as a real value (Value, NullValue).
    fn null_member<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        let at = self.skip_ws();
        self.null_probe = true;
        self.null_accepted = false;
        let res = read(self);
        self.null_probe = false;
        let v = res?;
        if self.pos <= at {
            // `read` left the null alone; consume it here.
            self.null()?;
        }
        Ok(std::mem::take(&mut self.null_accepted).then_some(v))
    }

    // -- structure ---------------------------------------------------------------------------

    /// Reads a message object. Keys match `fields` (`(json_name, proto_name)`) by either name
    /// and `f` reads the value of field number `index`. A field given twice (also once under
    /// each name) is an error; so is an unknown key unless the options say to skip it; `null`
    /// is an error here (callers decide what `null` means). Errors from `f` get the field name
    /// prepended to their path.
    pub fn object(
        &mut self,
        fields: &[(&str, &str)],
        mut f: impl FnMut(&mut Self, usize) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.fields(fields, &mut f)
    }

    /// [`object`](Self::object), compiled once for every message type.
    fn fields(
        &mut self,
        fields: &[(&str, &str)],
        f: &mut dyn FnMut(&mut Self, usize) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        let skip_type = std::mem::take(&mut self.skip_type_key);
        let mut seen: u128 = 0;
        let mut seen_more: Vec<bool> = Vec::new();
        let mut hint = 0;
        self.entries(&mut |r, key, key_at| {
            // Fields usually arrive in declaration order: start looking after the last one.
            let n = fields.len();
            let found = (0..n).map(|k| (hint + k) % n).find_map(|i| {
                let (json, proto) = fields.get(i)?;
                if *json == key {
                    Some((i, *json))
                } else if *proto == key {
                    Some((i, *proto))
                } else {
                    None
                }
            });
            let Some((i, name)) = found else {
                if (skip_type && key == "@type") || r.opts.ignore_unknown_fields {
                    return r.skip_value();
                }
                if key.starts_with('[') && key.ends_with(']') {
                    // `"[pkg.ext]"`: prost's structs keep no extensions, so it cannot be read.
                    return Err(r.error_at(
                        key_at,
                        format!(
                            "unknown field {}: extensions are not supported",
                            quoted(&key)
                        ),
                    ));
                }
                return Err(r.error_at(key_at, format!("unknown field {}", quoted(&key))));
            };
            let dup = if i < 128 {
                let bit = 1u128 << i;
                let dup = seen & bit != 0;
                seen |= bit;
                dup
            } else {
                if seen_more.is_empty() {
                    seen_more.resize(n, false);
                }
                match seen_more.get_mut(i) {
                    Some(s) => std::mem::replace(s, true),
                    None => false,
                }
            };
            if dup {
                return Err(r.error_at(key_at, format!("duplicate field {}", quoted(&key))));
            }
            hint = i + 1;
            f(r, i).map_err(|e| e.in_field(name))
        })
    }

    /// Whether the next value is `null` (without consuming it).
    pub fn peek_null(&mut self) -> bool {
        let at = self.skip_ws();
        self.input
            .get(at..)
            .is_some_and(|rest| rest.starts_with(b"null"))
    }

    /// Consumes a `null`.
    pub fn null(&mut self) -> Result<(), JsonError> {
        let at = self.skip_ws();
        if self.eat(b"null") {
            Ok(())
        } else {
            Err(self.value_error(at, "null", ""))
        }
    }

    /// Skips one value of any kind, still checking that it is well-formed JSON (used for
    /// unknown fields when they are ignored).
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'{') => self.entries(&mut |r, _, _| r.skip_value()),
            Some(b'[') => self.elements(|r, _| r.skip_value()),
            Some(b'"') => self.skip_string(),
            Some(b't') if self.eat(b"true") => Ok(()),
            Some(b'f') if self.eat(b"false") => Ok(()),
            Some(b'n') if self.eat(b"null") => Ok(()),
            Some(b'-' | b'0'..=b'9') => self.number_token(at, "a JSON value").map(|_| ()),
            _ => Err(self.value_error(at, "a JSON value", "")),
        }
    }

    // -- values ------------------------------------------------------------------------------

    /// Reads a bool; `null` is false.
    pub fn bool(&mut self) -> Result<bool, JsonError> {
        let at = self.skip_ws();
        if self.eat(b"true") {
            Ok(true)
        } else if self.eat(b"false") || self.eat(b"null") {
            Ok(false)
        } else {
            Err(self.value_error(at, scalar::EXPECT_BOOL, ""))
        }
    }

    /// An integer from a JSON number or a quoted one (exponents allowed when exact), with its
    /// offset; `None` for `null`.
    fn integer(&mut self, expected: &'static str) -> Result<Option<(i128, usize)>, JsonError> {
        let at = self.skip_ws();
        let v = match self.input.get(at) {
            Some(b'"') => {
                let s = self.str_token()?;
                scalar::json_number_to_int(&s)
            }
            Some(b'-' | b'0'..=b'9') => {
                let tok = self.number_token(at, expected)?;
                scalar::valid_number_to_int(tok)
            }
            _ if self.eat(b"null") => return Ok(None),
            _ => Err(""),
        };
        match v {
            Ok(v) => Ok(Some((v, at))),
            Err(detail) => Err(self.value_error(at, expected, detail)),
        }
    }

    fn narrow<T: TryFrom<i128> + Default>(
        &mut self,
        expected: &'static str,
    ) -> Result<T, JsonError> {
        match self.integer(expected)? {
            None => Ok(T::default()),
            Some((v, at)) => {
                T::try_from(v).map_err(|_| self.value_error(at, expected, scalar::OUT_OF_RANGE))
            }
        }
    }

    /// Reads an int32 from a number or a string; `null` is 0.
    pub fn int32(&mut self) -> Result<i32, JsonError> {
        self.narrow(scalar::EXPECT_I32)
    }

    /// Reads a uint32 from a number or a string; `null` is 0.
    pub fn uint32(&mut self) -> Result<u32, JsonError> {
        self.narrow(scalar::EXPECT_U32)
    }

    /// Reads an int64 from a number or a string; `null` is 0.
    pub fn int64(&mut self) -> Result<i64, JsonError> {
        self.narrow(scalar::EXPECT_I64)
    }

    /// Reads a uint64 from a number or a string; `null` is 0.
    pub fn uint64(&mut self) -> Result<u64, JsonError> {
        self.narrow(scalar::EXPECT_U64)
    }

    /// Reads a float from a number, `"NaN"`, `"Infinity"`, `"-Infinity"` or a numeric
    /// string; values beyond the f32 range are an error; `null` is 0.
    pub fn float(&mut self) -> Result<f32, JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'"') => {
                let s = self.str_token()?;
                scalar::parse_f32(&s).map_err(|e| self.scalar_error(at, e))
            }
            Some(b'-' | b'0'..=b'9') => {
                let tok = self.number_token(at, scalar::EXPECT_F32)?;
                scalar::finite_f32(tok).map_err(|d| self.value_error(at, scalar::EXPECT_F32, d))
            }
            _ if self.eat(b"null") => Ok(0.0),
            _ => Err(self.value_error(at, scalar::EXPECT_F32, "")),
        }
    }

    /// Reads a double like [`Reader::float`].
    pub fn double(&mut self) -> Result<f64, JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'"') => {
                let s = self.str_token()?;
                scalar::parse_f64(&s).map_err(|e| self.scalar_error(at, e))
            }
            Some(b'-' | b'0'..=b'9') => {
                let tok = self.number_token(at, scalar::EXPECT_F64)?;
                scalar::finite_f64(tok).map_err(|d| self.value_error(at, scalar::EXPECT_F64, d))
            }
            _ if self.eat(b"null") => Ok(0.0),
            _ => Err(self.value_error(at, scalar::EXPECT_F64, "")),
        }
    }

    /// Reads a string; `null` is "".
    pub fn string(&mut self) -> Result<String, JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'"') => Ok(self.str_token()?.into_owned()),
            _ if self.eat(b"null") => Ok(String::new()),
            _ => Err(self.value_error(at, "a string", "")),
        }
    }

    /// Reads bytes from base64 (standard or URL-safe, padded or not); `null` is empty.
    pub fn bytes(&mut self) -> Result<Vec<u8>, JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'"') => {
                let s = self.str_token()?;
                scalar::parse_bytes(&s).map_err(|e| self.scalar_error(at, e))
            }
            _ if self.eat(b"null") => Ok(Vec::new()),
            _ => Err(self.value_error(at, scalar::EXPECT_BYTES, "")),
        }
    }

    /// Reads an enum value by name or number. An unknown name is an error, or 0 when unknown
    /// fields are ignored; unknown numbers are kept (proto3 enums are open); `null` is 0.
    pub fn enumeration<E: ProtoEnum>(&mut self) -> Result<i32, JsonError> {
        let at = self.skip_ws();
        match self.input.get(at) {
            Some(b'"') => {
                let s = self.str_token()?;
                match E::from_name(&s) {
                    Some(v) => Ok(v),
                    None if self.opts.ignore_unknown_fields => Ok(0),
                    None => Err(self.value_error(at, scalar::EXPECT_ENUM, scalar::UNKNOWN_NAME)),
                }
            }
            Some(b'-' | b'0'..=b'9') => self.narrow(scalar::EXPECT_ENUM),
            _ if self.eat(b"null") => {
                if E::NULL_VALUE {
                    self.null_accepted = true;
                }
                Ok(0)
            }
            _ => Err(self.value_error(at, scalar::EXPECT_ENUM, "")),
        }
    }

    /// Reads a string and parses it with `parse` (the well-known types with string forms).
    pub(super) fn parse_string<T>(
        &mut self,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ScalarError>,
    ) -> Result<T, JsonError> {
        let at = self.skip_ws();
        if self.input.get(at) != Some(&b'"') {
            return Err(self.value_error(at, expected, ""));
        }
        let s = self.str_token()?;
        parse(&s).map_err(|e| self.scalar_error(at, e))
    }

    /// Refuses `null` where a container is required (Struct, ListValue).
    pub(super) fn not_null(&mut self, expected: &'static str) -> Result<(), JsonError> {
        if self.peek_null() {
            let at = self.skip_ws();
            return Err(self.value_error(at, expected, ""));
        }
        Ok(())
    }

    /// Reads a singular message field: `null` clears it (except for `Value`, where `null` is
    /// a value), an object is merged into the existing message or a new one. Works for
    /// `Option<M>` and `Option<Box<M>>` alike.
    pub fn message<M: ProtoJson>(&mut self, slot: &mut Option<M>) -> Result<(), JsonError> {
        if self.peek_null() && !M::NULL_IS_VALUE {
            self.null()?;
            *slot = None;
            return Ok(());
        }
        slot.get_or_insert_with(M::default).merge_json(self)
    }

    /// Reads a message that must be present (a list element, map value or oneof member).
    pub fn message_value<M: ProtoJson>(&mut self) -> Result<M, JsonError> {
        if self.peek_null() {
            if M::NULL_IS_VALUE {
                self.null_accepted = true;
            } else if self.null_probe {
                self.null()?;
                return Ok(M::default());
            }
        }
        let mut m = M::default();
        m.merge_json(self)?;
        Ok(m)
    }

    /// Reads a proto3 `optional` or wrapper field: `null` is `None`.
    pub fn optional<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        if self.peek_null() {
            return self.null_member(read);
        }
        read(self).map(Some)
    }

    /// Reads a repeated field, appending to `out`; `null` leaves it empty. Elements may not be
    /// `null` (except `google.protobuf.Value` ones).
    pub fn repeated<T>(
        &mut self,
        out: &mut Vec<T>,
        mut read: impl FnMut(&mut Self) -> Result<T, JsonError>,
    ) -> Result<(), JsonError> {
        if self.peek_null() {
            return self.null();
        }
        self.elements(|r, _| {
            let v = if r.peek_null() {
                let at = r.skip_ws();
                match r.null_member(&mut read)? {
                    Some(v) => v,
                    None => return Err(r.error_at(at, "null is not allowed as a list element")),
                }
            } else {
                read(r)?
            };
            out.push(v);
            Ok(())
        })
    }

    /// Reads a map field into `out`; `null` leaves it empty. Keys are parsed with range
    /// checks; a key given twice is an error; values may not be `null` (except `Value`).
    pub fn map<K: MapKey, V>(
        &mut self,
        out: &mut BTreeMap<K, V>,
        mut read: impl FnMut(&mut Self) -> Result<V, JsonError>,
    ) -> Result<(), JsonError> {
        if self.peek_null() {
            return self.null();
        }
        self.entries(&mut |r, key, key_at| {
            let k = K::parse_key(key).map_err(|e| {
                let raw = r.describe_at(key_at);
                let msg = if e.detail.is_empty() {
                    format!("invalid map key {raw}: expected {}", e.expected)
                } else {
                    format!(
                        "invalid map key {raw}: expected {}: {}",
                        e.expected, e.detail
                    )
                };
                r.error_at(key_at, msg)
            })?;
            let value = if r.peek_null() {
                let at = r.skip_ws();
                match r.null_member(&mut read) {
                    Ok(Some(v)) => Ok(v),
                    Ok(None) => Err(r.error_at(at, "null is not allowed as a map value")),
                    Err(e) => Err(e),
                }
            } else {
                read(r)
            };
            let value = value.map_err(|e| {
                let raw = r.describe_at(key_at);
                e.in_segment(format_args!("[{raw}]"))
            })?;
            if out.insert(k, value).is_some() {
                let raw = r.describe_at(key_at);
                return Err(r.error_at(key_at, format!("duplicate map key {raw}")));
            }
            Ok(())
        })
    }

    /// Reads one member of a oneof into `slot`. `null` leaves the slot alone (unless the member
    /// is a `Value` or `NullValue`, for which `null` is a value); a second member is an error.
    pub fn oneof<T>(
        &mut self,
        slot: &mut Option<T>,
        oneof_name: &str,
        read: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<(), JsonError> {
        let at = self.skip_ws();
        let v = if self.peek_null() {
            match self.null_member(read)? {
                Some(v) => v,
                None => return Ok(()),
            }
        } else {
            if slot.is_some() {
                return Err(self.oneof_error(at, oneof_name));
            }
            read(self)?
        };
        if slot.is_some() {
            return Err(self.oneof_error(at, oneof_name));
        }
        *slot = Some(v);
        Ok(())
    }

    fn oneof_error(&self, at: usize, oneof_name: &str) -> JsonError {
        self.error_at(
            at,
            format!("oneof `{oneof_name}` has more than one member set"),
        )
    }

    /// Looks ahead in the Any object at the current position for its `"@type"` and returns
    /// the URL with its offset, leaving the position unchanged. `None` for `{}`; an object
    /// with other keys but no `@type` is an error.
    pub(super) fn any_type_url(&mut self) -> Result<Option<(Cow<'a, str>, usize)>, JsonError> {
        let (pos, depth) = (self.pos, self.depth);
        let start = self.skip_ws();
        let mut url = None;
        let mut keys = 0usize;
        self.entries(&mut |r, key, key_at| {
            keys += 1;
            if key != "@type" {
                return r.skip_value();
            }
            if url.is_some() {
                return Err(r.error_at(key_at, "duplicate field \"@type\""));
            }
            let at = r.skip_ws();
            if r.input.get(at) != Some(&b'"') {
                return Err(r.value_error(at, "a type URL string", ""));
            }
            url = Some((r.str_token()?, at));
            Ok(())
        })?;
        self.pos = pos;
        self.depth = depth;
        if url.is_none() && keys > 0 {
            return Err(self.error_at(start, "missing \"@type\" field in Any"));
        }
        Ok(url)
    }
}

/// Length of the raw JSON string token at the start of `b` (through its closing quote, or all
/// of `b` when unterminated). For messages only.
fn raw_string_len(b: &[u8]) -> usize {
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    b.len()
}

// =============================================================================================
// Entry points

/// Writes `m` as ProtoJSON into a new buffer.
///
/// # Errors
/// A value in `m` has no JSON form (see [`WriteError`]).
pub fn to_vec<M: ProtoJson>(
    m: &M,
    opts: &JsonOptions,
    types: &[AnyType],
) -> Result<Vec<u8>, WriteError> {
    write(opts, types, 256, &mut |w| w.message(m))
}

/// Room for the JSON of a message whose protobuf encoding takes `encoded_len` bytes: keys and
/// quotes make JSON longer, so that one allocation usually holds it.
pub fn capacity_for(encoded_len: usize) -> usize {
    2 * encoded_len + 64
}

/// Runs `f` with a writer over a new buffer of `capacity` bytes and returns the buffer (for
/// bodies that are not a single message, e.g. a `response_body` field or a stream envelope).
///
/// # Errors
/// A value `f` wrote has no JSON form (see [`WriteError`]).
pub fn write(
    opts: &JsonOptions,
    types: &[AnyType],
    capacity: usize,
    f: &mut dyn FnMut(&mut Writer<'_>),
) -> Result<Vec<u8>, WriteError> {
    let mut buf = Vec::with_capacity(capacity);
    let mut w = Writer::new(&mut buf, opts, types);
    f(&mut w);
    w.finish()?;
    Ok(buf)
}

/// Reads one JSON value from `input` into `m`; only whitespace may follow it.
pub fn merge<M: ProtoJson>(
    m: &mut M,
    input: &[u8],
    opts: &JsonOptions,
    types: &[AnyType],
) -> Result<(), JsonError> {
    let mut r = Reader::new(input, opts, types);
    m.merge_json(&mut r)?;
    r.finish()
}

/// Runs `f` with a reader over `input` and checks that only whitespace follows what it read.
pub fn read<'a, T>(
    input: &'a [u8],
    opts: &'a JsonOptions,
    types: &'a [AnyType],
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, JsonError>,
) -> Result<T, JsonError> {
    let mut r = Reader::new(input, opts, types);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}
