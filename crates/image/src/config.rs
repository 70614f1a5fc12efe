//! The image configuration JSON (OCI image config with Docker's extensions).
//!
//! The bytes of this document are what an image id hashes; the store keeps them verbatim and
//! parses them with these types, which accept Docker's `null`s and unknown fields.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// An image configuration document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture, Go's names (`amd64`, `arm64`).
    #[serde(default, deserialize_with = "nullable")]
    pub architecture: String,
    /// Architecture variant (`v8` on arm64), when relevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system (`linux`).
    #[serde(default, deserialize_with = "nullable")]
    pub os: String,
    /// Operating system version, when relevant.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Who made the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Docker's commit/import message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Creation time, RFC 3339 with nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Docker's parent image id (local builds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The defaults of containers run from the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    /// The layers, bottom first, by diff id.
    #[serde(default)]
    pub rootfs: RootFs,
    /// How each layer was made, oldest first.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// The creation time, when present and valid.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        let s = self.created.as_deref()?;
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
    /// The labels of the run config (empty when there is none).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .map(|c| c.labels.clone())
            .unwrap_or_default()
    }
}

/// `rootfs`: the layers by the digest of their uncompressed tar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `sha256:<hex>` of each layer's uncompressed tar, bottom first.
    #[serde(default, deserialize_with = "nullable")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of an image's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command of the step (`/bin/sh -c #(nop) CMD ["sh"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The `config` object: the defaults of containers run from the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `user[:group]` to run as.
    #[serde(
        rename = "User",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// `port/proto` keys.
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// `NAME=value` entries.
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// The entrypoint; `Some([])` differs from `None` (an explicit empty entrypoint).
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// The command.
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Anonymous volume mount points.
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, Empty>,
    /// The working directory.
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// Labels.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// The signal that stops a container.
    #[serde(
        rename = "StopSignal",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Windows only: the command line is already escaped.
    #[serde(
        rename = "ArgsEscaped",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_false"
    )]
    pub args_escaped: bool,
    /// The healthcheck.
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers.
    #[serde(
        rename = "OnBuild",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub on_build: Vec<String>,
    /// The shell of shell-form commands.
    #[serde(
        rename = "Shell",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shell: Vec<String>,
}

/// A healthcheck; durations are nanoseconds, 0 meaning "inherit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(
        rename = "Test",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(
        rename = "Interval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub interval: i64,
    /// Time before a check is considered hung.
    #[serde(
        rename = "Timeout",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub timeout: i64,
    /// Grace period after start.
    #[serde(
        rename = "StartPeriod",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(
        rename = "StartInterval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_interval: i64,
    /// Consecutive failures before unhealthy.
    #[serde(
        rename = "Retries",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub retries: i64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Read `null` as the type's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Format a time as Go's `time.RFC3339Nano` does (trailing zeros of the fraction dropped).
pub fn go_time(t: DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "....ss.nnnnnnnnnZ": trim zeros of the fraction, and the dot if nothing remains.
    let Some(dot) = s.rfind('.') else { return s };
    let frac = s[dot + 1..s.len() - 1].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}Z", &s[..dot])
    } else {
        format!("{}.{}Z", &s[..dot], frac)
    }
}

/// Go's name of the architecture this binary runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_time_table() {
        let base = Utc.with_ymd_and_hms(2024, 5, 1, 12, 34, 56).unwrap();
        let cases = [
            (0, "2024-05-01T12:34:56Z"),
            (100_000_000, "2024-05-01T12:34:56.1Z"),
            (123_456_789, "2024-05-01T12:34:56.123456789Z"),
            (120_000, "2024-05-01T12:34:56.00012Z"),
        ];
        for (nanos, want) in cases {
            let t = base + chrono::Duration::nanoseconds(nanos);
            assert_eq!(go_time(t), want);
        }
    }

    #[test]
    fn docker_config_with_nulls_parses() {
        let doc = r#"{"architecture":"amd64","config":{"Hostname":"","Env":null,"Cmd":null,
            "Entrypoint":null,"Labels":null,"Volumes":null,"OnBuild":null,"WorkingDir":"",
            "ExposedPorts":{"80/tcp":{}}},"created":"2024-05-01T12:34:56.5Z",
            "history":[{"created":"2024-05-01T12:34:56.5Z","comment":"Imported from -"}],
            "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:abc"]},"unknown":1}"#;
        let c: ImageConfig = serde_json::from_str(doc).unwrap();
        let rc = c.config.as_ref().unwrap();
        assert!(rc.env.is_empty() && rc.cmd.is_none() && rc.labels.is_empty());
        assert_eq!(rc.exposed_ports.keys().collect::<Vec<_>>(), ["80/tcp"]);
        assert_eq!(c.rootfs.diff_ids, ["sha256:abc"]);
        assert_eq!(c.created_at().unwrap().timestamp(), 1714566896);
        assert_eq!(c.history[0].comment.as_deref(), Some("Imported from -"));
    }

    #[test]
    fn serialization_omits_empty_fields() {
        let c = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            config: Some(RunConfig {
                cmd: Some(vec!["sh".into()]),
                ..Default::default()
            }),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec!["sha256:x".into()],
            },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#
        );
    }
}
