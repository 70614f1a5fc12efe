//! Loading: input documents (+ environment) -> expected model facts or expected error text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_compose::*;

type Docs<'a> = &'a [(&'a str, &'a str)];

fn opts(env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        working_dir: PathBuf::from("/nonexistent/myproj"),
        environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn err(docs: &[(&str, &str)], env: &[(&str, &str)]) -> String {
    match load_from_str(docs, &opts(env)) {
        Ok(p) => panic!("expected an error, loaded {p:#?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_the_file_and_the_key() {
    let table: &[(Docs, Docs, &str)] = &[
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    ports: [\"x\"]\n")], &[], "compose.yaml: services.web.ports[0]: invalid port \"x\""),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    prots: [\"80\"]\n")], &[], "compose.yaml: services.web.prots: additional property not allowed (not a compose key)"),
        (&[("compose.yaml", "servics: {}\n")], &[], "compose.yaml: servics: additional property not allowed (not a compose key)"),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    privileged: maybe\n")], &[], "compose.yaml: services.web.privileged: must be a boolean, not \"maybe\""),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    environment: 3\n")], &[], "compose.yaml: services.web.environment: must be a mapping or a list, not a number"),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    volumes: [\"data\"]\n")], &[], "compose.yaml: services.web.volumes[0]: invalid volume \"data\": the target must be an absolute path"),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    volumes: [\"data:/d\"]\n")], &[], "compose.yaml: services.web.volumes[0]: service \"web\" refers to undefined volume \"data\""),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    networks: [front]\n")], &[], "compose.yaml: services.web.networks.front: service \"web\" refers to undefined network \"front\""),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    secrets: [pw]\n")], &[], "compose.yaml: services.web.secrets[0]: service \"web\" refers to undefined secret \"pw\""),
        (&[("compose.yaml", "services:\n  web:\n    image: nginx\n    depends_on: [db]\n")], &[], "compose.yaml: services.web.depends_on.db: service \"web\" depends on undefined service \"db\""),
        (&[("compose.yaml", "services:\n  web:\n    build: {}\n    restart: sometimes\n")], &[], "compose.yaml: services.web.restart: invalid restart policy \"sometimes\""),
        (&[("compose.yaml", "services:\n  web: {}\n")], &[], "compose.yaml: services.web: has neither an image nor a build context specified"),
        (
            &[("compose.yaml", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n")],
            &[],
            "services.a.depends_on contains a cycle: a -> b -> a",
        ),
        (
            &[("compose.yaml", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: {c: {condition: service_healthy}}\n  c:\n    image: x\n    depends_on: [b]\n")],
            &[],
            "services.b.depends_on contains a cycle: b -> c -> b",
        ),
        (
            &[("compose.yaml", "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?need a password}\n")],
            &[],
            "required variable DB_PASSWORD is missing a value: need a password",
        ),
        (&[("compose.yaml", "services:\n  web:\n    image: ${TAG:?}\n")], &[], "required variable TAG is missing a value"),
        (&[("compose.yaml", "services:\n  web:\n    image: ${TAG\n")], &[], "compose.yaml: services.web.image: invalid interpolation format for \"${TAG\": unterminated \"${\""),
        // the error names the file of several that holds the mistake
        (
            &[("compose.yaml", "services:\n  web:\n    image: nginx\n"), ("override.yaml", "services:\n  web:\n    ports:\n      - target: 80\n        published: lots\n")],
            &[],
            "override.yaml: services.web.ports[0]: invalid published port \"lots\"",
        ),
        (&[("compose.yaml", "- a\n- b\n")], &[], "compose.yaml: the top level must be a mapping"),
        (&[("compose.yaml", "services:\n  a:\n    extends: b\n  b:\n    extends: a\n")], &[], "services.a.extends contains a cycle: a -> b -> a"),
        (&[("compose.yaml", "name: My App\nservices: {}\n")], &[], "compose.yaml: name: \"My App\" is not a valid project name: use lowercase letters, digits, dashes and underscores, starting with a letter or digit"),
        (
            &[("compose.yaml", "services:\n  web:\n    image: x\n    depends_on: [dbg]\n  dbg:\n    image: x\n    profiles: [debug]\n")],
            &[],
            "compose.yaml: services.web.depends_on.dbg: service \"web\" depends on \"dbg\", which is disabled by its profiles",
        ),
        (&[("compose.yaml", "services:\n  \"a b\":\n    image: x\n")], &[], "compose.yaml: services.a b: invalid service name \"a b\": use letters, digits, '.', '_' and '-'"),
        (
            &[("compose.yaml", "services:\n  a:\n    image: x\n    container_name: one\n    deploy: {replicas: 2}\n")],
            &[],
            "compose.yaml: services.a.container_name: service \"a\" has a container_name and cannot run 2 replicas",
        ),
    ];
    for (docs, env, want) in table {
        assert_eq!(err(docs, env), *want, "docs {docs:?}");
    }
}

#[test]
fn interpolation_and_env() {
    let doc = "services:\n  web:\n    image: \"nginx:${TAG:-latest}\"\n    command: echo $$HOME ${GREETING-hi} ${EMPTY:-x}${EMPTY-y}\n    environment:\n      - FROM_HOST\n      - UNSET_ONE\n      - PLAIN=1\n    labels:\n      alt: ${TAG:+tagged}\n";
    let p = load_from_str(&[("compose.yaml", doc)], &opts(&[("FROM_HOST", "h"), ("EMPTY", "")])).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:latest"));
    assert_eq!(web.command, Some(vec!["echo".into(), "$HOME".into(), "hi".into(), "x".into()]));
    let env: Vec<(&str, Option<&str>)> = web.environment.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
    assert_eq!(env, vec![("FROM_HOST", Some("h")), ("PLAIN", Some("1")), ("UNSET_ONE", None)]);
    assert_eq!(web.labels["alt"], "");

    // .env in the project directory, under the process environment
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "TAG=1.25\nGREETING=hello\n").unwrap();
    std::fs::write(dir.path().join("web.env"), "A=from_file\nB=from_file\n").unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx:${TAG}\n    command: [echo, \"${GREETING}\"]\n    env_file: web.env\n    environment:\n      B: override\n",
    )
    .unwrap();
    let o = LoadOptions {
        working_dir: dir.path().to_path_buf(),
        environment: [("GREETING".to_string(), "from-shell".to_string())].into(),
        ..Default::default()
    };
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(web.command, Some(vec!["echo".into(), "from-shell".into()]));
    assert_eq!(web.environment["A"].as_deref(), Some("from_file"));
    assert_eq!(web.environment["B"].as_deref(), Some("override"));
    assert_eq!(p.config_files, vec![dir.path().join("compose.yaml")]);
    assert_eq!(p.working_dir, dir.path());
}

#[test]
fn project_names() {
    let table: &[(Option<&str>, Docs, &str, &str)] = &[
        (None, &[], "services: {}\n", "myproj"),
        (None, &[], "name: fromfile\nservices: {}\n", "fromfile"),
        (None, &[("COMPOSE_PROJECT_NAME", "fromenv")], "name: fromfile\nservices: {}\n", "fromenv"),
        (Some("flag"), &[("COMPOSE_PROJECT_NAME", "fromenv")], "name: fromfile\n", "flag"),
        (None, &[("N", "interp")], "name: ${N}\n", "interp"),
    ];
    for (flag, env, doc, want) in table {
        let mut o = opts(env);
        o.project_name = flag.map(String::from);
        assert_eq!(load_from_str(&[("compose.yaml", doc)], &o).unwrap().name, *want, "{doc:?}");
    }
    for (dir, want) in [("My.App Dir", "myappdir"), ("_x-Y_1", "x-y_1")] {
        assert_eq!(normalize_project_name(dir), want);
    }
}

#[test]
fn merge_rules() {
    let base = "services:
  web:
    image: nginx
    command: [a, b]
    environment: [A=1, B=2]
    labels: {l1: x}
    ports: [\"8080:80\", \"443:443\"]
    expose: [\"80\"]
    dns: [1.1.1.1]
    volumes: [\"./a:/data\", \"/cache\"]
    networks: [front]
    depends_on: [db]
    healthcheck: {test: [CMD, a], interval: 10s}
  db:
    image: postgres
    ports: [\"5432:5432\"]
networks:
  front: {}
  back: {driver: bridge}
";
    let over = "services:
  web:
    image: nginx:2
    command: [c]
    environment: {B: '3', C: '4'}
    labels: [l2=y]
    ports: [\"8080:80\", \"9000:90\"]
    expose: [\"80\", \"81\"]
    dns: [8.8.8.8]
    volumes: [{type: bind, source: ./b, target: /data, read_only: true}]
    networks: {back: {aliases: [w]}}
    depends_on: {db: {condition: service_healthy}}
    healthcheck: {test: [CMD, b]}
  db:
    ports: !reset []
  extra:
    image: busybox
    profiles: [never]
networks:
  back: {internal: true}
";
    let p = load_from_str(&[("compose.yaml", base), ("compose.override.yaml", over)], &opts(&[])).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:2"));
    assert_eq!(web.command, Some(vec!["c".into()]));
    let env: Vec<(&str, &str)> = web.environment.iter().map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or(""))).collect();
    assert_eq!(env, vec![("A", "1"), ("B", "3"), ("C", "4")]);
    assert_eq!(web.labels.len(), 2);
    let ports: Vec<(u16, Option<&str>)> = web.ports.iter().map(|p| (p.target, p.published.as_deref())).collect();
    assert_eq!(ports, vec![(80, Some("8080")), (443, Some("443")), (90, Some("9000"))]);
    assert_eq!(web.expose, vec!["80", "81"]);
    assert_eq!(web.dns, vec!["1.1.1.1", "8.8.8.8"]);
    let vols: Vec<(&str, Option<&str>, bool)> = web.volumes.iter().map(|v| (v.target.as_str(), v.source.as_deref(), v.read_only)).collect();
    assert_eq!(vols, vec![("/data", Some("/nonexistent/myproj/b"), true), ("/cache", None, false)]);
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), vec!["back", "front"]);
    assert_eq!(web.networks["back"].aliases, vec!["w"]);
    assert_eq!(web.depends_on["db"].condition, Condition::ServiceHealthy);
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, vec!["CMD", "b"]);
    assert_eq!(hc.interval, Some(std::time::Duration::from_secs(10)));
    assert!(p.services["db"].ports.is_empty());
    assert!(p.networks["back"].internal);
    assert_eq!(p.networks["back"].driver.as_deref(), Some("bridge"));
    assert!(p.disabled_services.contains_key("extra"));
    assert!(!p.services.contains_key("extra"));
    // db names no network: it is on `default`, which is added
    assert_eq!(p.networks["default"].name, "myproj_default");
    assert_eq!(p.networks["front"].name, "myproj_front");
}

#[test]
fn extends_and_profiles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("common")).unwrap();
    std::fs::write(
        dir.path().join("common/base.yaml"),
        "services:\n  base:\n    image: alpine\n    build: ./ctx\n    environment: {FROM: base, KEEP: 1}\n    volumes: [\"./data:/data\"]\n",
    )
    .unwrap();
    let doc = "services:
  app:
    extends: {file: common/base.yaml, service: base}
    environment: {FROM: app}
  tool:
    extends: app
    command: run
    profiles: [tools]
  dbg:
    image: busybox
    profiles: [debug, tools]
";
    std::fs::write(dir.path().join("compose.yaml"), doc).unwrap();
    let mut o = LoadOptions { working_dir: dir.path().to_path_buf(), ..Default::default() };
    let p = load(&o).unwrap();
    let app = &p.services["app"];
    assert_eq!(app.image.as_deref(), Some("alpine"));
    assert_eq!(app.environment["FROM"].as_deref(), Some("app"));
    assert_eq!(app.environment["KEEP"].as_deref(), Some("1"));
    assert_eq!(app.build.as_ref().unwrap().context, dir.path().join("common/ctx"));
    assert_eq!(app.volumes[0].source.as_deref(), Some(dir.path().join("common/data").to_str().unwrap()));
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["app"]);
    assert_eq!(p.disabled_services.keys().collect::<Vec<_>>(), vec!["dbg", "tool"]);

    o.profiles = vec!["tools".into()];
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["app", "dbg", "tool"]);
    assert_eq!(p.services["tool"].command, Some(vec!["run".into()]));
    assert_eq!(p.services["tool"].environment["FROM"].as_deref(), Some("app"));

    o.profiles.clear();
    o.environment.insert("COMPOSE_PROFILES".into(), "debug".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["app", "dbg"]);
}

#[test]
fn default_files_and_compose_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = LoadOptions { working_dir: dir.path().to_path_buf(), ..Default::default() };
    assert_eq!(load(&o).unwrap_err().to_string(), format!("no configuration file provided: not found in {}", dir.path().display()));
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  a:\n    image: x\n").unwrap();
    std::fs::write(dir.path().join("docker-compose.override.yml"), "services:\n  a:\n    image: y\n").unwrap();
    assert_eq!(load(&o).unwrap().services["a"].image.as_deref(), Some("y"));
    std::fs::write(dir.path().join("other.yaml"), "services:\n  b:\n    image: z\n").unwrap();
    let mut o2 = o.clone();
    o2.environment = BTreeMap::from([("COMPOSE_FILE".to_string(), "other.yaml".to_string())]);
    assert_eq!(load(&o2).unwrap().services.keys().collect::<Vec<_>>(), vec!["b"]);
    let mut o3 = o.clone();
    o3.files = vec!["docker-compose.yml".into(), "other.yaml".into()];
    let p = load(&o3).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(p.services["a"].image.as_deref(), Some("x"));
    let mut o4 = o.clone();
    o4.env_files = vec!["missing.env".into()];
    assert!(load(&o4).unwrap_err().to_string().starts_with(&format!("{}: ", dir.path().join("missing.env").display())));
}

#[test]
fn short_and_long_syntax_normalise_alike() {
    let short = "services:\n  s:\n    image: x\n    ports: [\"127.0.0.1:8080:80/udp\"]\n    volumes: [\"data:/d:ro,nocopy\", \"./h:/h\"]\nvolumes:\n  data: {}\n";
    let long = "services:
  s:
    image: x
    ports: [{target: 80, published: \"8080\", host_ip: 127.0.0.1, protocol: udp}]
    volumes:
      - {type: volume, source: data, target: /d, read_only: true, volume: {nocopy: true}}
      - {type: bind, source: ./h, target: /h, bind: {create_host_path: true}}
volumes:
  data: {}
";
    let a = load_from_str(&[("compose.yaml", short)], &opts(&[])).unwrap();
    let b = load_from_str(&[("compose.yaml", long)], &opts(&[])).unwrap();
    assert_eq!(a.services, b.services);
    assert_eq!(a.to_yaml(), b.to_yaml());
}

#[test]
fn warnings_for_ignored_keys() {
    let p = load_from_str(&[("compose.yaml", "version: '3.8'\nservices:\n  s:\n    image: x\n    ulimits: {nofile: 10}\n    x-mine: 1\nx-top: {a: 1}\n")], &opts(&[])).unwrap();
    assert_eq!(p.warnings, vec!["the attribute `version` is obsolete, it will be ignored", "services.s.ulimits is not supported and is ignored"]);
}

#[test]
fn anchors_merge_keys_and_legacy_forms() {
    let doc = r#"
version: "3.7"
x-common: &common
  restart: unless-stopped
  environment:
    SHARED: "1"
services:
  a:
    <<: *common
    image: x
    healthcheck:
      test: ["CMD-SHELL", "test $$(cat /ready) = ok"]
      disable: false
  b:
    <<: *common
    image: y
    restart: "no"
    mem_limit: 64m
    cpus: 1.5
    pids_limit: 20
    volumes: [old:/old]
volumes:
  old:
    external:
      name: legacy_volume
"#;
    let p = load_from_str(&[("docker-compose.yml", doc)], &opts(&[])).unwrap();
    assert_eq!(p.services["a"].restart.as_deref(), Some("unless-stopped"));
    assert_eq!(p.services["a"].environment["SHARED"].as_deref(), Some("1"));
    assert_eq!(p.services["a"].healthcheck.as_ref().unwrap().test, vec!["CMD-SHELL", "test $(cat /ready) = ok"]);
    assert_eq!(p.services["b"].restart.as_deref(), Some("no"));
    let limits = &p.services["b"].deploy.as_ref().unwrap().limits;
    assert_eq!((limits.memory, limits.cpus, limits.pids), (Some(64 << 20), Some(1.5), Some(20)));
    assert!(p.volumes["old"].external);
    assert_eq!(p.volumes["old"].name, "legacy_volume");
}
