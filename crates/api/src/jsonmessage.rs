//! The progress stream of pull, push, load, import and build: Docker's `JSONMessage`, one
//! JSON object per line.

use serde::{Deserialize, Serialize};

/// One line of a progress stream, as moby's `jsonmessage.JSONMessage` writes it.
///
/// Layer lines carry the layer's short id in `id`; `progressDetail` is present (possibly `{}`)
/// on every status that belongs to a progress line, as the CLI expects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    /// What happens, e.g. `Downloading`, `Pull complete`, `Digest: sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The progress line this message updates (a short layer id, a tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A rendered progress bar, e.g. `[==>      ] 1.2MB/3.4MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The numbers behind the progress bar.
    #[serde(rename = "progressDetail", default, skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Raw output (the builder's `Step 1/3 : ...` lines and its RUN steps' output), printed
    /// as is by the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A failure, structured.
    #[serde(rename = "errorDetail", default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// A failure, as text (older clients read this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra data: `{"Tag","Digest","Size"}` after a push, `{"ID"}` after a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// Progress counters (`progressDetail`); both absent renders as `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    /// Bytes (or units) done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    /// Bytes (or units) in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// A failure in a progress stream (`errorDetail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// An optional numeric code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// The error message.
    #[serde(default)]
    pub message: String,
}

impl JsonMessage {
    /// A plain status line (`Digest: ...`, `Status: ...`).
    pub fn status(status: impl Into<String>) -> JsonMessage {
        JsonMessage { status: Some(status.into()), ..JsonMessage::default() }
    }

    /// A status for the progress line `id`, with an empty `progressDetail` (`Pulling fs layer`).
    pub fn update(id: impl Into<String>, status: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail::default()),
            ..JsonMessage::default()
        }
    }

    /// Raw output (`{"stream": "..."}`), as the builder sends it.
    pub fn stream(text: impl Into<String>) -> JsonMessage {
        JsonMessage { stream: Some(text.into()), ..JsonMessage::default() }
    }

    /// A failure with a code (`errorDetail.code`): a failed RUN step's exit code, which the
    /// CLI exits with.
    pub fn error_with_code(message: impl Into<String>, code: i64) -> JsonMessage {
        let mut m = JsonMessage::error(message);
        if let Some(d) = m.error_detail.as_mut() {
            d.code = Some(code);
        }
        m
    }

    /// A failure: both `errorDetail.message` and `error` carry `message`, as Docker sends.
    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail { code: None, message: message.clone() }),
            error: Some(message),
            ..JsonMessage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let cases = [
            (JsonMessage::status("Digest: sha256:ab"), r#"{"status":"Digest: sha256:ab"}"#),
            (JsonMessage::update("abc", "Pulling fs layer"), r#"{"status":"Pulling fs layer","id":"abc","progressDetail":{}}"#),
            (
                JsonMessage {
                    progress: Some("[=>  ] 1B/2B".into()),
                    progress_detail: Some(ProgressDetail { current: Some(1), total: Some(2) }),
                    ..JsonMessage::update("abc", "Downloading")
                },
                r#"{"status":"Downloading","id":"abc","progress":"[=>  ] 1B/2B","progressDetail":{"current":1,"total":2}}"#,
            ),
            (JsonMessage::error("boom"), r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#),
            (JsonMessage::stream("Step 1/2 : FROM x\n"), r#"{"stream":"Step 1/2 : FROM x\n"}"#),
            (JsonMessage::error_with_code("exit", 3), r#"{"errorDetail":{"code":3,"message":"exit"},"error":"exit"}"#),
        ];
        for (m, want) in cases {
            assert_eq!(serde_json::to_string(&m).unwrap(), want);
            assert_eq!(serde_json::from_str::<JsonMessage>(want).unwrap(), m);
        }
    }
}
