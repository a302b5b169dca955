//! The codecs of a streaming RPC's messages: how its response messages are written
//! ([`Encoder`]) and its request messages made ([`Decoder`]), each also with its message type
//! erased ([`Encode`], [`Decode`]) so that the streaming machinery is compiled once for every
//! RPC.

use bytes::Bytes;

use crate::error::Error;
use crate::json::{self, AnyType, JsonError, JsonOptions, Reader, Writer};
use crate::upstream;

/// How a stream's response messages are written.
pub enum Encoder<M> {
    /// As ProtoJSON: `write` writes the message, or its `response_body` field.
    Json(fn(&mut Writer<'_>, &M)),
    /// A `google.api.HttpBody`: `raw` gives the content type and the bytes.
    Raw(fn(M) -> (String, Vec<u8>)),
}

impl<M> Clone for Encoder<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Encoder<M> {}

impl<M: prost::Message + Default + 'static> Encoder<M> {
    /// This encoder over encoded messages, with its message type erased.
    pub(crate) fn erase(self) -> Encode {
        match self {
            Encoder::Json(write) => Encode::Json(Box::new(move |data, w| {
                write(w, &upstream::decode::<M>(data)?);
                Ok(())
            })),
            Encoder::Raw(raw) => {
                Encode::Raw(Box::new(move |data| Ok(raw(upstream::decode(data)?))))
            }
        }
    }
}

/// How a stream's response messages are written, taking each as the upstream encoded it: the
/// [`Encoder`] of its RPC with the message type erased, so that the streaming machinery is
/// compiled once for every RPC.
pub(crate) enum Encode {
    Json(WriteJson),
    Raw(WriteRaw),
}

impl Encode {
    /// Appends one encoded message to `buf`: a raw message as it is, a JSON one as `prefix`,
    /// its JSON, `suffix`.
    pub(crate) fn append(
        &self,
        message: &[u8],
        (prefix, suffix): (&[u8], &[u8]),
        options: &JsonOptions,
        types: &[AnyType],
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match self {
            Encode::Raw(raw) => buf.extend_from_slice(&raw(message)?.1),
            Encode::Json(write) => {
                buf.reserve(prefix.len() + json::capacity_for(message.len()) + suffix.len());
                let start = buf.len();
                buf.extend_from_slice(prefix);
                let mut w = Writer::new(buf, options, types);
                let written = write(message, &mut w).and_then(|()| w.finish().map_err(Error::from));
                if let Err(e) = written {
                    // A message with no JSON form ends the stream with an error, not half a line.
                    buf.truncate(start);
                    return Err(e);
                }
                buf.extend_from_slice(suffix);
            }
        }
        Ok(())
    }
}

/// Writes one encoded message as JSON.
pub(crate) type WriteJson = Box<dyn Fn(&[u8], &mut Writer<'_>) -> Result<(), Error> + Send + Sync>;

/// One encoded `google.api.HttpBody` message: its content type and bytes.
pub(crate) type WriteRaw = Box<dyn Fn(&[u8]) -> Result<(String, Vec<u8>), Error> + Send + Sync>;

/// How a request stream's messages are made: each starts as a copy of `base` (the fields the
/// query string set) and gets one JSON value, or one chunk of the raw body, from the stream.
pub struct Decoder<M> {
    base: M,
    read: Read<M>,
    /// Merged over each message after its body: the fields the path binds, which win over the
    /// body.
    overlay: Option<M>,
}

enum Read<M> {
    Json(fn(&mut M, &mut Reader<'_>) -> Result<(), JsonError>),
    Raw(fn(&mut M, String, Bytes)),
}

impl<M: prost::Message + Clone> Decoder<M> {
    /// Each message is `base` with one JSON value read into it by `read` (the whole message, or
    /// the body field).
    pub fn json(base: M, read: fn(&mut M, &mut Reader<'_>) -> Result<(), JsonError>) -> Self {
        Decoder {
            base,
            read: Read::Json(read),
            overlay: None,
        }
    }

    /// Each message is `base` with one chunk of the body and the request's Content-Type stored
    /// by `store` (into the message, a `google.api.HttpBody`, or its HttpBody body field).
    pub fn raw(base: M, store: fn(&mut M, String, Bytes)) -> Self {
        Decoder {
            base,
            read: Read::Raw(store),
            overlay: None,
        }
    }

    /// Merges `path` (the fields the path variables set) over each message after its body is
    /// read, so that path variables win over the body.
    pub fn with_path(mut self, path: M) -> Self {
        self.overlay = Some(path);
        self
    }

    /// One message from one JSON value, or one raw chunk; whitespace alone is `base`.
    fn message(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<M, JsonError> {
        let mut message = self.base.clone();
        match self.read {
            Read::Raw(store) => store(&mut message, content_type.to_string(), data),
            Read::Json(_) if data.iter().all(u8::is_ascii_whitespace) => {}
            Read::Json(read) => {
                let mut reader = Reader::new(&data, options, types);
                read(&mut message, &mut reader)?;
                reader.finish()?;
            }
        }
        if let Some(path) = &self.overlay {
            // Re-encoding cannot fail to merge: both sides are the same valid message type.
            let _ = message.merge(path.encode_to_vec().as_slice());
        }
        Ok(message)
    }
}

/// A request stream's [`Decoder`] with its message type erased: it gives each message encoded
/// for the upstream, so that the streaming machinery is compiled once for every RPC.
pub(crate) trait Decode: Send + Sync {
    /// The message for an empty body: `base` alone.
    fn base(&self) -> Bytes;

    /// Whether the messages are raw chunks rather than JSON values.
    fn is_raw(&self) -> bool;

    /// One message from one JSON value, or one raw chunk; whitespace alone is `base`.
    fn decode(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<Bytes, JsonError>;
}

impl<M: prost::Message + Clone + Send + Sync> Decode for Decoder<M> {
    fn base(&self) -> Bytes {
        upstream::encode(&self.base)
    }

    fn is_raw(&self) -> bool {
        matches!(self.read, Read::Raw(_))
    }

    fn decode(
        &self,
        content_type: &str,
        data: Bytes,
        options: &JsonOptions,
        types: &[AnyType],
    ) -> Result<Bytes, JsonError> {
        let message = self.message(content_type, data, options, types)?;
        Ok(upstream::encode(&message))
    }
}
