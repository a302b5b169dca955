//! The splitter of a request stream's JSON: finds the values of an NDJSON or concatenated-JSON
//! body as its bytes arrive, and where each starts.

use bytes::{Bytes, BytesMut};

use crate::error::Error;

/// Where a value starts in the body: byte offset, 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(super) offset: usize,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Position {
    pub(crate) const START: Position = Position {
        offset: 0,
        line: 1,
        column: 1,
    };
}

/// One complete JSON value of a request stream.
#[derive(Debug)]
pub(super) struct Value {
    pub(super) data: Bytes,
    pub(super) at: Position,
}

/// Finds the JSON values in a request stream as its bytes arrive: NDJSON, or values one after
/// another with any whitespace between (`{…}{…}`, `{…} {…}`, pretty-printed objects). It only
/// tracks strings and nesting to find where each value ends; the reader checks the rest.
#[derive(Debug)]
pub(super) struct Splitter {
    buf: BytesMut,
    /// The next byte of `buf` to scan.
    pos: usize,
    /// Where the current value starts in `buf`; `None` between values.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The current value is a number or literal: it ends before whitespace or punctuation.
    scalar: bool,
    /// Position of `buf[pos]` in the body.
    here: Position,
    /// Position of the current value's first byte.
    value_at: Position,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            buf: BytesMut::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            here: Position::START,
            value_at: Position::START,
        }
    }
}

impl Splitter {
    /// Adds bytes from the body.
    pub(super) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete value, if the bytes so far hold one. At the end of the body (`eof`),
    /// an unfinished value is returned as it is, for the reader to report what is missing. A
    /// value longer than `limit` bytes is an error (413).
    pub(super) fn next(&mut self, eof: bool, limit: usize) -> Result<Option<Value>, Error> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            let Some(start) = self.start else {
                if b.is_ascii_whitespace() {
                    self.advance(b);
                    continue;
                }
                self.start = Some(self.pos);
                self.value_at = self.here;
                match b {
                    b'{' | b'[' => self.depth = 1,
                    b'"' => self.in_string = true,
                    _ => self.scalar = true,
                }
                self.advance(b);
                continue;
            };
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        self.advance(b);
                        return Ok(Some(self.take()));
                    }
                }
            } else if self.scalar {
                if b.is_ascii_whitespace() || b"{}[]\",".contains(&b) {
                    return Ok(Some(self.take()));
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.advance(b);
                            return Ok(Some(self.take()));
                        }
                    }
                    _ => {}
                }
            }
            self.advance(b);
            if self.pos - start > limit {
                return Err(Error::payload_too_large(limit));
            }
        }
        match self.start {
            Some(_) if eof => Ok(Some(self.take())),
            Some(_) => Ok(None),
            None => {
                // Whitespace between values is dropped as soon as it is scanned.
                let _ = self.buf.split_to(self.pos);
                self.pos = 0;
                Ok(None)
            }
        }
    }

    fn advance(&mut self, b: u8) {
        self.pos += 1;
        self.here.offset += 1;
        if b == b'\n' {
            self.here.line += 1;
            self.here.column = 1;
        } else if b & 0xC0 != 0x80 {
            self.here.column += 1;
        }
    }

    /// Cuts the current value (up to `pos`) out of the buffer.
    fn take(&mut self) -> Value {
        let start = self.start.take().unwrap_or(0);
        let mut data = self.buf.split_to(self.pos);
        let data = data.split_off(start).freeze();
        self.pos = 0;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.scalar = false;
        Value {
            data,
            at: self.value_at,
        }
    }
}
