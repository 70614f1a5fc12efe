//! `/networks` routes and the legacy `NetworkSettings` of container inspect, over the fake.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::fake::Fake;
use super::{call, call_with, post_json, server, urlencode};

#[tokio::test]
async fn list_answers_an_array_without_endpoints_from_api_1_28() {
    let fake = Fake::new();
    let r = server(&fake);
    for uri in ["/networks", "/v1.47/networks", "/v1.28/networks"] {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.header("content-type"), "application/json");
        let names: Vec<Value> =
            a.json().as_array().unwrap().iter().map(|n| n["Name"].clone()).collect();
        assert_eq!(names, [json!("bridge"), json!("host"), json!("none"), json!("front")], "{uri}");
        for n in a.json().as_array().unwrap() {
            assert_eq!(n["Containers"], json!({}), "{uri}: {n}");
        }
    }
    // Before 1.28 lists were detailed: the endpoints the engine gives stay.
    let a = call(&r, Method::GET, "/v1.27/networks").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()[3]["Containers"]["id2"]["Name"], "up");
}

#[tokio::test]
async fn list_filters_reach_the_backend_and_unknown_keys_are_400() {
    let fake = Fake::new();
    let r = server(&fake);
    let uri = format!(
        "/networks?filters={}",
        urlencode(r#"{"driver":{"bridge":true},"name":{"fr":true}}"#)
    );
    assert_eq!(call(&r, Method::GET, &uri).await.status, StatusCode::OK);
    let got = fake.rec.lock().unwrap().filters.take().unwrap();
    assert_eq!(got["driver"], vec!["bridge".to_string()]);
    assert_eq!(got["name"], vec!["fr".to_string()]);

    let uri = format!("/networks?filters={}", urlencode(r#"{"status":["running"]}"#));
    let a = call(&r, Method::GET, &uri).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.message(), "invalid filter 'status'");
    assert!(fake.rec.lock().unwrap().filters.is_none(), "refused before the backend");

    let a = call(&r, Method::GET, "/networks?filters=%7Bbad").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().starts_with("invalid filter"), "{}", a.message());
}

#[tokio::test]
async fn inspect_by_name_id_or_prefix_with_verbose_and_scope() {
    let fake = Fake::new();
    let r = server(&fake);
    for uri in [
        "/networks/front",
        "/networks/frontid0004",
        "/networks/front?verbose=true",
        "/v1.47/networks/fronti",
        "/networks/front?scope=local",
    ] {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        let n = a.json();
        assert_eq!((n["Name"].as_str(), n["Id"].as_str()), (Some("front"), Some("frontid0004")));
        assert_eq!(n["Containers"]["id2"]["IPv4Address"], "172.18.0.2/16", "{uri}");
    }
    assert_eq!(fake.rec.lock().unwrap().network_verbose, Some(false));
    call(&r, Method::GET, "/networks/bridge?verbose=1").await;
    assert_eq!(fake.rec.lock().unwrap().network_verbose, Some(true));

    let a = call(&r, Method::GET, "/networks/bridge").await;
    assert_eq!(a.json()["Containers"], json!({}));
}

#[tokio::test]
async fn inspect_errors() {
    let r = server(&Fake::new());
    for name in ["a", "b"] {
        post_json(&r, "/networks/create", &format!(r#"{{"Name":"{name}"}}"#)).await;
    }
    let cases = [
        ("/networks/nope", StatusCode::NOT_FOUND, "network nope not found"),
        ("/v1.47/networks/nope", StatusCode::NOT_FOUND, "network nope not found"),
        // A network of another scope is not found.
        ("/networks/front?scope=swarm", StatusCode::NOT_FOUND, "network front not found"),
        ("/networks/front?verbose=yes", StatusCode::BAD_REQUEST, "invalid value for verbose: yes"),
        (
            "/networks/net-",
            StatusCode::BAD_REQUEST,
            "network net- is ambiguous (2 matches found based on ID prefix)",
        ),
    ];
    for (uri, status, message) in cases {
        let a = call(&r, Method::GET, uri).await;
        assert_eq!((a.status, a.message()), (status, message.to_string()), "{uri}");
    }
}

#[tokio::test]
async fn create_answers_201_with_id_and_warning() {
    let fake = Fake::new();
    let r = server(&fake);
    let body = r#"{"Name":"back","Driver":"bridge","Internal":true,"EnableIPv4":true,
        "IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]},
        "Options":{"com.docker.network.bridge.name":"br9"},"Labels":{"a":"b"}}"#;
    let a = post_json(&r, "/v1.47/networks/create", body).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.header("content-type"), "application/json");
    assert_eq!(a.json(), json!({"Id": "net-back", "Warning": ""}));
    let req = fake.rec.lock().unwrap().network_created.take().unwrap();
    assert_eq!(req.name, "back");
    assert_eq!(req.internal, Some(true));
    assert_eq!(req.enable_ipv4, None, "EnableIPv4 only counts from API 1.48");
    let ipam = req.ipam.unwrap();
    assert_eq!(ipam.config.unwrap()[0].subnet.as_deref(), Some("10.9.0.0/24"));
    assert_eq!(req.labels.unwrap()["a"], "b");

    // Now it is listed and can be inspected.
    assert_eq!(call(&r, Method::GET, "/networks/back").await.json()["Id"], "net-back");

    let a = post_json(&r, "/networks/create", r#"{"Name":"back"}"#).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.message(), "network with name back already exists");

    let a = post_json(&r, "/networks/create", r#"{"Name":"host"}"#).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.message(), "operation is not permitted on predefined host network");
}

#[tokio::test]
async fn create_refuses_bad_bodies_with_400() {
    let fake = Fake::new();
    let r = server(&fake);
    let cases = [
        ("{not json", "invalid JSON: "),
        (r#"{"Name":"x"} trailing"#, "invalid JSON: "),
        (r#"{"Name":5}"#, "invalid JSON: "),
        (r#"{"Name":"x","Internal":"yes"}"#, "invalid JSON: "),
        ("", "invalid name: name is empty"),
        ("{}", "invalid name: name is empty"),
        (r#"{"Driver":"bridge"}"#, "invalid name: name is empty"),
        (r#"{"Name":"  "}"#, "invalid name: name is empty"),
    ];
    for (body, prefix) in cases {
        let a = post_json(&r, "/networks/create", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(a.message().starts_with(prefix), "{body}: {}", a.message());
    }
    let req = Request::post("/networks/create")
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"Name":"x"}"#))
        .unwrap();
    let a = call_with(&r, req).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.message().contains("must be 'application/json'"), "{}", a.message());
    assert!(fake.rec.lock().unwrap().network_created.is_none());
}

#[tokio::test]
async fn remove_answers_204_and_maps_errors() {
    let fake = Fake::new();
    let r = server(&fake);
    post_json(&r, "/networks/create", r#"{"Name":"back"}"#).await;
    let cases = [
        ("/networks/back", StatusCode::NO_CONTENT, None),
        ("/v1.47/networks/back", StatusCode::NOT_FOUND, Some("network back not found")),
        (
            "/networks/front",
            StatusCode::CONFLICT,
            Some("error while removing network: network front id frontid0004 has active endpoints"),
        ),
        (
            "/networks/bridge",
            StatusCode::FORBIDDEN,
            Some("bridge is a pre-defined network and cannot be removed"),
        ),
    ];
    for (uri, status, message) in cases {
        let a = call(&r, Method::DELETE, uri).await;
        assert_eq!(a.status, status, "{uri}");
        match message {
            Some(m) => assert_eq!(a.message(), m, "{uri}"),
            None => assert!(a.body.is_empty(), "{uri}"),
        }
    }
}

#[tokio::test]
async fn connect_and_disconnect_answer_200_with_an_empty_body() {
    let fake = Fake::new();
    let r = server(&fake);
    let body = r#"{"Container":"c1","EndpointConfig":{"Aliases":["db"],
        "IPAMConfig":{"IPv4Address":"172.18.0.9"},"MacAddress":"02:42:00:00:00:09"}}"#;
    let a = post_json(&r, "/networks/front/connect", body).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty());
    let (net, req) = fake.rec.lock().unwrap().connected.take().unwrap();
    assert_eq!((net.as_str(), req.container.as_str()), ("front", "c1"));
    let ep = req.endpoint_config.unwrap();
    assert_eq!(ep.aliases, Some(vec!["db".to_string()]));
    assert_eq!(ep.ipam_config.unwrap().ipv4_address.as_deref(), Some("172.18.0.9"));
    assert_eq!(ep.mac_address.as_deref(), Some("02:42:00:00:00:09"));
    let a = call(&r, Method::GET, "/networks/front").await;
    assert_eq!(a.json()["Containers"]["id1"]["Name"], "c1");

    let a = post_json(
        &r,
        "/v1.47/networks/frontid0004/disconnect",
        r#"{"Container":"c1","Force":true}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty());
    let (net, req) = fake.rec.lock().unwrap().disconnected.take().unwrap();
    assert_eq!(
        (net.as_str(), req.container.as_str(), req.force),
        ("frontid0004", "c1", Some(true))
    );

    // A body without EndpointConfig is fine.
    let a = post_json(&r, "/networks/bridge/connect", r#"{"Container":"up"}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(fake.rec.lock().unwrap().connected.take().unwrap().1.endpoint_config, None);
}

#[tokio::test]
async fn connect_and_disconnect_errors() {
    let fake = Fake::new();
    let r = server(&fake);
    for action in ["connect", "disconnect"] {
        let cases = [
            ("nope", r#"{"Container":"c1"}"#, StatusCode::NOT_FOUND, "network nope not found"),
            (
                "front",
                r#"{"Container":"ghost"}"#,
                StatusCode::NOT_FOUND,
                "No such container: ghost",
            ),
            ("front", "", StatusCode::BAD_REQUEST, "invalid name or ID supplied: \"\""),
            ("front", "{}", StatusCode::BAD_REQUEST, "invalid name or ID supplied: \"\""),
            (
                "front",
                r#"{"Container":""}"#,
                StatusCode::BAD_REQUEST,
                "invalid name or ID supplied: \"\"",
            ),
        ];
        for (net, body, status, message) in cases {
            let uri = format!("/networks/{net}/{action}");
            let a = post_json(&r, &uri, body).await;
            assert_eq!((a.status, a.message()), (status, message.to_string()), "{uri} {body}");
        }
        let a = post_json(&r, &format!("/networks/front/{action}"), "{bad").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(a.message().starts_with("invalid JSON: "), "{}", a.message());
    }
    let rec = fake.rec.lock().unwrap();
    assert!(rec.connected.is_none() && rec.disconnected.is_none());
}

#[tokio::test]
async fn prune_reports_an_array_even_when_nothing_went() {
    let fake = Fake::new();
    let r = server(&fake);
    // Nothing to prune: the fake reports `None`, the answer still has `[]`.
    let a = call(&r, Method::POST, "/networks/prune").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/json");
    assert_eq!(a.json(), json!({"NetworksDeleted": []}));

    post_json(&r, "/networks/create", r#"{"Name":"back"}"#).await;
    let uri = format!("/v1.47/networks/prune?filters={}", urlencode(r#"{"until":{"10m":true}}"#));
    let a = call(&r, Method::POST, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!({"NetworksDeleted": ["back"]}));
    let got = fake.rec.lock().unwrap().filters.take().unwrap();
    assert_eq!(got["until"], vec!["10m".to_string()]);

    let a = call(&r, Method::POST, "/networks/prune?filters=nope").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_network_routes_are_page_not_found() {
    let r = server(&Fake::new());
    for (method, uri) in [
        (Method::PUT, "/networks/front"),
        (Method::GET, "/networks/front/connect"),
        (Method::POST, "/networks/front"),
        (Method::POST, "/networks/front/bogus"),
    ] {
        let a = call(&r, method.clone(), uri).await;
        assert_eq!(
            (a.status, a.message()),
            (StatusCode::NOT_FOUND, "page not found".into()),
            "{method} {uri}"
        );
    }
}

/// The `NetworkSettings` of container `up` as one API version shows it.
async fn up_network_settings(uri: &str) -> Value {
    let a = call(&server(&Fake::new()), Method::GET, uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}");
    a.json()["NetworkSettings"].clone()
}

#[tokio::test]
async fn container_inspect_has_the_legacy_network_fields_before_1_52() {
    // Every version we accept (up to 1.47) is before 1.52, so every inspect has them.
    for uri in ["/containers/up/json", "/v1.47/containers/up/json", "/v1.24/containers/up/json"] {
        let ns = up_network_settings(uri).await;
        let legacy = [
            ("IPAddress", json!("172.17.0.2")),
            ("IPPrefixLen", json!(16)),
            ("Gateway", json!("172.17.0.1")),
            ("MacAddress", json!("02:42:ac:11:00:02")),
            ("EndpointID", json!("ep-up")),
            ("GlobalIPv6Address", json!("")),
            ("GlobalIPv6PrefixLen", json!(0)),
            ("IPv6Gateway", json!("")),
            ("Bridge", json!("")),
            ("HairpinMode", json!(false)),
            ("LinkLocalIPv6Address", json!("")),
            ("LinkLocalIPv6PrefixLen", json!(0)),
            ("SecondaryIPAddresses", Value::Null),
            ("SecondaryIPv6Addresses", Value::Null),
        ];
        for (key, want) in legacy {
            assert_eq!(ns.get(key), Some(&want), "{uri}: {key}");
        }
        // What the engine gives is kept as it is.
        assert_eq!(ns["SandboxID"], "sandbox-up");
        assert_eq!(ns["SandboxKey"], "/run/berth/netns/id2");
        assert_eq!(ns["Ports"], json!({}));
        assert_eq!(ns["Networks"]["bridge"]["IPAddress"], "172.17.0.2");
        assert_eq!(ns["Networks"]["front"]["IPAddress"], "172.18.0.2");
    }
    // Not on the default bridge (the fake gives `c1` no network settings): empty values.
    let a = call(&server(&Fake::new()), Method::GET, "/containers/c1/json").await;
    let ns = &a.json()["NetworkSettings"];
    assert_eq!((ns["IPAddress"].clone(), ns["IPPrefixLen"].clone()), (json!(""), json!(0)));
    assert_eq!(a.json()["Id"], "id1");
}
