//! The filters of `GET /images/json` and `POST /images/prune`, parsed and validated as moby
//! does (`{"dangling": ["true"], "label": ["a=b"], ...}`).

use std::collections::BTreeMap;

use berth_errdefs::{HasKind, Kind};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::duration::parse_go_duration;

/// Filters as the API sends them.
pub type FilterMap = BTreeMap<String, Vec<String>>;

/// A filter that moby would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A filter key the endpoint does not know.
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
    /// A value that is not valid for its key.
    #[error("invalid filter '{key}={value}'")]
    InvalidValue {
        /// The key.
        key: String,
        /// The values, comma-joined.
        value: String,
    },
    /// An `until` value that is neither a time nor a duration.
    #[error("failed to parse value as time or duration: {0:?}")]
    Time(String),
    /// More than one `until` for prune.
    #[error("more than one until filter specified")]
    MultipleUntil,
}

impl HasKind for FilterError {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

fn validate(map: &FilterMap, accepted: &[&str]) -> Result<(), FilterError> {
    match map.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(k) => Err(FilterError::UnknownKey(k.clone())),
        None => Ok(()),
    }
}

/// moby's `GetBoolOrDefault`: `true`/`1` or `false`/`0`; anything else, or both, is invalid.
fn bool_filter(map: &FilterMap, key: &str) -> Result<Option<bool>, FilterError> {
    let Some(values) = map.get(key) else {
        return Ok(None);
    };
    let is_true = values.iter().any(|v| v == "true" || v == "1");
    let is_false = values.iter().any(|v| v == "false" || v == "0");
    if is_true == is_false {
        return Err(FilterError::InvalidValue {
            key: key.into(),
            value: values.join(","),
        });
    }
    Ok(Some(is_true))
}

/// Filters of the image list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilters {
    /// `dangling`: only untagged images (`true`) or only tagged ones (`false`).
    pub dangling: Option<bool>,
    /// `label`: `key` or `key=value`, all must match.
    pub labels: Vec<String>,
    /// `before`: images created before each of these images.
    pub before: Vec<String>,
    /// `since`: images created after each of these images.
    pub since: Vec<String>,
    /// `reference`: shell patterns over familiar references; any may match.
    pub references: Vec<String>,
    /// `until`: images created before these times.
    pub until: Vec<DateTime<Utc>>,
}

impl ListFilters {
    /// Parse the filters of `GET /images/json`; `now` anchors relative `until` durations.
    pub fn parse(map: &FilterMap, now: DateTime<Utc>) -> Result<ListFilters, FilterError> {
        validate(
            map,
            &["dangling", "label", "before", "since", "reference", "until"],
        )?;
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        Ok(ListFilters {
            dangling: bool_filter(map, "dangling")?,
            labels: get("label"),
            before: get("before"),
            since: get("since"),
            references: get("reference"),
            until: get("until")
                .iter()
                .map(|v| parse_timestamp(v, now))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Filters of image prune.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneFilters {
    /// Only dangling images (the default), or every unused image (`dangling=false`).
    pub dangling_only: bool,
    /// Only images created before this time.
    pub until: Option<DateTime<Utc>>,
    /// `label`: images must have all of these.
    pub labels: Vec<String>,
    /// `label!`: images must not have all of these.
    pub not_labels: Vec<String>,
}

impl Default for PruneFilters {
    fn default() -> Self {
        PruneFilters {
            dangling_only: true,
            until: None,
            labels: Vec::new(),
            not_labels: Vec::new(),
        }
    }
}

impl PruneFilters {
    /// Parse the filters of `POST /images/prune`.
    pub fn parse(map: &FilterMap, now: DateTime<Utc>) -> Result<PruneFilters, FilterError> {
        validate(map, &["dangling", "label", "label!", "until"])?;
        let until = match map.get("until").map(Vec::as_slice) {
            None | Some([]) => None,
            Some([one]) => Some(parse_timestamp(one, now)?),
            Some(_) => return Err(FilterError::MultipleUntil),
        };
        Ok(PruneFilters {
            dangling_only: bool_filter(map, "dangling")?.unwrap_or(true),
            until,
            labels: map.get("label").cloned().unwrap_or_default(),
            not_labels: map.get("label!").cloned().unwrap_or_default(),
        })
    }

    /// Whether an image with `labels` passes the label filters.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        match_labels(&self.labels, labels)
            && (self.not_labels.is_empty() || !match_labels(&self.not_labels, labels))
    }
}

/// moby's `MatchKVList`: every filter (`key` or `key=value`) must match; no filter matches
/// everything.
pub fn match_labels(filters: &[String], labels: &BTreeMap<String, String>) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    })
}

/// A time as the `until`/`since` filters accept it (moby's `GetTimestamp`): a Go duration
/// before `now` (`10m`, `1h30m`), an RFC 3339 date-time (`2024-01-02T15:04:05Z`, with or
/// without zone, fraction, seconds or minutes; local time without a zone), a date
/// (`2024-01-02`), or Unix seconds (`1700000000.5`).
pub fn parse_timestamp(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FilterError> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(now - chrono::Duration::nanoseconds(d));
        }
    }
    let bad = || FilterError::Time(value.to_string());
    if value.contains('-') {
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Ok(t.with_timezone(&Utc));
        }
        for fmt in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H%:z"] {
            if let Ok(t) = DateTime::parse_from_str(&value.replace('Z', "+00:00"), fmt) {
                return Ok(t.with_timezone(&Utc));
            }
        }
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(value, fmt) {
                return Local
                    .from_local_datetime(&t)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(bad);
            }
        }
        if let Some((date, hour)) = value.split_once('T') {
            if let (Ok(d), Ok(h)) = (
                NaiveDate::parse_from_str(date, "%Y-%m-%d"),
                hour.parse::<u32>(),
            ) {
                let t = d.and_hms_opt(h, 0, 0).ok_or_else(bad)?;
                return Local
                    .from_local_datetime(&t)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(bad);
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            let t = d.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
            return Local
                .from_local_datetime(&t)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(bad);
        }
        return Err(bad());
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Utc.timestamp_opt(secs, nanos).single().ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[&str])]) -> FilterMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn list_filters_table() {
        let ok = ListFilters::parse(
            &map(&[("dangling", &["true"]), ("label", &["a", "b=c"])]),
            now(),
        )
        .unwrap();
        assert_eq!(ok.dangling, Some(true));
        assert_eq!(ok.labels, ["a", "b=c"]);
        let cases: &[(FilterMap, &str)] = &[
            (map(&[("bogus", &["x"])]), "invalid filter 'bogus'"),
            (
                map(&[("dangling", &["maybe"])]),
                "invalid filter 'dangling=maybe'",
            ),
            (
                map(&[("dangling", &["true", "false"])]),
                "invalid filter 'dangling=true,false'",
            ),
            (
                map(&[("until", &["yesterday"])]),
                r#"failed to parse value as time or duration: "yesterday""#,
            ),
            (map(&[("label!", &["a"])]), "invalid filter 'label!'"),
        ];
        for (m, want) in cases {
            assert_eq!(
                ListFilters::parse(m, now()).unwrap_err().to_string(),
                *want,
                "{m:?}"
            );
        }
    }

    #[test]
    fn prune_filters_table() {
        let d = PruneFilters::parse(&FilterMap::new(), now()).unwrap();
        assert!(d.dangling_only && d.until.is_none());
        let all =
            PruneFilters::parse(&map(&[("dangling", &["0"]), ("until", &["1h"])]), now()).unwrap();
        assert!(!all.dangling_only);
        assert_eq!(all.until, Some(now() - chrono::Duration::hours(1)));
        assert_eq!(
            PruneFilters::parse(&map(&[("until", &["1h", "2h"])]), now()).unwrap_err(),
            FilterError::MultipleUntil
        );
        assert_eq!(
            PruneFilters::parse(&map(&[("reference", &["x"])]), now()).unwrap_err(),
            FilterError::UnknownKey("reference".into())
        );
        let f = PruneFilters::parse(
            &map(&[("label", &["keep"]), ("label!", &["env=prod"])]),
            now(),
        )
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(f.labels_match(&labels(&[("keep", "")])));
        assert!(!f.labels_match(&labels(&[("keep", ""), ("env", "prod")])));
        assert!(f.labels_match(&labels(&[("keep", ""), ("env", "dev")])));
        assert!(!f.labels_match(&labels(&[])));
    }

    #[test]
    fn label_matching() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["a"], true),
            (&["a=1"], true),
            (&["a=2"], false),
            (&["b"], false),
            (&["a", "b"], false),
        ];
        for (f, want) in cases {
            let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            assert_eq!(match_labels(&f, &labels), *want, "{f:?}");
        }
        assert!(!match_labels(&["a".to_string()], &BTreeMap::new()));
    }

    #[test]
    fn timestamps() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases: &[(&str, DateTime<Utc>)] = &[
            ("10m", now() - chrono::Duration::minutes(10)),
            ("1h30m", now() - chrono::Duration::minutes(90)),
            ("2024-01-02T03:04:05Z", utc("2024-01-02T03:04:05Z")),
            ("2024-01-02T03:04:05.5+01:00", utc("2024-01-02T02:04:05.5Z")),
            ("2024-01-02T03:04Z", utc("2024-01-02T03:04:00Z")),
            ("1700000000", utc("2023-11-14T22:13:20Z")),
            ("1700000000.25", utc("2023-11-14T22:13:20.25Z")),
            ("0", utc("1970-01-01T00:00:00Z")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_timestamp(input, now()), Ok(*want), "{input:?}");
        }
        // Local forms: compare through the local zone.
        let local = Local
            .with_ymd_and_hms(2024, 1, 2, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_timestamp("2024-01-02", now()), Ok(local));
        for bad in ["yesterday", "2024-13-01", "12abc", "1.1234567890"] {
            assert!(parse_timestamp(bad, now()).is_err(), "{bad:?}");
        }
    }
}
