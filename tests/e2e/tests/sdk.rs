//! A Docker SDK (bollard, the Rust one) against berthd: negotiation, create/start/wait/logs,
//! and an unversioned path.

use berth_testkit::{requires_root, Daemon};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;

#[tokio::test]
async fn sdk_runs_a_container_and_reads_its_logs() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let docker = bollard::Docker::connect_with_unix(d.socket.to_str().unwrap(), 30, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    assert_eq!(docker.client_version().to_string(), "1.47");
    let body = bollard::models::ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "echo out; echo err >&2; exit 6".into()]),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name("sdk1").build()), body)
        .await
        .unwrap();
    docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
    let mut wait = docker.wait_container(&created.id, Some(WaitContainerOptionsBuilder::default().condition("not-running").build()));
    let code = match wait.next().await.unwrap() {
        Ok(r) => r.status_code,
        Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => code,
        Err(e) => panic!("wait: {e}"),
    };
    assert_eq!(code, 6);
    let logs: Vec<String> = docker
        .logs(&created.id, Some(LogsOptionsBuilder::default().stdout(true).stderr(true).build()))
        .map(|l| l.unwrap().to_string())
        .collect()
        .await;
    assert_eq!(logs.concat(), "out\nerr\n");
    let inspect = docker.inspect_container("sdk1", None::<bollard::query_parameters::InspectContainerOptions>).await.unwrap();
    assert_eq!(inspect.state.unwrap().exit_code, Some(6));

    // Unversioned paths mean the newest version.
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    write!(s, "GET /containers/sdk1/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("Api-Version: 1.47") || resp.contains("api-version: 1.47"), "{resp}");
}
