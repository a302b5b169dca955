//! The content codings themselves: gzip always, br and zstd with the `compression` feature.
//! Encoders flush on demand, so that each message of a stream can be decoded as it arrives;
//! decoders hand out their output in bounded pieces, so that a small compressed body cannot
//! make the proxy hold a large decoded one before the body limit sees it.

use std::io::{self, Write as _};

use bytes::Bytes;

/// Most decoded bytes a decoder produces before handing them on.
pub(super) const CHUNK: usize = 64 * 1024;

/// A content coding (RFC 9110 §8.4.1), as HTTP names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// `gzip` (RFC 1952), which every client has.
    Gzip,
    /// `br` (RFC 7932), with the `compression` feature.
    #[cfg(feature = "compression")]
    Br,
    /// `zstd` (RFC 8878), with the `compression` feature.
    #[cfg(feature = "compression")]
    Zstd,
}

impl Coding {
    /// The codings this build has, in the order the proxy prefers them when a client accepts
    /// several equally: zstd and br compress JSON better than gzip for less CPU.
    pub const AVAILABLE: &'static [Coding] = &[
        #[cfg(feature = "compression")]
        Coding::Zstd,
        #[cfg(feature = "compression")]
        Coding::Br,
        Coding::Gzip,
    ];

    /// Its name in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            #[cfg(feature = "compression")]
            Coding::Br => "br",
            #[cfg(feature = "compression")]
            Coding::Zstd => "zstd",
        }
    }

    /// The coding a header token names (case-insensitive; `x-gzip` is gzip, RFC 9110
    /// §8.4.1.3), if this build has it.
    pub fn of_token(token: &str) -> Option<Coding> {
        if token.eq_ignore_ascii_case("x-gzip") {
            return Some(Coding::Gzip);
        }
        Coding::AVAILABLE
            .iter()
            .copied()
            .find(|coding| token.eq_ignore_ascii_case(coding.token()))
    }
}

impl std::fmt::Display for Coding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.token())
    }
}

impl std::str::FromStr for Coding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Coding::of_token(text).ok_or_else(|| match text {
            "br" | "zstd" => format!(
                "content coding {text} needs protogate-runtime's `compression` feature; this build has gzip"
            ),
            _ => format!(
                "unknown content coding {text:?}: use {}",
                Coding::AVAILABLE
                    .iter()
                    .map(|c| c.token())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// A streaming compressor whose output so far can be made decodable at any point.
pub(super) struct Encoder(Compressor);

enum Compressor {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    #[cfg(feature = "compression")]
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    #[cfg(feature = "compression")]
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// Levels chosen for a proxy's CPU budget: near each coding's best ratio for JSON at a
    /// fraction of its slowest levels' cost (gzip 5 of 9, brotli 4 of 11, zstd 3 of 22).
    pub(super) fn new(coding: Coding) -> io::Result<Encoder> {
        Ok(Encoder(match coding {
            Coding::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(5),
            )),
            #[cfg(feature = "compression")]
            Coding::Br => Compressor::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                4,
                22,
            ))),
            #[cfg(feature = "compression")]
            Coding::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3)?),
        }))
    }

    /// Compresses `data`; with `flush`, everything written so far can be decoded from the
    /// output so far (a sync flush: one message of a stream).
    pub(super) fn write(&mut self, data: &[u8], flush: bool) -> io::Result<Bytes> {
        let out = match &mut self.0 {
            Compressor::Gzip(w) => write_to(w, data, flush)?.get_mut(),
            #[cfg(feature = "compression")]
            Compressor::Br(w) => write_to(w.as_mut(), data, flush)?.get_mut(),
            #[cfg(feature = "compression")]
            Compressor::Zstd(w) => write_to(w, data, flush)?.get_mut(),
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Compresses `data` and ends the coded stream.
    pub(super) fn finish(self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self.0 {
            Compressor::Gzip(mut w) => {
                w.write_all(data)?;
                w.finish()?
            }
            #[cfg(feature = "compression")]
            Compressor::Br(mut w) => {
                w.write_all(data)?;
                w.flush()?;
                w.into_inner()
            }
            #[cfg(feature = "compression")]
            Compressor::Zstd(mut w) => {
                w.write_all(data)?;
                w.finish()?
            }
        };
        Ok(Bytes::from(out))
    }
}

fn write_to<'w, W: io::Write>(w: &'w mut W, data: &[u8], flush: bool) -> io::Result<&'w mut W> {
    w.write_all(data)?;
    if flush {
        w.flush()?;
    }
    Ok(w)
}

/// Compresses a whole message at once (a gRPC message to the upstream).
pub(crate) fn encode_whole(coding: Coding, data: &[u8]) -> io::Result<Bytes> {
    Encoder::new(coding)?.finish(data)
}

/// Decodes a whole message of at most `max` bytes once decoded; `Ok(None)` when it is larger
/// (found as soon as it passes `max`, without decoding the rest).
pub(crate) fn decode_whole(coding: Coding, data: &[u8], max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut decoder = Decoder::new(coding)?;
    let mut decoded = Vec::new();
    let mut input = data;
    while !input.is_empty() || decoder.has_more() {
        input = &input[decoder.decode(input, &mut decoded)?..];
        if decoded.len() > max {
            return Ok(None);
        }
    }
    decoder.finish(&mut decoded)?;
    Ok((decoded.len() <= max).then_some(decoded))
}

/// A streaming decompressor that decodes at most 2 × [`CHUNK`] bytes per call.
pub(super) struct Decoder(Decompressor);

enum Decompressor {
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    #[cfg(feature = "compression")]
    Br(Box<BrotliDecoder>),
    #[cfg(feature = "compression")]
    Zstd {
        decoder: zstd::stream::raw::Decoder<'static>,
        /// Whether the last frame has ended (decoding stopped at a frame boundary).
        at_end: bool,
        /// Whether the last call filled its output: the decoder may hold more.
        full: bool,
    },
}

#[cfg(feature = "compression")]
struct BrotliDecoder {
    state: brotli::BrotliState<
        brotli::enc::StandardAlloc,
        brotli::enc::StandardAlloc,
        brotli::enc::StandardAlloc,
    >,
    result: brotli::BrotliResult,
}

fn corrupt(coding: Coding, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not valid {coding}: {detail}"),
    )
}

impl Decoder {
    pub(super) fn new(coding: Coding) -> io::Result<Decoder> {
        Ok(Decoder(match coding {
            Coding::Gzip => {
                Decompressor::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
            }
            #[cfg(feature = "compression")]
            Coding::Br => {
                let alloc = brotli::enc::StandardAlloc::default;
                Decompressor::Br(Box::new(BrotliDecoder {
                    state: brotli::BrotliState::new(alloc(), alloc(), alloc()),
                    result: brotli::BrotliResult::NeedsMoreInput,
                }))
            }
            #[cfg(feature = "compression")]
            Coding::Zstd => {
                let mut decoder = zstd::stream::raw::Decoder::new()?;
                // RFC 9659 §3: an HTTP zstd decoder needs no window above 8 MiB; a frame that
                // asks for more (up to 2 GiB) is refused rather than allocated.
                decoder.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(23))?;
                Decompressor::Zstd {
                    decoder,
                    at_end: false,
                    full: false,
                }
            }
        }))
    }

    fn coding(&self) -> Coding {
        match self.0 {
            Decompressor::Gzip(_) => Coding::Gzip,
            #[cfg(feature = "compression")]
            Decompressor::Br(_) => Coding::Br,
            #[cfg(feature = "compression")]
            Decompressor::Zstd { .. } => Coding::Zstd,
        }
    }

    /// Whether output is still held back from input already taken: call [`Decoder::decode`]
    /// again, with more input or none, before [`Decoder::finish`].
    pub(super) fn has_more(&self) -> bool {
        match &self.0 {
            Decompressor::Gzip(_) => false,
            #[cfg(feature = "compression")]
            Decompressor::Br(decoder) => {
                matches!(decoder.result, brotli::BrotliResult::NeedsMoreOutput)
            }
            #[cfg(feature = "compression")]
            Decompressor::Zstd { full, .. } => *full,
        }
    }

    /// Decodes from the start of `input` into `out`, stopping once about [`CHUNK`] bytes are
    /// out; returns how much of `input` it used (all of it, or less when `out` is full).
    pub(super) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let coding = self.coding();
        let start = out.len();
        let mut used = 0;
        match &mut self.0 {
            Decompressor::Gzip(decoder) => {
                // Each `write` hands on what the last one inflated into flate2's 32 KiB buffer,
                // and the flush what is left in it: at most 32 KiB each.
                while used < input.len() && out.len() - start < CHUNK / 2 {
                    let n = decoder
                        .write(&input[used..])
                        .map_err(|e| corrupt(coding, e))?;
                    out.append(decoder.get_mut());
                    if n == 0 {
                        return Err(corrupt(coding, "bytes after the end of the stream"));
                    }
                    used += n;
                }
                decoder.flush().map_err(|e| corrupt(coding, e))?;
                out.append(decoder.get_mut());
            }
            #[cfg(feature = "compression")]
            Decompressor::Br(decoder) => {
                let mut buffer = vec![0; CHUNK];
                let (mut available_in, mut available_out, mut produced, mut total) =
                    (input.len(), CHUNK, 0, 0);
                if matches!(decoder.result, brotli::BrotliResult::ResultSuccess) {
                    if input.is_empty() {
                        return Ok(0);
                    }
                    return Err(corrupt(coding, "bytes after the end of the stream"));
                }
                decoder.result = brotli::BrotliDecompressStream(
                    &mut available_in,
                    &mut used,
                    input,
                    &mut available_out,
                    &mut produced,
                    &mut buffer,
                    &mut total,
                    &mut decoder.state,
                );
                if matches!(decoder.result, brotli::BrotliResult::ResultFailure) {
                    return Err(corrupt(coding, "the stream is malformed"));
                }
                if matches!(decoder.result, brotli::BrotliResult::ResultSuccess)
                    && used < input.len()
                {
                    return Err(corrupt(coding, "bytes after the end of the stream"));
                }
                out.extend_from_slice(&buffer[..produced]);
            }
            #[cfg(feature = "compression")]
            Decompressor::Zstd {
                decoder,
                at_end,
                full,
            } => {
                use zstd::stream::raw::Operation as _;
                let mut buffer = vec![0; CHUNK];
                let mut source = zstd::stream::raw::InBuffer::around(input);
                let mut sink = zstd::stream::raw::OutBuffer::around(buffer.as_mut_slice());
                // Frames may follow one another (RFC 8878 §3.1): each run goes on with the
                // next once one ends.
                loop {
                    let before = (source.pos(), sink.pos());
                    let hint = decoder
                        .run(&mut source, &mut sink)
                        .map_err(|e| corrupt(coding, e))?;
                    *at_end = hint == 0;
                    let stuck = (source.pos(), sink.pos()) == before;
                    if stuck || source.pos() == input.len() || sink.pos() == CHUNK {
                        break;
                    }
                }
                used = source.pos();
                let produced = sink.pos();
                *full = produced == CHUNK;
                out.extend_from_slice(&buffer[..produced]);
            }
        }
        Ok(used)
    }

    /// At the end of the coded input: the rest of the output, or an error when the input ended
    /// inside the coded stream.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let coding = self.coding();
        match &mut self.0 {
            Decompressor::Gzip(decoder) => {
                decoder
                    .try_finish()
                    .map_err(|_| corrupt(coding, "the stream ends early"))?;
                out.append(decoder.get_mut());
            }
            #[cfg(feature = "compression")]
            Decompressor::Br(decoder) => {
                if !matches!(decoder.result, brotli::BrotliResult::ResultSuccess) {
                    return Err(corrupt(coding, "the stream ends early"));
                }
            }
            #[cfg(feature = "compression")]
            Decompressor::Zstd { at_end, full, .. } => {
                if !*at_end || *full {
                    return Err(corrupt(coding, "the stream ends early"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// JSON much like a list reply, large enough to span several decoder chunks.
    fn sample() -> Vec<u8> {
        let mut json = b"[".to_vec();
        for i in 0..20_000 {
            json.extend_from_slice(
                format!("{{\"name\":\"shelves/{i}\",\"theme\":\"t{}\"}},", i % 7).as_bytes(),
            );
        }
        json.push(b']');
        json
    }

    fn decode_all(coding: Coding, data: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::new(coding)?;
        let mut out = Vec::new();
        for mut input in data.chunks(piece) {
            while !input.is_empty() || decoder.has_more() {
                let before = out.len();
                input = &input[decoder.decode(input, &mut out)?..];
                assert!(
                    out.len() - before <= 2 * CHUNK,
                    "{coding}: a piece of {}",
                    out.len() - before
                );
            }
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_coding_round_trips_whole_and_in_pieces() {
        let json = sample();
        for &coding in Coding::AVAILABLE {
            let coded = encode_whole(coding, &json).unwrap();
            assert!(coded.len() * 5 < json.len(), "{coding}: {}", coded.len());
            for piece in [1, 7, 4096, coded.len()] {
                assert_eq!(
                    decode_all(coding, &coded, piece).unwrap(),
                    json,
                    "{coding} {piece}"
                );
            }
            assert_eq!(
                decode_whole(coding, &coded, json.len()).unwrap().unwrap(),
                json
            );
            assert_eq!(decode_whole(coding, &coded, json.len() - 1).unwrap(), None);
        }
    }

    #[test]
    fn each_flushed_message_decodes_before_the_stream_ends() {
        for &coding in Coding::AVAILABLE {
            let mut encoder = Encoder::new(coding).unwrap();
            let mut decoder = Decoder::new(coding).unwrap();
            let mut seen = Vec::new();
            for line in ["{\"result\":{\"id\":1}}\n", "{\"result\":{\"id\":2}}\n"] {
                let coded = encoder.write(line.as_bytes(), true).unwrap();
                let mut input = &coded[..];
                while !input.is_empty() || decoder.has_more() {
                    input = &input[decoder.decode(input, &mut seen).unwrap()..];
                }
                assert!(
                    seen.ends_with(line.as_bytes()),
                    "{coding}: {:?}",
                    String::from_utf8_lossy(&seen)
                );
            }
            let end = encoder.finish(b"").unwrap();
            let mut input = &end[..];
            while !input.is_empty() || decoder.has_more() {
                input = &input[decoder.decode(input, &mut seen).unwrap()..];
            }
            decoder.finish(&mut seen).unwrap();
        }
    }

    #[test]
    fn truncated_corrupt_and_trailing_input_is_refused() {
        let json = sample();
        for &coding in Coding::AVAILABLE {
            let coded = encode_whole(coding, &json).unwrap();
            let cut = decode_all(coding, &coded[..coded.len() / 2], 1000).unwrap_err();
            assert!(
                cut.to_string().contains(&format!("not valid {coding}")),
                "{cut}"
            );
            let garbage = decode_all(coding, b"{\"plain\":\"json\"}", 1000).unwrap_err();
            assert_eq!(
                garbage.kind(),
                io::ErrorKind::InvalidData,
                "{coding}: {garbage}"
            );
            let mut trailing = coded.to_vec();
            trailing.extend_from_slice(b"junk after the end");
            assert!(decode_all(coding, &trailing, 1000).is_err(), "{coding}");
        }
    }

    /// A few KiB that decode to gigabytes are handed out a chunk at a time: the caller's limit
    /// stops them long before the memory is spent.
    #[test]
    fn a_bomb_is_decoded_a_bounded_chunk_at_a_time() {
        let zeros = vec![0u8; 64 << 20];
        for &coding in Coding::AVAILABLE {
            let coded = encode_whole(coding, &zeros).unwrap();
            assert!(coded.len() < 256 << 10, "{coding}: {}", coded.len());
            assert_eq!(
                decode_whole(coding, &coded, 1 << 20).unwrap(),
                None,
                "{coding}"
            );
            let mut decoder = Decoder::new(coding).unwrap();
            let mut out = Vec::new();
            let used = decoder.decode(&coded, &mut out).unwrap();
            assert!(
                out.len() <= 2 * CHUNK,
                "{coding}: {} bytes from {used}",
                out.len()
            );
        }
    }

    /// Hostile bodies: valid streams with bytes flipped, cut or spliced, and noise, fed in
    /// pieces of every size. Each ends, in an error or in output, without a panic, a loop that
    /// makes no progress, or a piece beyond the bound.
    #[test]
    fn mangled_streams_end_in_an_error_or_output_never_a_hang() {
        let json = sample();
        // xorshift: the same inputs on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for &coding in Coding::AVAILABLE {
            let coded = encode_whole(coding, &json[..4096]).unwrap();
            for round in 0..300 {
                let mut input = coded.to_vec();
                match round % 3 {
                    0 => {
                        for _ in 0..=(next() % 4) {
                            let at = (next() as usize) % input.len();
                            input[at] ^= 1 << (next() % 8);
                        }
                    }
                    1 => {
                        let at = (next() as usize) % input.len();
                        let other = (next() as usize) % input.len();
                        let spliced = [&input[..at], &input[other..]].concat();
                        input = spliced;
                    }
                    _ => input = (0..(next() % 512)).map(|_| next() as u8).collect(),
                }
                let piece = 1 + (next() as usize) % 700;
                let mut decoder = Decoder::new(coding).unwrap();
                let mut out = Vec::new();
                let mut steps = 0;
                let ended = 'feed: {
                    for mut chunk in input.chunks(piece) {
                        while !chunk.is_empty() || decoder.has_more() {
                            steps += 1;
                            assert!(steps < 100_000, "{coding}: no progress on round {round}");
                            let before = out.len();
                            match decoder.decode(chunk, &mut out) {
                                Ok(used) => chunk = &chunk[used..],
                                Err(_) => break 'feed false,
                            }
                            assert!(out.len() - before <= 2 * CHUNK, "{coding}: a bounded piece");
                        }
                    }
                    decoder.finish(&mut out).is_ok()
                };
                if ended {
                    assert!(out.len() <= 64 << 20, "{coding}: {} bytes", out.len());
                }
            }
        }
    }

    #[test]
    fn tokens_are_read_as_http_spells_them() {
        assert_eq!(Coding::of_token("GZip"), Some(Coding::Gzip));
        assert_eq!(Coding::of_token("x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::of_token("deflate"), None);
        assert!(
            "compress"
                .parse::<Coding>()
                .unwrap_err()
                .contains("unknown content coding")
        );
        #[cfg(feature = "compression")]
        assert_eq!("zstd".parse::<Coding>(), Ok(Coding::Zstd));
        #[cfg(not(feature = "compression"))]
        assert!(
            "br".parse::<Coding>()
                .unwrap_err()
                .contains("`compression` feature")
        );
    }
}
