//! The samples of the proxy's RSS and open fds, and their trend.

/// One reading of `/proc/<pid>/status` and `/proc/<pid>/fd`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the load started.
    pub t_s: f64,
    /// The proxy's `VmRSS`, KiB.
    pub rss_kib: u64,
    /// The proxy's open file descriptors.
    pub fds: u64,
    /// The upstream's `VmRSS`, KiB (0 when not watched).
    pub upstream_rss_kib: u64,
}

/// Least-squares slope of `y` against `x`; `None` for fewer than three points or when every
/// `x` is the same.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Per-minute slope of one field over the samples taken at or after `from_s` seconds.
pub fn slope_per_min(samples: &[Sample], from_s: f64, field: fn(&Sample) -> u64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t_s >= from_s)
        .map(|s| (s.t_s / 60.0, field(s) as f64))
        .collect();
    slope(&points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            t_s,
            rss_kib,
            fds,
            upstream_rss_kib: 0,
        }
    }

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
            .collect();
        assert!((slope(&line).unwrap_or(f64::NAN) - 3.0).abs() < 1e-9);
        // Up and down around a level: no trend.
        let flat = [
            (0.0, 10.0),
            (1.0, 12.0),
            (2.0, 10.0),
            (3.0, 12.0),
            (4.0, 11.0),
        ];
        assert!(slope(&flat).unwrap_or(f64::NAN).abs() < 0.5);
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn per_minute_over_the_second_half() {
        // 120 KiB/min for the first minute, flat after.
        let samples: Vec<Sample> = (0..=24)
            .map(|i| {
                let t = f64::from(i) * 5.0;
                let rss = if t <= 60.0 {
                    1000 + 2 * i as u64 * 5
                } else {
                    1120
                };
                sample(t, rss, 20)
            })
            .collect();
        let rss = slope_per_min(&samples, 60.0, |s| s.rss_kib).unwrap_or(f64::NAN);
        assert!(rss.abs() < 1e-9, "{rss}");
        let whole = slope_per_min(&samples, 0.0, |s| s.rss_kib).unwrap_or(f64::NAN);
        assert!(whole > 30.0, "{whole}");
        assert_eq!(slope_per_min(&samples, 60.0, |s| s.fds), Some(0.0));
    }
}
