//! The numbers a box plot shows.
//!
//! Percentiles interpolate linearly between the two closest ranks (the "linear" method,
//! Hyndman & Fan type 7, the default of numpy and R): for `n` sorted samples the `p`th percentile
//! sits at rank `(n - 1) * p / 100`, counting from 0.

/// The summary drawn as one box: whiskers at p5/p95, box from q1 to q3, a line at the median,
/// and every sample outside the whiskers as a dot.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxStats {
    /// 5th percentile: the lower whisker.
    pub p5: f64,
    /// 25th percentile: the bottom of the box.
    pub q1: f64,
    /// 50th percentile.
    pub median: f64,
    /// 75th percentile: the top of the box.
    pub q3: f64,
    /// 95th percentile: the upper whisker.
    pub p95: f64,
    /// Samples below p5 or above p95, ascending.
    pub outliers: Vec<f64>,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub count: usize,
}

/// The `p`th percentile (0..=100) of ascending `sorted` samples; `None` when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (last as f64) * p.clamp(0.0, 100.0) / 100.0;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (sorted[lo.min(last)], sorted[hi.min(last)]);
    Some(a + (b - a) * (rank - lo as f64))
}

impl BoxStats {
    /// Summarises `samples` (any order); `None` when there are none.
    pub fn from_samples(samples: &[f64]) -> Option<BoxStats> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p| percentile(&sorted, p);
        let (p5, p95) = (at(5.0)?, at(95.0)?);
        Some(BoxStats {
            p5,
            q1: at(25.0)?,
            median: at(50.0)?,
            q3: at(75.0)?,
            p95,
            outliers: sorted
                .iter()
                .copied()
                .filter(|v| *v < p5 || *v > p95)
                .collect(),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            count: sorted.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn percentiles_match_the_linear_method() {
        // Expected values as numpy.percentile(samples, p) computes them (method="linear").
        let table: &[(&[f64], f64, f64)] = &[
            (&[7.0], 0.0, 7.0),
            (&[7.0], 50.0, 7.0),
            (&[7.0], 95.0, 7.0),
            (&[1.0, 2.0], 50.0, 1.5),
            (&[1.0, 2.0, 3.0, 4.0], 25.0, 1.75),
            (&[1.0, 2.0, 3.0, 4.0], 50.0, 2.5),
            (&[1.0, 2.0, 3.0, 4.0], 75.0, 3.25),
            (&[1.0, 2.0, 3.0, 4.0], 5.0, 1.15),
            (&[1.0, 2.0, 3.0, 4.0], 95.0, 3.85),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0, 3.0),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 25.0, 2.0),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                5.0,
                14.5,
            ),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                95.0,
                95.5,
            ),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                25.0,
                32.5,
            ),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                75.0,
                77.5,
            ),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                0.0,
                10.0,
            ),
            (
                &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                100.0,
                100.0,
            ),
            (&[-3.0, -1.0, 0.0, 2.0], 50.0, -0.5),
        ];
        for (samples, p, want) in table {
            let got = percentile(samples, *p).unwrap();
            assert!(
                close(got, *want),
                "p{p} of {samples:?}: got {got}, want {want}"
            );
        }
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn box_stats_of_unsorted_samples() {
        // 20 samples 1..=20, shuffled, plus two far outliers: 22 samples, ranks 0..=21.
        let mut samples: Vec<f64> = (1..=20).map(f64::from).collect();
        samples.reverse();
        samples.swap(3, 11);
        samples.push(500.0);
        samples.push(-100.0);
        let s = BoxStats::from_samples(&samples).unwrap();
        // numpy: percentile([-100, 1..20, 500], [5, 25, 50, 75, 95]) = [1.05, 5.25, 10.5, 15.75, 19.95]
        let want = [1.05, 5.25, 10.5, 15.75, 19.95];
        let got = [s.p5, s.q1, s.median, s.q3, s.p95];
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, w), "got {got:?}, want {want:?}");
        }
        // Outliers: everything below p5 (-100, 1) and above p95 (20, 500).
        assert_eq!(s.outliers, vec![-100.0, 1.0, 20.0, 500.0]);
        assert_eq!((s.min, s.max, s.count), (-100.0, 500.0, 22));
    }

    #[test]
    fn box_stats_of_one_sample_is_flat() {
        let s = BoxStats::from_samples(&[37.0]).unwrap();
        assert_eq!(
            (s.p5, s.q1, s.median, s.q3, s.p95),
            (37.0, 37.0, 37.0, 37.0, 37.0)
        );
        assert!(s.outliers.is_empty());
        assert_eq!(BoxStats::from_samples(&[]), None);
    }
}
