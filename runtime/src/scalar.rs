// Text → value parsers shared by the JSON reader (the quoted forms of numbers, bytes and
// well-known types) and by URL path variables and query parameters, plus the text forms the
// JSON writer uses for Timestamp, Duration and FieldMask.
//
// Plain `//` comments on purpose: this file is also pulled into a user's module with
// `include!`, where inner doc comments are not allowed.

use std::fmt;

use base64::Engine as _;

use super::json::WriteError;

/// Why a piece of text could not be read as the expected kind of value.
///
/// Callers add where the text came from (a JSON field, a path variable, a query parameter), so
/// this only says what was expected and, when the text had the right shape, why it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalarError {
    /// What the text should have been, e.g. "a 32-bit integer".
    pub expected: &'static str,
    /// Why well-formed text was refused (e.g. "out of range"), or "" when it was malformed.
    pub detail: &'static str,
}

impl ScalarError {
    const fn new(expected: &'static str, detail: &'static str) -> Self {
        ScalarError { expected, detail }
    }
}

/// Name ↔ number mapping of a proto enum, generated for each enum (prost keeps enum fields
/// as plain `i32`, so the writer and reader need the names from here).
pub trait ProtoEnum {
    /// The proto name of a known value.
    fn name(value: i32) -> Option<&'static str>;
    /// The number of a value given by its proto name.
    fn from_name(name: &str) -> Option<i32>;
    /// True only for `google.protobuf.NullValue`, whose JSON form is `null`.
    const NULL_VALUE: bool = false;
}

impl fmt::Display for ScalarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "expected {}", self.expected)
        } else {
            write!(f, "expected {}: {}", self.expected, self.detail)
        }
    }
}

impl std::error::Error for ScalarError {}

// What each parser expects; shared with the JSON reader so messages read the same everywhere.
pub(super) const EXPECT_BOOL: &str = "a boolean";
pub(super) const EXPECT_I32: &str = "a 32-bit integer";
pub(super) const EXPECT_U32: &str = "an unsigned 32-bit integer";
pub(super) const EXPECT_I64: &str = "a 64-bit integer";
pub(super) const EXPECT_U64: &str = "an unsigned 64-bit integer";
pub(super) const EXPECT_F32: &str = "a 32-bit float";
pub(super) const EXPECT_F64: &str = "a number";
pub(super) const EXPECT_BYTES: &str = "base64-encoded bytes";
pub(super) const EXPECT_ENUM: &str = "an enum value name or number";
pub(super) const EXPECT_TIMESTAMP: &str = "an RFC 3339 timestamp";
pub(super) const EXPECT_DURATION: &str = "a duration like \"1.5s\"";
pub(super) const EXPECT_FIELD_MASK: &str = "a comma-separated list of field paths";

pub(super) const OUT_OF_RANGE: &str = "out of range";
pub(super) const NOT_AN_INTEGER: &str = "not an integer";
pub(super) const UNKNOWN_NAME: &str = "unknown name";

/// Earliest Timestamp the JSON mapping allows: 0001-01-01T00:00:00Z.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// Latest Timestamp the JSON mapping allows: 9999-12-31T23:59:59.999999999Z.
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
/// Largest Duration magnitude the JSON mapping allows (10,000 years).
const MAX_DURATION_SECONDS: u64 = 315_576_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Integers

/// Parses a decimal `i32` (optional leading `-`; no `+`, spaces or other bases), for path and
/// query values.
pub fn parse_i32(s: &str) -> Result<i32, ScalarError> {
    let v = parse_decimal(s, true).map_err(|d| ScalarError::new(EXPECT_I32, d))?;
    i32::try_from(v).map_err(|_| ScalarError::new(EXPECT_I32, OUT_OF_RANGE))
}

/// Parses a decimal `i64`; same rules as [`parse_i32`].
pub fn parse_i64(s: &str) -> Result<i64, ScalarError> {
    let v = parse_decimal(s, true).map_err(|d| ScalarError::new(EXPECT_I64, d))?;
    i64::try_from(v).map_err(|_| ScalarError::new(EXPECT_I64, OUT_OF_RANGE))
}

/// Parses a decimal `u32` (digits only), for path and query values.
pub fn parse_u32(s: &str) -> Result<u32, ScalarError> {
    let v = parse_decimal(s, false).map_err(|d| ScalarError::new(EXPECT_U32, d))?;
    u32::try_from(v).map_err(|_| ScalarError::new(EXPECT_U32, OUT_OF_RANGE))
}

/// Parses a decimal `u64` (digits only), for path and query values.
pub fn parse_u64(s: &str) -> Result<u64, ScalarError> {
    let v = parse_decimal(s, false).map_err(|d| ScalarError::new(EXPECT_U64, d))?;
    u64::try_from(v).map_err(|_| ScalarError::new(EXPECT_U64, OUT_OF_RANGE))
}

/// `-?[0-9]+` as an i128 (wide enough for every protobuf integer); `Err` holds the detail.
fn parse_decimal(s: &str, signed: bool) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) if signed => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        return Err("");
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err("");
        }
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
    }
    if overflow {
        return Err(OUT_OF_RANGE);
    }
    Ok(if neg { -i128::from(v) } else { i128::from(v) })
}

/// Length of the JSON number (RFC 8259 grammar) at the start of `b`, or `None` when `b` does
/// not start with one. A leading zero followed by a digit is refused rather than split.
pub(super) fn number_len(b: &[u8]) -> Option<usize> {
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => {
            i += 1;
            if b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        Some(c) if c.is_ascii_digit() => i = digits_from(i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = digits_from(start);
        if i == start {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        i = digits_from(start);
        if i == start {
            return None;
        }
    }
    Some(i)
}

fn is_json_number(s: &str) -> bool {
    number_len(s.as_bytes()) == Some(s.len())
}

/// Reads a JSON number (also the content of a quoted one) as an exact integer: `1e2` and
/// `100.0` are 100, `1.5` is refused as not an integer. The result spans at least the range
/// of i64 and u64; callers narrow it. `Err` holds the detail.
pub(super) fn json_number_to_int(s: &str) -> Result<i128, &'static str> {
    if !is_json_number(s) {
        return Err("");
    }
    valid_number_to_int(s)
}

/// [`json_number_to_int`] for text already known to be a JSON number (the reader's tokens).
pub(super) fn valid_number_to_int(s: &str) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    let (neg, body) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let int_end = body
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (int, rest) = body.split_at(int_end);
    if rest.is_empty() {
        // The common case: plain digits.
        let v = parse_decimal_digits(int)?;
        return Ok(if neg { -v } else { v });
    }
    let (frac, rest) = match rest.split_first() {
        Some((b'.', r)) => {
            let end = r
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(r.len());
            r.split_at(end)
        }
        _ => (&[][..], rest),
    };
    let mut exp: i64 = 0;
    if let Some((_, e)) = rest.split_first() {
        let (eneg, edigits) = match e.split_first() {
            Some((b'-', d)) => (true, d),
            Some((b'+', d)) => (false, d),
            _ => (false, e),
        };
        for &c in edigits {
            // Saturate: anything this large is out of range (or zero) anyway.
            exp = (exp * 10 + i64::from(c - b'0')).min(1_000_000_000);
        }
        if eneg {
            exp = -exp;
        }
    }
    // value = digits(int ++ frac) × 10^(exp - frac.len()), without building the digit string.
    let digit_at = |k: usize| -> u8 {
        match int.get(k) {
            Some(&c) => c,
            None => frac.get(k - int.len()).copied().unwrap_or(b'0'),
        }
    };
    let total = int.len() + frac.len();
    let Some(first) = (0..total).find(|&k| digit_at(k) != b'0') else {
        return Ok(0);
    };
    let last = (0..total)
        .rev()
        .find(|&k| digit_at(k) != b'0')
        .unwrap_or(first);
    let len = i64::try_from(last - first + 1).unwrap_or(i64::MAX);
    let trailing = i64::try_from(total - 1 - last).unwrap_or(i64::MAX);
    let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
    let e = exp.saturating_sub(frac_len).saturating_add(trailing);
    if e < 0 {
        return Err(NOT_AN_INTEGER);
    }
    if len.saturating_add(e) > 20 {
        return Err(OUT_OF_RANGE);
    }
    let mut v: i128 = 0;
    for k in first..=last {
        v = v * 10 + i128::from(digit_at(k) - b'0');
    }
    for _ in 0..e {
        v *= 10;
    }
    Ok(if neg { -v } else { v })
}

fn parse_decimal_digits(digits: &[u8]) -> Result<i128, &'static str> {
    if digits.len() > 20 {
        return Err(OUT_OF_RANGE);
    }
    let mut v: i128 = 0;
    for &c in digits {
        v = v * 10 + i128::from(c - b'0');
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Floats, bools, strings, bytes, enums

/// Parses a `f64`: a decimal number with optional fraction and exponent, or `NaN`,
/// `Infinity`, `-Infinity` (the proto3 JSON spellings). Values beyond the f64 range are refused.
pub fn parse_f64(s: &str) -> Result<f64, ScalarError> {
    match s {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ if is_json_number(s) => finite_f64(s).map_err(|d| ScalarError::new(EXPECT_F64, d)),
        _ => Err(ScalarError::new(EXPECT_F64, "")),
    }
}

/// Parses a `f32` like [`parse_f64`]; values beyond the f32 range are refused instead of
/// becoming infinite.
pub fn parse_f32(s: &str) -> Result<f32, ScalarError> {
    match s {
        "NaN" => Ok(f32::NAN),
        "Infinity" => Ok(f32::INFINITY),
        "-Infinity" => Ok(f32::NEG_INFINITY),
        _ if is_json_number(s) => finite_f32(s).map_err(|d| ScalarError::new(EXPECT_F32, d)),
        _ => Err(ScalarError::new(EXPECT_F32, "")),
    }
}

/// A syntactically valid JSON number as f64; overflow to infinity is an error.
pub(super) fn finite_f64(s: &str) -> Result<f64, &'static str> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(OUT_OF_RANGE),
        Err(_) => Err(""),
    }
}

/// A syntactically valid JSON number as f32 (rounded once, from the text); overflow is an error.
pub(super) fn finite_f32(s: &str) -> Result<f32, &'static str> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(OUT_OF_RANGE),
        Err(_) => Err(""),
    }
}

/// Parses `true` or `false` (nothing else: no `1`, no `TRUE`).
pub fn parse_bool(s: &str) -> Result<bool, ScalarError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ScalarError::new(EXPECT_BOOL, "")),
    }
}

/// A string parameter is taken as it is; this exists so generated code treats every scalar
/// kind the same way.
pub fn parse_string(s: &str) -> Result<String, ScalarError> {
    Ok(s.to_owned())
}

const BASE64_CONFIG: base64::engine::GeneralPurposeConfig =
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
const BASE64_STANDARD: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, BASE64_CONFIG);

/// Parses base64 in the standard or the URL-safe alphabet, padded or not (protojson accepts
/// all four, and clients send all four).
pub fn parse_bytes(s: &str) -> Result<Vec<u8>, ScalarError> {
    let engine = if s.bytes().any(|c| c == b'-' || c == b'_') {
        &BASE64_URL_SAFE
    } else {
        &BASE64_STANDARD
    };
    engine
        .decode(s)
        .map_err(|_| ScalarError::new(EXPECT_BYTES, ""))
}

/// Parses an enum value given by its proto name or as a decimal number (unknown numbers are
/// kept: proto3 enums are open).
pub fn parse_enum<E: ProtoEnum>(s: &str) -> Result<i32, ScalarError> {
    if let Some(v) = E::from_name(s) {
        return Ok(v);
    }
    match parse_decimal(s, true) {
        Ok(v) => i32::try_from(v).map_err(|_| ScalarError::new(EXPECT_ENUM, OUT_OF_RANGE)),
        Err(OUT_OF_RANGE) => Err(ScalarError::new(EXPECT_ENUM, OUT_OF_RANGE)),
        Err(_) => Err(ScalarError::new(EXPECT_ENUM, UNKNOWN_NAME)),
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamp

/// Parses an RFC 3339 timestamp as protojson does: `1972-01-01T10:00:20.021Z`, uppercase `T`
/// and `Z`, 0 to 9 fractional digits, `Z` or a `±hh:mm` offset, and an instant between
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z.
pub fn parse_timestamp(s: &str) -> Result<prost_types::Timestamp, ScalarError> {
    let bad = ScalarError::new(EXPECT_TIMESTAMP, "");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, ScalarError> {
        let digits = b.get(from..from + len).ok_or(bad)?;
        let mut v = 0i64;
        for &c in digits {
            if !c.is_ascii_digit() {
                return Err(bad);
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Ok(v)
    };
    let sep = |at: usize, c: u8| -> Result<(), ScalarError> {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err(bad)
        }
    };
    let year = num(0, 4)?;
    sep(4, b'-')?;
    let month = num(5, 2)?;
    sep(7, b'-')?;
    let day = num(8, 2)?;
    sep(10, b'T')?;
    let hour = num(11, 2)?;
    sep(13, b':')?;
    let minute = num(14, 2)?;
    sep(16, b':')?;
    let second = num(17, 2)?;
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err(bad);
        }
        nanos = num(start, n)?;
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&c @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            sep(i + 3, b':')?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(bad);
            }
            i += 6;
            let o = oh * 3600 + om * 60;
            if c == b'-' { -o } else { o }
        }
        _ => return Err(bad),
    };
    if i != b.len() {
        return Err(bad);
    }
    if year < 1
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad);
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(ScalarError::new(EXPECT_TIMESTAMP, OUT_OF_RANGE));
    }
    Ok(prost_types::Timestamp {
        seconds,
        nanos: i32::try_from(nanos).map_err(|_| bad)?,
    })
}

/// Writes a Timestamp in the protojson form (UTC, `Z`, 0/3/6/9 fractional digits), without
/// the quotes.
///
/// # Errors
/// The instant is outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999999Z or `nanos` is
/// outside `0..=999_999_999`: the JSON form cannot spell it (protojson refuses it too). Nothing
/// is appended then.
pub fn format_timestamp(ts: &prost_types::Timestamp, out: &mut Vec<u8>) -> Result<(), WriteError> {
    let seconds = ts.seconds;
    let nanos = i64::from(ts.nanos);
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(WriteError::new(
            "a google.protobuf.Timestamp before 0001-01-01T00:00:00Z or after 9999-12-31T23:59:59.999999999Z",
        ));
    }
    if !(0..NANOS_PER_SECOND).contains(&nanos) {
        return Err(WriteError::new(
            "a google.protobuf.Timestamp with nanos outside 0 to 999999999",
        ));
    }
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    push_padded(out, year, 4);
    out.push(b'-');
    push_padded(out, month, 2);
    out.push(b'-');
    push_padded(out, day, 2);
    out.push(b'T');
    push_padded(out, secs_of_day / 3600, 2);
    out.push(b':');
    push_padded(out, secs_of_day / 60 % 60, 2);
    out.push(b':');
    push_padded(out, secs_of_day % 60, 2);
    push_nanos(out, nanos);
    out.push(b'Z');
    Ok(())
}

/// Appends `.nnn`, `.nnnnnn` or `.nnnnnnnnn` (the shortest of the three that is exact), or
/// nothing for zero, for `0 <= nanos < 1e9`.
fn push_nanos(out: &mut Vec<u8>, nanos: i64) {
    if nanos == 0 {
        return;
    }
    out.push(b'.');
    if nanos % 1_000_000 == 0 {
        push_padded(out, nanos / 1_000_000, 3);
    } else if nanos % 1000 == 0 {
        push_padded(out, nanos / 1000, 6);
    } else {
        push_padded(out, nanos, 9);
    }
}

/// Appends a non-negative number zero-padded to `width` digits.
fn push_padded(out: &mut Vec<u8>, v: i64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v);
    for _ in s.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(s.as_bytes());
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

// ---------------------------------------------------------------------------------------------
// Duration

/// Parses a protojson Duration: seconds with up to 9 fractional digits and an `s` suffix
/// (`3s`, `-1.5s`, `0.000000001s`), within ±315,576,000,000 seconds.
pub fn parse_duration(s: &str) -> Result<prost_types::Duration, ScalarError> {
    let bad = ScalarError::new(EXPECT_DURATION, "");
    let b = s.as_bytes();
    let (neg, rest) = match b.split_first() {
        Some((b'-', r)) => (true, r),
        _ => (false, b),
    };
    let body = match rest.split_last() {
        Some((b's', body)) => body,
        _ => return Err(bad),
    };
    let (int, frac) = match body.iter().position(|&c| c == b'.') {
        Some(p) => {
            let (int, frac) = body.split_at(p);
            let frac = frac.get(1..).unwrap_or_default();
            if frac.is_empty() || frac.len() > 9 {
                return Err(bad);
            }
            (int, frac)
        }
        None => (body, &[][..]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad);
    }
    let mut seconds: u64 = 0;
    for &c in int {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        seconds = seconds
            .saturating_mul(10)
            .saturating_add(u64::from(c - b'0'));
    }
    let mut nanos: i64 = 0;
    for &c in frac {
        if !c.is_ascii_digit() {
            return Err(bad);
        }
        nanos = nanos * 10 + i64::from(c - b'0');
    }
    for _ in frac.len()..9 {
        nanos *= 10;
    }
    if seconds > MAX_DURATION_SECONDS {
        return Err(ScalarError::new(EXPECT_DURATION, OUT_OF_RANGE));
    }
    let seconds = i64::try_from(seconds).map_err(|_| bad)?;
    let nanos = i32::try_from(nanos).map_err(|_| bad)?;
    Ok(if neg {
        prost_types::Duration {
            seconds: -seconds,
            nanos: -nanos,
        }
    } else {
        prost_types::Duration { seconds, nanos }
    })
}

/// Writes a Duration in the protojson form (`-1.500s`: 0/3/6/9 fractional digits), without
/// the quotes.
///
/// # Errors
/// The duration is beyond ±315,576,000,000 seconds, its nanos are beyond ±999,999,999, or
/// seconds and nanos have opposite signs: not a valid Duration (protojson refuses it too).
/// Nothing is appended then.
pub fn format_duration(d: &prost_types::Duration, out: &mut Vec<u8>) -> Result<(), WriteError> {
    if d.seconds.unsigned_abs() > MAX_DURATION_SECONDS {
        return Err(WriteError::new(
            "a google.protobuf.Duration beyond ±315576000000 seconds",
        ));
    }
    if i64::from(d.nanos).abs() >= NANOS_PER_SECOND {
        return Err(WriteError::new(
            "a google.protobuf.Duration with nanos beyond ±999999999",
        ));
    }
    if (d.seconds > 0 && d.nanos < 0) || (d.seconds < 0 && d.nanos > 0) {
        return Err(WriteError::new(
            "a google.protobuf.Duration whose seconds and nanos have opposite signs",
        ));
    }
    if d.seconds < 0 || d.nanos < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(d.seconds.unsigned_abs())
            .as_bytes(),
    );
    push_nanos(out, i64::from(d.nanos.unsigned_abs()));
    out.push(b's');
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FieldMask

/// Parses a FieldMask from a comma-separated list of paths (`title,author.displayName`),
/// turning lowerCamelCase into the proto snake_case; snake_case input is kept, as
/// grpc-gateway's query parameters pass it verbatim. An empty string is an empty mask. A path
/// that has no lowerCamelCase form (`foo_3_bar`) is refused: JSON could not carry it back.
pub fn parse_field_mask(s: &str) -> Result<prost_types::FieldMask, ScalarError> {
    parse_mask(s, true)
}

/// The JSON form of FieldMask: like [`parse_field_mask`] but strict as protojson is: a path
/// with `_` cannot have come from lowerCamelCase and is refused.
pub(super) fn parse_field_mask_json(s: &str) -> Result<prost_types::FieldMask, ScalarError> {
    parse_mask(s, false)
}

fn parse_mask(s: &str, allow_underscore: bool) -> Result<prost_types::FieldMask, ScalarError> {
    let bad = ScalarError::new(EXPECT_FIELD_MASK, "");
    let mut paths = Vec::new();
    if s.is_empty() {
        return Ok(prost_types::FieldMask { paths });
    }
    for p in s.split(',') {
        if !allow_underscore && p.contains('_') {
            return Err(bad);
        }
        let mut out = String::with_capacity(p.len() + 4);
        for c in p.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        if !is_field_path(&out) {
            return Err(bad);
        }
        // A path JSON cannot carry (`foo_3_bar`, `_2x`) would make a reply that echoes the mask
        // unwritable, a 500 for the client's own input: refused here as the input it is.
        if !is_json_writable(&out) {
            return Err(ScalarError::new(
                EXPECT_FIELD_MASK,
                "each path must have a lowerCamelCase form (no `_` before a digit or another `_`)",
            ));
        }
        paths.push(out);
    }
    Ok(prost_types::FieldMask { paths })
}

/// Whether [`field_mask_to_json`] can write `path`: no uppercase letter, and every `_` followed
/// by a lowercase letter.
fn is_json_writable(path: &str) -> bool {
    let mut after_underscore = false;
    for &c in path.as_bytes() {
        if c.is_ascii_uppercase() || (after_underscore && !c.is_ascii_lowercase()) {
            return false;
        }
        after_underscore = c == b'_';
    }
    !after_underscore
}

/// `ident(.ident)*` with `ident = [A-Za-z_][A-Za-z0-9_]*`.
fn is_field_path(p: &str) -> bool {
    p.split('.').all(|seg| {
        let mut bytes = seg.bytes();
        bytes
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    })
}

/// Writes a FieldMask's JSON text without the quotes: paths joined by `,`, each turned from
/// snake_case into lowerCamelCase (`_` dropped, the next letter capitalized).
///
/// # Errors
/// A path that would not read back as itself: one with an uppercase letter, or with a `_` that
/// is not followed by a lowercase letter (`foo_3_bar`, `foo__bar`, `foo_`). protojson refuses
/// these too. What was appended is then meaningless.
pub fn field_mask_to_json(
    fm: &prost_types::FieldMask,
    out: &mut Vec<u8>,
) -> Result<(), WriteError> {
    for (i, p) in fm.paths.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !is_json_writable(p) {
            return Err(unwritable_path(p));
        }
        let mut after_underscore = false;
        for &c in p.as_bytes() {
            if c == b'_' {
                after_underscore = true;
                continue;
            }
            out.push(if after_underscore {
                c.to_ascii_uppercase()
            } else {
                c
            });
            after_underscore = false;
        }
    }
    Ok(())
}

#[cold]
fn unwritable_path(path: &str) -> WriteError {
    WriteError::new(format!(
        "the google.protobuf.FieldMask path {path:?}, which has no lowerCamelCase form that reads back as it"
    ))
}
