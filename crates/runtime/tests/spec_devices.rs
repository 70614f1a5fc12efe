//! `spec::devices`: resolving `HostConfig.Devices` and the host's devices (reads `/dev`).

use berth_errdefs::HasKind;
use berth_runtime::spec::devices::{host_devices, resolve_device_mapping};

#[test]
fn resolve_device_mapping_table() {
    // (host path, container path, permissions) -> rendered result
    let cases: &[(&str, &str, &str, &str)] = &[
        ("/dev/null", "", "", "/dev/null c 1:3 rwm"),
        ("/dev/null", "/dev/mynull", "rw", "/dev/mynull c 1:3 rw"),
        ("/dev/zero", "/dev/z", "r", "/dev/z c 1:5 r"),
        ("/dev/null", "", "rwx", "error (invalid argument): invalid device mode: rwx"),
        ("/etc/hostname", "", "", "error (invalid argument): error gathering device information while adding custom device \"/etc/hostname\": not a device node"),
        ("/dev/berth-no-such-device", "", "", "error (not found)"),
    ];
    for (host, container, perms, want) in cases {
        let got = match resolve_device_mapping(host, container, perms) {
            Ok(ds) => ds
                .iter()
                .map(|d| {
                    let t = serde_json::to_value(d.device.typ()).expect("type");
                    format!(
                        "{} {} {}:{} {}",
                        d.device.path().display(),
                        t.as_str().unwrap_or("?"),
                        d.device.major(),
                        d.device.minor(),
                        d.permissions
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) if want.ends_with("(not found)") => format!("error ({})", e.kind()),
            Err(e) => format!("error ({}): {e}", e.kind()),
        };
        assert_eq!(&got, want, "{host} {container} {perms}");
    }
}

#[test]
fn host_devices_lists_nodes_but_not_ptys_or_console() {
    let devs = host_devices().expect("walk /dev");
    let paths: Vec<String> = devs
        .iter()
        .map(|d| d.path().display().to_string())
        .collect();
    assert!(paths.iter().any(|p| p == "/dev/null"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "/dev/console"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("/dev/pts/")),
        "{paths:?}"
    );
}
