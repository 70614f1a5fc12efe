//! Errors as the API reports them: a status code and `{"message": "..."}`.
//!
//! [`status_for`] is the one place where an error kind becomes an HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_errdefs::{HasKind, Kind};

/// The HTTP status that answers an error of `kind`.
pub fn status_for(kind: Kind) -> StatusCode {
    match kind {
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::InvalidArgument => StatusCode::BAD_REQUEST,
        Kind::PermissionDenied => StatusCode::FORBIDDEN,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        Kind::NotModified => StatusCode::NOT_MODIFIED,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answer. Handlers return `Result<Response, ApiError>`; anything with a kind converts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        ApiError { status: status_for(kind), message: message.into() }
    }

    /// A 400 for a malformed request.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidArgument, message)
    }

    /// The 404 of unknown routes.
    pub(crate) fn page_not_found() -> Self {
        Self::new(Kind::NotFound, "page not found")
    }
}

impl From<berth_errdefs::Error> for ApiError {
    fn from(e: berth_errdefs::Error) -> Self {
        ApiError::new(e.kind(), e.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), message = %self.message, "request failed");
        }
        if self.status == StatusCode::NOT_MODIFIED {
            // A 304 has no body by definition; clients only look at the status.
            return self.status.into_response();
        }
        let body = serde_json::json!({ "message": self.message });
        let mut bytes = body.to_string().into_bytes();
        bytes.push(b'\n');
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}
