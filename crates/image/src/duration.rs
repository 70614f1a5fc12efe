//! Go's duration syntax (`1h30m`, `1.5s`, `300ms`), used by healthcheck flags and filters.

/// Parse a Go duration into nanoseconds; `None` when it is not one.
pub(crate) fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let n = total.round() as i64;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("0", Some(0)),
            ("1s", Some(1_000_000_000)),
            ("1.5s", Some(1_500_000_000)),
            ("300ms", Some(300_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("-2m", Some(-120_000_000_000)),
            ("10us", Some(10_000)),
            ("1µs", Some(1_000)),
            ("5ns", Some(5)),
            ("", None),
            ("5", None),
            ("s", None),
            ("1x", None),
            ("1..2s", None),
            ("1s2", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s), want, "{s:?}");
        }
    }
}
