//! Line framing: round trips, hostile bytes, the three-way check, limits.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::time::{Duration, Instant};

use proptest::prelude::*;

use commlab_core::{encode_line, Fault, LineDecoder, LineError, LineReader, MAX_LINE};

fn all_lines(decoder: &mut LineDecoder) -> Vec<Result<String, LineError>> {
    let mut out = Vec::new();
    loop {
        match decoder.next_line() {
            Ok(Some(line)) => out.push(Ok(line)),
            Ok(None) => return out,
            Err(e) => {
                let fatal = e.is_fatal();
                out.push(Err(e));
                if fatal {
                    return out;
                }
            }
        }
    }
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize], max: usize) -> Vec<Result<String, LineError>> {
    let mut decoder = LineDecoder::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        decoder.feed(&bytes[at..cut]);
        at = cut;
        out.extend(all_lines(&mut decoder));
        if out
            .last()
            .is_some_and(|r| r.as_ref().is_err_and(LineError::is_fatal))
        {
            break;
        }
    }
    out
}

#[test]
fn lf_and_crlf_end_lines() {
    let mut d = LineDecoder::default();
    d.feed(b"one\ntwo\r\nthree\r\n\n");
    let lines: Vec<_> = all_lines(&mut d).into_iter().map(Result::unwrap).collect();
    assert_eq!(lines, ["one", "two", "three", ""]);
    assert_eq!(d.pending(), 0);
    assert_eq!(d.lines(), 4);
}

#[test]
fn three_way_whole_bytewise_and_trailing() {
    let input = "olá\r\nmundo\nfim sem newline".as_bytes();
    let mut whole = LineDecoder::default();
    whole.feed(input);
    let a = all_lines(&mut whole);
    let mut bytewise = LineDecoder::default();
    let mut b = Vec::new();
    for byte in input {
        bytewise.feed(std::slice::from_ref(byte));
        b.extend(all_lines(&mut bytewise));
    }
    assert_eq!(a, b);
    assert_eq!(a, vec![Ok("olá".to_owned()), Ok("mundo".to_owned())]);
    // The trailing bytes stay pending in both, and come out as a partial line.
    assert_eq!(whole.pending(), "fim sem newline".len());
    assert_eq!(bytewise.pending(), whole.pending());
    assert_eq!(whole.take_partial(), Ok(Some("fim sem newline".to_owned())));
    assert_eq!(
        bytewise.take_partial(),
        Ok(Some("fim sem newline".to_owned()))
    );
    assert_eq!(whole.take_partial(), Ok(None));
}

#[test]
fn invalid_utf8_is_typed_and_not_fatal() {
    let mut d = LineDecoder::default();
    d.feed(b"ok\nbad \xff\xfe\nafter\n");
    let got = all_lines(&mut d);
    assert_eq!(got[0], Ok("ok".to_owned()));
    assert_eq!(
        got[1],
        Err(LineError::InvalidUtf8 {
            line: 2,
            valid_up_to: 4
        })
    );
    assert_eq!(got[2], Ok("after".to_owned()));
    assert_eq!(
        got[1].clone().unwrap_err().to_string(),
        "line 2 is not valid UTF-8 (first bad byte at offset 4)"
    );
}

#[test]
fn line_at_limit_passes_and_one_over_fails_even_unterminated() {
    let mut d = LineDecoder::new(8);
    d.feed(b"12345678\r\n123456789");
    assert_eq!(d.next_line(), Ok(Some("12345678".to_owned())));
    // 9 pending bytes is limit + 1 (room for a CR): not yet an error.
    assert_eq!(d.next_line(), Ok(None));
    d.feed(b"0");
    let err = d.next_line().unwrap_err();
    assert_eq!(err, LineError::TooLong { line: 2, limit: 8 });
    assert!(err.is_fatal());
    assert_eq!(err.fault(), Fault::Limit);
    // Fatal: stays failed, buffer freed.
    d.feed(b"more\n");
    assert_eq!(d.next_line(), Err(err));
    assert_eq!(d.pending(), 0);
}

#[test]
fn terminated_line_over_limit_fails() {
    let mut d = LineDecoder::new(4);
    d.feed(b"12345\n");
    assert_eq!(d.next_line(), Err(LineError::TooLong { line: 1, limit: 4 }));
}

#[test]
fn bytewise_feeding_is_linear() {
    // 1 MiB one byte at a time in a single line under the limit: each byte is
    // scanned once, so this finishes quickly even in debug builds.
    let mut d = LineDecoder::new(2 * 1024 * 1024);
    for _ in 0..(1024 * 1024) {
        d.feed(b"x");
        assert_eq!(d.next_line(), Ok(None));
    }
    d.feed(b"\n");
    assert_eq!(d.next_line().unwrap().map(|l| l.len()), Some(1024 * 1024));
}

#[test]
fn encode_refuses_newlines_and_long_lines() {
    let mut out = Vec::new();
    assert_eq!(
        encode_line("a\nb", 10, &mut out),
        Err(LineError::EmbeddedNewline)
    );
    assert_eq!(
        encode_line("a\rb", 10, &mut out),
        Err(LineError::EmbeddedNewline)
    );
    assert_eq!(
        encode_line("12345", 4, &mut out),
        Err(LineError::TooLongToSend { len: 5, limit: 4 })
    );
    assert!(out.is_empty());
    encode_line("ok", 4, &mut out).unwrap();
    assert_eq!(out, b"ok\n");
}

#[test]
fn reader_flushes_a_quiet_partial_line() {
    let t0 = Instant::now();
    let mut r = LineReader::new(MAX_LINE, Some(Duration::from_millis(200)));
    r.handle_input(t0, b"oi");
    assert_eq!(r.next_line(), Ok(None));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(200)));
    r.handle_timeout(t0 + Duration::from_millis(199));
    assert_eq!(r.next_line(), Ok(None));
    r.handle_timeout(t0 + Duration::from_millis(200));
    assert_eq!(r.next_line(), Ok(Some("oi".to_owned())));
    assert_eq!(r.poll_timeout(), None);
    // Without a quiet period, only newlines count.
    let mut strict = LineReader::new(MAX_LINE, None);
    strict.handle_input(t0, b"oi");
    assert_eq!(strict.poll_timeout(), None);
    strict.handle_eof();
    assert_eq!(strict.next_line(), Ok(Some("oi".to_owned())));
}

/// Short lines (searched byte by byte) and long ones (past the decoder's
/// first 32 bytes, where `memchr` takes over).
fn line_text() -> impl Strategy<Value = String> {
    prop_oneof!["[^\r\n]{0,40}", "[^\r\n]{30,300}"]
}

proptest! {
    #[test]
    fn lines_survive_encode_split_decode(
        lines in proptest::collection::vec(line_text(), 0..20),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for line in &lines {
            encode_line(line, MAX_LINE, &mut wire).unwrap();
            if crlf {
                wire.pop();
                wire.extend_from_slice(b"\r\n");
            }
        }
        let got = decode_in_pieces(&wire, &cuts, MAX_LINE);
        let want: Vec<Result<String, LineError>> = lines.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_bytes_give_lines_or_typed_errors(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        max in 1usize..64,
    ) {
        let whole = decode_in_pieces(&bytes, &[], max);
        let pieces = decode_in_pieces(&bytes, &cuts, max);
        // Splitting never changes the outcome, except that a line over the
        // limit may be caught before its newline arrives.
        let ok_prefix = |v: &[Result<String, LineError>]| {
            v.iter().take_while(|r| !r.as_ref().is_err_and(LineError::is_fatal)).cloned().collect::<Vec<_>>()
        };
        prop_assert_eq!(ok_prefix(&whole), ok_prefix(&pieces));
        for r in whole {
            match r {
                Ok(line) => prop_assert!(line.len() <= max),
                Err(LineError::TooLong { limit, .. }) => prop_assert_eq!(limit, max),
                Err(LineError::InvalidUtf8 { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }
}
