//! Health checks: probes run as execs on the container's schedule, with Docker's state rules.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::models as m;

use crate::containers::Container;
use crate::Engine;

/// How many results `State.Health.Log` keeps.
const KEEP: usize = 5;

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The command a probe runs, or None when health checks are disabled.
pub(crate) fn probe_command(test: &[String]) -> Option<Vec<String>> {
    match test.first().map(String::as_str) {
        Some("CMD") if test.len() > 1 => Some(test[1..].to_vec()),
        Some("CMD-SHELL") if test.len() > 1 => Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]),
        _ => None,
    }
}

/// The health a container starts with: `starting` when it has a check.
pub(crate) fn initial(cfg: &m::ContainerConfig) -> Option<m::Health> {
    let hc = cfg.healthcheck.as_ref()?;
    probe_command(hc.test.as_deref().unwrap_or_default())?;
    Some(m::Health { status: Some(m::HealthStatusEnum::STARTING), failing_streak: Some(0), log: Some(Vec::new()) })
}

/// Apply one probe result to the health state; returns the new status if it changed.
pub(crate) fn record(h: &mut m::Health, res: m::HealthcheckResult, retries: i64, in_start_period: bool) -> Option<m::HealthStatusEnum> {
    let ok = res.exit_code == Some(0);
    let before = h.status;
    let log = h.log.get_or_insert_with(Vec::new);
    log.push(res);
    if log.len() > KEEP {
        log.remove(0);
    }
    if ok {
        h.failing_streak = Some(0);
        h.status = Some(m::HealthStatusEnum::HEALTHY);
    } else if !in_start_period || before != Some(m::HealthStatusEnum::STARTING) {
        let streak = h.failing_streak.unwrap_or(0) + 1;
        h.failing_streak = Some(streak);
        if streak >= retries {
            h.status = Some(m::HealthStatusEnum::UNHEALTHY);
        }
    }
    (h.status != before).then_some(h.status).flatten()
}

/// Start the probe loop of a running container (if it has a health check).
pub(crate) fn spawn(engine: Arc<Engine>, c: Arc<Container>) {
    let rec = c.record();
    let Some(hc) = rec.config.healthcheck.clone() else { return };
    let Some(cmd) = probe_command(hc.test.as_deref().unwrap_or_default()) else { return };
    let interval = dur(hc.interval, Duration::from_secs(30));
    let timeout = dur(hc.timeout, Duration::from_secs(30));
    let start_period = dur(hc.start_period, Duration::ZERO);
    let start_interval = dur(hc.start_interval, Duration::from_secs(5));
    let retries = hc.retries.filter(|r| *r > 0).unwrap_or(3);
    let started_at = rec.state.started_at.clone();
    tokio::spawn(async move {
        let began = Instant::now();
        loop {
            let in_start = began.elapsed() < start_period;
            let wait = if in_start && hc.start_interval.is_some() { start_interval } else { interval };
            let mut life = c.life.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = life.wait_for(|l| !l.running) => return,
            }
            let rec = c.record();
            if rec.state.started_at != started_at || !rec.state.running() {
                return;
            }
            if rec.state.status == "paused" {
                continue;
            }
            let start = chrono::Utc::now();
            let r = tokio::time::timeout(timeout, engine.exec_collect(&c.id, cmd.clone())).await;
            let (code, output) = match r {
                Ok(Ok((code, out))) => (code, out),
                Ok(Err(e)) => (-1, e.to_string()),
                Err(_) => (-1, format!("Health check exceeded timeout ({}s)", timeout.as_secs())),
            };
            let res = m::HealthcheckResult { start: Some(start), end: Some(chrono::Utc::now()), exit_code: Some(code), output: Some(output) };
            let in_start = began.elapsed() < start_period;
            let changed = c.update(|r| r.state.health.as_mut().and_then(|h| record(h, res, retries, in_start)));
            let rec = c.record();
            if let Some(s) = changed {
                let name = crate::containers::wire_name(&s);
                engine.emit_container(&format!("health_status: {name}"), &rec, &[]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> m::HealthcheckResult {
        m::HealthcheckResult { exit_code: Some(code), ..Default::default() }
    }

    #[test]
    fn probe_commands_follow_the_test_form() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(probe_command(&s(&["CMD", "true"])), Some(s(&["true"])));
        assert_eq!(probe_command(&s(&["CMD-SHELL", "exit 0"])), Some(s(&["/bin/sh", "-c", "exit 0"])));
        assert_eq!(probe_command(&s(&["NONE"])), None);
        assert_eq!(probe_command(&[]), None);
    }

    #[test]
    fn states_move_as_docker() {
        let mut h = m::Health { status: Some(m::HealthStatusEnum::STARTING), failing_streak: Some(0), log: Some(vec![]) };
        // Failures inside the start period do not count while starting.
        assert_eq!(record(&mut h, res(1), 2, true), None);
        assert_eq!(h.failing_streak, Some(0));
        assert_eq!(record(&mut h, res(0), 2, true), Some(m::HealthStatusEnum::HEALTHY));
        assert_eq!(record(&mut h, res(1), 2, false), None);
        assert_eq!(record(&mut h, res(1), 2, false), Some(m::HealthStatusEnum::UNHEALTHY));
        for _ in 0..10 {
            record(&mut h, res(1), 2, false);
        }
        assert_eq!(h.log.as_ref().unwrap().len(), KEEP);
    }
}
