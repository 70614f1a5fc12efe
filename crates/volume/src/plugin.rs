//! Volume plugins: finding one by name and speaking Docker's volume plugin protocol to it.
//!
//! Discovery (moby `pkg/plugins/discovery.go`): a socket `<dir>/<name>.sock` or
//! `<dir>/<name>/<name>.sock` in a socket directory (`/run/docker/plugins`), else a spec file
//! `<dir>/<name>.spec` (a URL: `unix:///path` or `tcp://host:port`) or `<dir>/<name>.json`
//! (`{"Name", "Addr"}`), also inside `<dir>/<name>/`, in a spec directory
//! (`/etc/docker/plugins`, `/usr/lib/docker/plugins`).
//!
//! Protocol: every call is `POST /<Method>` with a JSON body and content type
//! `application/vnd.docker.plugins.v1+json`; the answer is JSON whose non-empty `Err` (or a
//! non-200 status) is a failure. `/Plugin.Activate` must list `VolumeDriver` in `Implements`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::http::Addr;
use crate::Error;

/// Where plugins are looked for.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Directories of plugin sockets.
    pub sockets: Vec<PathBuf>,
    /// Directories of `.spec` and `.json` files.
    pub specs: Vec<PathBuf>,
}

impl Default for Dirs {
    /// Docker's: `/run/docker/plugins`; `/etc/docker/plugins`, `/usr/lib/docker/plugins`.
    fn default() -> Dirs {
        Dirs {
            sockets: vec![PathBuf::from("/run/docker/plugins")],
            specs: vec![PathBuf::from("/etc/docker/plugins"), PathBuf::from("/usr/lib/docker/plugins")],
        }
    }
}

/// Find plugin `name`'s address.
pub fn discover(name: &str, dirs: &Dirs) -> Result<Addr, Error> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return Err(Error::PluginNotFound(name.to_string()));
    }
    for d in &dirs.sockets {
        for p in [d.join(format!("{name}.sock")), d.join(name).join(format!("{name}.sock"))] {
            if is_socket(&p) {
                return Ok(Addr::Unix(p));
            }
        }
    }
    for d in &dirs.specs {
        for base in [d.to_path_buf(), d.join(name)] {
            for ext in ["spec", "json"] {
                let p = base.join(format!("{name}.{ext}"));
                if let Ok(content) = std::fs::read_to_string(&p) {
                    return parse_spec(&content, ext).map_err(|why| Error::Protocol(format!("plugin spec {}: {why}", p.display())));
                }
            }
        }
    }
    Err(Error::PluginNotFound(name.to_string()))
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// The address in a spec file: `ext` is `spec` (a URL) or `json` (`{"Addr": URL}`).
pub fn parse_spec(content: &str, ext: &str) -> Result<Addr, String> {
    let url = if ext == "json" {
        #[derive(Deserialize)]
        struct Spec {
            #[serde(rename = "Addr", default)]
            addr: String,
        }
        serde_json::from_str::<Spec>(content).map_err(|e| format!("invalid JSON: {e}"))?.addr
    } else {
        content.trim().to_string()
    };
    let url = url.trim();
    if let Some(p) = url.strip_prefix("unix://") {
        if !p.starts_with('/') {
            return Err(format!("unix socket path must be absolute: {url}"));
        }
        return Ok(Addr::Unix(PathBuf::from(p)));
    }
    if let Some(a) = url.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        if a.is_empty() {
            return Err(format!("invalid address: {url}"));
        }
        return Ok(Addr::Tcp(a.to_string()));
    }
    Err(format!("unsupported address {url:?}: want unix:// or tcp://"))
}

/// A volume as a plugin describes it (`Get` and `List`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginVolume {
    /// The name.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Where it is mounted on the host, when it is.
    #[serde(rename = "Mountpoint", default)]
    pub mountpoint: String,
    /// When it was created (RFC 3339), if the plugin says.
    #[serde(rename = "CreatedAt", default)]
    pub created_at: String,
    /// Driver-specific status.
    #[serde(rename = "Status", default)]
    pub status: Option<HashMap<String, Value>>,
}

/// An activated volume plugin.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// The plugin's name (the volume driver name).
    pub name: String,
    addr: Addr,
    timeout: Duration,
}

impl Plugin {
    /// Find plugin `name` and activate it.
    pub fn connect(name: &str, dirs: &Dirs) -> Result<Plugin, Error> {
        let p = Plugin { name: name.to_string(), addr: discover(name, dirs)?, timeout: Duration::from_secs(30) };
        p.activate()?;
        Ok(p)
    }

    /// The plugin's address.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    fn activate(&self) -> Result<(), Error> {
        let v = self.call("Plugin.Activate", &json!({}))?;
        let implements: Vec<String> = v.get("Implements").and_then(|i| serde_json::from_value(i.clone()).ok()).unwrap_or_default();
        if !implements.iter().any(|i| i == "VolumeDriver") {
            return Err(Error::Protocol(format!("plugin {:?} does not implement VolumeDriver (it implements {implements:?})", self.name)));
        }
        Ok(())
    }

    /// One call: POST the request, check `Err`, return the answer's JSON.
    fn call(&self, method: &str, req: &Value) -> Result<Value, Error> {
        let body = serde_json::to_vec(req).map_err(|e| Error::Protocol(e.to_string()))?;
        let (status, resp) = crate::http::post(&self.addr, &format!("/{method}"), &body, self.timeout)
            .map_err(|e| Error::Protocol(format!("error while calling volume plugin {}: {method}: {e}", self.name)))?;
        let v: Value = if resp.iter().all(u8::is_ascii_whitespace) { json!({}) } else {
            match serde_json::from_slice(&resp) {
                Ok(v) => v,
                Err(_) if status != 200 => {
                    return Err(Error::Plugin { method: method.to_string(), message: String::from_utf8_lossy(&resp).trim().to_string() })
                }
                Err(e) => return Err(Error::Protocol(format!("{method}: invalid answer: {e}"))),
            }
        };
        let err = v.get("Err").and_then(Value::as_str).unwrap_or("");
        if !err.is_empty() {
            return Err(Error::Plugin { method: method.to_string(), message: err.to_string() });
        }
        if status != 200 {
            return Err(Error::Plugin { method: method.to_string(), message: format!("status {status}") });
        }
        Ok(v)
    }

    fn mountpoint(v: &Value) -> String {
        v.get("Mountpoint").and_then(Value::as_str).unwrap_or("").to_string()
    }

    /// `VolumeDriver.Create`.
    pub fn create(&self, name: &str, opts: &HashMap<String, String>) -> Result<(), Error> {
        self.call("VolumeDriver.Create", &json!({"Name": name, "Opts": opts})).map(|_| ())
    }

    /// `VolumeDriver.Remove`.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        self.call("VolumeDriver.Remove", &json!({"Name": name})).map(|_| ())
    }

    /// `VolumeDriver.Mount` for the user `id` (a container id); the host path to bind.
    pub fn mount(&self, name: &str, id: &str) -> Result<String, Error> {
        self.call("VolumeDriver.Mount", &json!({"Name": name, "ID": id})).map(|v| Self::mountpoint(&v))
    }

    /// `VolumeDriver.Unmount` for the user `id`.
    pub fn unmount(&self, name: &str, id: &str) -> Result<(), Error> {
        self.call("VolumeDriver.Unmount", &json!({"Name": name, "ID": id})).map(|_| ())
    }

    /// `VolumeDriver.Path`: where the volume is mounted now (empty when it is not).
    pub fn path(&self, name: &str) -> Result<String, Error> {
        self.call("VolumeDriver.Path", &json!({"Name": name})).map(|v| Self::mountpoint(&v))
    }

    /// `VolumeDriver.Get`.
    pub fn get(&self, name: &str) -> Result<PluginVolume, Error> {
        let v = self.call("VolumeDriver.Get", &json!({"Name": name}))?;
        serde_json::from_value(v.get("Volume").cloned().unwrap_or(Value::Null)).map_err(|e| Error::Protocol(format!("VolumeDriver.Get: {e}")))
    }

    /// `VolumeDriver.List`.
    pub fn list(&self) -> Result<Vec<PluginVolume>, Error> {
        let v = self.call("VolumeDriver.List", &json!({}))?;
        let vols = v.get("Volumes").cloned().filter(|x| !x.is_null()).unwrap_or_else(|| json!([]));
        serde_json::from_value(vols).map_err(|e| Error::Protocol(format!("VolumeDriver.List: {e}")))
    }

    /// `VolumeDriver.Capabilities`: the scope (`local` unless the plugin says `global`); a
    /// plugin without the method is `local`.
    pub fn scope(&self) -> String {
        self.call("VolumeDriver.Capabilities", &json!({}))
            .ok()
            .and_then(|v| v.pointer("/Capabilities/Scope").and_then(Value::as_str).map(str::to_string))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "local".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn spec_files_parse() {
        let cases: &[(&str, &str, Result<Addr, &str>)] = &[
            ("unix:///run/p.sock\n", "spec", Ok(Addr::Unix("/run/p.sock".into()))),
            ("tcp://127.0.0.1:8080", "spec", Ok(Addr::Tcp("127.0.0.1:8080".into()))),
            (r#"{"Name":"p","Addr":"tcp://10.0.0.1:9000"}"#, "json", Ok(Addr::Tcp("10.0.0.1:9000".into()))),
            ("http://x", "spec", Err("unsupported address")),
            ("unix://rel.sock", "spec", Err("unix socket path must be absolute")),
            ("{", "json", Err("invalid JSON")),
        ];
        for (content, ext, want) in cases {
            match (parse_spec(content, ext), want) {
                (Ok(a), Ok(w)) => assert_eq!(&a, w, "{content}"),
                (Err(e), Err(w)) => assert!(e.starts_with(w), "{content}: {e}"),
                (g, w) => panic!("{content}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn discovery_order_sockets_then_specs() {
        let t = tempfile::tempdir().unwrap();
        let dirs = Dirs { sockets: vec![t.path().join("run")], specs: vec![t.path().join("etc"), t.path().join("lib")] };
        std::fs::create_dir_all(t.path().join("run/nested")).unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::create_dir_all(t.path().join("lib/inlib")).unwrap();
        assert!(matches!(discover("none", &dirs), Err(Error::PluginNotFound(_))));
        assert!(matches!(discover("../x", &dirs), Err(Error::PluginNotFound(_))));
        let _l1 = std::os::unix::net::UnixListener::bind(t.path().join("run/flat.sock")).unwrap();
        let _l2 = std::os::unix::net::UnixListener::bind(t.path().join("run/nested/nested.sock")).unwrap();
        std::fs::write(t.path().join("etc/flat.spec"), "tcp://1.2.3.4:1").unwrap();
        std::fs::write(t.path().join("etc/byspec.spec"), "tcp://1.2.3.4:2").unwrap();
        std::fs::write(t.path().join("lib/inlib/inlib.json"), r#"{"Addr":"unix:///x.sock"}"#).unwrap();
        assert_eq!(discover("flat", &dirs).unwrap(), Addr::Unix(t.path().join("run/flat.sock")));
        assert_eq!(discover("nested", &dirs).unwrap(), Addr::Unix(t.path().join("run/nested/nested.sock")));
        assert_eq!(discover("byspec", &dirs).unwrap(), Addr::Tcp("1.2.3.4:2".into()));
        assert_eq!(discover("inlib", &dirs).unwrap(), Addr::Unix("/x.sock".into()));
    }

    /// A one-thread fake plugin answering every request with `answer(path, body)`.
    fn fake(dir: &Path, answer: fn(&str, &Value) -> (u16, Value)) -> (PathBuf, std::thread::JoinHandle<Vec<(String, Value)>>) {
        let sock = dir.join("fake.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for s in l.incoming() {
                let mut s = s.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (path, body) = loop {
                    let n = s.read(&mut chunk).unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&buf[..i]).to_string();
                    let len: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.parse().ok()).unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        let path = head.split(' ').nth(1).unwrap().to_string();
                        break (path, serde_json::from_slice::<Value>(&buf[i + 4..i + 4 + len]).unwrap());
                    }
                };
                let (status, v) = answer(&path, &body);
                let b = v.to_string();
                write!(s, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len()).unwrap();
                let done = path == "/VolumeDriver.Remove";
                seen.push((path, body));
                if done {
                    break;
                }
            }
            seen
        });
        (sock, h)
    }

    #[test]
    fn protocol_round_trip_against_a_fake_plugin() {
        let t = tempfile::tempdir().unwrap();
        let (_, h) = fake(t.path(), |path, body| match path {
            "/Plugin.Activate" => (200, json!({"Implements": ["VolumeDriver"]})),
            "/VolumeDriver.Create" if body["Name"] == "bad" => (500, json!({"Err": "no bad names"})),
            "/VolumeDriver.Mount" => (200, json!({"Mountpoint": "/mnt/v", "Err": ""})),
            "/VolumeDriver.Get" => (200, json!({"Volume": {"Name": body["Name"], "Mountpoint": "/mnt/v"}, "Err": ""})),
            "/VolumeDriver.List" => (200, json!({"Volumes": [{"Name": "a"}, {"Name": "b"}]})),
            "/VolumeDriver.Capabilities" => (200, json!({"Capabilities": {"Scope": "global"}})),
            _ => (200, json!({})),
        });
        let dirs = Dirs { sockets: vec![t.path().to_path_buf()], specs: vec![] };
        let p = Plugin::connect("fake", &dirs).unwrap();
        p.create("v1", &HashMap::from([("k".to_string(), "v".to_string())])).unwrap();
        assert_eq!(p.create("bad", &HashMap::new()).unwrap_err().to_string(), "VolumeDriver.Create: no bad names");
        assert_eq!(p.mount("v1", "cid").unwrap(), "/mnt/v");
        p.unmount("v1", "cid").unwrap();
        assert_eq!(p.get("v1").unwrap().mountpoint, "/mnt/v");
        assert_eq!(p.list().unwrap().iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(p.scope(), "global");
        p.remove("v1").unwrap();
        let seen = h.join().unwrap();
        let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/Plugin.Activate", "/VolumeDriver.Create", "/VolumeDriver.Create", "/VolumeDriver.Mount", "/VolumeDriver.Unmount",
                "/VolumeDriver.Get", "/VolumeDriver.List", "/VolumeDriver.Capabilities", "/VolumeDriver.Remove"
            ]
        );
        assert_eq!(seen[1].1, json!({"Name": "v1", "Opts": {"k": "v"}}));
        assert_eq!(seen[3].1, json!({"Name": "v1", "ID": "cid"}));
    }
}
