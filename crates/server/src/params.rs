//! Request decoding shared by the routers: query parameters with Docker's loose rules, the
//! `filters` JSON, timestamps, JSON bodies, path segments; and JSON answers.
//!
//! Every failure here is a 400 with a `{"message"}` body, never axum's plain-text rejections.

use std::collections::BTreeMap;
use std::str::FromStr;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::service::Filters;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// The largest JSON request body we read (container configs are a few kilobytes).
const MAX_JSON_BODY: usize = 16 << 20;

/// The query string as ordered `(key, value)` pairs, percent-decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            Ok(Query(pairs)) => Ok(Params(pairs)),
            Err(e) => Err(ApiError::invalid(format!("invalid query string: {}", e.body_text()))),
        }
    }
}

impl Params {
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// The first value of `key`, as Go's `Form.Get` (present but empty is `Some("")`).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first value of `key` unless it is absent or empty.
    pub(crate) fn non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Every value of a repeated `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// Docker's boolean: anything but absent, ``, `0`, `no`, `false` or `none` is true.
    pub(crate) fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(truthy)
    }

    /// A boolean parsed as Go's `strconv.ParseBool` (`1`, `t`, `true`, `0`, `f`, `false`, ...
    /// in Go's spellings); absent or empty is false, anything else a 400. For the parameters
    /// Docker parses strictly, such as `verbose` of network inspect.
    pub(crate) fn strict_bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::invalid(format!("invalid value for {key}: {v}"))),
        }
    }

    /// Parse `key` as a number (or anything `FromStr`); absent or empty is `None`.
    pub(crate) fn parse<T>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => {
                v.trim().parse().map(Some).map_err(|e| {
                    ApiError::invalid(format!("invalid value for {key:?}: {v:?}: {e}"))
                })
            }
        }
    }

    /// The `filters` parameter (see [`parse_filters`]).
    pub(crate) fn filters(&self) -> Result<Filters, ApiError> {
        parse_filters(self.get("filters").unwrap_or(""))
    }

    /// A Unix timestamp parameter (see [`parse_timestamp`]); absent or empty is `None`.
    pub(crate) fn timestamp(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => parse_timestamp(v)
                .map(Some)
                .map_err(|e| ApiError::invalid(format!("invalid value for {key:?}: {e}"))),
        }
    }
}

fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none")
}

/// Parse the `filters` query parameter.
///
/// Docker clients send `{"status":{"running":true}}` (a set per key); older ones send
/// `{"status":["running"]}`. Both become `status -> ["running"]`. Set members are listed in
/// sorted order whatever their boolean (Docker ignores it too). The empty string is no filter.
pub(crate) fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    if raw.trim().is_empty() {
        return Ok(Filters::new());
    }
    if let Ok(sets) = serde_json::from_str::<BTreeMap<String, BTreeMap<String, bool>>>(raw) {
        return Ok(sets.into_iter().map(|(k, set)| (k, set.into_keys().collect())).collect());
    }
    serde_json::from_str::<BTreeMap<String, Vec<String>>>(raw)
        .map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))
}

/// Parse Docker's Unix timestamp form, `seconds[.fraction]` (`1700000000.123456789`), into
/// fractional seconds. Clients convert durations and dates to this form before sending.
pub(crate) fn parse_timestamp(raw: &str) -> Result<f64, String> {
    let (secs, frac) = match raw.split_once('.') {
        Some((s, f)) => (s, f),
        None => (raw, ""),
    };
    let secs: i64 = secs.parse().map_err(|_| format!("invalid timestamp {raw:?}"))?;
    if frac.len() > 20 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid timestamp {raw:?}"));
    }
    let frac: f64 = if frac.is_empty() { 0.0 } else { format!("0.{frac}").parse().unwrap_or(0.0) };
    Ok(if secs < 0 { secs as f64 - frac } else { secs as f64 + frac })
}

/// A single path parameter (`{id}`, `{*name}`), percent-decoded.
#[derive(Debug, Clone)]
pub(crate) struct Id(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e| ApiError::invalid(format!("invalid path: {}", e.body_text())))
    }
}

/// Read a JSON request body; `Ok(None)` when it is empty (Docker treats that as "no options").
///
/// A `Content-Type` other than JSON is refused as Docker does; no `Content-Type` is accepted.
pub(crate) async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<T>, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.is_empty() && !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::invalid(format!(
                "unsupported Content-Type header ({ct}): must be 'application/json'"
            )));
        }
    }
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|e| ApiError::invalid(format!("cannot read request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    decode_json(&bytes).map(Some)
}

/// Decode a JSON document, with a 400 that says where it went wrong.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

/// Serialize one value as a JSON line (Docker's encoder ends documents with a newline).
pub(crate) fn json_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize response");
        b"{}".to_vec()
    });
    bytes.push(b'\n');
    bytes
}

/// A JSON answer with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut resp = (status, json_line(value)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An empty answer with `status` (204 for most lifecycle calls).
pub(crate) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &[&str])]) -> Filters {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn filters_parse_both_forms() {
        let cases: &[(&str, Filters)] = &[
            ("", Filters::new()),
            ("  ", Filters::new()),
            ("{}", Filters::new()),
            (r#"{"status":["running"]}"#, filters(&[("status", &["running"])])),
            (r#"{"status":{"running":true}}"#, filters(&[("status", &["running"])])),
            (
                r#"{"status":{"running":true,"exited":true},"label":{"a=b":true}}"#,
                filters(&[("label", &["a=b"]), ("status", &["exited", "running"])]),
            ),
            (r#"{"label":["b=1","a=2"]}"#, filters(&[("label", &["b=1", "a=2"])])),
            (r#"{"dangling":{"true":false}}"#, filters(&[("dangling", &["true"])])),
        ];
        for (raw, want) in cases {
            assert_eq!(&parse_filters(raw).unwrap(), want, "input {raw}");
        }
    }

    #[test]
    fn bad_filters_are_400() {
        for raw in [r#"{"status":"running"}"#, "not json", r#"["status"]"#, r#"{"a":[1]}"#] {
            let e = parse_filters(raw).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "input {raw}");
            assert!(e.message.starts_with("invalid filter"), "{}", e.message);
        }
    }

    #[test]
    fn booleans_follow_docker() {
        let cases = [
            ("1", true),
            ("true", true),
            ("True", true),
            ("yes", true),
            ("anything", true),
            ("", false),
            ("0", false),
            ("no", false),
            ("false", false),
            ("FALSE", false),
            ("none", false),
        ];
        for (v, want) in cases {
            assert_eq!(Params::from_pairs(&[("all", v)]).bool("all"), want, "value {v:?}");
        }
        assert!(!Params::default().bool("all"));
    }

    #[test]
    fn strict_booleans_follow_go() {
        let cases: &[(Option<&str>, Option<bool>)] = &[
            (None, Some(false)),
            (Some(""), Some(false)),
            (Some("1"), Some(true)),
            (Some("t"), Some(true)),
            (Some("True"), Some(true)),
            (Some("TRUE"), Some(true)),
            (Some("0"), Some(false)),
            (Some("F"), Some(false)),
            (Some("false"), Some(false)),
            (Some("yes"), None),
            (Some("tRuE"), None),
            (Some(" 1"), None),
        ];
        for (raw, want) in cases {
            let p = match raw {
                Some(v) => Params::from_pairs(&[("verbose", v)]),
                None => Params::default(),
            };
            let got = p.strict_bool("verbose");
            assert_eq!(got.as_ref().ok().copied(), *want, "value {raw:?}");
            if let Err(e) = got {
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                assert_eq!(e.message, format!("invalid value for verbose: {}", raw.unwrap()));
            }
        }
    }

    #[test]
    fn timestamps_parse() {
        let cases: &[(&str, Option<f64>)] = &[
            ("0", Some(0.0)),
            ("1700000000", Some(1_700_000_000.0)),
            ("1700000000.5", Some(1_700_000_000.5)),
            ("1700000000.000000001", Some(1_700_000_000.000000001)),
            ("-5.5", Some(-5.5)),
            ("10m", None),
            ("1.2.3", None),
            ("1.-2", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_timestamp(raw).ok(), *want, "input {raw:?}");
        }
    }

    #[test]
    fn numbers_and_repeats() {
        let p =
            Params::from_pairs(&[("t", "5"), ("changes", "CMD [\"sh\"]"), ("changes", "ENV A=b")]);
        assert_eq!(p.parse::<i64>("t").unwrap(), Some(5));
        assert_eq!(p.parse::<i64>("missing").unwrap(), None);
        assert_eq!(p.all("changes"), vec!["CMD [\"sh\"]".to_string(), "ENV A=b".to_string()]);
        let bad = Params::from_pairs(&[("t", "soon")]).parse::<i64>("t").unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message.contains("\"t\""), "{}", bad.message);
    }
}
