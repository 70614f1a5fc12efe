//! Garbage collection: delete blobs that no kept manifest references.
//!
//! # The rule
//!
//! *Mark*: in every repository, the kept manifests are
//! * by default, **every manifest** the repository holds, tagged or not (an untagged manifest
//!   can still be pulled by digest, and is often the child of an index or a referrer); to let
//!   its blobs go, delete it by digest through the API first;
//! * with `delete_untagged`, only the manifests a tag reaches: tagged manifests, the children
//!   of kept indexes (recursively), and the referrers (`subject`) of kept manifests
//!   (recursively). The others are deleted from the repository.
//!
//! A kept manifest marks its own blob, its config and layers, and its children.
//!
//! *Sweep*: every blob not marked, and last modified more than `min_blob_age` ago, is deleted,
//! and repositories' links to it are removed. Upload sessions older than `upload_max_age` are
//! purged.
//!
//! Collection is meant for an idle registry: a blob pushed while the mark runs, whose
//! manifest is not yet there, would look unreferenced. `min_blob_age` protects such blobs
//! when collecting a live registry.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use berth_reference::Digest;

use crate::error::Error;
use crate::manifest::{self, Parsed};
use crate::registry::{layout, repositories, Registry};
use crate::storage::{Storage, StorageError};

/// How to collect.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Also delete manifests no tag reaches (see the module docs).
    pub delete_untagged: bool,
    /// Unreferenced blobs younger than this are kept.
    pub min_blob_age: Duration,
    /// Purge upload sessions older than this (`None`: leave uploads alone).
    pub upload_max_age: Option<Duration>,
}

/// What a collection did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Repositories scanned.
    pub repositories: usize,
    /// Manifests kept, over all repositories.
    pub manifests_kept: usize,
    /// Manifests deleted, as `(repository, digest)`.
    pub manifests_deleted: Vec<(String, Digest)>,
    /// Blobs kept.
    pub blobs_kept: usize,
    /// Blobs deleted.
    pub blobs_deleted: Vec<Digest>,
    /// Bytes in the deleted blobs.
    pub bytes_freed: u64,
    /// Upload sessions purged.
    pub uploads_purged: usize,
}

async fn list(storage: &dyn Storage, prefix: &str) -> Result<Vec<String>, Error> {
    match storage.list(prefix).await {
        Ok(v) => Ok(v),
        Err(StorageError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The digests under a `<alg>/<hex>` two-level prefix.
async fn digests_under(storage: &dyn Storage, prefix: &str) -> Result<Vec<Digest>, Error> {
    let mut out = Vec::new();
    for alg in list(storage, prefix).await? {
        for hex in list(storage, &format!("{prefix}/{alg}")).await? {
            if let Some(d) = layout::digest(&alg, &hex) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Collect garbage in `registry`'s storage.
pub async fn collect_garbage(registry: &Registry, opts: &GcOptions) -> Result<GcReport, Error> {
    let storage = registry.storage().as_ref();
    let mut report = GcReport::default();
    let mut marked: HashSet<Digest> = HashSet::new();
    let repos = repositories(storage).await?;
    report.repositories = repos.len();

    for repo in &repos {
        // Every manifest of the repository, with what it references.
        let mut manifests: HashMap<Digest, Option<Parsed>> = HashMap::new();
        for d in digests_under(storage, &layout::revisions(repo)).await? {
            let media_type = match storage.get(&layout::revision(repo, &d)).await {
                Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let parsed = match storage.get(&layout::blob(&d)).await {
                // Refuse to guess: an unreadable kept manifest could reference anything.
                Ok(body) => Some(manifest::references(&media_type, &body).map_err(|e| {
                    Error::ManifestInvalid(format!("{repo}@{d}: {e}; not collecting"))
                })?),
                Err(StorageError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            manifests.insert(d, parsed);
        }

        let keep: HashSet<Digest> = if opts.delete_untagged {
            let mut tagged = Vec::new();
            for t in list(storage, &layout::tags(repo)).await? {
                if let Ok(b) = storage.get(&layout::tag(repo, &t)).await {
                    if let Ok(d) = Digest::parse(String::from_utf8_lossy(&b).trim()) {
                        tagged.push(d);
                    }
                }
            }
            reachable(&manifests, tagged)
        } else {
            manifests.keys().cloned().collect()
        };

        for (d, parsed) in &manifests {
            if keep.contains(d) {
                report.manifests_kept += 1;
                marked.insert(d.clone());
                if let Some(p) = parsed {
                    marked.extend(p.blobs.iter().map(|(b, _)| b.clone()));
                    marked.extend(p.manifests.iter().cloned());
                }
            } else {
                report.manifests_deleted.push((repo.clone(), d.clone()));
                if !opts.dry_run {
                    if let Some(Some(s)) = parsed.as_ref().map(|p| p.subject.as_ref()) {
                        let _ = storage.delete(&layout::referrer(repo, s, d)).await;
                    }
                    storage.delete(&layout::revision(repo, d)).await?;
                }
            }
        }
    }
    report.manifests_deleted.sort();

    // Sweep blobs/<alg>/<xx>/<hex>.
    let now = SystemTime::now();
    let mut deleted: HashSet<Digest> = HashSet::new();
    for alg in list(storage, "blobs").await? {
        for shard in list(storage, &format!("blobs/{alg}")).await? {
            for hex in list(storage, &format!("blobs/{alg}/{shard}")).await? {
                let Some(d) = layout::digest(&alg, &hex) else { continue };
                if marked.contains(&d) {
                    report.blobs_kept += 1;
                    continue;
                }
                let meta = match storage.stat(&layout::blob(&d)).await {
                    Ok(m) => m,
                    Err(StorageError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                let age = now.duration_since(meta.modified).unwrap_or_default();
                if age < opts.min_blob_age {
                    report.blobs_kept += 1;
                    continue;
                }
                if !opts.dry_run {
                    storage.delete(&format!("blobs/{alg}/{shard}/{hex}")).await?;
                }
                report.bytes_freed += meta.size;
                deleted.insert(d.clone());
                report.blobs_deleted.push(d);
            }
        }
    }
    report.blobs_deleted.sort();

    if !opts.dry_run && !deleted.is_empty() {
        for repo in &repos {
            for d in digests_under(storage, &format!("repositories/{repo}/_layers")).await? {
                if deleted.contains(&d) {
                    let _ = storage.delete(&layout::layer(repo, &d)).await;
                }
            }
        }
    }

    if let Some(max_age) = opts.upload_max_age {
        if !opts.dry_run {
            report.uploads_purged = registry.purge_uploads(max_age).await?;
        }
    }
    Ok(report)
}

/// The manifests kept under `delete_untagged`: the tagged ones, children of kept indexes, and
/// referrers of kept manifests, to a fixpoint.
fn reachable(manifests: &HashMap<Digest, Option<Parsed>>, roots: Vec<Digest>) -> HashSet<Digest> {
    let mut keep: HashSet<Digest> = HashSet::new();
    let mut queue = roots;
    loop {
        while let Some(d) = queue.pop() {
            if !manifests.contains_key(&d) || !keep.insert(d.clone()) {
                continue;
            }
            if let Some(Some(p)) = manifests.get(&d) {
                queue.extend(p.manifests.iter().cloned());
            }
        }
        // Referrers of what is kept.
        for (d, p) in manifests {
            if let Some(Some(s)) = p.as_ref().map(|p| p.subject.as_ref()) {
                if keep.contains(s) && !keep.contains(d) {
                    queue.push(d.clone());
                }
            }
        }
        if queue.is_empty() {
            return keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn m(children: &[char], subject: Option<char>) -> Option<Parsed> {
        Some(Parsed {
            media_type: manifest::OCI_INDEX.into(),
            blobs: vec![],
            manifests: children.iter().map(|c| d(*c)).collect(),
            subject: subject.map(d),
            artifact_type: None,
            annotations: BTreeMap::new(),
        })
    }

    #[test]
    fn reachability() {
        // a (tagged) -> b -> c; e refers to b; f refers to e; 1 is alone; 2 refers to 1; 3 is unreadable.
        let manifests: HashMap<Digest, Option<Parsed>> = [
            (d('a'), m(&['b'], None)),
            (d('b'), m(&['c'], None)),
            (d('c'), m(&[], None)),
            (d('e'), m(&[], Some('b'))),
            (d('f'), m(&[], Some('e'))),
            (d('1'), m(&[], None)),
            (d('2'), m(&[], Some('1'))),
            (d('3'), None),
        ]
        .into_iter()
        .collect();
        let mut got: Vec<Digest> = reachable(&manifests, vec![d('a'), d('0')]).into_iter().collect();
        got.sort();
        assert_eq!(got, vec![d('a'), d('b'), d('c'), d('e'), d('f')]);
    }
}
