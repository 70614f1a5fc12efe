//! Pure helpers for the protocol's headers and queries: `Content-Range` on uploads, `Range` on
//! blob GETs, `Accept` negotiation, and `n`/`last` pagination with its `Link` header.

/// Parse an upload's `Content-Range`: `<start>-<end>` (inclusive), tolerating a `bytes ` or
/// `bytes=` prefix and a `/<total>` suffix. `None` when malformed or `end < start`.
pub fn parse_content_range(s: &str) -> Option<(u64, u64)> {
    let s = s.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s)
        .trim();
    let s = s.split_once('/').map_or(s, |(r, _)| r);
    let (a, b) = s.split_once('-')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (start, end) = (a.parse().ok()?, b.parse().ok()?);
    (end >= start).then_some((start, end))
}

/// The answer to a `Range` request header on a blob of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Serve the whole blob (no header, an unsupported unit, several ranges, or garbage).
    Full,
    /// Serve bytes `start..=end` with 206.
    Partial(u64, u64),
    /// 416: the range lies outside the blob.
    Unsatisfiable,
}

/// Interpret a `Range` header (RFC 9110 §14.2) for a blob of `size` bytes. Only a single
/// `bytes=` range is honoured; anything else is answered with the full blob, as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(h) = header else { return RangeAnswer::Full };
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return RangeAnswer::Full };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAnswer::Full };
    let num = |x: &str| -> Option<u64> {
        (!x.is_empty() && x.bytes().all(|c| c.is_ascii_digit())).then(|| x.parse().ok()).flatten()
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Partial(size.saturating_sub(n), size - 1),
            None => RangeAnswer::Full,
        },
        // bytes=S-: from S to the end.
        (false, true) => match num(a) {
            Some(s) if s < size => RangeAnswer::Partial(s, size - 1),
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Full,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s > e => RangeAnswer::Full,
            (Some(s), Some(_)) if s >= size => RangeAnswer::Unsatisfiable,
            (Some(s), Some(e)) => RangeAnswer::Partial(s, e.min(size - 1)),
            _ => RangeAnswer::Full,
        },
        (true, true) => RangeAnswer::Full,
    }
}

/// Whether the `Accept` header values admit `media_type`. No header (or an empty one) admits
/// everything, as do `*/*` and `type/*`.
pub fn accepts<'a>(accept: impl IntoIterator<Item = &'a str>, media_type: &str) -> bool {
    let mut any = false;
    for value in accept {
        for item in value.split(',') {
            let mt = item.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if mt.is_empty() {
                continue;
            }
            any = true;
            if mt == "*/*" || mt == media_type {
                return true;
            }
            if let (Some(prefix), Some((ty, _))) = (mt.strip_suffix("/*"), media_type.split_once('/')) {
                if prefix == ty {
                    return true;
                }
            }
        }
    }
    !any
}

/// A page of a sorted list: the items after `last` (exclusive), at most `n` of them, and
/// whether more follow (then a `Link` header names the next page).
pub fn paginate(sorted: &[String], n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let start = match last {
        Some(l) => sorted.partition_point(|x| x.as_str() <= l),
        None => 0,
    };
    let rest = &sorted[start..];
    match n {
        Some(n) if n < rest.len() => (rest[..n].to_vec(), n > 0),
        _ => (rest.to_vec(), false),
    }
}

/// The `Link` header for the page after `last`: `<path?n=N&last=LAST>; rel="next"`.
pub fn next_link(path: &str, n: usize, last: &str) -> String {
    format!("<{path}?n={n}&last={}>; rel=\"next\"", query_escape(last))
}

/// Percent-encode a query value (names and tags only hold `[a-zA-Z0-9._/-]`, but be safe).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parse a query string into pairs, decoding `%XX` and `+`. Repeated keys are kept in order.
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let cases = [
            ("0-99", Some((0, 99))),
            ("bytes 100-199/1000", Some((100, 199))),
            ("bytes=5-5", Some((5, 5))),
            (" 7-9 ", Some((7, 9))),
            ("9-7", None),
            ("a-b", None),
            ("-5", None),
            ("5-", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_content_range(s), want, "{s:?}");
        }
    }

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        let cases = [
            (None, 10, Full),
            (Some("bytes=0-4"), 10, Partial(0, 4)),
            (Some("bytes=5-"), 10, Partial(5, 9)),
            (Some("bytes=-3"), 10, Partial(7, 9)),
            (Some("bytes=-30"), 10, Partial(0, 9)),
            (Some("bytes=8-100"), 10, Partial(8, 9)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-12"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=-1"), 0, Unsatisfiable),
            (Some("bytes=0-1,3-4"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes=4-2"), 10, Full),
            (Some("bytes=x-2"), 10, Full),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse_range(h, size), want, "{h:?} of {size}");
        }
    }

    #[test]
    fn accept() {
        let oci = "application/vnd.oci.image.manifest.v1+json";
        let cases: [(&[&str], bool); 7] = [
            (&[], true),
            (&[""], true),
            (&["application/vnd.oci.image.manifest.v1+json"], true),
            (&["application/json, application/vnd.oci.image.manifest.v1+json;q=0.5"], true),
            (&["application/vnd.docker.distribution.manifest.v2+json"], false),
            (&["*/*"], true),
            (&["application/*"], true),
        ];
        for (hs, want) in cases {
            assert_eq!(accepts(hs.iter().copied(), oci), want, "{hs:?}");
        }
    }

    #[test]
    fn pages() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        type Case<'a> = (Option<usize>, Option<&'a str>, &'a [&'a str], bool);
        let cases: [Case; 8] = [
            (None, None, &["a", "b", "c", "d"], false),
            (Some(2), None, &["a", "b"], true),
            (Some(2), Some("b"), &["c", "d"], false),
            (Some(4), None, &["a", "b", "c", "d"], false),
            (Some(0), None, &[], false),
            (None, Some("b"), &["c", "d"], false),
            (Some(1), Some("bb"), &["c"], true),
            (Some(3), Some("z"), &[], false),
        ];
        for (n, last, want, more) in cases {
            let (page, m) = paginate(&all, n, last);
            assert_eq!((page.iter().map(String::as_str).collect::<Vec<_>>(), m), (want.to_vec(), more), "{n:?} {last:?}");
        }
        assert_eq!(next_link("/v2/_catalog", 2, "a/b"), "</v2/_catalog?n=2&last=a/b>; rel=\"next\"");
    }

    #[test]
    fn queries() {
        let q = parse_query(Some("digest=sha256%3Aab&tag=a&tag=b&x&artifactType=application%2Fvnd+x"));
        let want: Vec<(String, String)> = [
            ("digest", "sha256:ab"),
            ("tag", "a"),
            ("tag", "b"),
            ("x", ""),
            ("artifactType", "application/vnd x"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(q, want);
        assert_eq!(parse_query(Some("a=%zz&b=%4")), vec![("a".into(), "%zz".into()), ("b".into(), "%4".into())]);
    }
}
