//! Just enough `multipart/form-data` to route an upload without holding it: the boundary,
//! and the parts that begin within the first bytes of the body (the small fields, `model`
//! among them, and the start of the file, whose WAV header tells the audio's length). The
//! rest of the body is passed on unread.

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        // RFC 2046: 1 to 70 characters.
        (!v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

/// One part that begins within the bytes scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Where its content starts in the scanned bytes.
    pub start: usize,
    /// Where its content ends; `None` when it goes on past them.
    pub end: Option<usize>,
}

impl Part {
    /// The part's content, as far as it was scanned.
    pub fn content<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes
            .get(self.start..self.end.unwrap_or(bytes.len()))
            .unwrap_or_default()
    }

    /// A small field's text, when it ends within the scanned bytes and is UTF-8.
    pub fn text<'a>(&self, bytes: &'a [u8]) -> Option<&'a str> {
        self.end?;
        std::str::from_utf8(self.content(bytes)).ok()
    }
}

/// The parts found in the first bytes of a body.
#[derive(Debug, Default)]
pub struct Head {
    pub parts: Vec<Part>,
    /// The closing delimiter was seen: every part is here.
    pub complete: bool,
}

impl Head {
    pub fn field(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// Reads the parts of `bytes`, the start of a body (`whole` when it is all of it). A body
/// that breaks the format where it was read is an error naming what is wrong.
pub fn scan(bytes: &[u8], boundary: &str, whole: bool) -> Result<Head, String> {
    let delimiter = [b"--", boundary.as_bytes()].concat();
    let Some(first) = find(bytes, &delimiter, 0) else {
        return Err(if whole || bytes.len() > 4096 {
            "the multipart body has no part with the boundary its content type names".into()
        } else {
            "the multipart body ended before its first part".into()
        });
    };
    let mut head = Head::default();
    let mut pos = first + delimiter.len();
    loop {
        let rest = bytes.get(pos..).unwrap_or_default();
        if rest.starts_with(b"--") {
            head.complete = true;
            return Ok(head);
        }
        if rest.len() < 2 && !whole {
            return Ok(head);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("a multipart delimiter is not followed by CRLF".into());
        }
        pos += 2;
        let Some(headers_end) = find(bytes, b"\r\n\r\n", pos) else {
            if whole {
                return Err("a multipart part's headers never end".into());
            }
            return Ok(head);
        };
        let headers = String::from_utf8_lossy(bytes.get(pos..headers_end).unwrap_or_default());
        let start = headers_end + 4;
        let mut part = part_headers(&headers, start)?;
        let close = [b"\r\n".as_slice(), &delimiter].concat();
        match find(bytes, &close, start) {
            Some(end) => {
                part.end = Some(end);
                head.parts.push(part);
                pos = end + close.len();
            }
            None if whole => return Err(format!("the part `{}` never ends", part.name)),
            None => {
                head.parts.push(part);
                return Ok(head);
            }
        }
    }
}

/// A part's `Content-Disposition` and `Content-Type`.
fn part_headers(headers: &str, start: usize) -> Result<Part, String> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if k.eq_ignore_ascii_case("content-disposition") {
            let mut params = v.split(';');
            if !params
                .next()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
            {
                return Err("a multipart part is not `form-data`".into());
            }
            for p in params {
                let Some((pk, pv)) = p.split_once('=') else {
                    continue;
                };
                let pv = pv.trim();
                let pv = pv
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(pv)
                    .to_owned();
                match pk.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(pv),
                    "filename" => filename = Some(pv),
                    _ => {}
                }
            }
        } else if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim().to_owned());
        }
    }
    let name = name.ok_or("a multipart part has no `Content-Disposition: form-data; name`")?;
    Ok(Part {
        name,
        filename,
        content_type,
        start,
        end: None,
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = haystack.get(from..)?;
    memchr::memmem::find(hay, needle).map(|i| i + from)
}

/// `bytes` with `part`'s content replaced by `value` (the model named anew for a target).
pub fn replace(bytes: &[u8], part: &Part, value: &[u8]) -> Option<Vec<u8>> {
    let end = part.end?;
    let mut out = Vec::with_capacity(bytes.len() + value.len());
    out.extend_from_slice(bytes.get(..part.start)?);
    out.extend_from_slice(value);
    out.extend_from_slice(bytes.get(end..)?);
    Some(out)
}

/// The length in seconds of the WAV audio that `bytes` begins, from its `fmt ` chunk's
/// byte rate and its `data` chunk's size; `None` when it is not a WAV header.
pub fn wav_seconds(bytes: &[u8]) -> Option<f64> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let mut pos = 12;
    let mut byte_rate = None;
    loop {
        let id = bytes.get(pos..pos + 4)?;
        let size = u32_at(pos + 4)?;
        match id {
            b"fmt " => byte_rate = u32_at(pos + 16).filter(|r| *r > 0),
            b"data" => {
                let rate = byte_rate?;
                // A header written before the length was known says 0 or all ones.
                if size == 0 || size == u32::MAX {
                    return None;
                }
                return Some(f64::from(size) / f64::from(rate));
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = pos
            .checked_add(8)?
            .checked_add(usize::try_from(size).ok()?)?
            .checked_add((size % 2) as usize)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<u8> {
        b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nalias\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFFdata\r\n--XyZ--\r\n"
            .to_vec()
    }

    #[test]
    fn boundaries_are_read_quoted_or_not() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parts_are_found_and_the_model_rewritten() {
        let b = body();
        let head = scan(&b, "XyZ", true).unwrap();
        assert!(head.complete);
        let model = head.field("model").unwrap();
        assert_eq!(model.text(&b), Some("alias"));
        let file = head.field("file").unwrap();
        assert_eq!(file.filename.as_deref(), Some("a.wav"));
        assert_eq!(file.content(&b), b"RIFFdata");
        let out = replace(&b, model, b"whisper-1").unwrap();
        let again = scan(&out, "XyZ", true).unwrap();
        assert_eq!(again.field("model").unwrap().text(&out), Some("whisper-1"));
        assert_eq!(again.field("file").unwrap().content(&out), b"RIFFdata");
    }

    #[test]
    fn a_cut_body_keeps_the_open_part_and_a_broken_one_is_refused() {
        let b = body();
        let cut = &b[..b.len() - 12];
        let head = scan(cut, "XyZ", false).unwrap();
        assert!(!head.complete);
        assert_eq!(head.field("file").unwrap().end, None);
        assert!(scan(cut, "XyZ", true).is_err());
        assert!(scan(b"no parts here", "XyZ", true).is_err());
        assert!(scan(b"--XyZ\r\nContent-Type: x\r\n\r\nv\r\n--XyZ--", "XyZ", true).is_err());
        for n in 0..b.len() {
            let _ = scan(&b[..n], "XyZ", false);
            let _ = scan(&b[..n], "XyZ", true);
        }
    }

    #[test]
    fn wav_headers_give_seconds() {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(&32_000u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&48_000u32.to_le_bytes());
        assert_eq!(wav_seconds(&wav), Some(1.5));
        assert_eq!(wav_seconds(b"ID3 not a wav"), None);
        for n in 0..wav.len() {
            assert_eq!(wav_seconds(&wav[..n]), None);
        }
    }
}
