//! The event bus: every container and image event, kept briefly for `since` and broadcast live.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::models as m;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use crate::service::Filters;

/// How many past events `GET /events?since=` can replay.
const HISTORY: usize = 1024;

pub(crate) struct Events {
    tx: broadcast::Sender<m::EventMessage>,
    history: Mutex<VecDeque<m::EventMessage>>,
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

impl Events {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Events { tx, history: Mutex::new(VecDeque::with_capacity(HISTORY)) }
    }

    /// Publish an event about an object of `typ` (`container`, `image`, ...).
    pub(crate) fn emit(&self, typ: m::EventMessageTypeEnum, action: &str, id: &str, attributes: HashMap<String, String>) {
        let nanos = now_nanos();
        let ev = m::EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(m::EventActor { id: Some(id.to_string()), attributes: Some(attributes) }),
            scope: Some(m::EventMessageScopeEnum::LOCAL),
            time: Some(nanos / 1_000_000_000),
            time_nano: Some(nanos),
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.tx.send(ev);
    }

    /// Past events from `since`, then live ones until `until`, all matching `filters`.
    pub(crate) fn subscribe(&self, since: Option<f64>, until: Option<f64>, filters: Filters) -> BoxStream<'static, m::EventMessage> {
        let rx = self.tx.subscribe();
        let past: Vec<m::EventMessage> = match since {
            None => Vec::new(),
            Some(s) => {
                let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
                h.iter().filter(|e| e.time_nano.unwrap_or(0) as f64 / 1e9 >= s).cloned().collect()
            }
        };
        let until_nanos = until.map(|u| (u * 1e9) as i64);
        let f1 = filters.clone();
        let past = stream::iter(past.into_iter().filter(move |e| matches(e, &f1)));
        let past = past.take_while(move |e| {
            let ok = until_nanos.is_none_or(|u| e.time_nano.unwrap_or(0) <= u);
            async move { ok }
        });
        if let Some(u) = until_nanos {
            if u <= now_nanos() {
                return past.boxed();
            }
        }
        let live = stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| {
            let ok = matches(e, &filters);
            async move { ok }
        });
        let live: BoxStream<'static, m::EventMessage> = match until_nanos {
            None => live.boxed(),
            Some(u) => {
                let deadline = tokio::time::Instant::now()
                    + std::time::Duration::from_nanos((u - now_nanos()).max(0) as u64);
                live.take_until(tokio::time::sleep_until(deadline))
                    .take_while(move |e| {
                        let ok = e.time_nano.unwrap_or(0) <= u;
                        async move { ok }
                    })
                    .boxed()
            }
        };
        past.chain(live).boxed()
    }
}

fn type_name(t: Option<&m::EventMessageTypeEnum>) -> String {
    t.map(crate::containers::wire_name).unwrap_or_default()
}

/// Docker's event filters: `type`, `event`, `container`, `image`, `label`; values of one key
/// are alternatives, keys must all match.
pub(crate) fn matches(e: &m::EventMessage, filters: &Filters) -> bool {
    let typ = type_name(e.typ.as_ref());
    let action = e.action.clone().unwrap_or_default();
    let id = e.actor.as_ref().and_then(|a| a.id.clone()).unwrap_or_default();
    let empty = HashMap::new();
    let attrs = e.actor.as_ref().and_then(|a| a.attributes.as_ref()).unwrap_or(&empty);
    let name = attrs.get("name").cloned().unwrap_or_default();
    for (key, values) in filters {
        if values.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "type" => values.contains(&typ),
            "event" => values.iter().any(|v| *v == action || action.starts_with(&format!("{v}:"))),
            "container" => typ == "container" && values.iter().any(|v| *v == name || id.starts_with(v.as_str())),
            "image" => values.iter().any(|v| {
                attrs.get("image").is_some_and(|i| i == v) || (typ == "image" && (id == *v || id.starts_with(v.as_str())))
            }),
            "label" => values.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => attrs.get(k).is_some_and(|x| x == val),
                None => attrs.contains_key(v.as_str()),
            }),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, name: &str) -> m::EventMessage {
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), name.to_string());
        attrs.insert("image".to_string(), "busybox".to_string());
        attrs.insert("app".to_string(), "web".to_string());
        m::EventMessage {
            typ: Some(m::EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(m::EventActor { id: Some("abc123".into()), attributes: Some(attrs) }),
            ..Default::default()
        }
    }

    #[test]
    fn filters_match_as_docker() {
        let f = |pairs: &[(&str, &[&str])]| -> Filters {
            pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
        };
        let e = ev("health_status: healthy", "web1");
        for (filters, want) in [
            (f(&[]), true),
            (f(&[("type", &["container"])]), true),
            (f(&[("type", &["image"])]), false),
            (f(&[("event", &["health_status"])]), true),
            (f(&[("event", &["die", "start"])]), false),
            (f(&[("container", &["web1"])]), true),
            (f(&[("container", &["abc"])]), true),
            (f(&[("container", &["other"])]), false),
            (f(&[("label", &["app=web"])]), true),
            (f(&[("label", &["app=db"])]), false),
            (f(&[("image", &["busybox"]), ("type", &["container"])]), true),
        ] {
            assert_eq!(matches(&e, &filters), want, "{filters:?}");
        }
    }

    #[tokio::test]
    async fn since_replays_history_and_until_ends_the_stream() {
        let bus = Events::new();
        bus.emit(m::EventMessageTypeEnum::CONTAINER, "create", "a", HashMap::new());
        bus.emit(m::EventMessageTypeEnum::CONTAINER, "start", "a", HashMap::new());
        let now = now_nanos() as f64 / 1e9;
        let got: Vec<_> = bus.subscribe(Some(0.0), Some(now), Filters::new()).collect().await;
        let actions: Vec<_> = got.iter().map(|e| e.action.clone().unwrap()).collect();
        assert_eq!(actions, vec!["create", "start"]);
    }
}
