//! ProtoJSON runtime (runtime/src/{json,scalar,wkt}.rs) against the proto3 JSON mapping.
//!
//! The message types below implement `ProtoJson` exactly as protogate's generated code does, so
//! these tests pin both the runtime and the calling convention the generator relies on.

use std::collections::BTreeMap;

use prost_types::value::Kind;
use prost_types::{Any, Duration, FieldMask, ListValue, NullValue, Struct, Timestamp, Value};
use protogate_example::runtime::json::*;
use protogate_example::runtime::scalar::*;

// =============================================================================================
// Test messages, written the way the generator writes them

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Genre {
    Unspecified = 0,
    Fiction = 1,
    Poetry = 2,
}

impl Genre {
    fn as_str_name(self) -> &'static str {
        match self {
            Genre::Unspecified => "GENRE_UNSPECIFIED",
            Genre::Fiction => "FICTION",
            Genre::Poetry => "POETRY",
        }
    }
    fn from_str_name(s: &str) -> Option<Genre> {
        match s {
            "GENRE_UNSPECIFIED" => Some(Genre::Unspecified),
            "FICTION" => Some(Genre::Fiction),
            "POETRY" => Some(Genre::Poetry),
            _ => None,
        }
    }
}

impl TryFrom<i32> for Genre {
    type Error = ();
    fn try_from(v: i32) -> Result<Self, ()> {
        match v {
            0 => Ok(Genre::Unspecified),
            1 => Ok(Genre::Fiction),
            2 => Ok(Genre::Poetry),
            _ => Err(()),
        }
    }
}

impl ProtoEnum for Genre {
    fn name(value: i32) -> Option<&'static str> {
        Genre::try_from(value).ok().map(|e| e.as_str_name())
    }
    fn from_name(name: &str) -> Option<i32> {
        Genre::from_str_name(name).map(|e| e as i32)
    }
}

/// A prost message (so it can travel in an Any).
#[derive(Clone, PartialEq, prost::Message)]
struct Author {
    #[prost(string, tag = "1")]
    display_name: String,
    #[prost(message, optional, tag = "2")]
    born: Option<Timestamp>,
}

impl ProtoJson for Author {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        if w.emit_defaults() || !is_default(&self.display_name) {
            w.key("displayName", "display_name");
            w.string(&self.display_name);
        }
        if let Some(v) = &self.born {
            w.key("born", "born");
            w.message(v);
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[("displayName", "display_name"), ("born", "born")],
            |r, field| {
                match field {
                    0 => self.display_name = r.string()?,
                    1 => r.message(&mut self.born)?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

mod book {
    #[derive(Clone, Debug, PartialEq)]
    pub enum Location {
        Borrower(String),
        Shelf(i32),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Book {
    name: String,
    copies_printed: i64,
    genre: i32,
    tags: Vec<String>,
    labels: BTreeMap<String, String>,
    author: Option<Author>,
    subtitle: Option<String>,
    series: Option<String>,
    location: Option<book::Location>,
}

impl ProtoJson for Book {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        if w.emit_defaults() || !is_default(&self.name) {
            w.key("name", "name");
            w.string(&self.name);
        }
        if w.emit_defaults() || !is_default(&self.copies_printed) {
            w.key("copiesPrinted", "copies_printed");
            w.int64(&self.copies_printed);
        }
        if w.emit_defaults() || !is_default(&self.genre) {
            w.key("genre", "genre");
            w.enumeration::<Genre>(&self.genre);
        }
        if w.emit_defaults() || !self.tags.is_empty() {
            w.key("tags", "tags");
            w.begin_array();
            for v in &self.tags {
                w.item();
                w.string(v);
            }
            w.end_array();
        }
        if w.emit_defaults() || !self.labels.is_empty() {
            w.key("labels", "labels");
            w.begin_object();
            for (k, v) in &self.labels {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if let Some(v) = &self.author {
            w.key("author", "author");
            w.message(v);
        }
        if let Some(v) = &self.subtitle {
            w.key("subtitle", "subtitle");
            w.string(v);
        }
        if let Some(v) = &self.series {
            w.key("series", "series");
            w.string(v);
        }
        match &self.location {
            Some(book::Location::Borrower(v)) => {
                w.key("borrower", "borrower");
                w.string(v);
            }
            Some(book::Location::Shelf(v)) => {
                w.key("shelf", "shelf");
                w.int32(v);
            }
            None => {}
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[
                ("name", "name"),
                ("copiesPrinted", "copies_printed"),
                ("genre", "genre"),
                ("tags", "tags"),
                ("labels", "labels"),
                ("author", "author"),
                ("subtitle", "subtitle"),
                ("series", "series"),
                ("borrower", "borrower"),
                ("shelf", "shelf"),
            ],
            |r, field| {
                match field {
                    0 => self.name = r.string()?,
                    1 => self.copies_printed = r.int64()?,
                    2 => self.genre = r.enumeration::<Genre>()?,
                    3 => r.repeated(&mut self.tags, Reader::string)?,
                    4 => r.map(&mut self.labels, Reader::string)?,
                    5 => r.message(&mut self.author)?,
                    6 => self.subtitle = r.optional(Reader::string)?,
                    7 => self.series = r.optional(Reader::string)?,
                    8 => r.oneof(&mut self.location, "location", |r| {
                        Ok(book::Location::Borrower(r.string()?))
                    })?,
                    9 => r.oneof(&mut self.location, "location", |r| {
                        Ok(book::Location::Shelf(r.int32()?))
                    })?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Scalars {
    f_int32: i32,
    f_uint32: u32,
    f_int64: i64,
    f_uint64: u64,
    f_float: f32,
    f_double: f64,
    f_bool: bool,
    f_string: String,
    f_bytes: Vec<u8>,
    f_null: i32,
    r_int64: Vec<i64>,
    r_double: Vec<f64>,
    r_genre: Vec<i32>,
    r_bytes: Vec<Vec<u8>>,
    r_authors: Vec<Author>,
}

impl ProtoJson for Scalars {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        if w.emit_defaults() || !is_default(&self.f_int32) {
            w.key("fInt32", "f_int32");
            w.int32(&self.f_int32);
        }
        if w.emit_defaults() || !is_default(&self.f_uint32) {
            w.key("fUint32", "f_uint32");
            w.uint32(&self.f_uint32);
        }
        if w.emit_defaults() || !is_default(&self.f_int64) {
            w.key("fInt64", "f_int64");
            w.int64(&self.f_int64);
        }
        if w.emit_defaults() || !is_default(&self.f_uint64) {
            w.key("fUint64", "f_uint64");
            w.uint64(&self.f_uint64);
        }
        if w.emit_defaults() || !is_default(&self.f_float) {
            w.key("fFloat", "f_float");
            w.float(&self.f_float);
        }
        if w.emit_defaults() || !is_default(&self.f_double) {
            w.key("fDouble", "f_double");
            w.double(&self.f_double);
        }
        if w.emit_defaults() || !is_default(&self.f_bool) {
            w.key("fBool", "f_bool");
            w.bool(&self.f_bool);
        }
        if w.emit_defaults() || !is_default(&self.f_string) {
            w.key("fString", "f_string");
            w.string(&self.f_string);
        }
        if w.emit_defaults() || !is_default(&self.f_bytes) {
            w.key("fBytes", "f_bytes");
            w.bytes(&self.f_bytes);
        }
        if w.emit_defaults() || !is_default(&self.f_null) {
            w.key("fNull", "f_null");
            w.enumeration::<NullValue>(&self.f_null);
        }
        if w.emit_defaults() || !self.r_int64.is_empty() {
            w.key("rInt64", "r_int64");
            w.begin_array();
            for v in &self.r_int64 {
                w.item();
                w.int64(v);
            }
            w.end_array();
        }
        if w.emit_defaults() || !self.r_double.is_empty() {
            w.key("rDouble", "r_double");
            w.begin_array();
            for v in &self.r_double {
                w.item();
                w.double(v);
            }
            w.end_array();
        }
        if w.emit_defaults() || !self.r_genre.is_empty() {
            w.key("rGenre", "r_genre");
            w.begin_array();
            for v in &self.r_genre {
                w.item();
                w.enumeration::<Genre>(v);
            }
            w.end_array();
        }
        if w.emit_defaults() || !self.r_bytes.is_empty() {
            w.key("rBytes", "r_bytes");
            w.begin_array();
            for v in &self.r_bytes {
                w.item();
                w.bytes(v);
            }
            w.end_array();
        }
        if w.emit_defaults() || !self.r_authors.is_empty() {
            w.key("rAuthors", "r_authors");
            w.begin_array();
            for v in &self.r_authors {
                w.item();
                w.message(v);
            }
            w.end_array();
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[
                ("fInt32", "f_int32"),
                ("fUint32", "f_uint32"),
                ("fInt64", "f_int64"),
                ("fUint64", "f_uint64"),
                ("fFloat", "f_float"),
                ("fDouble", "f_double"),
                ("fBool", "f_bool"),
                ("fString", "f_string"),
                ("fBytes", "f_bytes"),
                ("fNull", "f_null"),
                ("rInt64", "r_int64"),
                ("rDouble", "r_double"),
                ("rGenre", "r_genre"),
                ("rBytes", "r_bytes"),
                ("rAuthors", "r_authors"),
            ],
            |r, field| {
                match field {
                    0 => self.f_int32 = r.int32()?,
                    1 => self.f_uint32 = r.uint32()?,
                    2 => self.f_int64 = r.int64()?,
                    3 => self.f_uint64 = r.uint64()?,
                    4 => self.f_float = r.float()?,
                    5 => self.f_double = r.double()?,
                    6 => self.f_bool = r.bool()?,
                    7 => self.f_string = r.string()?,
                    8 => self.f_bytes = r.bytes()?,
                    9 => self.f_null = r.enumeration::<NullValue>()?,
                    10 => r.repeated(&mut self.r_int64, Reader::int64)?,
                    11 => r.repeated(&mut self.r_double, Reader::double)?,
                    12 => r.repeated(&mut self.r_genre, Reader::enumeration::<Genre>)?,
                    13 => r.repeated(&mut self.r_bytes, Reader::bytes)?,
                    14 => r.repeated(&mut self.r_authors, Reader::message_value::<Author>)?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Maps {
    by_str: BTreeMap<String, i32>,
    by_i32: BTreeMap<i32, String>,
    by_i64: BTreeMap<i64, String>,
    by_u32: BTreeMap<u32, String>,
    by_u64: BTreeMap<u64, String>,
    by_bool: BTreeMap<bool, String>,
    authors: BTreeMap<String, Author>,
    values: BTreeMap<String, Value>,
}

impl ProtoJson for Maps {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        if w.emit_defaults() || !self.by_str.is_empty() {
            w.key("byStr", "by_str");
            w.begin_object();
            for (k, v) in &self.by_str {
                w.map_key(k);
                w.int32(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.by_i32.is_empty() {
            w.key("byI32", "by_i32");
            w.begin_object();
            for (k, v) in &self.by_i32 {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.by_i64.is_empty() {
            w.key("byI64", "by_i64");
            w.begin_object();
            for (k, v) in &self.by_i64 {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.by_u32.is_empty() {
            w.key("byU32", "by_u32");
            w.begin_object();
            for (k, v) in &self.by_u32 {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.by_u64.is_empty() {
            w.key("byU64", "by_u64");
            w.begin_object();
            for (k, v) in &self.by_u64 {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.by_bool.is_empty() {
            w.key("byBool", "by_bool");
            w.begin_object();
            for (k, v) in &self.by_bool {
                w.map_key(k);
                w.string(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.authors.is_empty() {
            w.key("authors", "authors");
            w.begin_object();
            for (k, v) in &self.authors {
                w.map_key(k);
                w.message(v);
            }
            w.end_object();
        }
        if w.emit_defaults() || !self.values.is_empty() {
            w.key("values", "values");
            w.begin_object();
            for (k, v) in &self.values {
                w.map_key(k);
                w.message(v);
            }
            w.end_object();
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[
                ("byStr", "by_str"),
                ("byI32", "by_i32"),
                ("byI64", "by_i64"),
                ("byU32", "by_u32"),
                ("byU64", "by_u64"),
                ("byBool", "by_bool"),
                ("authors", "authors"),
                ("values", "values"),
            ],
            |r, field| {
                match field {
                    0 => r.map(&mut self.by_str, Reader::int32)?,
                    1 => r.map(&mut self.by_i32, Reader::string)?,
                    2 => r.map(&mut self.by_i64, Reader::string)?,
                    3 => r.map(&mut self.by_u32, Reader::string)?,
                    4 => r.map(&mut self.by_u64, Reader::string)?,
                    5 => r.map(&mut self.by_bool, Reader::string)?,
                    6 => r.map(&mut self.authors, Reader::message_value::<Author>)?,
                    7 => r.map(&mut self.values, Reader::message_value::<Value>)?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Wkts {
    ts: Option<Timestamp>,
    dur: Option<Duration>,
    mask: Option<FieldMask>,
    st: Option<Struct>,
    val: Option<Value>,
    list: Option<ListValue>,
    any: Option<Any>,
    empty: Option<()>,
    int_w: Option<i32>,
    vals: Vec<Value>,
}

impl ProtoJson for Wkts {
    fn write_json(&self, w: &mut Writer<'_>) {
        fn msg<M: ProtoJson>(w: &mut Writer<'_>, json: &str, proto: &str, v: &Option<M>) {
            if let Some(v) = v {
                w.key(json, proto);
                w.message(v);
            }
        }
        w.begin_object();
        msg(w, "ts", "ts", &self.ts);
        msg(w, "dur", "dur", &self.dur);
        msg(w, "mask", "mask", &self.mask);
        msg(w, "st", "st", &self.st);
        msg(w, "val", "val", &self.val);
        msg(w, "list", "list", &self.list);
        msg(w, "any", "any", &self.any);
        msg(w, "empty", "empty", &self.empty);
        if let Some(v) = &self.int_w {
            w.key("intW", "int_w");
            w.int32(v);
        }
        if w.emit_defaults() || !self.vals.is_empty() {
            w.key("vals", "vals");
            w.begin_array();
            for v in &self.vals {
                w.item();
                w.message(v);
            }
            w.end_array();
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[
                ("ts", "ts"),
                ("dur", "dur"),
                ("mask", "mask"),
                ("st", "st"),
                ("val", "val"),
                ("list", "list"),
                ("any", "any"),
                ("empty", "empty"),
                ("intW", "int_w"),
                ("vals", "vals"),
            ],
            |r, field| {
                match field {
                    0 => r.message(&mut self.ts)?,
                    1 => r.message(&mut self.dur)?,
                    2 => r.message(&mut self.mask)?,
                    3 => r.message(&mut self.st)?,
                    4 => r.message(&mut self.val)?,
                    5 => r.message(&mut self.list)?,
                    6 => r.message(&mut self.any)?,
                    7 => r.message(&mut self.empty)?,
                    8 => self.int_w = r.optional(Reader::int32)?,
                    9 => r.repeated(&mut self.vals, Reader::message_value::<Value>)?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

mod pick {
    #[derive(Clone, Debug, PartialEq)]
    pub enum Choice {
        Text(String),
        Val(prost_types::Value),
        Auth(super::Author),
        Nv(i32),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Pick {
    choice: Option<pick::Choice>,
}

impl ProtoJson for Pick {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        match &self.choice {
            Some(pick::Choice::Text(v)) => {
                w.key("text", "text");
                w.string(v);
            }
            Some(pick::Choice::Val(v)) => {
                w.key("val", "val");
                w.message(v);
            }
            Some(pick::Choice::Auth(v)) => {
                w.key("auth", "auth");
                w.message(v);
            }
            Some(pick::Choice::Nv(v)) => {
                w.key("nv", "nv");
                w.enumeration::<NullValue>(v);
            }
            None => {}
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(
            &[
                ("text", "text"),
                ("val", "val"),
                ("auth", "auth"),
                ("nv", "nv"),
            ],
            |r, field| {
                match field {
                    0 => r.oneof(&mut self.choice, "choice", |r| {
                        Ok(pick::Choice::Text(r.string()?))
                    })?,
                    1 => r.oneof(&mut self.choice, "choice", |r| {
                        Ok(pick::Choice::Val(r.message_value::<Value>()?))
                    })?,
                    2 => r.oneof(&mut self.choice, "choice", |r| {
                        Ok(pick::Choice::Auth(r.message_value::<Author>()?))
                    })?,
                    3 => r.oneof(&mut self.choice, "choice", |r| {
                        Ok(pick::Choice::Nv(r.enumeration::<NullValue>()?))
                    })?,
                    _ => {}
                }
                Ok(())
            },
        )
    }
}

/// Recursive message: prost boxes the field.
#[derive(Clone, Debug, Default, PartialEq)]
struct Node {
    value: i32,
    child: Option<Box<Node>>,
}

impl ProtoJson for Node {
    fn write_json(&self, w: &mut Writer<'_>) {
        w.begin_object();
        if w.emit_defaults() || !is_default(&self.value) {
            w.key("value", "value");
            w.int32(&self.value);
        }
        if let Some(v) = &self.child {
            w.key("child", "child");
            w.message(v);
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        r.object(&[("value", "value"), ("child", "child")], |r, field| {
            match field {
                0 => self.value = r.int32()?,
                1 => r.message(&mut self.child)?,
                _ => {}
            }
            Ok(())
        })
    }
}

// =============================================================================================
// Helpers

static TYPES: [AnyType; 1] = [AnyType::of::<Author>("library.v1.Author")];

fn opts() -> JsonOptions {
    JsonOptions::default()
}

fn lenient() -> JsonOptions {
    JsonOptions {
        ignore_unknown_fields: true,
        ..JsonOptions::default()
    }
}

fn sparse() -> JsonOptions {
    JsonOptions {
        emit_defaults: false,
        ..JsonOptions::default()
    }
}

fn json_with<M: ProtoJson>(m: &M, o: &JsonOptions) -> String {
    String::from_utf8(to_vec(m, o, &TYPES).expect("every value has a JSON form"))
        .expect("writer output is UTF-8")
}

fn json<M: ProtoJson>(m: &M) -> String {
    json_with(m, &opts())
}

fn parse_with<M: ProtoJson>(s: &str, o: &JsonOptions) -> Result<M, JsonError> {
    let mut m = M::default();
    merge(&mut m, s.as_bytes(), o, &TYPES)?;
    Ok(m)
}

fn parse<M: ProtoJson>(s: &str) -> Result<M, JsonError> {
    parse_with(s, &opts())
}

#[track_caller]
fn ok<M: ProtoJson>(s: &str) -> M {
    match parse::<M>(s) {
        Ok(m) => m,
        Err(e) => panic!("{s} should parse, got: {e}"),
    }
}

#[track_caller]
fn err<M: ProtoJson>(s: &str) -> JsonError {
    err_bytes::<M>(s.as_bytes())
}

#[track_caller]
fn err_bytes<M: ProtoJson>(s: &[u8]) -> JsonError {
    let mut m = M::default();
    match merge(&mut m, s, &opts(), &TYPES) {
        Ok(()) => panic!("{} should not parse", String::from_utf8_lossy(s)),
        Err(e) => e,
    }
}

/// Reads one value with a reader method.
fn value<'a, T>(
    s: &'a str,
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, JsonError>,
) -> Result<T, JsonError> {
    static OPTS: std::sync::OnceLock<JsonOptions> = std::sync::OnceLock::new();
    read(s.as_bytes(), OPTS.get_or_init(opts), &TYPES, f)
}

/// Writes one value with a writer method.
fn written(mut f: impl FnMut(&mut Writer<'_>)) -> String {
    let out = write(&opts(), &TYPES, 0, &mut f).expect("every value has a JSON form");
    String::from_utf8(out).expect("writer output is UTF-8")
}

/// Why what `f` writes has no JSON form (it must have none).
#[track_caller]
fn unwritable(mut f: impl FnMut(&mut Writer<'_>)) -> String {
    match write(&opts(), &TYPES, 0, &mut f) {
        Ok(out) => panic!("written: {}", String::from_utf8_lossy(&out)),
        Err(e) => e.message().to_string(),
    }
}

fn ts(seconds: i64, nanos: i32) -> Timestamp {
    Timestamp { seconds, nanos }
}

fn dur(seconds: i64, nanos: i32) -> Duration {
    Duration { seconds, nanos }
}

fn num(n: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(n)),
    }
}

fn null_value() -> Value {
    Value {
        kind: Some(Kind::NullValue(0)),
    }
}

// =============================================================================================
// Options and basic traits

#[test]
fn options_default_to_gateway_output_and_strict_input() {
    let o = JsonOptions::default();
    assert!(o.emit_defaults);
    assert!(!o.proto_names);
    assert!(!o.enums_as_numbers);
    assert!(!o.ignore_unknown_fields);
    assert_eq!(o.max_depth, 100);
}

#[test]
fn is_default_is_bitwise_for_floats() {
    assert!(is_default(&0.0f64));
    assert!(!is_default(&-0.0f64));
    assert!(is_default(&0.0f32));
    assert!(!is_default(&-0.0f32));
    assert!(!is_default(&f64::NAN));
    assert!(is_default(&0i32) && is_default(&0i64) && is_default(&0u32) && is_default(&0u64));
    assert!(!is_default(&1i32) && !is_default(&-1i64) && !is_default(&1u32) && !is_default(&1u64));
    assert!(is_default(&false) && !is_default(&true));
    assert!(is_default(&String::new()) && !is_default(&"x".to_owned()));
    assert!(is_default(&Vec::<u8>::new()) && !is_default(&vec![0u8]));
}

// =============================================================================================
// Integers

#[test]
fn int32_accepts_numbers_strings_and_exact_exponents() {
    let cases = [
        ("0", 0),
        ("-0", 0),
        ("42", 42),
        ("\"42\"", 42),
        ("\"-7\"", -7),
        ("1e2", 100),
        ("\"1e2\"", 100),
        ("1E+2", 100),
        ("100.000", 100),
        ("1.5e1", 15),
        ("12300e-2", 123),
        ("0.0e99999999999", 0),
        ("2147483647", i32::MAX),
        ("-2147483648", i32::MIN),
        ("\"-2147483648\"", i32::MIN),
        ("null", 0),
    ];
    for (input, want) in cases {
        assert_eq!(value(input, Reader::int32).ok(), Some(want), "{input}");
    }
}

#[test]
fn int32_refuses_fractions_overflow_and_malformed_numbers() {
    let cases = [
        ("1.5", "not an integer"),
        ("\"1.5\"", "not an integer"),
        ("1e-1", "not an integer"),
        ("2147483648", "out of range"),
        ("-2147483649", "out of range"),
        ("1e10", "out of range"),
        ("1e400", "out of range"),
        ("99999999999999999999999", "out of range"),
        ("01", "expected a 32-bit integer"),
        ("\"01x\"", "expected a 32-bit integer"),
        ("\" 1\"", "expected a 32-bit integer"),
        ("\"+1\"", "expected a 32-bit integer"),
        ("\"0x10\"", "expected a 32-bit integer"),
        ("-", "expected a 32-bit integer"),
        ("1.", "expected a 32-bit integer"),
        (".5", "expected a 32-bit integer"),
        ("true", "expected a 32-bit integer"),
        ("[]", "expected a 32-bit integer, got an array"),
        ("\"\"", "expected a 32-bit integer"),
    ];
    for (input, want) in cases {
        let e = value(input, Reader::int32).expect_err(input);
        assert!(e.message().contains(want), "{input}: {e}");
    }
}

#[test]
fn int64_bounds_as_strings_and_numbers() {
    assert_eq!(
        value("\"9223372036854775807\"", Reader::int64).ok(),
        Some(i64::MAX)
    );
    assert_eq!(
        value("-9223372036854775808", Reader::int64).ok(),
        Some(i64::MIN)
    );
    assert_eq!(
        value("9.223372036854775807e18", Reader::int64).ok(),
        Some(i64::MAX)
    );
    assert!(value("\"9223372036854775808\"", Reader::int64).is_err());
    assert!(value("-9223372036854775809", Reader::int64).is_err());
    assert_eq!(
        value("\"18446744073709551615\"", Reader::uint64).ok(),
        Some(u64::MAX)
    );
    assert_eq!(
        value("18446744073709551615", Reader::uint64).ok(),
        Some(u64::MAX)
    );
    assert!(value("18446744073709551616", Reader::uint64).is_err());
    assert!(value("-1", Reader::uint64).is_err());
    assert_eq!(value("-0", Reader::uint64).ok(), Some(0));
    assert_eq!(value("4294967295", Reader::uint32).ok(), Some(u32::MAX));
    assert!(value("4294967296", Reader::uint32).is_err());
    assert!(value("-1", Reader::uint32).is_err());
}

#[test]
fn integers_are_written_as_numbers_and_64_bit_ones_as_strings() {
    assert_eq!(written(|w| w.int32(&i32::MIN)), "-2147483648");
    assert_eq!(written(|w| w.uint32(&u32::MAX)), "4294967295");
    assert_eq!(written(|w| w.int64(&i64::MIN)), "\"-9223372036854775808\"");
    assert_eq!(written(|w| w.int64(&0)), "\"0\"");
    assert_eq!(written(|w| w.uint64(&u64::MAX)), "\"18446744073709551615\"");
    let m = Scalars {
        f_int64: i64::MAX,
        f_uint64: u64::MAX,
        f_int32: i32::MIN,
        ..Scalars::default()
    };
    assert_eq!(ok::<Scalars>(&json(&m)), m);
}

// =============================================================================================
// Floats

#[test]
fn doubles_are_written_shortest_in_protojson_notation() {
    let cases: [(f64, &str); 18] = [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (1.25e-6, "0.00000125"),
        (1e-7, "1e-7"),
        (-1.5e-10, "-1.5e-10"),
        (f64::MAX, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (f64::NAN, "\"NaN\""),
        (f64::NEG_INFINITY, "\"-Infinity\""),
    ];
    for (v, want) in cases {
        assert_eq!(written(|w| w.double(&v)), want, "{v:e}");
    }
    assert_eq!(written(|w| w.double(&f64::INFINITY)), "\"Infinity\"");
}

#[test]
fn floats_are_written_shortest_for_f32() {
    let cases: [(f32, &str); 8] = [
        (0.1, "0.1"),
        (-0.0, "-0"),
        (16_777_216.0, "16777216"),
        (f32::MAX, "3.4028235e+38"),
        (f32::MIN_POSITIVE, "1.1754944e-38"),
        (1e-7, "1e-7"),
        (f32::NAN, "\"NaN\""),
        (f32::INFINITY, "\"Infinity\""),
    ];
    for (v, want) in cases {
        assert_eq!(written(|w| w.float(&v)), want, "{v:e}");
    }
}

#[test]
fn doubles_round_trip_bit_exactly() {
    // A deterministic spread over the whole f64 range, plus the awkward values.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values = vec![
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        1e-6,
        1e21,
        9007199254740993.0,
    ];
    for _ in 0..2000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
    }
    for v in values {
        let text = written(|w| w.double(&v));
        let back = value(&text, Reader::double).expect("written double reads back");
        assert_eq!(back.to_bits(), v.to_bits(), "{v:e} -> {text}");
        let back32 = value(&written(|w| w.float(&(v as f32))), Reader::float);
        if (v as f32).is_finite() {
            assert_eq!(back32.ok().map(f32::to_bits), Some((v as f32).to_bits()));
        }
    }
}

/// `text` is plain decimal like Rust's shortest `display` of the same value: as long, reading
/// back to it, the same but maybe for the last digit (of two shortest texts equally near the
/// value, ryu and Rust may pick either).
fn assert_plain_shortest(text: &str, v: f64, display: &str) {
    assert!(
        !text.contains(['e', 'E']) && !text.ends_with(".0"),
        "{v:e} -> {text}"
    );
    assert_eq!(
        text.len(),
        display.len(),
        "{v:e} -> {text}, Rust: {display}"
    );
    assert_eq!(
        text[..text.len() - 1],
        display[..display.len() - 1],
        "{v:e}"
    );
}

#[test]
fn plain_range_numbers_are_rusts_shortest_decimal() {
    // In 1e-6 <= |v| < 1e21 protojson writes plain decimal, as Rust's `Display` writes the
    // shortest round-trip digits: the writer's two ways there (ryu's own text, or its digits
    // re-laid) must both give that.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut checked = 0;
    for i in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Exponents spread over the plain range, mantissas random; every 8th an integer.
        let exp = (x >> 52) as i32 % 28 - 7;
        let mantissa = f64::from_bits((x & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
        let mut v = mantissa * 10f64.powi(exp);
        if i % 8 == 0 {
            v = v.trunc();
        }
        if x & 1 == 1 {
            v = -v;
        }
        if !(1e-6..1e21).contains(&v.abs()) {
            continue;
        }
        let text = written(|w| w.double(&v));
        assert_plain_shortest(&text, v, &format!("{v}"));
        let f = v as f32;
        if (1e-6..1e21).contains(&f.abs()) {
            let text = written(|w| w.float(&f));
            assert_eq!(text.parse::<f32>().ok(), Some(f), "{f:e} -> {text}");
            assert_plain_shortest(&text, f64::from(f), &format!("{f}"));
        }
        checked += 1;
    }
    assert!(checked > 15_000, "{checked}");
}

#[test]
fn floats_read_numbers_special_strings_and_refuse_overflow() {
    assert_eq!(value("1.5", Reader::double).ok(), Some(1.5));
    assert_eq!(value("\"1.5\"", Reader::double).ok(), Some(1.5));
    assert_eq!(value("\"-2e3\"", Reader::double).ok(), Some(-2000.0));
    assert_eq!(value("null", Reader::double).ok(), Some(0.0));
    assert!(value("\"NaN\"", Reader::double).is_ok_and(f64::is_nan));
    assert_eq!(
        value("\"Infinity\"", Reader::double).ok(),
        Some(f64::INFINITY)
    );
    assert_eq!(
        value("\"-Infinity\"", Reader::double).ok(),
        Some(f64::NEG_INFINITY)
    );
    assert_eq!(
        value("\"-Infinity\"", Reader::float).ok(),
        Some(f32::NEG_INFINITY)
    );
    let neg_zero = value("-0", Reader::double).expect("-0");
    assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    let neg_zero = value("\"-0\"", Reader::float).expect("\"-0\"");
    assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    assert_eq!(value("3.4028235e38", Reader::float).ok(), Some(f32::MAX));
    assert_eq!(value("1e-50", Reader::float).ok(), Some(0.0));
    for bad in ["3.5e38", "-3.5e38", "\"3.5e38\"", "1e39"] {
        let e = value(bad, Reader::float).expect_err(bad);
        assert!(e.message().contains("out of range"), "{bad}: {e}");
    }
    for bad in ["1e400", "-1.8e308", "\"1e309\""] {
        let e = value(bad, Reader::double).expect_err(bad);
        assert!(e.message().contains("out of range"), "{bad}: {e}");
    }
    for bad in [
        "\"nan\"",
        "\"inf\"",
        "\"Infinity \"",
        "\"+1\"",
        "\"1.\"",
        "\".5\"",
        "NaN",
        "Infinity",
        "true",
        "\"\"",
    ] {
        assert!(value(bad, Reader::double).is_err(), "{bad}");
    }
}

// =============================================================================================
// Bools, strings, bytes

#[test]
fn bools_are_literals_only() {
    assert_eq!(value("true", Reader::bool).ok(), Some(true));
    assert_eq!(value(" false ", Reader::bool).ok(), Some(false));
    assert_eq!(value("null", Reader::bool).ok(), Some(false));
    for bad in ["\"true\"", "1", "0", "True", "tru", "nul"] {
        assert!(value(bad, Reader::bool).is_err(), "{bad}");
    }
    assert_eq!(written(|w| w.bool(&true)), "true");
    assert_eq!(written(|w| w.bool(&false)), "false");
}

#[test]
fn strings_unescape_every_escape_and_surrogate_pairs() {
    let s = value(
        r#""a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00 \u0000""#,
        Reader::string,
    )
    .expect("escapes");
    assert_eq!(s, "a\"b\\c/d\u{8}\u{c}\n\r\t\u{e9}\u{4e2d}\u{1f600} \u{0}");
    assert_eq!(
        value("\"plain é 😀\"", Reader::string).ok().as_deref(),
        Some("plain é 😀")
    );
    assert_eq!(value("null", Reader::string).ok().as_deref(), Some(""));
    assert_eq!(
        value(r#""\uD83D\uDE00""#, Reader::string).ok().as_deref(),
        Some("😀")
    );
}

#[test]
fn strings_refuse_lone_surrogates_bad_escapes_and_control_characters() {
    let cases = [
        (r#""\ud83d""#, "lone high surrogate"),
        (r#""\ud83dx""#, "lone high surrogate"),
        (r#""\ud83d\u0041""#, "lone high surrogate"),
        (r#""\ude00""#, "lone low surrogate"),
        (r#""\x""#, "invalid string escape"),
        (r#""\u12""#, "invalid \\u escape"),
        (r#""\u12g4""#, "invalid \\u escape"),
        ("\"a\nb\"", "control character"),
        ("\"a\u{1}\"", "control character"),
        ("\"abcdefghijkl\tmn\"", "control character"),
        ("\"a\\nbcdefghijkl\u{1f}\"", "control character"),
        ("\"abc", "unterminated string"),
        ("\"abcdefghijklmnopq", "unterminated string"),
        ("\"abc\\", "invalid string escape"),
        ("5", "expected a string, got 5"),
    ];
    for (input, want) in cases {
        let e = value(input, Reader::string).expect_err(input);
        assert!(e.message().contains(want), "{input}: {e}");
    }
    // The offset names the character, past the first eight-byte word too.
    let e = value("\"abcdefghijkl\tmn\"", Reader::string).expect_err("control character");
    assert!(e.to_string().contains("column 14"), "{e}");
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let cases: [&[u8]; 5] = [
        b"{\"name\":\"ab\xff\"}",
        b"{\"name\":\"ab\xc3\"}",
        b"{\"name\":\"\xed\xa0\x80\"}",
        b"{\"name\":\"\xc0\xaf\"}",
        b"{\"name\":\"x\\n\xfe\"}",
    ];
    for input in cases {
        let e = err_bytes::<Book>(input);
        assert!(e.message().contains("invalid UTF-8"), "{e}");
        assert_eq!(e.path(), "name");
    }
    assert_eq!(err_bytes::<Book>(b"{\"name\":\"ab\xff\"}").offset(), 11);
    // In a key and in a skipped value as well.
    let e = err_bytes::<Book>(b"{\"na\xffme\":1}");
    assert!(e.message().contains("invalid UTF-8"), "{e}");
    let mut b = Book::default();
    let e = merge(&mut b, b"{\"x\":\"\xff\"}", &lenient(), &TYPES).expect_err("skipped");
    assert!(e.message().contains("invalid UTF-8"), "{e}");
}

#[test]
fn strings_are_written_with_minimal_escapes() {
    assert_eq!(
        written(|w| w.string("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}")),
        r#""a\"b\\c\n\r\t\b\f\u0001\u001f""#
    );
    assert_eq!(
        written(|w| w.string("é😀/</script>\u{7f}")),
        "\"é😀/</script>\u{7f}\""
    );
    // Every character up to U+00FF and some astral ones survive a round trip.
    let all: String = (0u32..0x100)
        .chain([0x2028, 0xfffd, 0x1f600, 0x10ffff])
        .filter_map(char::from_u32)
        .collect();
    let text = written(|w| w.string(&all));
    assert_eq!(value(&text, Reader::string).ok(), Some(all));
}

#[test]
fn long_strings_escape_every_special_byte_wherever_it_falls() {
    // The writer and the reader scan eight bytes at a time: put each byte that needs escaping,
    // and its neighbours that do not, at every offset of strings longer than one word.
    let special = [
        ('"', "\\\""),
        ('\\', "\\\\"),
        ('\n', "\\n"),
        ('\u{0}', "\\u0000"),
        ('\u{1f}', "\\u001f"),
    ];
    let harmless = [' ', '!', '#', '[', ']', '~', '\u{7f}', 'é', '😀'];
    for len in [7, 8, 9, 16, 17, 31] {
        for at in 0..len {
            for (c, escaped) in special {
                let mut s: Vec<char> = vec!['x'; len];
                s[at] = c;
                let input: String = s.iter().collect();
                let expected = format!(
                    "\"{}{escaped}{}\"",
                    "x".repeat(at),
                    "x".repeat(len - at - 1)
                );
                assert_eq!(written(|w| w.string(&input)), expected, "{len} {at} {c:?}");
                // The reader scans the same way.
                assert_eq!(value(&expected, Reader::string).ok(), Some(input));
            }
            // Two in a row: a byte that needs escaping must not hide or invent its neighbour.
            for (a, a_escaped) in special {
                for (b, b_escaped) in special {
                    let mut s: Vec<char> = vec!['x'; len + 1];
                    s[at] = a;
                    s[at + 1] = b;
                    let input: String = s.iter().collect();
                    let expected = format!(
                        "\"{}{a_escaped}{b_escaped}{}\"",
                        "x".repeat(at),
                        "x".repeat(len - at - 1)
                    );
                    assert_eq!(
                        written(|w| w.string(&input)),
                        expected,
                        "{len} {at} {a:?}{b:?}"
                    );
                    assert_eq!(value(&expected, Reader::string).ok(), Some(input));
                }
            }
            for c in harmless {
                let mut s: Vec<char> = vec!['x'; len];
                s[at] = c;
                let input: String = s.iter().collect();
                let text = written(|w| w.string(&input));
                assert_eq!(text, format!("\"{input}\""));
                assert_eq!(value(&text, Reader::string).ok(), Some(input));
            }
        }
    }
}

#[test]
fn bytes_write_padded_standard_base64_and_read_all_four_variants() {
    let data = vec![0u8, 1, 2, 0xfb, 0xff, 0xfe];
    assert_eq!(written(|w| w.bytes(&data)), "\"AAEC+//+\"");
    assert_eq!(written(|w| w.bytes(&[0xfb, 0xff])), "\"+/8=\"");
    assert_eq!(written(|w| w.bytes(&[])), "\"\"");
    for input in ["\"+/8=\"", "\"+/8\"", "\"-_8=\"", "\"-_8\""] {
        assert_eq!(
            value(input, Reader::bytes).ok(),
            Some(vec![0xfb, 0xff]),
            "{input}"
        );
    }
    assert_eq!(value("null", Reader::bytes).ok(), Some(vec![]));
    assert_eq!(value("\"\"", Reader::bytes).ok(), Some(vec![]));
    for bad in ["\"!!!!\"", "\"A\"", "\"+_8=\"", "\"AAE C\"", "12"] {
        let e = value(bad, Reader::bytes).expect_err(bad);
        assert!(e.message().contains("base64"), "{bad}: {e}");
    }
    let m = Scalars {
        f_bytes: (0..=255).collect(),
        r_bytes: vec![vec![], vec![1], vec![1, 2], vec![1, 2, 3]],
        ..Scalars::default()
    };
    assert_eq!(ok::<Scalars>(&json(&m)), m);
}

// =============================================================================================
// Enums

#[test]
fn enums_are_written_by_name_or_number() {
    assert_eq!(written(|w| w.enumeration::<Genre>(&1)), "\"FICTION\"");
    assert_eq!(
        written(|w| w.enumeration::<Genre>(&0)),
        "\"GENRE_UNSPECIFIED\""
    );
    assert_eq!(written(|w| w.enumeration::<Genre>(&99)), "99");
    assert_eq!(written(|w| w.enumeration::<NullValue>(&0)), "null");
    let numbers = JsonOptions {
        enums_as_numbers: true,
        ..JsonOptions::default()
    };
    let b = Book {
        genre: 2,
        ..Book::default()
    };
    assert!(json_with(&b, &numbers).contains("\"genre\":2,"));
    assert!(json(&b).contains("\"genre\":\"POETRY\","));
}

/// An enum with `allow_alias`, as the generator writes its `ProtoEnum`: `name` is prost's (the
/// first name of a number), `from_name` a match over every name, aliases included (prost's
/// `from_str_name` knows only the first).
struct Aliased;

impl ProtoEnum for Aliased {
    fn name(value: i32) -> Option<&'static str> {
        match value {
            0 => Some("ALIAS_FOO"),
            1 => Some("ALIAS_BAR"),
            2 => Some("ALIAS_BAZ"),
            _ => None,
        }
    }
    fn from_name(name: &str) -> Option<i32> {
        match name {
            "ALIAS_FOO" => Some(0),
            "ALIAS_BAR" => Some(1),
            "ALIAS_BAZ" => Some(2),
            "MOO" => Some(2),
            "moo" => Some(2),
            "bAz" => Some(2),
            _ => None,
        }
    }
}

#[test]
fn enum_aliases_are_all_read_and_the_first_name_is_written() {
    // conformance: EnumFieldWithAlias* tests.
    for (name, number) in [
        ("ALIAS_BAZ", 2),
        ("MOO", 2),
        ("moo", 2),
        ("bAz", 2),
        ("ALIAS_BAR", 1),
    ] {
        let input = format!("\"{name}\"");
        assert_eq!(
            value(&input, Reader::enumeration::<Aliased>).ok(),
            Some(number),
            "{name}"
        );
    }
    assert!(value("\"BAZ\"", Reader::enumeration::<Aliased>).is_err());
    assert_eq!(written(|w| w.enumeration::<Aliased>(&2)), "\"ALIAS_BAZ\"");
}

#[test]
fn enums_read_names_and_numbers_and_refuse_unknown_names() {
    assert_eq!(
        value("\"FICTION\"", Reader::enumeration::<Genre>).ok(),
        Some(1)
    );
    assert_eq!(value("2", Reader::enumeration::<Genre>).ok(), Some(2));
    assert_eq!(value("99", Reader::enumeration::<Genre>).ok(), Some(99));
    assert_eq!(value("null", Reader::enumeration::<Genre>).ok(), Some(0));
    let e = value("\"NOPE\"", Reader::enumeration::<Genre>).expect_err("unknown name");
    assert!(e.message().contains("\"NOPE\""), "{e}");
    assert!(value("\"fiction\"", Reader::enumeration::<Genre>).is_err());
    assert!(value("\"1\"", Reader::enumeration::<Genre>).is_err());
    assert!(value("1.5", Reader::enumeration::<Genre>).is_err());
    assert!(value("true", Reader::enumeration::<Genre>).is_err());
    // Lenient input reads unknown names as the default.
    let b: Book = parse_with(r#"{"genre":"NOPE"}"#, &lenient()).expect("lenient");
    assert_eq!(b.genre, 0);
    let s: Scalars = parse_with(r#"{"rGenre":["FICTION","NOPE",2]}"#, &lenient()).expect("lenient");
    assert_eq!(s.r_genre, vec![1, 0, 2]);
    // NullValue: null or its name.
    assert_eq!(
        value("null", Reader::enumeration::<NullValue>).ok(),
        Some(0)
    );
    assert_eq!(
        value("\"NULL_VALUE\"", Reader::enumeration::<NullValue>).ok(),
        Some(0)
    );
    assert_eq!(ok::<Scalars>(r#"{"fNull":null}"#).f_null, 0);
}

// =============================================================================================
// Messages: output shape and options

#[test]
fn default_message_emits_every_field_without_presence_by_default() {
    // Message, wrapper and `optional` fields are written only when set: `null` would read back
    // as a set `google.protobuf.Value`, and protobuf's option leaves them out too.
    assert_eq!(
        json(&Book::default()),
        r#"{"name":"","copiesPrinted":"0","genre":"GENRE_UNSPECIFIED","tags":[],"labels":{}}"#
    );
    assert_eq!(
        json(&Scalars::default()),
        r#"{"fInt32":0,"fUint32":0,"fInt64":"0","fUint64":"0","fFloat":0,"fDouble":0,"fBool":false,"fString":"","fBytes":"","fNull":null,"rInt64":[],"rDouble":[],"rGenre":[],"rBytes":[],"rAuthors":[]}"#
    );
}

#[test]
fn omitting_defaults_writes_only_set_fields() {
    assert_eq!(json_with(&Book::default(), &sparse()), "{}");
    assert_eq!(json_with(&Scalars::default(), &sparse()), "{}");
    let s = Scalars {
        f_double: -0.0,
        ..Scalars::default()
    };
    assert_eq!(json_with(&s, &sparse()), r#"{"fDouble":-0}"#);
    let b = Book {
        subtitle: Some(String::new()),
        series: Some(String::new()),
        author: Some(Author::default()),
        location: Some(book::Location::Shelf(0)),
        ..Book::default()
    };
    assert_eq!(
        json_with(&b, &sparse()),
        r#"{"author":{},"subtitle":"","series":"","shelf":0}"#
    );
}

fn sample_book() -> Book {
    Book {
        name: "Dune \"1\"".into(),
        copies_printed: 20_000_000_000,
        genre: 1,
        tags: vec!["sf".into(), "classic".into()],
        labels: [
            ("k".to_owned(), "v".to_owned()),
            ("a b".to_owned(), "ü".to_owned()),
        ]
        .into(),
        author: Some(Author {
            display_name: "Frank".into(),
            born: Some(ts(-1_700_000_000, 0)),
        }),
        subtitle: Some("sub".into()),
        series: Some("Dune".into()),
        location: Some(book::Location::Borrower("ann".into())),
    }
}

#[test]
fn populated_message_is_written_exactly_and_reads_back() {
    let b = sample_book();
    let text = json(&b);
    assert_eq!(
        text,
        r#"{"name":"Dune \"1\"","copiesPrinted":"20000000000","genre":"FICTION","tags":["sf","classic"],"labels":{"a b":"ü","k":"v"},"author":{"displayName":"Frank","born":"1916-02-18T01:46:40Z"},"subtitle":"sub","series":"Dune","borrower":"ann"}"#
    );
    assert_eq!(ok::<Book>(&text), b);
    assert_eq!(ok::<Book>(&json_with(&b, &sparse())), b);
}

#[test]
fn proto_names_are_written_on_request_and_always_accepted() {
    let names = JsonOptions {
        proto_names: true,
        ..JsonOptions::default()
    };
    let b = sample_book();
    let text = json_with(&b, &names);
    assert!(
        text.contains("\"copies_printed\":\"20000000000\""),
        "{text}"
    );
    assert!(text.contains("\"display_name\":\"Frank\""), "{text}");
    assert!(!text.contains("copiesPrinted"), "{text}");
    assert_eq!(ok::<Book>(&text), b);
    let mixed: Book = ok(r#"{"copies_printed":"5","author":{"displayName":"x","born":null}}"#);
    assert_eq!(mixed.copies_printed, 5);
    assert_eq!(mixed.author.map(|a| a.display_name).as_deref(), Some("x"));
}

#[test]
fn arrays_of_messages_and_boxed_fields_round_trip() {
    let s = Scalars {
        r_authors: vec![
            Author::default(),
            Author {
                display_name: "b".into(),
                born: None,
            },
        ],
        r_int64: vec![i64::MIN, 0, i64::MAX],
        r_double: vec![1.5, f64::NAN, f64::INFINITY],
        r_genre: vec![2, 7],
        ..Scalars::default()
    };
    let text = json_with(&s, &sparse());
    assert_eq!(
        text,
        r#"{"rInt64":["-9223372036854775808","0","9223372036854775807"],"rDouble":[1.5,"NaN","Infinity"],"rGenre":["POETRY",7],"rAuthors":[{},{"displayName":"b"}]}"#
    );
    let back: Scalars = ok(&text);
    assert_eq!(back.r_authors, s.r_authors);
    assert_eq!(back.r_int64, s.r_int64);
    assert_eq!(back.r_genre, s.r_genre);
    assert!(back.r_double[1].is_nan());
    let n = Node {
        value: 1,
        child: Some(Box::new(Node {
            value: 2,
            child: Some(Box::new(Node::default())),
        })),
    };
    let text = json(&n);
    assert_eq!(
        text,
        r#"{"value":1,"child":{"value":2,"child":{"value":0}}}"#
    );
    assert_eq!(ok::<Node>(&text), n);
}

#[test]
fn write_helper_composes_bare_values() {
    let text = written(|w| {
        w.begin_array();
        for b in [Book::default(), sample_book()] {
            w.item();
            w.message(&b);
        }
        w.item();
        w.begin_object();
        w.map_key(&7i64);
        w.null();
        w.map_key(&true);
        w.begin_array();
        w.end_array();
        w.end_object();
        w.end_array();
    });
    assert!(text.starts_with("[{\"name\":\"\""), "{text}");
    assert!(text.ends_with("},{\"7\":null,\"true\":[]}]"), "{text}");
    assert_eq!(written(|w| w.string("bare")), "\"bare\"");
}

// =============================================================================================
// Reading: structure, duplicates, unknown fields, trailing data, depth

#[test]
fn whitespace_anywhere_is_fine() {
    let b: Book =
        ok(" \n\t{ \"name\" : \"x\" ,\r\n \"tags\" : [ \"a\" , \"b\" ] , \"labels\" : { } } \n");
    assert_eq!(b.name, "x");
    assert_eq!(b.tags, vec!["a", "b"]);
}

#[test]
fn malformed_structure_is_refused() {
    for bad in [
        "",
        "   ",
        "{",
        "{\"name\"}",
        "{\"name\":}",
        "{\"name\":\"x\",}",
        "{\"name\":\"x\" \"genre\":1}",
        "{name:\"x\"}",
        "{\"tags\":[\"a\",]}",
        "{\"tags\":[\"a\" \"b\"]}",
        "{\"tags\":[}",
        "[]",
        "\"x\"",
        "null",
        "{'name':'x'}",
    ] {
        assert!(parse::<Book>(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn duplicate_fields_are_refused_also_across_name_forms() {
    let e = err::<Book>(r#"{"name":"a","name":"b"}"#);
    assert!(e.message().contains("duplicate field \"name\""), "{e}");
    let e = err::<Book>(r#"{"copiesPrinted":"1","copies_printed":"2"}"#);
    assert!(
        e.message().contains("duplicate field \"copies_printed\""),
        "{e}"
    );
    assert_eq!(e.offset(), 21);
    let e = err::<Book>(r#"{"author":{"born":null,"born":null}}"#);
    assert_eq!(e.path(), "author");
    // Same key in two different objects is fine.
    let m: Maps = ok(r#"{"authors":{"a":{"born":null},"b":{"born":null}}}"#);
    assert_eq!(m.authors.len(), 2);
}

#[test]
fn unknown_fields_fail_by_default_and_are_skipped_when_lenient() {
    let e = err::<Book>(r#"{"name":"x","nope":1}"#);
    assert!(e.message().contains("unknown field \"nope\""), "{e}");
    assert_eq!(e.path(), "");
    let e = err::<Book>(r#"{"author":{"age":3}}"#);
    assert_eq!(e.path(), "author");
    assert!(e.message().contains("\"age\""), "{e}");
    let input = r#"{"nope":{"a":[1,-2.5e3,{"b":null,"c":"\u00e9\"x"}],"t":true,"f":false},"name":"x","more":[[]]}"#;
    let b: Book = parse_with(input, &lenient()).expect("lenient skips unknown fields");
    assert_eq!(b.name, "x");
    // Skipped values must still be well-formed.
    for bad in [
        r#"{"nope":[1,}"#,
        r#"{"nope":tru}"#,
        r#"{"nope":01}"#,
        r#"{"nope":"\q"}"#,
    ] {
        assert!(parse_with::<Book>(bad, &lenient()).is_err(), "{bad}");
    }
}

#[test]
fn trailing_data_is_refused() {
    for bad in ["{} x", "{}{}", "{},", "{}]", "{} null"] {
        let e = err::<Book>(bad);
        assert!(e.message().contains("trailing data"), "{bad}: {e}");
    }
    assert!(parse::<Book>("{}  \r\n\t").is_ok());
    assert!(value("1 2", Reader::int32).is_err());
}

fn nested_nodes(depth: usize) -> String {
    let mut s = String::new();
    for _ in 1..depth {
        s.push_str("{\"child\":");
    }
    s.push_str("{\"value\":1}");
    for _ in 1..depth {
        s.push('}');
    }
    s
}

#[test]
fn nesting_deeper_than_max_depth_is_refused() {
    let deepest: Node = ok(&nested_nodes(100));
    let mut n = &deepest;
    let mut levels = 1;
    while let Some(c) = &n.child {
        n = c;
        levels += 1;
    }
    assert_eq!((levels, n.value), (100, 1));
    let e = err::<Node>(&nested_nodes(101));
    assert!(e.message().contains("nesting deeper than 100"), "{e}");
    let shallow = JsonOptions {
        max_depth: 3,
        ..JsonOptions::default()
    };
    assert!(parse_with::<Node>(&nested_nodes(3), &shallow).is_ok());
    assert!(parse_with::<Node>(&nested_nodes(4), &shallow).is_err());
    // Arrays count too, including in skipped values and in Struct/Value: no stack overflow.
    let deep_array = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let e = parse_with::<Book>(&deep_array, &lenient()).expect_err("too deep");
    assert!(e.message().contains("nesting"), "{e}");
    let deep_value = format!("{{\"val\":{}1{}}}", "[".repeat(150), "]".repeat(150));
    assert!(err::<Wkts>(&deep_value).message().contains("nesting"));
    let ok_value = format!("{{\"val\":{}1{}}}", "[".repeat(99), "]".repeat(99));
    assert!(parse::<Wkts>(&ok_value).is_ok());
}

// =============================================================================================
// Null semantics

#[test]
fn null_means_default_or_unset() {
    let b: Book = ok(
        r#"{"name":null,"copiesPrinted":null,"genre":null,"tags":null,"labels":null,"author":null,"subtitle":null,"series":null,"borrower":null,"shelf":null}"#,
    );
    assert_eq!(b, Book::default());
    let s: Scalars = ok(
        r#"{"fInt32":null,"fUint32":null,"fInt64":null,"fUint64":null,"fFloat":null,"fDouble":null,"fBool":null,"fString":null,"fBytes":null,"fNull":null,"rInt64":null,"rAuthors":null}"#,
    );
    assert_eq!(s, Scalars::default());
    // null clears a message field that was set.
    let mut b = sample_book();
    merge(&mut b, br#"{"author":null,"series":null}"#, &opts(), &TYPES).expect("merge");
    assert_eq!((b.author, b.series), (None, None));
    // ...and an object merges into it.
    let mut b = sample_book();
    merge(
        &mut b,
        br#"{"author":{"displayName":"G"}}"#,
        &opts(),
        &TYPES,
    )
    .expect("merge");
    let a = b.author.expect("author kept");
    assert_eq!(
        (a.display_name.as_str(), a.born),
        ("G", Some(ts(-1_700_000_000, 0)))
    );
    // proto3 optional / wrapper: explicit values, including defaults, are kept.
    let b: Book = ok(r#"{"subtitle":"","series":""}"#);
    assert_eq!(
        (b.subtitle.as_deref(), b.series.as_deref()),
        (Some(""), Some(""))
    );
}

#[test]
fn null_elements_and_map_values_are_refused_except_for_value() {
    let e = err::<Book>(r#"{"tags":["a",null]}"#);
    assert_eq!(e.path(), "tags[1]");
    assert!(e.message().contains("null"), "{e}");
    assert!(parse::<Scalars>(r#"{"rAuthors":[null]}"#).is_err());
    assert!(parse::<Scalars>(r#"{"rInt64":[1,null]}"#).is_err());
    let e = err::<Book>(r#"{"labels":{"k":null}}"#);
    assert_eq!(e.path(), r#"labels["k"]"#);
    assert!(parse::<Maps>(r#"{"authors":{"a":null}}"#).is_err());
    let w: Wkts = ok(r#"{"vals":[null,1]}"#);
    assert_eq!(w.vals, vec![null_value(), num(1.0)]);
    let m: Maps = ok(r#"{"values":{"n":null}}"#);
    assert_eq!(m.values.get("n"), Some(&null_value()));
    let w: Wkts = ok(r#"{"val":null,"intW":null}"#);
    assert_eq!((w.val, w.int_w), (Some(null_value()), None));
}

// =============================================================================================
// Maps

#[test]
fn maps_with_every_key_type_round_trip() {
    let m = Maps {
        by_str: [("".to_owned(), 1), ("é\"".to_owned(), -2)].into(),
        by_i32: [
            (i32::MIN, "a".to_owned()),
            (-1, "b".to_owned()),
            (7, "c".to_owned()),
        ]
        .into(),
        by_i64: [(i64::MIN, "a".to_owned()), (i64::MAX, "b".to_owned())].into(),
        by_u32: [(0, "a".to_owned()), (u32::MAX, "b".to_owned())].into(),
        by_u64: [(u64::MAX, "a".to_owned())].into(),
        by_bool: [(false, "f".to_owned()), (true, "t".to_owned())].into(),
        authors: [("x".to_owned(), Author::default())].into(),
        values: [("v".to_owned(), num(2.5))].into(),
    };
    let text = json_with(&m, &sparse());
    assert_eq!(
        text,
        r#"{"byStr":{"":1,"é\"":-2},"byI32":{"-2147483648":"a","-1":"b","7":"c"},"byI64":{"-9223372036854775808":"a","9223372036854775807":"b"},"byU32":{"0":"a","4294967295":"b"},"byU64":{"18446744073709551615":"a"},"byBool":{"false":"f","true":"t"},"authors":{"x":{}},"values":{"v":2.5}}"#
    );
    assert_eq!(ok::<Maps>(&text), m);
}

#[test]
fn map_keys_are_range_checked_and_unique() {
    let cases = [
        (r#"{"byI32":{"x":"a"}}"#, "invalid map key \"x\""),
        (r#"{"byI32":{"2147483648":"a"}}"#, "out of range"),
        (r#"{"byI32":{"1.0":"a"}}"#, "invalid map key"),
        (r#"{"byI32":{" 1":"a"}}"#, "invalid map key"),
        (r#"{"byU32":{"-1":"a"}}"#, "invalid map key"),
        (r#"{"byU64":{"18446744073709551616":"a"}}"#, "out of range"),
        (r#"{"byI64":{"9223372036854775808":"a"}}"#, "out of range"),
        (r#"{"byBool":{"TRUE":"a"}}"#, "invalid map key"),
        (r#"{"byBool":{"1":"a"}}"#, "invalid map key"),
        (r#"{"byStr":{"a":1,"a":2}}"#, "duplicate map key \"a\""),
        (r#"{"byI32":{"1":"a","01":"b"}}"#, "duplicate map key"),
        (r#"{"byStr":{"a":"1.5"}}"#, "not an integer"),
        (r#"{"byStr":[]}"#, "expected an object"),
    ];
    for (input, want) in cases {
        let e = err::<Maps>(input);
        assert!(e.message().contains(want), "{input}: {e}");
    }
    let e = err::<Maps>(r#"{"byStr":{"ok":1,"bad":"x"}}"#);
    assert_eq!(e.path(), r#"byStr["bad"]"#);
    let e = err::<Maps>(r#"{"authors":{"a\"b":{"born":"x"}}}"#);
    assert_eq!(e.path(), r#"authors["a\"b"].born"#);
}

// =============================================================================================
// Oneofs

#[test]
fn oneof_members_are_exclusive() {
    let e = err::<Book>(r#"{"borrower":"x","shelf":3}"#);
    assert_eq!(e.message(), "oneof `location` has more than one member set");
    assert_eq!(e.path(), "shelf");
    assert!(parse::<Pick>(r#"{"text":"a","auth":{}}"#).is_err());
    // null members are ignored, whatever the order.
    let b: Book = ok(r#"{"borrower":"x","shelf":null}"#);
    assert_eq!(b.location, Some(book::Location::Borrower("x".into())));
    let b: Book = ok(r#"{"shelf":null,"borrower":"x"}"#);
    assert_eq!(b.location, Some(book::Location::Borrower("x".into())));
    let b: Book = ok(r#"{"shelf":null}"#);
    assert_eq!(b.location, None);
    let p: Pick = ok(r#"{"auth":null,"text":"t"}"#);
    assert_eq!(p.choice, Some(pick::Choice::Text("t".into())));
    // Merging into a message whose oneof is set counts as a second member.
    let mut b = sample_book();
    assert!(merge(&mut b, br#"{"shelf":1}"#, &opts(), &TYPES).is_err());
}

#[test]
fn oneof_value_and_null_value_members_take_null_as_a_value() {
    let p: Pick = ok(r#"{"val":null}"#);
    assert_eq!(p.choice, Some(pick::Choice::Val(null_value())));
    let p: Pick = ok(r#"{"nv":null}"#);
    assert_eq!(p.choice, Some(pick::Choice::Nv(0)));
    assert_eq!(json(&p), r#"{"nv":null}"#);
    assert!(parse::<Pick>(r#"{"text":"a","val":null}"#).is_err());
    let p: Pick = ok(r#"{"auth":{"displayName":"d"}}"#);
    assert_eq!(json_with(&p, &sparse()), r#"{"auth":{"displayName":"d"}}"#);
}

// =============================================================================================
// Errors

#[test]
fn errors_carry_path_position_and_the_offending_value() {
    let input = r#"{"name":"x","copiesPrinted":"abc"}"#;
    let e = err::<Book>(input).in_field("book");
    assert_eq!(e.path(), "book.copiesPrinted");
    assert_eq!(e.offset(), 28);
    assert_eq!((e.line(), e.column()), (1, 29));
    assert_eq!(
        e.to_string(),
        r#"book.copiesPrinted: expected a 64-bit integer, got "abc" (line 1, column 29)"#
    );
    let e = err::<Book>("{\n  \"author\": {\n    \"born\": \"1999\"\n  }\n}");
    assert_eq!(e.path(), "author.born");
    assert_eq!((e.line(), e.column()), (3, 13));
    assert!(e.message().contains("RFC 3339"), "{e}");
    let e = err::<Book>(r#"{"tags":["a",1]}"#);
    assert_eq!(e.path(), "tags[1]");
    let e = err::<Scalars>(r#"{"rAuthors":[{},{"born":1}]}"#);
    assert_eq!(e.path(), "rAuthors[1].born");
    let e = err::<Book>(r#"{"labels":{"k":1}}"#);
    assert_eq!(e.path(), r#"labels["k"]"#);
    // Column counts characters, not bytes.
    let e = err::<Book>("{\"name\":\"ééé\",\"genre\":true}");
    assert_eq!(e.column(), 23);
    // Long values are cut short in messages.
    let long = "x".repeat(500);
    let e = err::<Book>(&format!("{{\"copiesPrinted\":\"{long}\"}}"));
    assert!(e.message().contains("..."), "{e}");
    assert!(e.message().len() < 120, "{e}");
    let e = err::<Book>(&format!("{{\"{long}\":1}}"));
    assert!(e.message().len() < 120, "{e}");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().contains("unknown field"));
}

// =============================================================================================
// Timestamp

#[test]
fn timestamps_are_written_in_utc_with_0_3_6_or_9_digits() {
    let cases = [
        (ts(0, 0), "1970-01-01T00:00:00Z"),
        (ts(0, 10_000_000), "1970-01-01T00:00:00.010Z"),
        (ts(0, 1000), "1970-01-01T00:00:00.000001Z"),
        (ts(0, 1), "1970-01-01T00:00:00.000000001Z"),
        (
            ts(1_700_000_000, 123_456_789),
            "2023-11-14T22:13:20.123456789Z",
        ),
        (ts(-1, 0), "1969-12-31T23:59:59Z"),
        (ts(951_782_400, 0), "2000-02-29T00:00:00Z"),
        (ts(-62_135_596_800, 0), "0001-01-01T00:00:00Z"),
        (
            ts(253_402_300_799, 999_999_999),
            "9999-12-31T23:59:59.999999999Z",
        ),
    ];
    for (t, want) in cases {
        assert_eq!(written(|w| w.message(&t)), format!("\"{want}\""));
        let mut out = Vec::new();
        format_timestamp(&t, &mut out).expect("in range");
        assert_eq!(out, want.as_bytes());
        assert_eq!(parse_timestamp(want), Ok(t), "{want}");
    }
}

#[test]
fn timestamps_read_offsets_fractions_and_enforce_the_range() {
    let good = [
        ("1970-01-01T08:00:01+08:00", ts(1, 0)),
        ("1969-12-31T16:00:01-08:00", ts(1, 0)),
        ("1970-01-01T00:00:00.5Z", ts(0, 500_000_000)),
        ("1970-01-01T00:00:00.123456Z", ts(0, 123_456_000)),
        ("1970-01-01T00:00:00.000000001Z", ts(0, 1)),
        ("2020-02-29T12:00:00Z", ts(1_582_977_600, 0)),
        ("0001-01-01T00:00:00Z", ts(-62_135_596_800, 0)),
        ("0001-01-01T00:30:00+00:30", ts(-62_135_596_800, 0)),
        (
            "9999-12-31T23:59:59.999999999Z",
            ts(253_402_300_799, 999_999_999),
        ),
        ("9999-12-31T22:59:59-01:00", ts(253_402_300_799, 0)),
    ];
    for (input, want) in good {
        assert_eq!(parse_timestamp(input), Ok(want), "{input}");
    }
    let bad = [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "10000-01-01T00:00:00Z",
        "1970-01-01t00:00:00Z",
        "1970-01-01T00:00:00z",
        "1970-01-01 00:00:00Z",
        "1970-01-01T00:00:00",
        "1970-01-01T00:00:00.Z",
        "1970-01-01T00:00:00.1234567890Z",
        "1970-01-01T00:00:00+0800",
        "1970-01-01T00:00:00+24:00",
        "1970-13-01T00:00:00Z",
        "1970-00-01T00:00:00Z",
        "2021-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "1970-04-31T00:00:00Z",
        "1970-01-01T24:00:00Z",
        "1970-01-01T00:60:00Z",
        "1970-01-01T00:00:60Z",
        "1970-1-01T00:00:00Z",
        "+1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z ",
        "",
    ];
    for input in bad {
        assert!(parse_timestamp(input).is_err(), "{input}");
    }
    let e = parse_timestamp("0000-01-01T00:00:00Z").expect_err("year 0");
    assert_eq!(e.expected, "an RFC 3339 timestamp");
    assert_eq!(
        parse_timestamp("0001-01-01T00:00:00+01:00").map_err(|e| e.detail),
        Err("out of range")
    );
    // In JSON: only strings.
    let w: Wkts = ok(r#"{"ts":"1970-01-01T00:00:01.5+00:00"}"#);
    assert_eq!(w.ts, Some(ts(1, 500_000_000)));
    let e = err::<Wkts>(r#"{"ts":0}"#);
    assert_eq!(e.path(), "ts");
    assert!(parse::<Wkts>(r#"{"ts":"1970-01-01T00:00:00\u005a"}"#).is_ok());
}

#[test]
fn timestamps_round_trip_across_the_range() {
    let mut s: i64 = -62_135_596_800;
    let mut nanos = 0;
    while s <= 253_402_300_799 {
        let t = ts(s, nanos);
        let mut out = Vec::new();
        format_timestamp(&t, &mut out).expect("in range");
        let text = String::from_utf8(out).expect("ascii");
        assert_eq!(parse_timestamp(&text), Ok(t), "{text}");
        s += 7_654_321_987;
        nanos = (nanos + 123_457_000) % 1_000_000_000;
    }
}

#[test]
fn timestamps_outside_the_json_range_fail_to_write() {
    // protojson refuses them (conformance: Timestamp{Lower,Upper}Bound serialization tests)
    // rather than writing a year the reader refuses, or a normalized instant.
    for (t, why) in [
        (ts(-62_135_596_801, 0), "before 0001-01-01T00:00:00Z"),
        (
            ts(253_402_300_800, 0),
            "after 9999-12-31T23:59:59.999999999Z",
        ),
        (ts(i64::MAX, 0), "after"),
        (ts(i64::MIN, 0), "before"),
        (ts(0, -1), "nanos outside 0 to 999999999"),
        (ts(0, 1_000_000_000), "nanos outside"),
    ] {
        let e = unwritable(|w| w.message(&t));
        assert!(e.contains("Timestamp") && e.contains(why), "{t:?}: {e}");
        assert!(format_timestamp(&t, &mut Vec::new()).is_err(), "{t:?}");
    }
    // Inside a message: the whole write fails, however deep, with the first reason.
    let w = Wkts {
        ts: Some(ts(253_402_300_800, 0)),
        dur: Some(dur(315_576_000_001, 0)),
        ..Wkts::default()
    };
    let e = to_vec(&w, &opts(), &TYPES).expect_err("out of range");
    assert!(e.message().contains("Timestamp"), "{e}");
    let e = to_vec(&w, &sparse(), &TYPES).expect_err("whatever the options");
    assert!(e.message().contains("Timestamp"), "{e}");
}

// =============================================================================================
// Duration

#[test]
fn durations_are_written_with_sign_and_0_3_6_or_9_digits() {
    let cases = [
        (dur(0, 0), "0s"),
        (dur(3, 0), "3s"),
        (dur(1, 500_000_000), "1.500s"),
        (dur(-1, -500_000_000), "-1.500s"),
        (dur(0, -500_000_000), "-0.500s"),
        (dur(0, 1), "0.000000001s"),
        (dur(1, 1000), "1.000001s"),
        (dur(315_576_000_000, 999_999_999), "315576000000.999999999s"),
        (
            dur(-315_576_000_000, -999_999_999),
            "-315576000000.999999999s",
        ),
    ];
    for (d, want) in cases {
        assert_eq!(written(|w| w.message(&d)), format!("\"{want}\""));
        let mut out = Vec::new();
        format_duration(&d, &mut out).expect("in range");
        assert_eq!(out, want.as_bytes());
        assert_eq!(parse_duration(want), Ok(d), "{want}");
    }
}

#[test]
fn invalid_durations_fail_to_write() {
    // Beyond ±10,000 years, nanos beyond a second, or seconds and nanos of opposite signs: not
    // a Duration the JSON form can spell (protojson refuses these; conformance:
    // Duration{Min,Max}Value serialization tests).
    for (d, why) in [
        (dur(315_576_000_001, 0), "beyond ±315576000000 seconds"),
        (dur(-315_576_000_001, 0), "beyond ±315576000000 seconds"),
        (dur(i64::MIN, 0), "beyond"),
        (dur(0, 1_000_000_000), "nanos beyond"),
        (dur(0, -1_000_000_000), "nanos beyond"),
        (dur(1, -500_000_000), "opposite signs"),
        (dur(-1, 500_000_000), "opposite signs"),
    ] {
        let e = unwritable(|w| w.message(&d));
        assert!(e.contains("Duration") && e.contains(why), "{d:?}: {e}");
        assert!(format_duration(&d, &mut Vec::new()).is_err(), "{d:?}");
    }
    assert_eq!(written(|w| w.message(&dur(0, -1))), "\"-0.000000001s\"");
    let d = dur(-315_576_000_000, -999_999_999);
    assert_eq!(ok::<Duration>(&written(|w| w.message(&d))), d);
}

#[test]
fn durations_read_fractions_and_enforce_sign_and_range() {
    let good = [
        ("1.5s", dur(1, 500_000_000)),
        ("-0.5s", dur(0, -500_000_000)),
        ("-0s", dur(0, 0)),
        ("0.1s", dur(0, 100_000_000)),
        (".5s", dur(0, 500_000_000)),
        ("-315576000000s", dur(-315_576_000_000, 0)),
    ];
    for (input, want) in good {
        assert_eq!(parse_duration(input), Ok(want), "{input}");
    }
    for bad in [
        "315576000001s",
        "-315576000001s",
        "99999999999999999999999s",
        "1.0000000001s",
        "1",
        "s",
        "-s",
        "1.s",
        "+1s",
        "1s ",
        " 1s",
        "1S",
        "1m",
        "1e3s",
        "--1s",
        "",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_duration("315576000001s").map_err(|e| e.detail),
        Err("out of range")
    );
    let w: Wkts = ok(r#"{"dur":"-1.25s"}"#);
    assert_eq!(w.dur, Some(dur(-1, -250_000_000)));
    assert!(parse::<Wkts>(r#"{"dur":1.5}"#).is_err());
}

// =============================================================================================
// FieldMask

#[test]
fn field_masks_convert_between_snake_and_lower_camel_case() {
    let fm = FieldMask {
        paths: vec!["user.display_name".into(), "photo".into(), "a_b_c".into()],
    };
    let text = written(|w| w.message(&fm));
    assert_eq!(text, "\"user.displayName,photo,aBC\"");
    let mut out = Vec::new();
    field_mask_to_json(&fm, &mut out).expect("writable");
    assert_eq!(out, b"user.displayName,photo,aBC");
    let w: Wkts = ok(&format!("{{\"mask\":{text}}}"));
    assert_eq!(w.mask, Some(fm));
    let w: Wkts = ok(r#"{"mask":""}"#);
    assert_eq!(w.mask, Some(FieldMask::default()));
    assert_eq!(written(|w| w.message(&FieldMask::default())), "\"\"");
    // The JSON form refuses snake_case (it cannot have come from lowerCamelCase).
    assert!(parse::<Wkts>(r#"{"mask":"foo,bar_bar"}"#).is_err());
    for bad in [
        r#""a,,b""#,
        r#""a.""#,
        r#""1a""#,
        r#""a b""#,
        r#"["a"]"#,
        r#"{"paths":["a"]}"#,
    ] {
        assert!(
            parse::<Wkts>(&format!("{{\"mask\":{bad}}}")).is_err(),
            "{bad}"
        );
    }
    // A path that needs escaping still produces valid JSON.
    let odd = FieldMask {
        paths: vec!["a\"b".into()],
    };
    assert_eq!(written(|w| w.message(&odd)), r#""a\"b""#);
}

#[test]
fn field_mask_paths_that_would_not_read_back_fail_to_write() {
    // lowerCamelCase loses what these say: `fooBar` would read back as `foo_bar`, `foo_3_bar`
    // as `foo3_bar`, `foo__bar` as `foo_bar` (conformance: FieldMask*Fails tests).
    for path in ["fooBar", "foo_3_bar", "foo__bar", "foo_", "a.b_C", "ok,x_1"] {
        let fm = FieldMask {
            paths: path.split(',').map(str::to_string).collect(),
        };
        let e = unwritable(|w| w.message(&fm));
        assert!(e.contains("FieldMask path"), "{path}: {e}");
        assert!(field_mask_to_json(&fm, &mut Vec::new()).is_err(), "{path}");
    }
    for path in ["foo_bar", "foo_bar.baz_qux", "foo3_bar", "_foo", "a", "x1"] {
        let fm = FieldMask {
            paths: vec![path.to_string()],
        };
        let text = written(|w| w.message(&fm));
        assert_eq!(ok::<FieldMask>(&text), fm, "{path} → {text}");
    }
}

#[test]
fn a_value_with_no_kind_fails_to_write() {
    // `null` would read back as NULL_VALUE, a different Value (protojson refuses it too).
    let e = unwritable(|w| w.message(&Value { kind: None }));
    assert!(e.contains("Value with no kind"), "{e}");
    let list = ListValue {
        values: vec![Value { kind: None }],
    };
    assert!(unwritable(|w| w.message(&list)).contains("Value"));
    assert_eq!(
        written(|w| w.message(&Value {
            kind: Some(Kind::NullValue(0))
        })),
        "null"
    );
}

#[test]
fn scalar_field_mask_accepts_camel_and_snake_case() {
    assert_eq!(
        parse_field_mask("fooBar,baz_qux,a.bC").map(|m| m.paths),
        Ok(vec![
            "foo_bar".to_owned(),
            "baz_qux".to_owned(),
            "a.b_c".to_owned()
        ])
    );
    assert_eq!(parse_field_mask("").map(|m| m.paths), Ok(vec![]));
    for bad in ["a,,b", ",", "a b", "a.", ".a", "a-b"] {
        assert!(parse_field_mask(bad).is_err(), "{bad}");
    }
    // Paths JSON cannot carry are refused as input, so that a reply echoing the mask can
    // always be written; a leading `_` before a letter reads back from `Foo` and stays.
    for unwritable in ["foo_3_bar", "_2k0b", "foo__bar", "foo_", "a._2.b"] {
        let e = parse_field_mask(unwritable).expect_err(unwritable);
        assert!(
            e.to_string().contains("lowerCamelCase"),
            "{unwritable}: {e}"
        );
    }
    assert_eq!(
        parse_field_mask("_foo,Bar").map(|m| m.paths),
        Ok(vec!["_foo".to_owned(), "_bar".to_owned()])
    );
}

// =============================================================================================
// Struct, Value, ListValue, Empty, wrappers

#[test]
fn struct_value_and_list_value_are_plain_json() {
    let input =
        r#"{"a":null,"b":[1,"x",true,null,{"c":{}},[]],"d":1.5,"e":"s","f":false,"g":{"h":-0}}"#;
    let st: Struct = ok(input);
    assert_eq!(st.fields.get("a"), Some(&null_value()));
    assert_eq!(st.fields.get("d"), Some(&num(1.5)));
    assert_eq!(json(&st), input);
    let v: Value = ok(input);
    assert_eq!(json(&v), input);
    let l: ListValue = ok(r#"[1,null,"a",[{}]]"#);
    assert_eq!(l.values.len(), 4);
    assert_eq!(json(&l), r#"[1,null,"a",[{}]]"#);
    for (input, kind) in [
        ("null", Kind::NullValue(0)),
        ("true", Kind::BoolValue(true)),
        ("-2.5e3", Kind::NumberValue(-2500.0)),
        ("\"x\"", Kind::StringValue("x".into())),
    ] {
        assert_eq!(ok::<Value>(input).kind, Some(kind), "{input}");
    }
    // Numbers are doubles, so the integer form is how doubles are written.
    assert_eq!(json(&num(3.0)), "3");
    assert_eq!(json(&num(f64::NAN)), "\"NaN\"");
}

#[test]
fn struct_value_and_list_value_refuse_what_json_cannot_hold() {
    assert!(parse::<Value>("1e400").is_err());
    assert!(parse::<Value>("nul").is_err());
    assert!(parse::<Value>("").is_err());
    assert!(parse::<Value>("'x'").is_err());
    assert!(parse::<Struct>("null").is_err());
    assert!(parse::<Struct>("[]").is_err());
    assert!(parse::<ListValue>("null").is_err());
    assert!(parse::<ListValue>("{}").is_err());
    let e = err::<Struct>(r#"{"a":1,"a":2}"#);
    assert!(e.message().contains("duplicate"), "{e}");
    // Struct fields are data, never unknown fields, even in strict mode.
    let w: Wkts = ok(r#"{"st":{"anything":{"goes":[1]}},"val":{"x":1},"list":[null]}"#);
    assert!(w.st.is_some_and(|s| s.fields.contains_key("anything")));
    assert_eq!(w.list.map(|l| l.values), Some(vec![null_value()]));
    let w: Wkts = ok(r#"{"st":null,"list":null}"#);
    assert_eq!((w.st, w.list), (None, None));
}

#[test]
fn empty_and_wrappers_have_their_special_forms() {
    let w = Wkts {
        empty: Some(()),
        int_w: Some(0),
        ..Wkts::default()
    };
    let text = json_with(&w, &sparse());
    assert_eq!(text, r#"{"empty":{},"intW":0}"#);
    assert_eq!(ok::<Wkts>(&text), w);
    assert!(parse::<Wkts>(r#"{"empty":{"x":1}}"#).is_err());
    assert_eq!(ok::<Wkts>(r#"{"intW":"7"}"#).int_w, Some(7));
    assert_eq!(json(&Wkts::default()), r#"{"vals":[]}"#);
    // An unset Value is left out, not written as `null`, which would read back as a set one.
    let unset = Wkts::default();
    assert_eq!(ok::<Wkts>(&json(&unset)), unset);
    let null = Wkts {
        val: Some(Value {
            kind: Some(Kind::NullValue(0)),
        }),
        ..Wkts::default()
    };
    assert_eq!(json(&null), r#"{"val":null,"vals":[]}"#);
    assert_eq!(ok::<Wkts>(&json(&null)), null);
}

// =============================================================================================
// Any

fn any_of<M: prost::Message>(type_url: &str, m: &M) -> Any {
    Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

#[test]
fn any_with_a_registered_message_inlines_its_fields() {
    let author = Author {
        display_name: "A".into(),
        born: Some(ts(1, 0)),
    };
    let any = any_of("type.googleapis.com/library.v1.Author", &author);
    let text = json(&any);
    assert_eq!(
        text,
        r#"{"@type":"type.googleapis.com/library.v1.Author","displayName":"A","born":"1970-01-01T00:00:01Z"}"#
    );
    assert_eq!(ok::<Any>(&text), any);
    // @type may come anywhere; proto names work; the prefix can be anything up to the last '/'.
    let back: Any = ok(
        r#"{"display_name":"A","born":"1970-01-01T00:00:01Z","@type":"type.googleapis.com/library.v1.Author"}"#,
    );
    assert_eq!(back, any);
    let custom: Any = ok(r#"{"@type":"example.com/x/y/library.v1.Author","displayName":"A"}"#);
    assert_eq!(custom.type_url, "example.com/x/y/library.v1.Author");
    // An empty registered message is just its @type.
    let empty = any_of("type.googleapis.com/library.v1.Author", &Author::default());
    assert_eq!(
        json_with(&empty, &sparse()),
        r#"{"@type":"type.googleapis.com/library.v1.Author"}"#
    );
    assert_eq!(
        ok::<Any>(r#"{"@type":"type.googleapis.com/library.v1.Author"}"#),
        empty
    );
    // Inside a message field, with errors pointing into it.
    let w: Wkts = ok(&format!("{{\"any\":{text}}}"));
    assert_eq!(w.any, Some(any));
    let e = err::<Wkts>(r#"{"any":{"@type":"type.googleapis.com/library.v1.Author","born":"x"}}"#);
    assert_eq!(e.path(), "any.born");
    let e = err::<Wkts>(r#"{"any":{"@type":"type.googleapis.com/library.v1.Author","nope":1}}"#);
    assert!(e.message().contains("unknown field \"nope\""), "{e}");
}

#[test]
fn any_with_a_well_known_payload_uses_value() {
    let cases: Vec<(Any, &str)> = vec![
        (
            any_of("type.googleapis.com/google.protobuf.Timestamp", &ts(1, 0)),
            r#"{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"1970-01-01T00:00:01Z"}"#,
        ),
        (
            any_of(
                "type.googleapis.com/google.protobuf.Duration",
                &dur(-1, -500_000_000),
            ),
            r#"{"@type":"type.googleapis.com/google.protobuf.Duration","value":"-1.500s"}"#,
        ),
        (
            any_of("type.googleapis.com/google.protobuf.Int32Value", &5i32),
            r#"{"@type":"type.googleapis.com/google.protobuf.Int32Value","value":5}"#,
        ),
        (
            any_of(
                "type.googleapis.com/google.protobuf.StringValue",
                &"s".to_owned(),
            ),
            r#"{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"s"}"#,
        ),
        (
            any_of("type.googleapis.com/google.protobuf.Empty", &()),
            r#"{"@type":"type.googleapis.com/google.protobuf.Empty","value":{}}"#,
        ),
        (
            any_of("type.googleapis.com/google.protobuf.Value", &num(1.5)),
            r#"{"@type":"type.googleapis.com/google.protobuf.Value","value":1.5}"#,
        ),
        (
            any_of(
                "type.googleapis.com/google.protobuf.Any",
                &any_of(
                    "type.googleapis.com/library.v1.Author",
                    &Author {
                        display_name: "in".into(),
                        born: None,
                    },
                ),
            ),
            r#"{"@type":"type.googleapis.com/google.protobuf.Any","value":{"@type":"type.googleapis.com/library.v1.Author","displayName":"in"}}"#,
        ),
    ];
    for (any, want) in cases {
        assert_eq!(json(&any), want);
        assert_eq!(ok::<Any>(want), any, "{want}");
    }
    let reordered: Any =
        ok(r#"{"value":"1s","@type":"type.googleapis.com/google.protobuf.Duration"}"#);
    assert_eq!(
        reordered,
        any_of("type.googleapis.com/google.protobuf.Duration", &dur(1, 0))
    );
    let e = err::<Any>(r#"{"@type":"type.googleapis.com/google.protobuf.Duration"}"#);
    assert!(e.message().contains("\"value\""), "{e}");
    let e = err::<Any>(r#"{"@type":"type.googleapis.com/google.protobuf.Duration","value":"x"}"#);
    assert_eq!(e.path(), "value");
}

#[test]
fn any_with_an_unknown_type_falls_back_on_output_and_fails_on_input() {
    let any = Any {
        type_url: "type.googleapis.com/other.Thing".into(),
        value: vec![8, 1],
    };
    assert_eq!(
        json(&any),
        r#"{"@type":"type.googleapis.com/other.Thing","value":"CAE="}"#
    );
    let e = err::<Any>(r#"{"@type":"type.googleapis.com/other.Thing","value":"CAE="}"#);
    assert!(e.message().contains("other.Thing"), "{e}");
    // A payload that does not decode is written in the fallback form too.
    let broken = Any {
        type_url: "type.googleapis.com/library.v1.Author".into(),
        value: vec![0xff],
    };
    assert_eq!(
        json(&broken),
        r#"{"@type":"type.googleapis.com/library.v1.Author","value":"/w=="}"#
    );
    assert_eq!(json(&Any::default()), "{}");
    assert_eq!(ok::<Any>("{}"), Any::default());
    for bad in [
        r#"{"displayName":"A"}"#,
        r#"{"@type":1}"#,
        r#"{"@type":"type.googleapis.com/library.v1.Author","@type":"type.googleapis.com/library.v1.Author"}"#,
        "null",
        "[]",
    ] {
        assert!(parse::<Any>(bad).is_err(), "{bad}");
    }
}

// =============================================================================================
// scalar.rs: path and query values

#[test]
fn scalar_integers_are_strict_decimal() {
    assert_eq!(parse_i32("-2147483648"), Ok(i32::MIN));
    assert_eq!(parse_i32("007"), Ok(7));
    assert_eq!(parse_i64("9223372036854775807"), Ok(i64::MAX));
    assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
    assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
    for bad in ["", "-", "+1", "0x1", " 1", "1 ", "1e2", "1.0", "1_000"] {
        assert!(parse_i32(bad).is_err(), "{bad}");
        assert!(parse_u64(bad).is_err(), "{bad}");
    }
    assert!(parse_u32("-1").is_err());
    assert!(parse_u64("-0").is_err());
    let e = parse_i32("2147483648").expect_err("range");
    assert_eq!((e.expected, e.detail), ("a 32-bit integer", "out of range"));
    assert_eq!(e.to_string(), "expected a 32-bit integer: out of range");
    assert_eq!(
        parse_i64("99999999999999999999999").map_err(|e| e.detail),
        Err("out of range")
    );
    assert_eq!(
        parse_u64("abc").map_err(|e| e.to_string()),
        Err("expected an unsigned 64-bit integer".into())
    );
}

#[test]
fn scalar_floats_bools_strings_bytes_and_enums() {
    assert_eq!(parse_f64("1.5e3"), Ok(1500.0));
    assert_eq!(parse_f64("-Infinity"), Ok(f64::NEG_INFINITY));
    assert!(parse_f64("NaN").is_ok_and(f64::is_nan));
    assert!(parse_f64("1e400").is_err());
    assert!(parse_f64("inf").is_err());
    assert_eq!(parse_f32("3.4028235e38"), Ok(f32::MAX));
    assert_eq!(
        parse_f32("3.5e38").map_err(|e| e.detail),
        Err("out of range")
    );
    assert_eq!(parse_bool("true"), Ok(true));
    assert_eq!(parse_bool("false"), Ok(false));
    for bad in ["True", "1", "", "yes"] {
        assert!(parse_bool(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_string("a b/é").as_deref(), Ok("a b/é"));
    assert_eq!(parse_bytes("-_8"), Ok(vec![0xfb, 0xff]));
    assert_eq!(parse_bytes("+/8="), Ok(vec![0xfb, 0xff]));
    assert!(parse_bytes("!").is_err());
    assert_eq!(parse_enum::<Genre>("POETRY"), Ok(2));
    assert_eq!(parse_enum::<Genre>("1"), Ok(1));
    assert_eq!(parse_enum::<Genre>("-5"), Ok(-5));
    assert_eq!(
        parse_enum::<Genre>("nope").map_err(|e| e.detail),
        Err("unknown name")
    );
    assert_eq!(
        parse_enum::<Genre>("2147483648").map_err(|e| e.detail),
        Err("out of range")
    );
}

// =============================================================================================
// Wide messages (more fields than the reader tracks in its inline bit set)

#[derive(Debug, Default, PartialEq)]
struct Wide {
    vals: Vec<i32>,
}

const WIDE_FIELDS: usize = 140;

fn wide_names() -> Vec<(String, String)> {
    (0..WIDE_FIELDS)
        .map(|i| (format!("f{i}Json"), format!("f{i}_proto")))
        .collect()
}

impl ProtoJson for Wide {
    fn write_json(&self, w: &mut Writer<'_>) {
        let names = wide_names();
        w.begin_object();
        for (i, v) in self.vals.iter().enumerate() {
            if let Some((json, proto)) = names.get(i) {
                w.key(json, proto);
                w.int32(v);
            }
        }
        w.end_object();
    }
    fn merge_json(&mut self, r: &mut Reader<'_>) -> Result<(), JsonError> {
        let names = wide_names();
        let fields: Vec<(&str, &str)> = names
            .iter()
            .map(|(j, p)| (j.as_str(), p.as_str()))
            .collect();
        self.vals.resize(WIDE_FIELDS, 0);
        r.object(&fields, |r, field| {
            if let Some(slot) = self.vals.get_mut(field) {
                *slot = r.int32()?;
            }
            Ok(())
        })
    }
}

#[test]
fn wide_messages_detect_duplicates_beyond_128_fields() {
    let w = Wide {
        vals: (0..140).collect(),
    };
    let text = json(&w);
    assert!(text.ends_with("\"f139Json\":139}"), "{text}");
    assert_eq!(ok::<Wide>(&text), w);
    let back: Wide = ok(r#"{"f139_proto":1,"f3Json":2,"f130Json":3}"#);
    assert_eq!((back.vals[139], back.vals[3], back.vals[130]), (1, 2, 3));
    let e = err::<Wide>(r#"{"f135Json":1,"f2Json":2,"f135_proto":3}"#);
    assert!(
        e.message().contains("duplicate field \"f135_proto\""),
        "{e}"
    );
    let e = err::<Wide>(r#"{"f127Json":1,"f127Json":2}"#);
    assert!(e.message().contains("duplicate"), "{e}");
    let e = err::<Wide>(r#"{"f140Json":1}"#);
    assert!(e.message().contains("unknown field"), "{e}");
}
