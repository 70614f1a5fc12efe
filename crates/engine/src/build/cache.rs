//! The build cache: which image a step made, keyed by what the step depends on.
//!
//! A key is the sha256 of the parent image id, the instruction's keyword and its expanded
//! arguments, and what else decides the result ([`Key`]): for COPY/ADD the digest of the
//! sources' content and metadata ([`crate::build::copy`]), for RUN the build args in scope and
//! the mounts' spec. Records live in the metadata store (table `build-cache`), so they survive
//! restarts; a record whose image is gone (pruned, removed) is a miss.

use std::collections::BTreeMap;

use berth_errdefs::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cache records: key -> [`Record`].
pub(crate) const TABLE: berth_metadata::Table = berth_metadata::Table::new("build-cache");

/// What a step's result depends on besides its parent.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Key {
    /// The parent image id (`scratch` for none).
    pub parent: String,
    /// The instruction keyword (`run`, `copy`, ...).
    pub keyword: String,
    /// The expanded arguments, in order.
    pub args: Vec<String>,
    /// Extra inputs: build args in scope, mount specs, source digests, `--chown`, ...
    pub extra: BTreeMap<String, String>,
}

impl Key {
    /// The record key: sha256 hex of the canonical JSON of the key.
    pub(crate) fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

/// Lowercase hex of bytes.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A cache record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Record {
    /// The image the step made (`sha256:...`).
    pub image: String,
    /// When the record was made (Unix seconds).
    pub created: i64,
    /// When it was last used (Unix seconds).
    pub last_used: i64,
    /// The step, for `builder prune` listings (`RUN make`).
    #[serde(default)]
    pub description: String,
    /// Cache hits so far (records from before this field read 0).
    #[serde(default)]
    pub hits: i64,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn kinded(e: berth_metadata::Error) -> Error {
    Error::from_kind(&e)
}

/// The cache over the shared metadata store.
#[derive(Clone)]
pub(crate) struct Cache {
    pub(crate) db: berth_metadata::Store,
}

impl Cache {
    /// The image recorded for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Record> {
        self.db.get::<Record>(TABLE, key).ok().flatten()
    }

    /// Record that the step `key` made `image`.
    pub(crate) fn put(&self, key: &str, image: &str, description: &str) -> Result<()> {
        let t = now();
        let rec = Record { image: image.to_string(), created: t, last_used: t, description: description.to_string(), hits: 0 };
        self.db.write_lazy(|tx| tx.put(TABLE, key, &rec)).map_err(kinded)
    }

    /// Mark records used now (cache hits), in one lazy transaction.
    pub(crate) fn touch(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let t = now();
        let res = self.db.write_lazy(|tx| {
            for k in keys {
                if let Some(mut r) = tx.get::<Record>(TABLE, k)? {
                    r.last_used = t;
                    r.hits += 1;
                    tx.put(TABLE, k, &r)?;
                }
            }
            Ok::<(), berth_metadata::Error>(())
        });
        if let Err(e) = res {
            tracing::debug!(error = %e, "cannot update build cache records");
        }
    }

    /// Every record.
    pub(crate) fn all(&self) -> Result<Vec<(String, Record)>> {
        self.db.list(TABLE).map_err(kinded)
    }

    /// Delete records.
    pub(crate) fn delete(&self, keys: &[String]) -> Result<()> {
        self.db
            .write(|tx| {
                for k in keys {
                    tx.delete(TABLE, k)?;
                }
                Ok::<(), berth_metadata::Error>(())
            })
            .map_err(kinded)
    }
}

/// The `BuildCache` entries of `GET /system/df`: one per record whose image still exists
/// (`alive`), as dockerd's classic builder would list them: type `regular`, not in use, not
/// shared, size 0 (the layers are counted with the images), used once when made plus its hits.
pub(crate) fn df_entries(records: &[(String, Record)], alive: &dyn Fn(&str) -> bool) -> Vec<berth_api::models::BuildCache> {
    use berth_api::models::{BuildCache, BuildCacheTypeEnum};
    let date = |t: i64| chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0);
    let mut out: Vec<BuildCache> = records
        .iter()
        .filter(|(_, r)| alive(&r.image))
        .map(|(k, r)| BuildCache {
            id: Some(k.clone()),
            typ: Some(BuildCacheTypeEnum::REGULAR),
            description: Some(r.description.clone()),
            in_use: Some(false),
            shared: Some(false),
            size: Some(0),
            created_at: date(r.created),
            last_used_at: date(r.last_used),
            usage_count: Some(1 + r.hits.max(0)),
            ..Default::default()
        })
        .collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Which records a prune drops: all with `all`; otherwise those whose image is gone and
/// those matching the filters (`until` / `unused-for`: last used before `now - d`; `id`: key
/// prefix). Without `all` and filters, every record not used in the last 48 hours goes
/// (a rough stand-in for BuildKit's keep-storage policy) besides the dead ones.
pub(crate) fn select_for_prune(
    records: &[(String, Record)],
    all: bool,
    filters: &crate::service::Filters,
    alive: &dyn Fn(&str) -> bool,
    now: i64,
) -> Result<Vec<String>> {
    let mut older_than: Option<i64> = None;
    for key in ["until", "unused-for"] {
        for v in filters.get(key).into_iter().flatten() {
            let secs = parse_duration(v).ok_or_else(|| Error::invalid(format!("invalid {key} filter: {v}")))?;
            older_than = Some(older_than.map_or(secs, |o: i64| o.min(secs)));
        }
    }
    let ids: Vec<&String> = filters.get("id").into_iter().flatten().collect();
    for k in filters.keys() {
        if !matches!(k.as_str(), "until" | "unused-for" | "id" | "type" | "inuse" | "shared" | "private" | "description") {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
    }
    let filtered = older_than.is_some() || !ids.is_empty();
    Ok(records
        .iter()
        .filter(|(k, r)| {
            if all && !filtered {
                return true;
            }
            if !alive(&r.image) {
                return true;
            }
            let age_ok = match older_than {
                Some(d) => r.last_used <= now - d,
                None => all || filtered || r.last_used <= now - 48 * 3600,
            };
            let id_ok = ids.is_empty() || ids.iter().any(|i| k.starts_with(i.as_str()));
            age_ok && id_ok
        })
        .map(|(k, _)| k.clone())
        .collect())
}

/// A Go duration (`24h`, `1h30m`, `90s`, `10m`) in seconds; also plain seconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    (num.is_empty() && any).then_some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parent: &str, kw: &str, args: &[&str], extra: &[(&str, &str)]) -> String {
        Key {
            parent: parent.into(),
            keyword: kw.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
        .digest()
    }

    #[test]
    fn keys_change_with_every_input_and_only_then() {
        let base = key("sha256:a", "run", &["echo hi"], &[("args", "A=1")]);
        assert_eq!(base, key("sha256:a", "run", &["echo hi"], &[("args", "A=1")]));
        assert_eq!(base.len(), 64);
        for other in [
            key("sha256:b", "run", &["echo hi"], &[("args", "A=1")]),
            key("sha256:a", "cmd", &["echo hi"], &[("args", "A=1")]),
            key("sha256:a", "run", &["echo ho"], &[("args", "A=1")]),
            key("sha256:a", "run", &["echo", "hi"], &[("args", "A=1")]),
            key("sha256:a", "run", &["echo hi"], &[("args", "A=2")]),
            key("sha256:a", "run", &["echo hi"], &[]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn durations_parse_as_go() {
        for (s, want) in [("24h", Some(86400)), ("1h30m", Some(5400)), ("90s", Some(90)), ("10m", Some(600)), ("15", Some(15)), ("x", None), ("5", Some(5)), ("1d", None)] {
            assert_eq!(parse_duration(s), want, "{s}");
        }
    }

    #[test]
    fn df_lists_live_records_as_regular_entries() {
        let rec = |img: &str, created: i64, used: i64, hits: i64| Record {
            image: img.into(),
            created,
            last_used: used,
            description: format!("RUN {img}"),
            hits,
        };
        let records = vec![
            ("k2".to_string(), rec("sha256:b", 200, 300, 2)),
            ("k1".to_string(), rec("sha256:a", 100, 100, 0)),
            ("k3".to_string(), rec("sha256:gone", 50, 50, 0)),
        ];
        let got = df_entries(&records, &|id| id != "sha256:gone");
        let v = serde_json::to_value(&got).unwrap();
        let want = serde_json::json!([
            {"ID": "k1", "Type": "regular", "Description": "RUN sha256:a", "InUse": false, "Shared": false,
             "Size": 0, "CreatedAt": "1970-01-01T00:01:40Z", "LastUsedAt": "1970-01-01T00:01:40Z", "UsageCount": 1},
            {"ID": "k2", "Type": "regular", "Description": "RUN sha256:b", "InUse": false, "Shared": false,
             "Size": 0, "CreatedAt": "1970-01-01T00:03:20Z", "LastUsedAt": "1970-01-01T00:05:00Z", "UsageCount": 3},
        ]);
        assert_eq!(v, want);
    }

    #[test]
    fn prune_selects_dead_old_and_filtered_records() {
        let now = 1_000_000;
        let rec = |img: &str, used: i64| Record { image: img.into(), created: 0, last_used: used, description: String::new(), hits: 0 };
        let records = vec![
            ("k1".to_string(), rec("live", now)),
            ("k2".to_string(), rec("dead", now)),
            ("k3".to_string(), rec("live", now - 3 * 86400)),
            ("k4".to_string(), rec("live", now - 3600)),
        ];
        let alive = |i: &str| i == "live";
        let f = |pairs: &[(&str, &str)]| -> crate::service::Filters {
            pairs.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect()
        };
        let cases: Vec<(bool, crate::service::Filters, Vec<&str>)> = vec![
            (true, f(&[]), vec!["k1", "k2", "k3", "k4"]),
            (false, f(&[]), vec!["k2", "k3"]),
            (false, f(&[("until", "30m")]), vec!["k2", "k3", "k4"]),
            (false, f(&[("unused-for", "48h")]), vec!["k2", "k3"]),
            (false, f(&[("id", "k4")]), vec!["k2", "k4"]),
        ];
        for (all, filters, want) in cases {
            let got = select_for_prune(&records, all, &filters, &alive, now).unwrap();
            assert_eq!(got, want, "all={all} {filters:?}");
        }
        assert!(select_for_prune(&records, false, &f(&[("bogus", "1")]), &alive, now).is_err());
        assert!(select_for_prune(&records, false, &f(&[("until", "soon")]), &alive, now).is_err());
    }
}
