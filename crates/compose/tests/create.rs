//! The requests a project makes: `to_yaml`, `container_create`, `network_create`,
//! `volume_create`, `config_hash`, `start_order`.

use std::path::PathBuf;

use berth_compose::*;
use berth_compose::plan;
use expect_test::expect;

/// The issue's application: a web server, a worker and a key-value store with a user network,
/// a named volume, published ports and a `service_healthy` dependency.
const APP: &str = r#"
name: shop
services:
  web:
    image: web:local
    ports: ["8080:80", "127.0.0.1::443"]
    environment: {KV: kv:6379}
    depends_on:
      kv: {condition: service_healthy}
    networks:
      back:
        aliases: [www]
    labels: [tier=front]
    restart: on-failure:3
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 256m, pids: 100}
  worker:
    build: {context: ./worker, args: [MODE=fast]}
    command: sh -c 'work --loop'
    depends_on: [kv]
    networks: [back]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    tmpfs: ["/tmp:size=1m"]
    init: true
    read_only: true
    secrets: [token]
    configs: [{source: conf, target: /etc/worker.conf}]
    volumes:
      - ./src:/src:ro
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m}}
    stop_grace_period: 1m30s
    deploy: {replicas: 2}
  kv:
    image: kv:local
    volumes: ["kvdata:/data"]
    networks: [back]
    healthcheck:
      test: kv-cli ping
      interval: 1s
      retries: 30
    expose: ["6379"]
networks:
  back: {driver: bridge, ipam: {config: [{subnet: 172.28.0.0/16}]}}
volumes:
  kvdata: {labels: {keep: "yes"}}
secrets:
  token: {file: ./token.txt}
configs:
  conf: {file: ./worker.conf}
"#;

fn app() -> Project {
    let o = LoadOptions { working_dir: PathBuf::from("/srv/shop"), ..Default::default() };
    load_from_str(&[("compose.yaml", APP)], &o).unwrap()
}

/// JSON with object keys sorted, whatever the map types underneath.
fn canonical(v: impl serde::Serialize) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    serde_json::to_string_pretty(&sort(serde_json::to_value(v).unwrap())).unwrap()
}

#[test]
fn start_order_puts_dependencies_first() {
    assert_eq!(app().start_order().unwrap(), vec!["kv", "web", "worker"]);
}

#[test]
fn config_yaml() {
    expect![[r#"
        configs:
          conf:
            file: /srv/shop/worker.conf
            name: shop_conf
        name: shop
        networks:
          back:
            driver: bridge
            ipam:
              config:
              - subnet: 172.28.0.0/16
            name: shop_back
        secrets:
          token:
            file: /srv/shop/token.txt
            name: shop_token
        services:
          kv:
            expose:
            - '6379'
            healthcheck:
              interval: 1s
              retries: 30
              test:
              - CMD-SHELL
              - kv-cli ping
            image: kv:local
            networks:
              back: null
            volumes:
            - source: kvdata
              target: /data
              type: volume
          web:
            depends_on:
              kv:
                condition: service_healthy
                required: true
                restart: false
            deploy:
              resources:
                limits:
                  cpus: 0.5
                  memory: 268435456
                  pids: 100
            environment:
              KV: kv:6379
            image: web:local
            labels:
              tier: front
            networks:
              back:
                aliases:
                - www
            ports:
            - mode: ingress
              protocol: tcp
              published: '8080'
              target: 80
            - host_ip: 127.0.0.1
              mode: ingress
              protocol: tcp
              target: 443
            restart: on-failure:3
          worker:
            build:
              args:
                MODE: fast
              context: /srv/shop/worker
              dockerfile: Dockerfile
            cap_add:
            - NET_ADMIN
            cap_drop:
            - ALL
            command:
            - sh
            - -c
            - work --loop
            configs:
            - source: conf
              target: /etc/worker.conf
            depends_on:
              kv:
                condition: service_started
                required: true
                restart: false
            deploy:
              replicas: 2
            init: true
            networks:
              back: null
            read_only: true
            secrets:
            - source: token
            stop_grace_period: 1m30s
            tmpfs:
            - /tmp:size=1m
            volumes:
            - bind:
                create_host_path: true
              read_only: true
              source: /srv/shop/src
              target: /src
              type: bind
            - target: /scratch
              tmpfs:
                size: 1048576
              type: tmpfs
        volumes:
          kvdata:
            labels:
              keep: yes
            name: shop_kvdata
    "#]].assert_eq(&app().to_yaml());
}

#[test]
fn web_container() {
    let p = app();
    let (name, mut body) = p.container_create("web", 1).unwrap();
    assert_eq!(name, "shop-web-1");
    // the hash is checked elsewhere; keep the snapshot stable
    let labels = body.labels.as_mut().unwrap();
    assert_eq!(labels["com.docker.compose.config-hash"], p.config_hash("web"));
    labels.insert("com.docker.compose.config-hash".into(), "HASH".into());
    labels.insert("com.docker.compose.version".into(), "VERSION".into());
    expect![[r#"
        {
          "Env": [
            "KV=kv:6379"
          ],
          "ExposedPorts": {
            "443/tcp": {},
            "80/tcp": {}
          },
          "HostConfig": {
            "Memory": 268435456,
            "NanoCpus": 500000000,
            "NetworkMode": "shop_back",
            "PidsLimit": 100,
            "PortBindings": {
              "443/tcp": [
                {
                  "HostIp": "127.0.0.1",
                  "HostPort": ""
                }
              ],
              "80/tcp": [
                {
                  "HostIp": "",
                  "HostPort": "8080"
                }
              ]
            },
            "RestartPolicy": {
              "MaximumRetryCount": 3,
              "Name": "on-failure"
            }
          },
          "Image": "web:local",
          "Labels": {
            "com.docker.compose.config-hash": "HASH",
            "com.docker.compose.container-number": "1",
            "com.docker.compose.depends_on": "kv:service_healthy:false",
            "com.docker.compose.image": "web:local",
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.project": "shop",
            "com.docker.compose.project.config_files": "/srv/shop/compose.yaml",
            "com.docker.compose.project.working_dir": "/srv/shop",
            "com.docker.compose.service": "web",
            "com.docker.compose.version": "VERSION",
            "tier": "front"
          },
          "NetworkingConfig": {
            "EndpointsConfig": {
              "shop_back": {
                "Aliases": [
                  "web",
                  "www"
                ]
              }
            }
          }
        }"#]].assert_eq(&canonical(&body));
}

#[test]
fn worker_container() {
    let p = app();
    let (name, mut body) = p.container_create("worker", 2).unwrap();
    assert_eq!(name, "shop-worker-2");
    body.labels = None;
    expect![[r#"
        {
          "Cmd": [
            "sh",
            "-c",
            "work --loop"
          ],
          "Env": [],
          "HostConfig": {
            "Binds": [
              "/srv/shop/src:/src:ro",
              "/srv/shop/token.txt:/run/secrets/token:ro",
              "/srv/shop/worker.conf:/etc/worker.conf:ro"
            ],
            "CapAdd": [
              "NET_ADMIN"
            ],
            "CapDrop": [
              "ALL"
            ],
            "Init": true,
            "Mounts": [
              {
                "Target": "/scratch",
                "TmpfsOptions": {
                  "SizeBytes": 1048576
                },
                "Type": "tmpfs"
              }
            ],
            "NetworkMode": "shop_back",
            "ReadonlyRootfs": true,
            "Tmpfs": {
              "/tmp": "size=1m"
            }
          },
          "Image": "shop-worker",
          "NetworkingConfig": {
            "EndpointsConfig": {
              "shop_back": {
                "Aliases": [
                  "worker"
                ]
              }
            }
          },
          "StopTimeout": 90
        }"#]].assert_eq(&canonical(&body));
}

#[test]
fn kv_container_and_objects() {
    let p = app();
    let (_, mut body) = p.container_create("kv", 1).unwrap();
    body.labels = None;
    expect![[r#"
        {
          "Env": [],
          "ExposedPorts": {
            "6379/tcp": {}
          },
          "Healthcheck": {
            "Interval": 1000000000,
            "Retries": 30,
            "Test": [
              "CMD-SHELL",
              "kv-cli ping"
            ]
          },
          "HostConfig": {
            "Mounts": [
              {
                "Source": "shop_kvdata",
                "Target": "/data",
                "Type": "volume"
              }
            ],
            "NetworkMode": "shop_back"
          },
          "Image": "kv:local",
          "NetworkingConfig": {
            "EndpointsConfig": {
              "shop_back": {
                "Aliases": [
                  "kv"
                ]
              }
            }
          }
        }"#]].assert_eq(&canonical(&body));
    let mut net = p.network_create("back");
    net.labels.as_mut().unwrap().insert("com.docker.compose.version".into(), "VERSION".into());
    expect![[r#"
        {
          "Driver": "bridge",
          "IPAM": {
            "Config": [
              {
                "Subnet": "172.28.0.0/16"
              }
            ]
          },
          "Labels": {
            "com.docker.compose.network": "back",
            "com.docker.compose.project": "shop",
            "com.docker.compose.version": "VERSION"
          },
          "Name": "shop_back"
        }"#]].assert_eq(&canonical(&net));
    let mut vol = p.volume_create("kvdata");
    vol.labels.as_mut().unwrap().insert("com.docker.compose.version".into(), "VERSION".into());
    expect![[r#"
        {
          "Driver": "local",
          "Labels": {
            "com.docker.compose.project": "shop",
            "com.docker.compose.version": "VERSION",
            "com.docker.compose.volume": "kvdata",
            "keep": "yes"
          },
          "Name": "shop_kvdata"
        }"#]].assert_eq(&canonical(&vol));
    assert_eq!(p.container_create("nope", 1).unwrap_err().to_string(), "no such service: nope");
}

#[test]
fn config_hash_changes_with_what_matters() {
    let base = app();
    let same = app();
    assert_eq!(base.config_hash("web"), same.config_hash("web"));
    assert_eq!(base.config_hash("web").len(), 64);
    let table: &[(&str, &str, bool)] = &[
        ("environment: {KV: kv:6379}", "environment: {KV: kv:6380}", true),
        ("image: web:local", "image: web:local2", true),
        ("restart: on-failure:3", "restart: always", true),
        ("deploy:\n      resources:", "deploy:\n      replicas: 5\n      resources:", false),
    ];
    for (from, to, changes) in table {
        let o = LoadOptions { working_dir: PathBuf::from("/srv/shop"), ..Default::default() };
        let changed = load_from_str(&[("compose.yaml", &APP.replacen(from, to, 1))], &o).unwrap();
        assert_eq!(base.config_hash("web") != changed.config_hash("web"), *changes, "{from} -> {to}");
        // the other services are untouched
        assert_eq!(base.config_hash("kv"), changed.config_hash("kv"));
        assert_eq!(base.config_hash("worker"), changed.config_hash("worker"));
    }
}

#[test]
fn container_name_and_network_mode() {
    let doc = "services:\n  a:\n    image: x\n    container_name: fixed\n  b:\n    image: x\n    network_mode: service:a\n  c:\n    image: x\n    network_mode: host\n";
    let o = LoadOptions { working_dir: PathBuf::from("/p/proj"), ..Default::default() };
    let p = load_from_str(&[("compose.yaml", doc)], &o).unwrap();
    assert_eq!(p.container_create("a", 1).unwrap().0, "fixed");
    let (_, b) = p.container_create("b", 1).unwrap();
    assert_eq!(b.host_config.unwrap().network_mode.as_deref(), Some("container:fixed"));
    assert!(b.networking_config.is_none());
    assert_eq!(p.start_order().unwrap(), vec!["a", "b", "c"]);
    let (_, c) = p.container_create("c", 1).unwrap();
    assert_eq!(c.host_config.unwrap().network_mode.as_deref(), Some("host"));
    let (_, a) = p.container_create("a", 1).unwrap();
    assert_eq!(a.host_config.unwrap().network_mode.as_deref(), Some("proj_default"));
    let eps = a.networking_config.unwrap().endpoints_config.unwrap();
    assert_eq!(eps["proj_default"].aliases, Some(vec!["a".to_string()]));
}

#[test]
fn oneoff_container() {
    let p = app();
    let (name, body) = p.container_create_oneoff("web", "ab12", false).unwrap();
    assert_eq!(name, "shop-web-run-ab12");
    assert_eq!(body.labels.as_ref().unwrap()["com.docker.compose.oneoff"], "True");
    assert!(body.host_config.as_ref().unwrap().port_bindings.is_none());
    let (_, body) = p.container_create_oneoff("web", "ab12", true).unwrap();
    assert!(body.host_config.unwrap().port_bindings.is_some());
}

#[test]
fn observed_from_summary() {
    use berth_api::models::{ContainerSummary, ContainerSummaryStateEnum};
    let p = app();
    let (name, body) = p.container_create("web", 1).unwrap();
    let summary = ContainerSummary {
        id: Some("abc".into()),
        names: Some(vec![format!("/{name}")]),
        labels: body.labels.clone(),
        state: Some(ContainerSummaryStateEnum::RUNNING),
        ..Default::default()
    };
    let o = plan::ObservedContainer::from_summary(&summary).unwrap();
    assert_eq!(
        o,
        plan::ObservedContainer {
            id: "abc".into(),
            name: "shop-web-1".into(),
            service: "web".into(),
            number: 1,
            config_hash: p.config_hash("web"),
            running: true,
            oneoff: false,
        }
    );
    assert_eq!(plan::ObservedContainer::from_summary(&ContainerSummary::default()), None);
}
