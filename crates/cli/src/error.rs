//! How failures reach the user: docker's one-line messages and exit codes.

use std::fmt;

/// Exit with `code`, printing `message` (if any) on stderr — docker's `cli.StatusError`.
#[derive(Debug)]
pub struct StatusError {
    /// Printed on one line before exiting, when present.
    pub message: Option<String>,
    /// The process exit code.
    pub code: i32,
}

impl StatusError {
    /// Exit silently with `code` (e.g. the container's exit code).
    pub fn code(code: i32) -> anyhow::Error {
        anyhow::Error::new(StatusError { message: None, code })
    }

    /// Print `message` and exit with `code`.
    pub fn with(code: i32, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(StatusError { message: Some(message.into()), code })
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for StatusError {}

/// An error from the daemon or the connection, worded as docker words it.
#[derive(Debug)]
pub struct ApiError(pub berth_client::Error);

impl ApiError {
    /// The HTTP status of a daemon error.
    pub fn status(&self) -> Option<u16> {
        self.0.status()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            berth_client::Error::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
            berth_client::Error::Connect { host, .. } => {
                write!(f, "Cannot connect to the berth daemon at {host}. Is the berth daemon running?")
            }
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// Convert client results into CLI errors.
pub trait ApiResult<T> {
    /// Wrap the error as an [`ApiError`].
    fn api(self) -> anyhow::Result<T>;
}

impl<T> ApiResult<T> for Result<T, berth_client::Error> {
    fn api(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(ApiError(e)))
    }
}

impl<T> ApiResult<T> for Result<T, bollard::errors::Error> {
    fn api(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(ApiError(e.into())))
    }
}

/// The HTTP status of an error, if it came from the daemon.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ApiError>().and_then(ApiError::status)
}

/// Is this (or anything it wraps) a broken pipe? Those end the command successfully.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit code and one-line message for an error, as docker's main does.
pub fn report(e: &anyhow::Error) -> (i32, Option<String>) {
    if is_broken_pipe(e) {
        return (0, None);
    }
    if let Some(s) = e.downcast_ref::<StatusError>() {
        let code = if s.code == 0 { 1 } else { s.code };
        return (code, s.message.clone());
    }
    let msg = format!("{e:#}").replace('\n', " ");
    (1, Some(msg))
}

/// Errors of several objects (stop a b c): docker prints each and fails once.
pub fn collect(errors: Vec<String>) -> anyhow::Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::with(1, errors.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_follow_docker() {
        let e = StatusError::code(3);
        assert_eq!(report(&e), (3, None));
        let e = StatusError::with(125, "berth: boom");
        assert_eq!(report(&e), (125, Some("berth: boom".into())));
        let e: anyhow::Error = Err::<(), _>(berth_client::Error::Daemon { status: 404, message: "No such container: x".into() })
            .api()
            .unwrap_err();
        assert_eq!(report(&e), (1, Some("Error response from daemon: No such container: x".into())));
        assert_eq!(status_of(&e), Some(404));
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("writing");
        assert_eq!(report(&e), (0, None));
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(report(&e), (1, Some("outer: inner".into())));
    }
}
