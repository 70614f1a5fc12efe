//! The planner: project + observed state + options -> ordered actions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_compose::plan::{self, Action, Condition, Observed, ObservedContainer, UpOptions};
use berth_compose::*;

const APP: &str = r#"
name: shop
services:
  web:
    image: web:local
    depends_on:
      kv: {condition: service_healthy}
    networks: [back]
  worker:
    build: ./worker
    depends_on: [kv]
    networks: [back]
  kv:
    image: kv:local
    volumes: ["kvdata:/data", "cache:/cache"]
    networks: [back]
  dbg:
    image: busybox
    profiles: [debug]
networks:
  back: {}
  ext: {external: true}
volumes:
  kvdata: {}
  cache: {external: true}
"#;

fn app(doc: &str) -> Project {
    let o = LoadOptions { working_dir: PathBuf::from("/srv/shop"), ..Default::default() };
    load_from_str(&[("compose.yaml", doc)], &o).unwrap()
}

fn running(p: &Project, service: &str, number: u32) -> ObservedContainer {
    ObservedContainer {
        id: format!("{service}{number}"),
        name: format!("shop-{service}-{number}"),
        service: service.into(),
        number,
        config_hash: p.config_hash(service),
        running: true,
        oneoff: false,
    }
}

fn create(s: &str, n: u32) -> Vec<Action> {
    vec![Action::Create { service: s.into(), number: n }, Action::Start { service: s.into(), number: n }]
}

fn all_running(p: &Project) -> Observed {
    Observed {
        containers: vec![running(p, "kv", 1), running(p, "web", 1), running(p, "worker", 1)],
        networks: vec!["shop_back".into()],
        volumes: vec!["shop_kvdata".into(), "cache".into()],
    }
}

#[test]
fn up() {
    let p = app(APP);
    let changed = app(&APP.replace("image: web:local", "image: web:local\n    environment: [X=1]"));
    let fresh = Observed::default();
    let steady = all_running(&p);
    let mut stopped = all_running(&p);
    stopped.containers[2].running = false;
    let mut with_orphan = all_running(&p);
    with_orphan.containers.push(ObservedContainer { service: "gone".into(), id: "gone1".into(), number: 1, running: true, ..Default::default() });
    with_orphan.containers.push(ObservedContainer { service: "dbg".into(), id: "dbg1".into(), number: 1, running: true, ..Default::default() });
    let mut scaled = all_running(&p);
    scaled.containers.push(running(&p, "worker", 2));
    scaled.containers.push(running(&p, "worker", 3));
    let wait_kv = Action::WaitFor { service: "kv".into(), condition: Condition::ServiceHealthy };

    let table: Vec<(&str, &Project, &Observed, UpOptions, Vec<Action>)> = vec![
        (
            "fresh: networks, volumes (not external), dependencies first, wait for healthy",
            &p,
            &fresh,
            UpOptions::default(),
            [
                vec![Action::CreateNetwork("back".into()), Action::CreateVolume("kvdata".into()), Action::Pull("kv".into())],
                create("kv", 1),
                vec![wait_kv.clone(), Action::Pull("web".into())],
                create("web", 1),
                vec![Action::Pull("worker".into())],
                create("worker", 1),
            ]
            .concat(),
        ),
        ("nothing changed: only the waits", &p, &steady, UpOptions::default(), vec![wait_kv.clone()]),
        (
            "one service's environment changed: only it is recreated",
            &changed,
            &steady,
            UpOptions::default(),
            vec![
                wait_kv.clone(),
                Action::Pull("web".into()),
                Action::Recreate { service: "web".into(), number: 1, old_id: "web1".into() },
                Action::Start { service: "web".into(), number: 1 },
            ],
        ),
        ("no_recreate keeps the changed container", &changed, &steady, UpOptions { no_recreate: true, ..Default::default() }, vec![wait_kv.clone()]),
        ("a stopped container is started", &p, &stopped, UpOptions::default(), vec![wait_kv.clone(), Action::Start { service: "worker".into(), number: 1 }]),
        (
            "force_recreate and --build for one service without deps",
            &p,
            &steady,
            UpOptions { services: vec!["worker".into()], no_deps: true, force_recreate: true, build: true, ..Default::default() },
            vec![
                Action::Build("worker".into()),
                Action::Recreate { service: "worker".into(), number: 1, old_id: "worker1".into() },
                Action::Start { service: "worker".into(), number: 1 },
            ],
        ),
        (
            "a named service brings its dependencies",
            &p,
            &fresh,
            UpOptions { services: vec!["web".into()], ..Default::default() },
            [
                vec![Action::CreateNetwork("back".into()), Action::CreateVolume("kvdata".into()), Action::Pull("kv".into())],
                create("kv", 1),
                vec![wait_kv.clone(), Action::Pull("web".into())],
                create("web", 1),
            ]
            .concat(),
        ),
        (
            "scale up",
            &p,
            &steady,
            UpOptions { scale: BTreeMap::from([("worker".to_string(), 3)]), ..Default::default() },
            [vec![wait_kv.clone(), Action::Pull("worker".into())], create("worker", 2), create("worker", 3)].concat(),
        ),
        (
            "scale down removes the highest numbers",
            &p,
            &scaled,
            UpOptions { scale: BTreeMap::from([("worker".to_string(), 1)]), ..Default::default() },
            vec![
                wait_kv.clone(),
                Action::Stop { id: "worker3".into() },
                Action::Remove { id: "worker3".into() },
                Action::Stop { id: "worker2".into() },
                Action::Remove { id: "worker2".into() },
            ],
        ),
        (
            "orphans are removed only when asked; profile-disabled services are not orphans",
            &p,
            &with_orphan,
            UpOptions { remove_orphans: true, ..Default::default() },
            vec![Action::Stop { id: "gone1".into() }, Action::Remove { id: "gone1".into() }, wait_kv.clone()],
        ),
        ("orphans stay by default", &p, &with_orphan, UpOptions::default(), vec![wait_kv.clone()]),
    ];
    for (what, project, observed, opts, want) in table {
        assert_eq!(plan::up(project, observed, &opts).unwrap(), want, "{what}");
    }
    let err = plan::up(&p, &fresh, &UpOptions { services: vec!["nope".into()], ..Default::default() }).unwrap_err();
    assert_eq!(err.to_string(), "no such service: nope");
}

#[test]
fn up_uses_deploy_replicas_and_one_offs_are_ignored() {
    let p = app(&APP.replace("build: ./worker", "build: ./worker\n    deploy: {replicas: 2}"));
    let mut obs = all_running(&p);
    obs.containers.push(ObservedContainer { oneoff: true, ..running(&p, "worker", 7) });
    let got = plan::up(&p, &obs, &UpOptions { services: vec!["worker".into()], no_deps: true, ..Default::default() }).unwrap();
    assert_eq!(got, [vec![Action::Pull("worker".into())], create("worker", 2)].concat());
}

#[test]
fn down() {
    let p = app(APP);
    let mut obs = all_running(&p);
    obs.containers[1].running = false; // web stopped
    obs.containers.push(ObservedContainer { service: "gone".into(), id: "gone1".into(), number: 1, running: false, ..Default::default() });
    let base = vec![
        Action::Stop { id: "worker1".into() },
        Action::Remove { id: "worker1".into() },
        Action::Remove { id: "web1".into() },
        Action::Stop { id: "kv1".into() },
        Action::Remove { id: "kv1".into() },
    ];
    let table: Vec<(&str, bool, bool, Vec<Action>)> = vec![
        ("plain: dependants first, networks", false, false, [base.clone(), vec![Action::RemoveNetwork("back".into())]].concat()),
        (
            "-v: also named volumes that are not external",
            true,
            false,
            [base.clone(), vec![Action::RemoveNetwork("back".into()), Action::RemoveVolume("kvdata".into())]].concat(),
        ),
        (
            "--remove-orphans",
            false,
            true,
            [base.clone(), vec![Action::Remove { id: "gone1".into() }, Action::RemoveNetwork("back".into())]].concat(),
        ),
    ];
    for (what, volumes, orphans, want) in table {
        assert_eq!(plan::down(&p, &obs, volumes, orphans), want, "{what}");
    }
    // nothing exists: nothing to do
    assert_eq!(plan::down(&p, &Observed::default(), true, true), vec![]);
}
