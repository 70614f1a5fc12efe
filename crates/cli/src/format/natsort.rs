//! `sortorder.NaturalLess`, the order of `docker network ls` and `docker port`: runs of
//! digits compare as numbers, digits sort before other bytes.

use std::cmp::Ordering;

/// Is `a` before `b` in natural order?
pub fn natural_less(a: &str, b: &str) -> bool {
    let (s1, s2) = (a.as_bytes(), b.as_bytes());
    let (mut i1, mut i2) = (0, 0);
    while i1 < s1.len() && i2 < s2.len() {
        let (c1, c2) = (s1[i1], s2[i2]);
        let (d1, d2) = (c1.is_ascii_digit(), c2.is_ascii_digit());
        if d1 != d2 {
            return d1;
        }
        if !d1 {
            if c1 != c2 {
                return c1 < c2;
            }
            i1 += 1;
            i2 += 1;
            continue;
        }
        while i1 < s1.len() && s1[i1] == b'0' {
            i1 += 1;
        }
        while i2 < s2.len() && s2[i2] == b'0' {
            i2 += 1;
        }
        let (nz1, nz2) = (i1, i2);
        while i1 < s1.len() && s1[i1].is_ascii_digit() {
            i1 += 1;
        }
        while i2 < s2.len() && s2[i2].is_ascii_digit() {
            i2 += 1;
        }
        let (l1, l2) = (i1 - nz1, i2 - nz2);
        if l1 != l2 {
            return l1 < l2;
        }
        let (n1, n2) = (&s1[nz1..i1], &s2[nz2..i2]);
        if n1 != n2 {
            return n1 < n2;
        }
        if nz1 != nz2 {
            return nz1 < nz2;
        }
    }
    s1.len() < s2.len()
}

/// An `Ordering` for `sort_by`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["net10", "net2", "bridge", "net1", "Net", "host", "1a", "a", "net02", "none"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["1a", "Net", "a", "bridge", "host", "net1", "net2", "net02", "net10", "none"]);
        let mut p = vec!["8080/tcp -> 0.0.0.0:8080", "443/tcp -> 0.0.0.0:443", "80/tcp -> [::]:80", "80/tcp -> 0.0.0.0:80"];
        p.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(p, vec!["80/tcp -> 0.0.0.0:80", "80/tcp -> [::]:80", "443/tcp -> 0.0.0.0:443", "8080/tcp -> 0.0.0.0:8080"]);
        assert!(!natural_less("a", "a"));
        assert!(natural_less("a", "ab"));
    }
}
