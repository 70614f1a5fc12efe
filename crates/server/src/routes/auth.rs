//! `POST /auth`: check registry credentials (`docker login`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_api::models as m;
use berth_engine::service::LoginRequest;
use berth_errdefs::Kind;
use serde_json::Value;

use super::Shared;
use crate::error::ApiError;
use crate::params::{json, json_body};

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/auth", post(auth))
}

/// The credentials of an `AuthConfig` body. Read field by field: the generated model lacks
/// `identitytoken`, which the CLI sends when it has one.
fn login_request(v: &Value) -> LoginRequest {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let token = s("identitytoken");
    LoginRequest {
        server_address: s("serveraddress"),
        username: s("username"),
        password: s("password"),
        identity_token: (!token.is_empty()).then_some(token),
    }
}

/// `{"Status":"Login Succeeded","IdentityToken":"..."}`. Refused credentials are a 401, as
/// dockerd answers (the CLI then says `Error response from daemon: ...`).
async fn auth(State(b): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let v: Value = json_body(&headers, body).await?.unwrap_or(Value::Null);
    if !v.is_object() {
        return Err(ApiError::invalid("invalid JSON: expected an AuthConfig object"));
    }
    let token = b.registry_login(login_request(&v)).await.map_err(|e| {
        let mut err = ApiError::from(e);
        if err.status == crate::status_for(Kind::PermissionDenied) {
            err.status = StatusCode::UNAUTHORIZED;
        }
        err
    })?;
    let resp = m::AuthResponse { status: "Login Succeeded".into(), identity_token: Some(token.unwrap_or_default()) };
    Ok(json(StatusCode::OK, &resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_configs_read_field_by_field() {
        let cases = [
            (json!({}), ("", "", "", None)),
            (
                json!({"username":"u","password":"p","serveraddress":"localhost:5000"}),
                ("localhost:5000", "u", "p", None),
            ),
            (json!({"identitytoken":"tok","serveraddress":"r"}), ("r", "", "", Some("tok"))),
            (json!({"identitytoken":"","username":5}), ("", "", "", None)),
        ];
        for (v, (server, user, pass, token)) in cases {
            let r = login_request(&v);
            assert_eq!(
                (r.server_address.as_str(), r.username.as_str(), r.password.as_str(), r.identity_token.as_deref()),
                (server, user, pass, token),
                "{v}"
            );
        }
    }
}
