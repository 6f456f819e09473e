//! Table-driven and property tests of `ChunkedDecoder`.

use super::*;
use proptest::prelude::*;

const MAX: u64 = 1024;

/// Decode in one call; Ok((data, consumed)) only if complete.
fn decode_whole(input: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
    let mut d = ChunkedDecoder::new(MAX);
    let mut out = Vec::new();
    match d.decode(input, &mut out)? {
        DecodeStatus::Complete { consumed } => Ok((out, consumed)),
        DecodeStatus::NeedMore { .. } => Err(bad("incomplete")),
    }
}

/// Decode in pieces cut at `cuts`, carrying nothing over (the decoder always
/// consumes everything until it is complete).
fn decode_split(input: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, usize), ParseError> {
    let mut d = ChunkedDecoder::new(MAX);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for end in bounds {
        if end < pos {
            continue;
        }
        match d.decode(&input[pos..end], &mut out)? {
            DecodeStatus::Complete { consumed } => return Ok((out, pos + consumed)),
            DecodeStatus::NeedMore { consumed } => {
                assert_eq!(consumed, end - pos);
                pos = end;
            }
        }
    }
    Err(bad("incomplete"))
}

fn byte_at_a_time(input: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
    let cuts: Vec<usize> = (0..input.len()).collect();
    decode_split(input, &cuts)
}

const GOOD: &[(&[u8], &[u8])] = &[
    (b"0\r\n\r\n", b""),
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"a\r\n0123456789\r\n000\r\n\r\n", b"0123456789"),
    (b"0005\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\r\n\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r\n\r"),
    // extensions
    (b"5;foo\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5;foo=bar\r\nhello\r\n0;x\r\n\r\n", b"hello"),
    (b"5 ;foo=bar\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\t; foo = bar ; baz\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5;foo=\"b a;r\\\"\"\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5;a=\"\";b=c\r\nhello\r\n0\r\n\r\n", b"hello"),
    // trailers
    (b"5\r\nhello\r\n0\r\nX-Sum: abc\r\n\r\n", b"hello"),
    (b"0\r\nA: 1\r\nB:\r\nC:\t x y \r\n\r\n", b""),
];

#[test]
fn good_bodies_whole_and_byte_at_a_time() {
    for (input, data) in GOOD {
        let name = String::from_utf8_lossy(input);
        let want = Ok((data.to_vec(), input.len()));
        assert_eq!(decode_whole(input), want, "{name:?}");
        assert_eq!(byte_at_a_time(input), want, "{name:?} byte at a time");
    }
}

#[test]
fn stops_at_the_end_of_the_body() {
    let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    assert_eq!(decode_whole(input), Ok((b"abc".to_vec(), 13)));
    let mut d = ChunkedDecoder::new(MAX);
    let mut out = Vec::new();
    assert_eq!(
        d.decode(input, &mut out),
        Ok(DecodeStatus::Complete { consumed: 13 })
    );
    assert!(d.is_complete());
    assert_eq!(d.decoded_len(), 3);
    // a finished decoder consumes nothing more
    assert_eq!(
        d.decode(b"more", &mut out),
        Ok(DecodeStatus::Complete { consumed: 0 })
    );
    d.reset();
    out.clear();
    assert_eq!(
        d.decode(b"1\r\nx", &mut out),
        Ok(DecodeStatus::NeedMore { consumed: 4 })
    );
    assert_eq!(out, b"x");
}

const BAD: &[(&[u8], u16)] = &[
    // chunk-size
    (b"-1\r\nx\r\n0\r\n\r\n", 400),
    (b"+1\r\nx\r\n0\r\n\r\n", 400),
    (b"0x1\r\nx\r\n0\r\n\r\n", 400),
    (b"g\r\nx\r\n0\r\n\r\n", 400),
    (b"1 1\r\nx\r\n0\r\n\r\n", 400),
    (b" 1\r\nx\r\n0\r\n\r\n", 400),
    (b"1 \r\nx\r\n0\r\n\r\n", 400),
    (b"\r\nx\r\n0\r\n\r\n", 400),
    (b";a\r\nx\r\n0\r\n\r\n", 400),
    (b"ffffffffffffffffff\r\n", 400),
    (b"10000000000000000\r\n", 400),
    (b"000000000000000000000000000000001\r\nx\r\n0\r\n\r\n", 400),
    (b"1\nx\r\n0\r\n\r\n", 400),
    (b"1\rx\r\n0\r\n\r\n", 400),
    (b"1\x00\r\nx\r\n0\r\n\r\n", 400),
    // extensions
    (b"1;\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a=\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a b\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a=b c\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a=\"b\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a \r\nx\r\n0\r\n\r\n", 400),
    (b"1;a=b \r\nx\r\n0\r\n\r\n", 400),
    (b"1;a=\x01\r\nx\r\n0\r\n\r\n", 400),
    (b"1;a\nx\r\n0\r\n\r\n", 400),
    // after the data
    (b"1\r\nxy\r\n0\r\n\r\n", 400),
    (b"1\r\nx\n0\r\n\r\n", 400),
    (b"1\r\nx\r0\r\n\r\n", 400),
    (b"1\r\nx0\r\n\r\n", 400),
    (b"1\r\nx\r\r\n0\r\n\r\n", 400),
    // last chunk and trailers
    (b"0\r\n\n", 400),
    (b"0\r\n\r\r", 400),
    (b"0\n\r\n", 400),
    (b"0\r\nX: y\n\r\n", 400),
    (b"0\r\nX y: z\r\n\r\n", 400),
    (b"0\r\nX : z\r\n\r\n", 400),
    (b"0\r\n: z\r\n\r\n", 400),
    (b"0\r\nX: a\x00b\r\n\r\n", 400),
    (b"0\r\nX: a\r\n b\r\n\r\n", 400),
    (b"0\r\nX: a\rb\r\n\r\n", 400),
    // too large
    (b"401\r\n", 413),
    (b"200\r\n", 0),
    (b"ffffffffffffffff\r\n", 413),
];

#[test]
fn bad_bodies() {
    // a bad-row with code 0 is a valid prefix (checked to stay NeedMore)
    for (input, code) in BAD {
        let name = String::from_utf8_lossy(input);
        let mut d = ChunkedDecoder::new(MAX);
        let mut out = Vec::new();
        let r = d.decode(input, &mut out);
        if *code == 0 {
            assert!(
                matches!(r, Ok(DecodeStatus::NeedMore { .. })),
                "{name:?}: {r:?}"
            );
            continue;
        }
        let e = r.expect_err(&name);
        assert_eq!(e.status().as_u16(), *code, "{name:?}: {e:?}");
        assert_eq!(
            byte_at_a_time(input).err(),
            Some(e),
            "{name:?} byte at a time"
        );
        // the error sticks
        assert_eq!(d.decode(b"0\r\n\r\n", &mut out), Err(e));
    }
}

#[test]
fn body_limit_counts_all_chunks() {
    let mut d = ChunkedDecoder::new(10);
    let mut out = Vec::new();
    assert!(d.decode(b"5\r\nhello\r\n5\r\nworld\r\n", &mut out).is_ok());
    assert_eq!(
        d.decode(b"1\r\n", &mut out),
        Err(ParseError::PayloadTooLarge)
    );
}

#[test]
fn bounded_extensions_and_trailers() {
    let mut input = b"1;a=".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_CHUNK_EXT_BYTES));
    let mut d = ChunkedDecoder::new(MAX);
    assert!(d.decode(&input, &mut Vec::new()).is_err());

    let mut input = b"0\r\nX: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_TRAILER_BYTES));
    let mut d = ChunkedDecoder::new(MAX);
    assert_eq!(
        d.decode(&input, &mut Vec::new()),
        Err(ParseError::HeadersTooLarge)
    );
}

/// A chunked encoding of `data` cut into chunks of the given sizes, with
/// optional extensions and trailers.
fn encode(data: &[u8], sizes: &[usize], ext: bool, trailers: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        v.extend_from_slice(format!("{n:x}").as_bytes());
        if ext {
            v.extend_from_slice(b" ; e=\"q\\\"\" ;f");
        }
        v.extend_from_slice(b"\r\n");
        v.extend_from_slice(&rest[..n]);
        v.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    v.extend_from_slice(b"0\r\n");
    if trailers {
        v.extend_from_slice(b"X-T: 1\r\nY:\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

proptest! {
    #[test]
    fn any_split_decodes_like_one_call(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..300, 1..8),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
        ext in any::<bool>(),
        trailers in any::<bool>(),
        tail in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let body = encode(&data, &sizes, ext, trailers);
        let mut input = body.clone();
        input.extend_from_slice(&tail);
        let whole = decode_whole(&input);
        prop_assert_eq!(&whole, &Ok((data.clone(), body.len())));
        prop_assert_eq!(&decode_split(&input, &cuts), &whole);
        prop_assert_eq!(&byte_at_a_time(&input), &whole);
    }

    #[test]
    fn garbage_never_panics_and_splits_agree(
        input in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'1'), Just(b'a'),
                        Just(b';'), Just(b'='), Just(b' '), Just(b':'), Just(b'"'), any::<u8>()],
            0..80),
        cuts in proptest::collection::vec(0usize..80, 0..8),
    ) {
        let whole = {
            let mut d = ChunkedDecoder::new(MAX);
            let mut out = Vec::new();
            d.decode(&input, &mut out).map(|s| (s, out))
        };
        let split = decode_split(&input, &cuts);
        match whole {
            Ok((DecodeStatus::Complete { consumed }, out)) => prop_assert_eq!(split, Ok((out, consumed))),
            Ok((DecodeStatus::NeedMore { .. }, _)) => prop_assert_eq!(split, Err(bad("incomplete"))),
            Err(e) => prop_assert_eq!(split, Err(e)),
        }
    }
}
