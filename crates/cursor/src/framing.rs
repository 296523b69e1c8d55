//! Connect streaming frames: `[flags: u8][length: u32 big-endian][payload]`.
//!
//! Flag 0x01 marks a compressed payload, flag 0x02 the end-of-stream message (JSON: an
//! `error` and/or `metadata`). Frames are cut out of a byte stream as it arrives, from any
//! chunk boundaries, and never panic on any input: a length over the cap is refused as soon
//! as the header arrives, not after 4 GiB were buffered.

use std::io::Read;

use bytes::{Buf, BytesMut};

pub const FLAG_COMPRESSED: u8 = 0x01;
pub const FLAG_END_STREAM: u8 = 0x02;
const KNOWN_FLAGS: u8 = FLAG_COMPRESSED | FLAG_END_STREAM;

/// Largest frame payload accepted off the wire.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest payload once decompressed (a small gzip can expand enormously).
pub const MAX_DECOMPRESSED: usize = 32 * 1024 * 1024;

const HEADER: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("Connect frame declares {0} bytes, more than the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("Connect frame has unknown flags {0:#04x}")]
    UnknownFlags(u8),
    #[error("compressed Connect frame is not gzip, zlib or deflate data")]
    BadCompression,
    #[error("Connect frame decompresses to more than {MAX_DECOMPRESSED} bytes")]
    DecompressedTooLarge,
    #[error("the stream ended inside a Connect frame ({0} bytes left over)")]
    Truncated(usize),
}

/// One frame, its payload decompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub end_stream: bool,
    pub payload: Vec<u8>,
}

/// Writes one uncompressed frame.
pub fn encode(flags: u8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or(FrameError::TooLarge(payload.len()))?;
    out.push(flags);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Cuts frames out of a byte stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole frame, `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let header = self.buf.get(..HEADER)?;
        let flags = header.first().copied().unwrap_or_default();
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(header.get(1..HEADER).unwrap_or(&[0; 4]));
        let len = u32::from_be_bytes(len_bytes) as usize;
        if flags & !KNOWN_FLAGS != 0 {
            return Some(Err(FrameError::UnknownFlags(flags)));
        }
        if len > MAX_FRAME {
            return Some(Err(FrameError::TooLarge(len)));
        }
        if self.buf.len() < HEADER + len {
            return None;
        }
        self.buf.advance(HEADER);
        let raw = self.buf.split_to(len);
        let payload = if flags & FLAG_COMPRESSED != 0 {
            match decompress(&raw) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            }
        } else {
            raw.to_vec()
        };
        Some(Ok(Frame {
            end_stream: flags & FLAG_END_STREAM != 0,
            payload,
        }))
    }

    /// The stream ended: anything still buffered is a cut-off frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated(self.buf.len()))
        }
    }
}

/// Gzip, zlib or raw deflate: servers label all three "compressed", so the data decides.
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, FrameError> {
    use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
    match data {
        [0x1f, 0x8b, ..] => inflate(GzDecoder::new(data)),
        // A zlib header: deflate method, and the two bytes a multiple of 31.
        [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 => {
            inflate(ZlibDecoder::new(data)).or_else(|_| inflate(DeflateDecoder::new(data)))
        }
        _ => inflate(DeflateDecoder::new(data)),
    }
}

fn inflate(reader: impl Read) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| FrameError::BadCompression)?;
    if out.len() > MAX_DECOMPRESSED {
        return Err(FrameError::DecompressedTooLarge);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use proptest::prelude::*;
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Every frame of `bytes` fed in pieces cut at `cuts`.
    fn read_all(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Frame>, FrameError> {
        let mut r = FrameReader::default();
        let mut frames = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            r.push(&bytes[start..cut]);
            start = cut;
            while let Some(f) = r.next_frame() {
                frames.push(f?);
            }
        }
        r.finish()?;
        Ok(frames)
    }

    fn sample() -> (Vec<u8>, Vec<Frame>) {
        let mut bytes = Vec::new();
        encode(0, b"plain", &mut bytes).unwrap();
        encode(FLAG_COMPRESSED, &gzip(b"gzipped payload"), &mut bytes).unwrap();
        encode(FLAG_COMPRESSED, &zlib(b"zlib payload"), &mut bytes).unwrap();
        encode(FLAG_COMPRESSED, &deflate(b"raw deflate"), &mut bytes).unwrap();
        encode(0, b"", &mut bytes).unwrap();
        encode(FLAG_END_STREAM | FLAG_COMPRESSED, &gzip(b"{}"), &mut bytes).unwrap();
        let frame = |end_stream, p: &[u8]| Frame {
            end_stream,
            payload: p.to_vec(),
        };
        let frames = vec![
            frame(false, b"plain"),
            frame(false, b"gzipped payload"),
            frame(false, b"zlib payload"),
            frame(false, b"raw deflate"),
            frame(false, b""),
            frame(true, b"{}"),
        ];
        (bytes, frames)
    }

    #[test]
    fn round_trips_split_at_every_byte_boundary() {
        let (bytes, frames) = sample();
        assert_eq!(read_all(&bytes, &[]).unwrap(), frames);
        for cut in 0..=bytes.len() {
            assert_eq!(read_all(&bytes, &[cut]).unwrap(), frames, "cut at {cut}");
        }
        // One byte at a time.
        let every: Vec<usize> = (0..bytes.len()).collect();
        assert_eq!(read_all(&bytes, &every).unwrap(), frames);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let (bytes, _) = sample();
        for end in 1..bytes.len() {
            let r = read_all(&bytes[..end], &[]);
            // Cut on a frame boundary the frames so far are whole; anywhere else it is an error.
            if let Err(e) = r {
                assert!(matches!(e, FrameError::Truncated(_)), "{end}: {e}");
            }
        }
        assert_eq!(read_all(&bytes[..3], &[]), Err(FrameError::Truncated(3)));
    }

    #[test]
    fn oversized_lengths_fail_on_the_header() {
        let mut r = FrameReader::default();
        r.push(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.next_frame(), Some(Err(FrameError::TooLarge(0xffff_ffff))));
        let mut out = Vec::new();
        assert!(encode(0, &vec![0; MAX_FRAME + 1], &mut out).is_err());
    }

    #[test]
    fn unknown_flags_and_bad_compression_are_errors() {
        let mut r = FrameReader::default();
        r.push(&[0x80, 0, 0, 0, 0]);
        assert_eq!(r.next_frame(), Some(Err(FrameError::UnknownFlags(0x80))));
        let mut r = FrameReader::default();
        let mut bytes = Vec::new();
        encode(FLAG_COMPRESSED, &[0x1f, 0x8b, 1, 2, 3], &mut bytes).unwrap();
        r.push(&bytes);
        assert_eq!(r.next_frame(), Some(Err(FrameError::BadCompression)));
    }

    #[test]
    fn decompression_bombs_are_capped() {
        let bomb = gzip(&vec![0u8; MAX_DECOMPRESSED + 10]);
        assert!(bomb.len() < MAX_FRAME);
        assert_eq!(decompress(&bomb), Err(FrameError::DecompressedTooLarge));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                       cuts in proptest::collection::vec(0usize..600, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let _ = read_all(&bytes, &cuts);
        }

        #[test]
        fn arbitrary_compressed_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                                     flags in 0u8..4) {
            let mut bytes = Vec::new();
            encode(flags, &payload, &mut bytes).unwrap();
            let _ = read_all(&bytes, &[]);
        }

        #[test]
        fn frames_round_trip_at_any_split(payloads in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>()), 0..6),
                cut in 0usize..2000) {
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            for (p, compress) in &payloads {
                if *compress {
                    encode(FLAG_COMPRESSED, &gzip(p), &mut bytes).unwrap();
                } else {
                    encode(0, p, &mut bytes).unwrap();
                }
                expected.push(Frame { end_stream: false, payload: p.clone() });
            }
            prop_assert_eq!(read_all(&bytes, &[cut]).unwrap(), expected);
        }
    }
}
