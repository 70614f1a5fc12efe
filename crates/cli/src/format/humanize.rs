//! Docker's human-readable renderings: durations (`About a minute`), sizes (`4.26MB`), ids,
//! quoted and truncated commands, Go's `%g` and `time.Time.String()`.

use chrono::{DateTime, Local, TimeZone};

/// go-units `HumanDuration`: the age words docker prints before "ago" and after "Up".
pub fn human_duration(secs: f64) -> String {
    let seconds = secs as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds to the nearest hour here (half away from zero).
    let hours = (secs / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
}

/// "N ago" for a unix timestamp, relative to `now` (unix seconds).
pub fn since(ts: i64, now: i64) -> String {
    format!("{} ago", human_duration((now - ts).max(0) as f64))
}

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units `HumanSizeWithPrecision`: base-1000 units, `%.{precision}g`.
pub fn human_size_precision(size: f64, precision: usize) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < DECIMAL_UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), DECIMAL_UNITS[i])
}

/// go-units `HumanSize` (precision 4), as `system df` uses.
pub fn human_size(size: f64) -> String {
    human_size_precision(size, 4)
}

/// Go's `%.{precision}g` for finite values.
pub fn go_g(v: f64, precision: usize) -> String {
    if !v.is_finite() {
        return if v.is_nan() { "NaN".into() } else if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let p = precision.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// docker's `TruncateID`: drop an algorithm prefix, keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, r)| r).unwrap_or(id);
    id.chars().take(12).collect()
}

/// docker's `Ellipsis`: at most `max` display characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `time.Time.String()` in local time: `2006-01-02 15:04:05 -0700 MST`.
pub fn go_time_string(ts: i64) -> String {
    match Local.timestamp_opt(ts, 0).single() {
        Some(t) => format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), zone_abbrev(ts, &t)),
        None => ts.to_string(),
    }
}

/// Go's RFC3339NanoFixed layout (`2006-01-02T15:04:05.000000000Z07:00`) in local time.
pub fn rfc3339_nano_fixed(nanos: i64) -> String {
    let t = Local.timestamp_nanos(nanos);
    let off = t.offset().local_minus_utc();
    let zone = if off == 0 { "Z".to_string() } else { t.format("%:z").to_string() };
    format!("{}{}", t.format("%Y-%m-%dT%H:%M:%S%.9f"), zone)
}

/// The local zone's abbreviation (`UTC`, `CET`), falling back to the numeric offset.
fn zone_abbrev(ts: i64, t: &DateTime<Local>) -> String {
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt: libc::time_t = ts as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own; tm_zone points into static tz data.
    let ok = unsafe { !libc::localtime_r(&tt, &mut tm).is_null() };
    if ok && !tm.tm_zone.is_null() {
        // SAFETY: tm_zone is a NUL-terminated string owned by libc.
        let s = unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) };
        if let Ok(s) = s.to_str() {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    t.format("%z").to_string()
}

/// Parse a Go duration (`1h30m`, `500ms`, `2.5s`, `0`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let err = || format!("time: invalid duration {}", super::humanize::go_quote(orig));
    let (neg, mut s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        if num_end == 0 {
            return Err(err());
        }
        let num: f64 = s[..num_end].parse().map_err(|_| err())?;
        s = &s[num_end..];
        let unit_end = s.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(s.len());
        let unit = &s[..unit_end];
        s = &s[unit_end..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {}", go_quote(orig))),
            _ => return Err(format!("time: unknown unit {} in duration {}", go_quote(unit), go_quote(orig))),
        };
        total += num * scale;
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    let v = total.round() as i64;
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        let cases: &[(f64, &str)] = &[
            (0.4, "Less than a second"),
            (1.0, "1 second"),
            (3.0, "3 seconds"),
            (59.9, "59 seconds"),
            (60.0, "About a minute"),
            (119.0, "About a minute"),
            (120.0, "2 minutes"),
            (59.0 * 60.0, "59 minutes"),
            (3600.0, "About an hour"),
            (5399.0, "About an hour"),
            (5400.0, "2 hours"),
            (47.0 * 3600.0, "47 hours"),
            (48.0 * 3600.0, "2 days"),
            (14.0 * 86400.0, "2 weeks"),
            (60.0 * 86400.0, "2 months"),
            (730.0 * 86400.0, "2 years"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(*secs), *want, "{secs}s");
        }
        assert_eq!(since(100, 103), "3 seconds ago");
    }

    #[test]
    fn sizes_use_base_1000_and_go_precision() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 3, "0B"),
            (999.0, 3, "999B"),
            (1000.0, 3, "1kB"),
            (4_261_234.0, 3, "4.26MB"),
            (4_261_234.0, 4, "4.261MB"),
            (1_234_567_890.0, 3, "1.23GB"),
            (999_900.0, 3, "1e+03kB"),
            (12_345.0, 3, "12.3kB"),
            (7_340_032.0, 4, "7.34MB"),
        ];
        for (size, p, want) in cases {
            assert_eq!(human_size_precision(*size, *p), *want, "{size} @ {p}");
        }
        assert_eq!(human_size(2_000_000.0), "2MB");
    }

    #[test]
    fn go_g_matches_go() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0001234, 3, "0.000123"),
            (0.00001234, 3, "1.23e-05"),
            (123456.0, 3, "1.23e+05"),
            (100.0, 3, "100"),
            (1.5, 4, "1.5"),
        ];
        for (v, p, want) in cases {
            assert_eq!(go_g(*v, *p), *want, "{v}");
        }
    }

    #[test]
    fn ids_commands_and_quotes() {
        assert_eq!(truncate_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(truncate_id("abc"), "abc");
        assert_eq!(ellipsis("sh -c 'echo hello world'", 20), "sh -c 'echo hello w…");
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(go_quote("sh -c \"x\"\t\\"), r#""sh -c \"x\"\t\\""#);
        assert_eq!(go_quote(&ellipsis("sleep 1000000000000000000", 20)), "\"sleep 1000000000000…\"");
    }

    #[test]
    fn go_durations_parse() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("30s", 30_000_000_000),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1.5h", 5_400_000_000_000),
            ("10us", 10_000),
            ("-2s", -2_000_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s).unwrap(), *want, "{s}");
        }
        for bad in ["", "10", "1x", "s", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
