//! API versions: the `/v1.NN` path prefix, the supported range, comparisons for the few
//! version-dependent behaviours.

use std::cmp::Ordering;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::{API_VERSION, MIN_API_VERSION};

use crate::error::ApiError;

/// The API version a request speaks: from its `/vX.Y` prefix, or the newest when unversioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiVersion(pub(crate) String);

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion(API_VERSION.to_owned())
    }
}

impl ApiVersion {
    /// True when this version is `v` or newer.
    pub(crate) fn at_least(&self, v: &str) -> bool {
        compare(&self.0, v) != Ordering::Less
    }

    /// A 400 unless the version lies between `MIN_API_VERSION` and `API_VERSION`.
    pub(crate) fn check(&self) -> Result<(), ApiError> {
        if compare(&self.0, MIN_API_VERSION) == Ordering::Less {
            return Err(ApiError::invalid(format!(
                "client version {} is too old. Minimum supported API version is {MIN_API_VERSION}, \
                 please upgrade your client to a newer version",
                self.0
            )));
        }
        if compare(&self.0, API_VERSION) == Ordering::Greater {
            return Err(ApiError::invalid(format!(
                "client version {} is too new. Maximum supported API version is {API_VERSION}",
                self.0
            )));
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ApiVersion>().cloned().unwrap_or_default())
    }
}

/// Compare dotted versions numerically, part by part; missing or malformed parts count as 0
/// (`1.9 < 1.24`, `1.40 == 1.40.0`).
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => {
                let x: u64 = x.and_then(|s| s.parse().ok()).unwrap_or(0);
                let y: u64 = y.and_then(|s| s.parse().ok()).unwrap_or(0);
                match x.cmp(&y) {
                    Ordering::Equal => continue,
                    other => return other,
                }
            }
        }
    }
}

/// Split `/v1.47/containers/json` into `("1.47", "/containers/json")`. The version is what
/// Docker's router accepts (`[0-9.]+`); paths without such a prefix are unversioned.
pub(crate) fn split_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/')?;
    let (version, tail) = rest.split_at(end);
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((version, tail))
}

/// Route middleware: refuse versions outside the supported range before any handler runs.
/// Applied to matched routes only, so unknown paths stay 404 whatever their version.
pub(crate) async fn check_version(req: Request, next: Next) -> Response {
    let version = req.extensions().get::<ApiVersion>().cloned().unwrap_or_default();
    match version.check() {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let cases = [
            ("1.47", "1.47", Ordering::Equal),
            ("1.9", "1.24", Ordering::Less),
            ("1.100", "1.47", Ordering::Greater),
            ("1.40", "1.40.0", Ordering::Equal),
            ("2.0", "1.99", Ordering::Greater),
            ("1.", "1.0", Ordering::Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn prefixes_split() {
        let cases = [
            ("/v1.47/containers/json", Some(("1.47", "/containers/json"))),
            ("/v1.47/_ping", Some(("1.47", "/_ping"))),
            ("/v1/info", Some(("1", "/info"))),
            ("/v1.47", None),
            ("/vx/info", None),
            ("/v/info", None),
            ("/version", None),
            ("/volumes/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(split_prefix(path), want, "{path}");
        }
    }

    #[test]
    fn range_is_checked() {
        assert!(ApiVersion("1.47".into()).check().is_ok());
        assert!(ApiVersion("1.24".into()).check().is_ok());
        let e = ApiVersion("1.99".into()).check().unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.99 is too new. Maximum supported API version is 1.47"
        );
        let e = ApiVersion("1.12".into()).check().unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade \
             your client to a newer version"
        );
        assert!(ApiVersion("1.42".into()).at_least("1.42"));
        assert!(!ApiVersion("1.41".into()).at_least("1.42"));
    }
}
