//! Merging compose documents (`-f a.yaml -f b.yaml`, and `extends`) by the compose-spec rules:
//! mappings merge key by key, scalars are replaced, sequences are appended — except `command`,
//! `entrypoint` and `healthcheck.test` (replaced); `environment`, `labels`, `build.args`,
//! `sysctls`, `extra_hosts`... (merged by key, list or map form); `ports`, `volumes`, `secrets`,
//! `configs` (merged by their unique key: an override with the same target replaces); `expose`,
//! `dns`, `cap_add`... (appended without duplicates); `networks` and `depends_on` (list or map,
//! merged by name). The `!reset` tag removes a value, `!override` replaces it whole.

use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

const REPLACED: &[&str] = &["command", "entrypoint"];
const KEYED_MAPS: &[&str] = &["environment", "labels", "sysctls", "annotations", "extra_hosts"];
const BY_TARGET: &[&str] = &["volumes", "secrets", "configs", "ports", "devices"];
const NAMED: &[&str] = &["networks", "depends_on"];

fn tag_is(t: &TaggedValue, name: &str) -> bool {
    t.tag == Tag::new(name)
}

/// Merge two whole documents.
pub(crate) fn merge_documents(base: &Value, over: &Value) -> Value {
    let (Some(b), Some(o)) = (base.as_mapping(), over.as_mapping()) else { return over.clone() };
    let mut out = b.clone();
    for (k, v) in o {
        let key = k.as_str().unwrap_or("");
        let merged = match (key, out.get(k)) {
            ("services", Some(bs)) => {
                let (Some(bm), Some(om)) = (bs.as_mapping(), v.as_mapping()) else {
                    out.insert(k.clone(), v.clone());
                    continue;
                };
                let mut svcs = bm.clone();
                for (name, svc) in om {
                    let m = match svcs.get(name) {
                        Some(bsvc) => merge_service(bsvc, svc),
                        None => Some(svc.clone()),
                    };
                    match m {
                        Some(m) => svcs.insert(name.clone(), m),
                        None => svcs.remove(name),
                    };
                }
                Some(Value::Mapping(svcs))
            }
            (_, Some(bv)) => merge_generic(bv, v),
            (_, None) => Some(v.clone()),
        };
        match merged {
            Some(m) => out.insert(k.clone(), m),
            None => out.remove(k),
        };
    }
    Value::Mapping(out)
}

/// Merge service `over` onto service `base`; `None` when `over` is `!reset`.
pub(crate) fn merge_service(base: &Value, over: &Value) -> Option<Value> {
    if let Value::Tagged(t) = over {
        if tag_is(t, "reset") {
            return None;
        }
        if tag_is(t, "override") {
            return Some(t.value.clone());
        }
    }
    let (Some(b), Some(o)) = (base.as_mapping(), over.as_mapping()) else { return Some(over.clone()) };
    let mut out = b.clone();
    for (k, v) in o {
        let key = k.as_str().unwrap_or("");
        let merged = match out.get(k) {
            None => Some(v.clone()),
            Some(_) if matches!(v, Value::Tagged(t) if tag_is(t, "reset")) => None,
            Some(_) if matches!(v, Value::Tagged(t) if tag_is(t, "override")) => {
                Some(if let Value::Tagged(t) = v { t.value.clone() } else { v.clone() })
            }
            Some(bv) => Some(if REPLACED.contains(&key) {
                v.clone()
            } else if KEYED_MAPS.contains(&key) {
                merge_keyed(bv, v)
            } else if BY_TARGET.contains(&key) {
                merge_unique(key, bv, v)
            } else if NAMED.contains(&key) {
                merge_named(bv, v)
            } else if key == "build" {
                merge_build(bv, v)
            } else if key == "healthcheck" {
                merge_healthcheck(bv, v)
            } else {
                match merge_generic(bv, v) {
                    Some(m) => m,
                    None => {
                        out.remove(k);
                        continue;
                    }
                }
            }),
        };
        match merged {
            Some(m) => out.insert(k.clone(), m),
            None => out.remove(k),
        };
    }
    Some(Value::Mapping(out))
}

/// Mappings merged, sequences appended without duplicates, scalars replaced.
fn merge_generic(base: &Value, over: &Value) -> Option<Value> {
    match (base, over) {
        (_, Value::Tagged(t)) if tag_is(t, "reset") => None,
        (_, Value::Tagged(t)) if tag_is(t, "override") => Some(t.value.clone()),
        (Value::Mapping(b), Value::Mapping(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let m = match out.get(k) {
                    Some(bv) => merge_generic(bv, v),
                    None => Some(v.clone()),
                };
                match m {
                    Some(m) => out.insert(k.clone(), m),
                    None => out.remove(k),
                };
            }
            Some(Value::Mapping(out))
        }
        (Value::Sequence(b), Value::Sequence(o)) => {
            let mut out = b.clone();
            for v in o {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Some(Value::Sequence(out))
        }
        _ => Some(over.clone()),
    }
}

/// `KEY=VALUE` lists and mappings, merged by key.
pub(crate) fn to_keyed_map(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(s) => {
            let mut m = Mapping::new();
            for item in s {
                if let Some(s) = item.as_str() {
                    match s.split_once('=') {
                        Some((k, v)) => m.insert(Value::from(k), Value::from(v)),
                        None => m.insert(Value::from(s), Value::Null),
                    };
                }
            }
            m
        }
        _ => Mapping::new(),
    }
}

fn merge_keyed(base: &Value, over: &Value) -> Value {
    let mut out = to_keyed_map(base);
    for (k, v) in to_keyed_map(over) {
        out.insert(k, v);
    }
    Value::Mapping(out)
}

fn to_named_map(v: &Value, default: impl Fn() -> Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(s) => s.iter().map(|i| (i.clone(), default())).collect(),
        _ => Mapping::new(),
    }
}

fn merge_named(base: &Value, over: &Value) -> Value {
    let dflt = || Value::Null;
    let mut out = to_named_map(base, dflt);
    for (k, v) in to_named_map(over, dflt) {
        let m = match out.get(&k) {
            Some(bv) if !v.is_null() => merge_generic(bv, &v).unwrap_or(Value::Null),
            Some(bv) => bv.clone(),
            None => v,
        };
        out.insert(k, m);
    }
    Value::Mapping(out)
}

/// The unique key of an entry of `ports`, `volumes`, `secrets`, `configs`, `devices`.
fn unique_key(attr: &str, v: &Value) -> Value {
    match (attr, v) {
        ("volumes", Value::String(s)) | ("devices", Value::String(s)) => {
            let parts: Vec<&str> = s.split(':').collect();
            Value::from(if parts.len() >= 2 { parts[1] } else { parts[0] })
        }
        ("volumes", Value::Mapping(m)) | ("devices", Value::Mapping(m)) => {
            m.get("target").cloned().unwrap_or_else(|| v.clone())
        }
        ("secrets", Value::Mapping(m)) | ("configs", Value::Mapping(m)) => {
            m.get("target").or_else(|| m.get("source")).cloned().unwrap_or_else(|| v.clone())
        }
        ("ports", _) => match crate::convert::parse_ports_value(v) {
            Ok(ports) => Value::from(
                ports
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:{}:{}/{}",
                            p.host_ip.as_deref().unwrap_or(""),
                            p.published.as_deref().unwrap_or(""),
                            p.target,
                            p.protocol
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Err(_) => v.clone(),
        },
        _ => v.clone(),
    }
}

fn merge_unique(attr: &str, base: &Value, over: &Value) -> Value {
    let (Some(b), Some(o)) = (base.as_sequence(), over.as_sequence()) else { return over.clone() };
    let mut out = b.clone();
    for v in o {
        let key = unique_key(attr, v);
        match out.iter().position(|e| unique_key(attr, e) == key) {
            Some(i) => out[i] = v.clone(),
            None => out.push(v.clone()),
        }
    }
    Value::Sequence(out)
}

fn merge_build(base: &Value, over: &Value) -> Value {
    let norm = |v: &Value| match v {
        Value::String(s) => {
            let mut m = Mapping::new();
            m.insert(Value::from("context"), Value::from(s.clone()));
            Value::Mapping(m)
        }
        other => other.clone(),
    };
    let (b, o) = (norm(base), norm(over));
    let (Some(bm), Some(om)) = (b.as_mapping(), o.as_mapping()) else { return o };
    let mut out = bm.clone();
    for (k, v) in om {
        let m = match (k.as_str(), out.get(k)) {
            (Some("args") | Some("labels"), Some(bv)) => merge_keyed(bv, v),
            (_, Some(bv)) => merge_generic(bv, v).unwrap_or(Value::Null),
            (_, None) => v.clone(),
        };
        out.insert(k.clone(), m);
    }
    Value::Mapping(out)
}

fn merge_healthcheck(base: &Value, over: &Value) -> Value {
    let (Some(bm), Some(om)) = (base.as_mapping(), over.as_mapping()) else { return over.clone() };
    let mut out = bm.clone();
    for (k, v) in om {
        out.insert(k.clone(), v.clone());
    }
    Value::Mapping(out)
}

/// Remove `!reset` values and unwrap `!override` ones left after merging (or in one file).
pub(crate) fn strip_tags(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            let reset: Vec<Value> = m
                .iter()
                .filter(|(_, v)| matches!(v, Value::Tagged(t) if tag_is(t, "reset")))
                .map(|(k, _)| k.clone())
                .collect();
            for k in reset {
                m.remove(&k);
            }
            for (_, v) in m.iter_mut() {
                strip_tags(v);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(strip_tags),
        Value::Tagged(t) => {
            let mut inner = t.value.clone();
            strip_tags(&mut inner);
            *v = inner;
        }
        _ => {}
    }
}
