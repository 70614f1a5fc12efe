//! Moving images and containers in and out of the daemon: pull, push, login, save, load,
//! commit and export, with the requests the docker CLI sends (moby's `client` package).

use tokio::io::AsyncRead;

use crate::auth::{AuthConfig, AuthenticateOk, AUTH_HEADER};
use crate::jsonstream::JsonStream;
use crate::request::{Body, BodyStream, Request, Response};
use crate::{Client, Error};

/// What `POST /commit` is asked to do (`container.CommitOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOptions {
    /// The container (name or id).
    pub container: String,
    /// Repository (full name, e.g. `docker.io/library/app`), empty for an untagged image.
    pub repo: String,
    /// Tag, empty with an empty `repo`.
    pub tag: String,
    /// `-m`.
    pub comment: String,
    /// `-a`.
    pub author: String,
    /// `-c`, Dockerfile instructions.
    pub changes: Vec<String>,
    /// Pause the container while committing (`-p`, default true).
    pub pause: bool,
}

/// The answer of `POST /images/load`.
#[derive(Debug)]
pub struct LoadResponse {
    /// True when the body is a JSON message stream (else plain text to copy).
    pub json: bool,
    /// The body.
    pub body: BodyStream,
}

impl Client {
    /// Send a request with [`Request`]'s full control over query, headers and a streamed
    /// body; a non-2xx status is an [`Error::Daemon`].
    pub async fn send(&self, req: Request) -> Result<Response, Error> {
        crate::request::send(&self.host, &self.api_version(), req).await
    }

    /// `POST /images/create?fromImage=&tag=[&platform=]` with `X-Registry-Auth`: the pull's
    /// progress messages. `tag` is the tag or digest (`None` pulls all tags).
    pub async fn pull(
        &self,
        from_image: &str,
        tag: Option<&str>,
        platform: &str,
        auth: &AuthConfig,
    ) -> Result<JsonStream, Error> {
        let mut req = Request::new("POST", "/images/create").query("fromImage", from_image);
        if let Some(t) = tag {
            req = req.query("tag", t);
        }
        if !platform.is_empty() {
            req = req.query("platform", platform.to_lowercase());
        }
        let resp = self.send(req.header(AUTH_HEADER, auth.encode())).await?;
        Ok(JsonStream::new(resp.body))
    }

    /// `POST /images/{name}/push[?tag=][&platform=]` with `X-Registry-Auth`: the push's
    /// progress messages. `name` is the full repository name; `None` pushes all its tags.
    /// `platform` is an OCI platform as JSON (`{"architecture":"amd64","os":"linux"}`).
    pub async fn push(&self, name: &str, tag: Option<&str>, platform: Option<&str>, auth: &AuthConfig) -> Result<JsonStream, Error> {
        let mut req = Request::new("POST", format!("/images/{name}/push"));
        if let Some(t) = tag {
            req = req.query("tag", t);
        }
        if let Some(p) = platform {
            req = req.query("platform", p);
        }
        let resp = self.send(req.header(AUTH_HEADER, auth.encode())).await?;
        Ok(JsonStream::new(resp.body))
    }

    /// `POST /auth`: check credentials through the daemon.
    pub async fn login(&self, auth: &AuthConfig) -> Result<AuthenticateOk, Error> {
        let resp = self.send(Request::new("POST", "/auth").body(Body::Json(auth.to_json()))).await?;
        let bytes = resp.body.bytes().await?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("bad /auth response: {e}")))?;
        Ok(AuthenticateOk::from_json(&v))
    }

    /// `GET /images/get?names=...`: the tar of the named images.
    pub async fn save(&self, names: &[String]) -> Result<BodyStream, Error> {
        let mut req = Request::new("GET", "/images/get");
        for n in names {
            req = req.query("names", n.clone());
        }
        Ok(self.send(req).await?.body)
    }

    /// `POST /images/load?quiet=0|1` with the tar streamed from `input`.
    pub async fn load(&self, input: std::pin::Pin<Box<dyn AsyncRead + Send>>, quiet: bool) -> Result<LoadResponse, Error> {
        let req = Request::new("POST", "/images/load")
            .query("quiet", if quiet { "1" } else { "0" })
            .body(Body::Stream { content_type: "application/x-tar".into(), reader: input });
        let resp = self.send(req).await?;
        Ok(LoadResponse { json: resp.content_type.as_deref() == Some("application/json"), body: resp.body })
    }

    /// `POST /commit`: returns the new image's id (`sha256:...`).
    pub async fn commit(&self, o: &CommitOptions) -> Result<String, Error> {
        let mut req = Request::new("POST", "/commit")
            .query("container", o.container.clone())
            .query("repo", o.repo.clone())
            .query("tag", o.tag.clone())
            .query("comment", o.comment.clone())
            .query("author", o.author.clone());
        for c in &o.changes {
            req = req.query("changes", c.clone());
        }
        if !o.pause {
            req = req.query("pause", "0");
        }
        let bytes = self.send(req).await?.body.bytes().await?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("bad /commit response: {e}")))?;
        v.get("Id")
            .and_then(|i| i.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol("commit response without Id".into()))
    }

    /// `GET /containers/{id}/export`: the container's filesystem as a tar.
    pub async fn export(&self, container: &str) -> Result<BodyStream, Error> {
        Ok(self.send(Request::new("GET", format!("/containers/{container}/export"))).await?.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::fake::serve;

    async fn client(response: &'static [u8]) -> (tempfile::TempDir, Client, tokio::task::JoinHandle<Vec<u8>>) {
        let (dir, host, server) = serve(response).await;
        (dir, Client::new(host).unwrap(), server)
    }

    fn head_of(req: &[u8]) -> String {
        let text = String::from_utf8_lossy(req).to_string();
        text.split("\r\n\r\n").next().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn pull_sends_docker_query_and_auth_header() {
        let (_d, c, server) = client(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
              24\r\n{\"status\":\"Pulling from x\",\"id\":\"1\"}\r\n0\r\n\r\n",
        )
        .await;
        let auth = AuthConfig { username: "u".into(), password: "p".into(), server_address: "localhost:5000".into(), ..Default::default() };
        let mut s = c.pull("localhost:5000/x", Some("1"), "Linux/AMD64", &auth).await.unwrap();
        assert_eq!(s.next().await.unwrap().unwrap(), serde_json::json!({"status": "Pulling from x", "id": "1"}));
        assert!(s.next().await.is_none());
        let head = head_of(&server.await.unwrap());
        assert!(head.starts_with("POST /v1.47/images/create?fromImage=localhost%3A5000%2Fx&tag=1&platform=linux%2Famd64 HTTP/1.1"), "{head}");
        assert!(head.contains(&format!("\r\nX-Registry-Auth: {}\r\n", auth.encode())), "{head}");
    }

    #[tokio::test]
    async fn push_names_the_repository_in_the_path() {
        let (_d, c, server) = client(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let platform = r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#;
        let mut s = c.push("docker.io/library/app", Some("v1"), Some(platform), &AuthConfig::default()).await.unwrap();
        assert!(s.next().await.is_none());
        let head = head_of(&server.await.unwrap());
        assert!(
            head.starts_with(
                "POST /v1.47/images/docker.io/library/app/push?tag=v1\
                 &platform=%7B%22architecture%22%3A%22arm64%22%2C%22os%22%3A%22linux%22%2C%22variant%22%3A%22v8%22%7D HTTP/1.1"
            ),
            "{head}"
        );
        assert!(head.contains("\r\nX-Registry-Auth: e30=\r\n"), "{head}");
    }

    #[tokio::test]
    async fn commit_sends_every_option() {
        let body = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"Id\":\"sha256:ab\"}";
        let (_d, c, server) = client(body).await;
        let o = CommitOptions {
            container: "c1".into(),
            repo: "docker.io/library/app".into(),
            tag: "latest".into(),
            comment: "m".into(),
            author: "me".into(),
            changes: vec!["ENV A=1".into(), "CMD [\"sh\"]".into()],
            pause: false,
        };
        assert_eq!(c.commit(&o).await.unwrap(), "sha256:ab");
        let head = head_of(&server.await.unwrap());
        assert!(
            head.starts_with(
                "POST /v1.47/commit?container=c1&repo=docker.io%2Flibrary%2Fapp&tag=latest&comment=m&author=me\
                 &changes=ENV%20A%3D1&changes=CMD%20%5B%22sh%22%5D&pause=0 HTTP/1.1"
            ),
            "{head}"
        );
        // Paused by default: no pause parameter, empty values still sent (as docker).
        let (_d, c, server) = client(body).await;
        c.commit(&CommitOptions { container: "c1".into(), pause: true, ..Default::default() }).await.unwrap();
        let head = head_of(&server.await.unwrap());
        assert!(head.starts_with("POST /v1.47/commit?container=c1&repo=&tag=&comment=&author= HTTP/1.1"), "{head}");
    }

    #[tokio::test]
    async fn login_posts_the_auth_config() {
        let (_d, c, server) = client(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n\
              {\"Status\":\"Login Succeeded\",\"IdentityToken\":\"\"}",
        )
        .await;
        let auth = AuthConfig { username: "u".into(), password: "p".into(), server_address: "r:5000".into(), ..Default::default() };
        let ok = c.login(&auth).await.unwrap();
        assert_eq!(ok.status, "Login Succeeded");
        let req = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(req.starts_with("POST /v1.47/auth HTTP/1.1\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n{\"username\":\"u\",\"password\":\"p\",\"serveraddress\":\"r:5000\"}"), "{req}");
    }

    #[tokio::test]
    async fn save_repeats_names_and_load_reports_json() {
        let (_d, c, server) = client(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 3\r\n\r\ntar").await;
        let body = c.save(&["busybox".into(), "app:1".into()]).await.unwrap();
        assert_eq!(body.bytes().await.unwrap(), b"tar");
        assert!(head_of(&server.await.unwrap()).starts_with("GET /v1.47/images/get?names=busybox&names=app%3A1 HTTP/1.1"));

        let (_d, c, server) = client(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 43\r\n\r\n\
              {\"stream\":\"Loaded image: busybox:latest\\n\"}",
        )
        .await;
        let resp = c.load(Box::pin(&b"tarbytes"[..]), true).await.unwrap();
        assert!(resp.json);
        let mut s = JsonStream::new(resp.body);
        assert_eq!(s.next().await.unwrap().unwrap()["stream"], "Loaded image: busybox:latest\n");
        let req = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(req.starts_with("POST /v1.47/images/load?quiet=1 HTTP/1.1\r\n"), "{req}");
    }

    #[tokio::test]
    async fn export_gets_the_tar() {
        let (_d, c, server) = client(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntar").await;
        assert_eq!(c.export("c1").await.unwrap().bytes().await.unwrap(), b"tar");
        assert!(head_of(&server.await.unwrap()).starts_with("GET /v1.47/containers/c1/export HTTP/1.1"));
    }
}
