//! Axis ranges, tick positions and tick labels (pure).
//!
//! Charts are drawn on plain linear coordinates. A log axis is drawn in log10 space: every value
//! goes through [`Axis::to_plot`] and the labels convert back, so the ticks can be chosen here
//! (1-2-5 steps per decade, fewer as the range grows) instead of relying on a library's defaults.

/// One axis: its range and ticks in plot space (log10 of the value on a log axis).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// Whether values are drawn at their log10.
    pub log: bool,
    /// Lower end, plot space.
    pub lo: f64,
    /// Upper end, plot space.
    pub hi: f64,
    /// Labelled ticks with grid lines, plot space.
    pub major: Vec<f64>,
    /// Unlabelled fainter grid lines, plot space.
    pub minor: Vec<f64>,
}

/// Room left beyond the data, as a fraction of the data's span, at each end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Padding {
    pub below: f64,
    pub above: f64,
}

impl Axis {
    /// A linear axis showing `min..=max`, starting at 0 when `from_zero` and the data is not
    /// negative.
    pub fn linear(min: f64, max: f64, from_zero: bool, pad: Padding) -> Axis {
        let (data_min, data_max) = (min.min(max), max.max(min));
        let (min, max) = if data_min == data_max {
            // One value: give it room either side.
            let half = if data_min == 0.0 {
                1.0
            } else {
                data_min.abs() / 2.0
            };
            (data_min - half, data_max + half)
        } else {
            (data_min, data_max)
        };
        let span = max - min;
        // From zero: a sliver below it, so marks at exactly 0 are not cut by the axis.
        let lo = if from_zero && data_min >= 0.0 {
            -max * 0.015
        } else {
            min - span * pad.below
        };
        let hi = max + span * pad.above;
        Axis {
            log: false,
            lo,
            hi,
            major: linear_ticks(lo, hi, 7),
            minor: Vec::new(),
        }
    }

    /// A log axis showing `min..=max` (both above zero).
    pub fn log(min: f64, max: f64, pad: Padding) -> Axis {
        let (a, b) = (min.min(max).log10(), max.max(min).log10());
        // At least a tenth of a decade of room, so a single value still gets a readable range.
        let span = (b - a).max(0.2);
        let lo = a - (span * pad.below).max(0.05);
        let hi = b + (span * pad.above).max(0.05);
        let (major, minor) = log_ticks(lo, hi);
        Axis {
            log: true,
            lo,
            hi,
            major,
            minor,
        }
    }

    /// Where value `v` is drawn.
    pub fn to_plot(&self, v: f64) -> f64 {
        if self.log {
            v.log10()
        } else {
            v
        }
    }

    /// The label of a tick at plot position `t`.
    pub fn label(&self, t: f64) -> String {
        format_number(if self.log { 10f64.powf(t) } else { t }, 4)
    }
}

/// "Nice" tick positions (1, 2 or 5 times a power of ten apart) inside `lo..=hi`, about `target`
/// of them.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return Vec::new();
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * mag);
    let eps = step * 1e-9;
    let first = ((lo - eps) / step).ceil() as i64;
    let last = ((hi + eps) / step).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step)
        .map(|t| if t == 0.0 { 0.0 } else { t })
        .collect()
}

/// Tick positions for a log axis over plot-space `lo..=hi` (log10 values): `(major, minor)`.
///
/// Majors are powers of ten times 1, 2, 5 (or sparser/denser as the range needs, at least four
/// of them); minors fill the other multiples 1..9 of each decade. A range too narrow for that
/// falls back to linear ticks on the values.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let decades = hi - lo;
    if !decades.is_finite() || decades <= 0.0 {
        return (Vec::new(), Vec::new());
    }
    let eps = 1e-9;
    let (first, last) = (lo.floor() as i32, hi.ceil() as i32);
    let inside = |t: f64| t >= lo - eps && t <= hi + eps;
    let at = |m: f64, e: i32| (m * 10f64.powi(e)).log10();
    if decades > 8.0 {
        let stride = (decades / 8.0).ceil() as i32;
        let (mut major, mut minor) = (Vec::new(), Vec::new());
        for e in first..=last {
            let t = f64::from(e);
            if inside(t) {
                if e.rem_euclid(stride) == 0 {
                    major.push(t)
                } else {
                    minor.push(t)
                }
            }
        }
        return (major, minor);
    }
    let sets: [&[f64]; 4] = [
        &[1.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 2.0, 3.0, 5.0],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ];
    let start = match decades {
        d if d > 2.5 => 0,
        d if d > 1.2 => 1,
        d if d > 0.6 => 2,
        _ => 3,
    };
    for set in &sets[start..] {
        let (mut major, mut minor) = (Vec::new(), Vec::new());
        for e in first..=last {
            for m in 1..=9 {
                let t = at(f64::from(m), e);
                if !inside(t) {
                    continue;
                }
                if set.contains(&f64::from(m)) {
                    major.push(t)
                } else {
                    minor.push(t)
                }
            }
        }
        if major.len() >= 4 {
            return (major, minor);
        }
    }
    // Too narrow for four multiples of a power of ten: label it like a linear axis, values mapped to log space.
    let major = linear_ticks(10f64.powf(lo), 10f64.powf(hi), 5)
        .into_iter()
        .filter(|v| *v > 0.0)
        .map(f64::log10)
        .collect();
    (major, Vec::new())
}

/// `v` with at most `significant` significant digits, trailing zeros dropped; very large or
/// very small magnitudes in exponent form (`1e6`, `2.5e-4`).
pub(crate) fn format_number(v: f64, significant: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            v.to_string()
        };
    }
    let significant = significant.max(1);
    let a = v.abs();
    // Round first, so 999.96 at 4 digits is 1000 and takes the branch of 1000.
    let exp = a.log10().floor() as i32;
    let rounded = format!("{:.*e}", significant - 1, a)
        .parse::<f64>()
        .unwrap_or(a);
    let exp = if rounded >= 10f64.powi(exp + 1) {
        exp + 1
    } else {
        exp
    };
    if !(-3..6).contains(&exp) {
        let s = format!("{:.*e}", significant - 1, v);
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{e}", trim_zeros(mantissa));
    }
    let decimals = (significant as i32 - 1 - exp).max(0) as usize;
    let s = trim_zeros(&format!("{:.*}", decimals, v)).to_string();
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let table: &[(f64, usize, &str)] = &[
            (0.0, 4, "0"),
            (-0.0, 4, "0"),
            (1.0, 4, "1"),
            (25.0, 4, "25"),
            (0.30000000000000004, 4, "0.3"),
            (2.0999999999999996, 4, "2.1"),
            (1000.0, 4, "1000"),
            (12345.0, 4, "12345"),
            (99999.0, 4, "99999"),
            (100000.0, 4, "100000"),
            (1e6, 4, "1e6"),
            (2.5e7, 4, "2.5e7"),
            (0.001, 4, "0.001"),
            (0.0025, 4, "0.0025"),
            (2.5e-4, 4, "2.5e-4"),
            (-3.5, 4, "-3.5"),
            (-0.00001, 4, "-1e-5"),
            (999.96, 4, "1000"),
            (50.14, 3, "50.1"),
            (404.0, 3, "404"),
            (0.31234, 3, "0.312"),
            (1.049, 3, "1.05"),
            (37.0, 3, "37"),
            (48.26, 3, "48.3"),
            (48.25, 3, "48.2"), // exactly half: rounds to even
        ];
        for (v, sig, want) in table {
            assert_eq!(format_number(*v, *sig), *want, "{v} at {sig} digits");
        }
    }

    #[test]
    fn linear_tick_steps() {
        let table: &[(f64, f64, usize, &[f64])] = &[
            (0.0, 440.0, 7, &[0.0, 100.0, 200.0, 300.0, 400.0]),
            (0.0, 1.0, 5, &[0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]),
            (0.0, 27.0, 7, &[0.0, 5.0, 10.0, 15.0, 20.0, 25.0]),
            (-12.0, 12.0, 6, &[-10.0, -5.0, 0.0, 5.0, 10.0]),
            (41.5, 60.5, 5, &[45.0, 50.0, 55.0, 60.0]),
            (5.0, 5.0, 5, &[]),
        ];
        for (lo, hi, target, want) in table {
            assert_eq!(linear_ticks(*lo, *hi, *target), want.to_vec(), "{lo}..{hi}");
        }
    }

    fn labels(axis: &Axis, ticks: &[f64]) -> Vec<String> {
        ticks.iter().map(|t| axis.label(*t)).collect()
    }

    #[test]
    fn log_tick_density_follows_the_range() {
        // No padding asked, but a log axis always keeps 0.05 decade of room at either end.
        let pad = Padding {
            below: 0.0,
            above: 0.0,
        };
        // (min, max) -> labels of the major ticks, number of minor ticks
        let table: &[(f64, f64, &[&str], usize)] = &[
            (
                1.0,
                1e12,
                &["1", "100", "10000", "1e6", "1e8", "1e10", "1e12"],
                6,
            ),
            (1.0, 1e5, &["1", "10", "100", "1000", "10000", "100000"], 41), // minors from 0.9
            (
                10.0,
                1000.0,
                &["10", "20", "50", "100", "200", "500", "1000"],
                13,
            ), // minors from 9
            (30.0, 400.0, &["30", "50", "100", "200", "300"], 6),
            (0.3, 35.0, &["0.5", "1", "2", "5", "10", "20"], 13),
            (40.0, 90.0, &["40", "50", "60", "70", "80", "90", "100"], 0),
            (45.0, 72.0, &["50", "60", "70", "80"], 0),
        ];
        let got: Vec<(Vec<String>, usize)> = table
            .iter()
            .map(|(min, max, _, _)| {
                let axis = Axis::log(*min, *max, pad);
                (labels(&axis, &axis.major), axis.minor.len())
            })
            .collect();
        let want: Vec<(Vec<String>, usize)> = table
            .iter()
            .map(|(_, _, l, m)| (l.iter().map(|s| s.to_string()).collect(), *m))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn narrow_log_range_still_gets_labels() {
        let axis = Axis::log(
            50.0,
            50.0,
            Padding {
                below: 0.05,
                above: 0.05,
            },
        );
        // 0.1 decade (44.6..56.1): no four multiples of ten fit, so linear steps are used.
        assert_eq!(labels(&axis, &axis.major), ["45", "50", "55"]);
        assert!(axis.lo < 50f64.log10() && axis.hi > 50f64.log10());
    }

    #[test]
    fn linear_ranges() {
        let pad = Padding {
            below: 0.05,
            above: 0.1,
        };
        let a = Axis::linear(37.0, 404.0, true, pad);
        assert_eq!((a.lo, a.hi), (-404.0 * 0.015, 404.0 + 367.0 * 0.1));
        let a = Axis::linear(-10.0, 10.0, true, pad);
        assert_eq!((a.lo, a.hi), (-11.0, 12.0));
        let a = Axis::linear(5.0, 5.0, false, pad);
        assert!(a.lo < 5.0 && a.hi > 5.0 && !a.major.is_empty(), "{a:?}");
        let a = Axis::linear(0.0, 0.0, true, pad);
        assert!(
            a.lo < 0.0 && a.lo > -0.1 && a.hi > 1.0 && a.major[0] == 0.0,
            "{a:?}"
        );
    }
}
