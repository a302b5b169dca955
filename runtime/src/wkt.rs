// ProtoJSON for the well-known types (prost_types) and for the Rust primitives prost uses for
// the wrapper types, each in its special JSON form: Timestamp/Duration/FieldMask as strings,
// Struct/Value/ListValue as plain JSON, Empty as `{}`, Any as `{"@type": …}` with its payload.
//
// Plain `//` comments on purpose: this file is also pulled into a user's module with
// `include!`, where inner doc comments are not allowed.

use prost_types::value::Kind;
use prost_types::{Any, Duration, FieldMask, ListValue, Struct, Timestamp, Value};

use super::json::{AnyType, JsonError, Next, ProtoJson, Reader, WriteError, Writer};
use super::scalar;

impl ProtoJson for Timestamp {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.raw_string(|out| scalar::format_timestamp(self, out));
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        *self = r.parse_string(scalar::EXPECT_TIMESTAMP, scalar::parse_timestamp)?;
        Ok(())
    }
}

impl ProtoJson for Duration {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.raw_string(|out| scalar::format_duration(self, out));
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        *self = r.parse_string(scalar::EXPECT_DURATION, scalar::parse_duration)?;
        Ok(())
    }
}

impl ProtoJson for FieldMask {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.raw_string(|out| scalar::field_mask_to_json(self, out));
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        *self = r.parse_string(scalar::EXPECT_FIELD_MASK, scalar::parse_field_mask_json)?;
        Ok(())
    }
}

impl ProtoJson for Struct {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        for (k, v) in &self.fields {
            w.map_key(k);
            v.write_json(w);
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.not_null("an object")?;
        r.map(&mut self.fields, Reader::message_value::<Value>)
    }
}

impl ProtoJson for ListValue {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_array();
        for v in &self.values {
            w.item();
            v.write_json(w);
        }
        w.end_array();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.not_null("an array")?;
        r.repeated(&mut self.values, Reader::message_value::<Value>)
    }
}

// JSON `null` is a Value (NULL_VALUE), not "unset". A Value with no kind set has no JSON form:
// protojson refuses it, and so does the writer (`null` would read back as a NULL_VALUE). NaN and
// the infinities have no JSON number form either; they are written as double fields write them.
impl ProtoJson for Value {
    const NULL_IS_VALUE: bool = true;
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        match &self.kind {
            Some(Kind::NullValue(_)) => w.null(),
            None => {
                w.null();
                w.fail(WriteError::new("a google.protobuf.Value with no kind set"));
            }
            Some(Kind::NumberValue(n)) => w.double(n),
            Some(Kind::StringValue(s)) => w.string(s),
            Some(Kind::BoolValue(b)) => w.bool(b),
            Some(Kind::StructValue(s)) => s.write_json(w),
            Some(Kind::ListValue(l)) => l.write_json(w),
        }
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        let kind = match r.peek_next() {
            Some(Next::Null) => {
                r.null()?;
                Kind::NullValue(0)
            }
            Some(Next::Bool) => Kind::BoolValue(r.bool()?),
            Some(Next::Number) => Kind::NumberValue(r.double()?),
            Some(Next::String) => Kind::StringValue(r.string()?),
            Some(Next::Object) => {
                let mut s = Struct::default();
                s.merge_json(r)?;
                Kind::StructValue(s)
            }
            Some(Next::Array) => {
                let mut l = ListValue::default();
                l.merge_json(r)?;
                Kind::ListValue(l)
            }
            // Not the start of any JSON value: let the skipper report it.
            None => return r.skip_value(),
        };
        self.kind = Some(kind);
        Ok(())
    }
}

// google.protobuf.Empty.
impl ProtoJson for () {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(&[], |_, _| Ok(()))
    }
}

// Any: a registered or well-known payload is written in its JSON form; one that is unknown or
// does not decode falls back to `{"@type": url, "value": "<base64>"}`, so that a reply carrying
// a type the proxy was not generated with still gets through.
// Reading an unknown type is an error naming it.
impl ProtoJson for Any {
    const WKT: bool = true;
    fn write_json(&self, w: &mut Writer<'_>) {
        if self.type_url.is_empty() && self.value.is_empty() {
            w.begin_object();
            w.end_object();
            return;
        }
        let resolved = resolve(w.types(), &self.type_url);
        if resolved.is_some_and(|t| (t.write)(&self.type_url, &self.value, w)) {
            return;
        }
        w.begin_object();
        w.key("@type", "@type");
        w.string(&self.type_url);
        w.key("value", "value");
        w.bytes(&self.value);
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.not_null("an object")?;
        match r.any_type_url()? {
            None => {
                r.object(&[], |_, _| Ok(()))?;
                *self = Any::default();
            }
            Some((url, at)) => {
                let t = resolve(r.types(), &url)
                    .ok_or_else(|| r.error_at(at, format!("unknown type {url:?} in Any")))?;
                self.value = (t.read)(r)?;
                self.type_url = url.into_owned();
            }
        }
        Ok(())
    }
}

// Wrapper types (google.protobuf.Int32Value etc.) are plain Rust primitives in prost; these
// impls give them their JSON form (the bare scalar) for use as Any payloads.
macro_rules! wrapper {
    ($($t:ty => $write:ident, $read:ident;)*) => {$(
        impl ProtoJson for $t {
            const WKT: bool = true;
            fn write_json(&self, w: &mut Writer<'_>) {
                w.$write(self);
            }
            fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
                *self = r.$read()?;
                Ok(())
            }
        }
    )*};
}
wrapper! {
    f64 => double, double;
    f32 => float, float;
    i64 => int64, int64;
    u64 => uint64, uint64;
    i32 => int32, int32;
    u32 => uint32, uint32;
    bool => bool, bool;
    String => string, string;
    Vec<u8> => bytes, bytes;
}

/// The well-known types every Any can carry without registration.
static BUILTIN: [AnyType; 17] = [
    AnyType::of::<Timestamp>("google.protobuf.Timestamp"),
    AnyType::of::<Duration>("google.protobuf.Duration"),
    AnyType::of::<FieldMask>("google.protobuf.FieldMask"),
    AnyType::of::<Struct>("google.protobuf.Struct"),
    AnyType::of::<Value>("google.protobuf.Value"),
    AnyType::of::<ListValue>("google.protobuf.ListValue"),
    AnyType::of::<Any>("google.protobuf.Any"),
    AnyType::of::<()>("google.protobuf.Empty"),
    AnyType::of::<f64>("google.protobuf.DoubleValue"),
    AnyType::of::<f32>("google.protobuf.FloatValue"),
    AnyType::of::<i64>("google.protobuf.Int64Value"),
    AnyType::of::<u64>("google.protobuf.UInt64Value"),
    AnyType::of::<i32>("google.protobuf.Int32Value"),
    AnyType::of::<u32>("google.protobuf.UInt32Value"),
    AnyType::of::<bool>("google.protobuf.BoolValue"),
    AnyType::of::<String>("google.protobuf.StringValue"),
    AnyType::of::<Vec<u8>>("google.protobuf.BytesValue"),
];

/// Finds the payload type of a type URL (the name after its last `/`): the registered types
/// first, then the well-known ones.
fn resolve(types: &[AnyType], url: &str) -> Option<AnyType> {
    let name = url.rsplit('/').next().unwrap_or(url);
    types
        .iter()
        .chain(BUILTIN.iter())
        .find(|t| t.type_name == name)
        .copied()
}
