//! Table tests of `berth_runtime::merge`: image config + create request -> resolved config.

use berth_runtime::merge::{
    command_line, effective_healthcheck, merge, parse_signal, replace_or_append_env, MergeContext,
};
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody};
use expect_test::expect;
use serde_json::{json, Value};

/// Compact JSON with object keys sorted, whatever serde_json's map order is.
fn canon(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canon(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn ctx() -> MergeContext {
    MergeContext {
        container_id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        host_hostname: "buildhost".into(),
    }
}

/// (name, image config or null, request) -> the resolved config, or the error.
fn cases() -> Vec<(&'static str, Value, Value)> {
    let img = json!({
        "Env": ["PATH=/usr/bin:/bin", "LANG=C"],
        "Cmd": ["sh"],
        "Entrypoint": ["/entry.sh"],
        "WorkingDir": "/app",
        "User": "app",
        "Labels": {"maintainer": "img", "version": "1"},
        "StopSignal": "SIGQUIT",
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "Healthcheck": {"Test": ["CMD", "check"], "Interval": 30000000000i64, "Retries": 3}
    });
    vec![
        ("image defaults only", img.clone(), json!({"Image": "app"})),
        (
            "request cmd overrides image cmd",
            img.clone(),
            json!({"Cmd": ["bash", "-l"]}),
        ),
        (
            "request entrypoint drops image cmd",
            img.clone(),
            json!({"Entrypoint": ["/bin/top"]}),
        ),
        (
            "request entrypoint and cmd",
            img.clone(),
            json!({"Entrypoint": ["/bin/top"], "Cmd": ["-b"]}),
        ),
        (
            "empty-string entrypoint resets",
            img.clone(),
            json!({"Entrypoint": [""], "Cmd": ["ls"]}),
        ),
        (
            "empty-string entrypoint without cmd",
            img.clone(),
            json!({"Entrypoint": [""]}),
        ),
        (
            "empty entrypoint list keeps image cmd only",
            img.clone(),
            json!({"Entrypoint": []}),
        ),
        ("no command at all", json!({"Env": ["A=1"]}), json!({})),
        ("no image config", Value::Null, json!({"Cmd": ["true"]})),
        (
            "env: request first, image names not set by request appended",
            img.clone(),
            json!({"Env": ["LANG=en_US.UTF-8", "FOO=bar"]}),
        ),
        (
            "working dir from request, cleaned",
            img.clone(),
            json!({"WorkingDir": "/srv/./x/../y/"}),
        ),
        (
            "relative working dir",
            img.clone(),
            json!({"WorkingDir": "srv"}),
        ),
        (
            "user from request",
            img.clone(),
            json!({"User": "1000:1000"}),
        ),
        (
            "labels: image then request",
            img.clone(),
            json!({"Labels": {"version": "2", "team": "x"}}),
        ),
        (
            "stop signal from request",
            img.clone(),
            json!({"StopSignal": "9"}),
        ),
        (
            "bad stop signal",
            img.clone(),
            json!({"StopSignal": "SIGFOO"}),
        ),
        (
            "healthcheck NONE disables",
            img.clone(),
            json!({"Healthcheck": {"Test": ["NONE"]}}),
        ),
        (
            "healthcheck fields inherit when zero",
            img.clone(),
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Timeout": 5000000000i64}}),
        ),
        (
            "healthcheck interval too short",
            img.clone(),
            json!({"Healthcheck": {"Interval": 10}}),
        ),
        (
            "exposed ports and volumes union",
            img.clone(),
            json!({"ExposedPorts": {"443/tcp": {}, "80/tcp": {}}, "Volumes": {"/cache": {}}}),
        ),
        (
            "hostname from request",
            img.clone(),
            json!({"Hostname": "web", "Domainname": "example.com"}),
        ),
        (
            "hostname on host network",
            img.clone(),
            json!({"HostConfig": {"NetworkMode": "host"}}),
        ),
        ("empty env name", img.clone(), json!({"Env": ["=x"]})),
    ]
}

fn render(image: &Value, request: &Value) -> String {
    let image: Option<ContainerConfig> = if image.is_null() {
        None
    } else {
        Some(serde_json::from_value(image.clone()).expect("image config"))
    };
    let request: ContainerCreateBody = serde_json::from_value(request.clone()).expect("request");
    match merge(image.as_ref(), &request, &ctx()) {
        Ok(c) => {
            let enabled = effective_healthcheck(&c).is_some();
            let args = command_line(&c);
            let mut v = serde_json::to_value(&c).expect("serialize");
            if let Value::Object(m) = &mut v {
                m.insert("(args)".into(), json!(args));
                m.insert("(healthcheck enabled)".into(), json!(enabled));
            }
            canon(&v)
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn merge_table() {
    let mut out = String::new();
    for (name, image, request) in cases() {
        out.push_str(&format!("{name}\n  {}\n", render(&image, &request)));
    }
    expect![[r#"
        image defaults only
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Image":"app","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        request cmd overrides image cmd
          {"(args)":["/entry.sh","bash","-l"],"(healthcheck enabled)":true,"Cmd":["bash","-l"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        request entrypoint drops image cmd
          {"(args)":["/bin/top"],"(healthcheck enabled)":true,"Entrypoint":["/bin/top"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        request entrypoint and cmd
          {"(args)":["/bin/top","-b"],"(healthcheck enabled)":true,"Cmd":["-b"],"Entrypoint":["/bin/top"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        empty-string entrypoint resets
          {"(args)":["ls"],"(healthcheck enabled)":true,"Cmd":["ls"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        empty-string entrypoint without cmd
          error: no command specified
        empty entrypoint list keeps image cmd only
          {"(args)":["sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":[],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        no command at all
          error: no command specified
        no image config
          {"(args)":["true"],"(healthcheck enabled)":false,"Cmd":["true"],"Hostname":"0123456789ab","Labels":{}}
        env: request first, image names not set by request appended
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["LANG=en_US.UTF-8","FOO=bar","PATH=/usr/bin:/bin"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        working dir from request, cleaned
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/srv/y"}
        relative working dir
          error: the working directory 'srv' is invalid, it needs to be an absolute path
        user from request
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"1000:1000","Volumes":{"/data":{}},"WorkingDir":"/app"}
        labels: image then request
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","team":"x","version":"2"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        stop signal from request
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"9","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        bad stop signal
          error: invalid signal: SIGFOO
        healthcheck NONE disables
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":false,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["NONE"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        healthcheck fields inherit when zero
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD-SHELL","curl -f localhost"],"Timeout":5000000000},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        healthcheck interval too short
          error: Interval in Healthcheck cannot be less than 1ms
        exposed ports and volumes union
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"0123456789ab","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/cache":{},"/data":{}},"WorkingDir":"/app"}
        hostname from request
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Domainname":"example.com","Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"web","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        hostname on host network
          {"(args)":["/entry.sh","sh"],"(healthcheck enabled)":true,"Cmd":["sh"],"Entrypoint":["/entry.sh"],"Env":["PATH=/usr/bin:/bin","LANG=C"],"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Interval":30000000000,"Retries":3,"Test":["CMD","check"]},"Hostname":"buildhost","Labels":{"maintainer":"img","version":"1"},"StopSignal":"SIGQUIT","User":"app","Volumes":{"/data":{}},"WorkingDir":"/app"}
        empty env name
          error: invalid environment variable: =x
    "#]].assert_eq(&out);
}

#[test]
fn env_replace_or_append_table() {
    let defaults: Vec<String> = ["PATH=/bin", "HOSTNAME=abc", "TERM=xterm"]
        .map(String::from)
        .to_vec();
    let cases: &[(&[&str], &str)] = &[
        (&[], "PATH=/bin HOSTNAME=abc TERM=xterm"),
        (&["PATH=/usr/bin"], "PATH=/usr/bin HOSTNAME=abc TERM=xterm"),
        (&["A=1", "B=2"], "PATH=/bin HOSTNAME=abc TERM=xterm A=1 B=2"),
        (&["TERM"], "PATH=/bin HOSTNAME=abc"),
        (&["A=1", "A=2"], "PATH=/bin HOSTNAME=abc TERM=xterm A=2"),
        (&["HOSTNAME=", "X"], "PATH=/bin HOSTNAME= TERM=xterm"),
    ];
    for (overrides, want) in cases {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            replace_or_append_env(&defaults, &o).join(" "),
            *want,
            "{overrides:?}"
        );
    }
}

#[test]
fn signal_table() {
    let cases: &[(&str, Option<i32>)] = &[
        ("SIGTERM", Some(15)),
        ("term", Some(15)),
        ("KILL", Some(9)),
        ("9", Some(9)),
        ("0", None),
        ("SIGRTMIN+3", Some(37)),
        ("RTMAX-1", Some(63)),
        ("RTMAX", Some(64)),
        ("SIGFOO", None),
        ("-1", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_signal(s).ok(), *want, "{s}");
    }
}
