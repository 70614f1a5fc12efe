//! docker's image formatter context (`images --format` fields) and default tables.

use berth_api::models::ImageSummary;
use serde_json::{json, Value as Json};

use super::humanize::{go_time_string, human_size_precision, since, truncate_id};
use super::template::{header_context, labels_json, LABELS_KEY};

/// `docker images` default table.
pub const DEFAULT_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
/// `docker images --digests` default table.
pub const DEFAULT_TABLE_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Column titles, as docker's `ImageContext` names them.
pub fn headers() -> Json {
    header_context(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Label", "LABEL"),
    ])
}

/// `docker.io/library/busybox` -> `busybox`, `docker.io/x/y` -> `x/y`.
pub fn familiar_name(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// Split `repo:tag` (the tag is after the last `:` not followed by `/`).
pub fn split_repo_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (s, None),
    }
}

fn is_dangling(img: &ImageSummary) -> bool {
    (img.repo_tags.is_empty() && img.repo_digests.is_empty())
        || (img.repo_tags == ["<none>:<none>"] && img.repo_digests == ["<none>@<none>"])
}

/// The rows docker shows for one image: one per (repository, tag[, digest]).
pub fn rows(img: &ImageSummary, show_digests: bool) -> Vec<(String, String, String)> {
    if is_dangling(img) {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for rt in &img.repo_tags {
        if rt == "<none>:<none>" {
            continue;
        }
        let (repo, tag) = split_repo_tag(rt);
        let Some(tag) = tag else { continue };
        let repo = familiar_name(repo).to_string();
        match repo_tags.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, tags)) => tags.push(tag.to_string()),
            None => repo_tags.push((repo, vec![tag.to_string()])),
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for rd in &img.repo_digests {
        let Some((repo, digest)) = rd.split_once('@') else { continue };
        if repo == "<none>" {
            continue;
        }
        let repo = familiar_name(repo).to_string();
        match repo_digests.iter_mut().find(|(r, _)| *r == repo) {
            Some((_, ds)) => ds.push(digest.to_string()),
            None => repo_digests.push((repo, vec![digest.to_string()])),
        }
    }
    let mut out = Vec::new();
    for (repo, tags) in &repo_tags {
        let digests = match repo_digests.iter().position(|(r, _)| r == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => vec![],
        };
        let digests = if show_digests { digests } else { vec![] };
        for tag in tags {
            if digests.is_empty() {
                out.push((repo.clone(), tag.clone(), "<none>".into()));
            } else {
                for d in &digests {
                    out.push((repo.clone(), tag.clone(), d.clone()));
                }
            }
        }
    }
    for (repo, digests) in repo_digests {
        if show_digests {
            for d in digests {
                out.push((repo.clone(), "<none>".into(), d));
            }
        } else {
            out.push((repo, "<none>".into(), String::new()));
        }
    }
    out
}

/// Formatter contexts for one image (one per row).
pub fn contexts(img: &ImageSummary, trunc: bool, show_digests: bool, now: i64) -> Vec<Json> {
    let na_or = |v: i64, f: &dyn Fn(i64) -> String| if v == -1 { "N/A".to_string() } else { f(v) };
    let hs = |v: i64| human_size_precision(v as f64, 3);
    rows(img, show_digests)
        .into_iter()
        .map(|(repo, tag, digest)| {
            json!({
                "ID": if trunc { truncate_id(&img.id) } else { img.id.clone() },
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": since(img.created, now),
                "CreatedAt": go_time_string(img.created),
                "Size": hs(img.size),
                "VirtualSize": hs(img.size),
                "Containers": na_or(img.containers, &|v| v.to_string()),
                "SharedSize": na_or(img.shared_size, &hs),
                "UniqueSize": if img.shared_size == -1 { "N/A".to_string() } else { hs(img.size - img.shared_size) },
                LABELS_KEY: labels_json(&img.labels),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(tags: &[&str], digests: &[&str]) -> ImageSummary {
        ImageSummary {
            id: "sha256:0123456789abcdef0123456789abcdef".into(),
            repo_tags: tags.iter().map(|s| s.to_string()).collect(),
            repo_digests: digests.iter().map(|s| s.to_string()).collect(),
            created: 1000,
            size: 4_261_234,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn rows_follow_docker() {
        let cases: Vec<(ImageSummary, bool, Vec<(&str, &str, &str)>)> = vec![
            (img(&[], &[]), false, vec![("<none>", "<none>", "<none>")]),
            (img(&["busybox:latest", "busybox:1.36"], &[]), false, vec![("busybox", "latest", "<none>"), ("busybox", "1.36", "<none>")]),
            (img(&["docker.io/library/alpine:3"], &["alpine@sha256:aa"]), true, vec![("alpine", "3", "sha256:aa")]),
            (img(&["alpine:3"], &["alpine@sha256:aa"]), false, vec![("alpine", "3", "<none>")]),
            (img(&[], &["alpine@sha256:aa"]), false, vec![("alpine", "<none>", "")]),
            (img(&["localhost:5000/x/y:v1"], &[]), false, vec![("localhost:5000/x/y", "v1", "<none>")]),
        ];
        for (image, digests, want) in cases {
            let got = rows(&image, digests);
            let want: Vec<(String, String, String)> =
                want.into_iter().map(|(a, b, c)| (a.into(), b.into(), c.into())).collect();
            assert_eq!(got, want, "{:?}", image.repo_tags);
        }
    }

    #[test]
    fn context_fields() {
        let ctx = &contexts(&img(&["busybox:latest"], &[]), true, false, 1000 + 3600 * 24 * 3)[0];
        assert_eq!(ctx["ID"], "0123456789ab");
        assert_eq!(ctx["Repository"], "busybox");
        assert_eq!(ctx["Tag"], "latest");
        assert_eq!(ctx["Size"], "4.26MB");
        assert_eq!(ctx["CreatedSince"], "3 days ago");
        assert_eq!(ctx["Containers"], "N/A");
        assert_eq!(ctx["UniqueSize"], "N/A");
    }
}
