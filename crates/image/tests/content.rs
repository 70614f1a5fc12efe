//! The content store: verified writes, nothing partial under blobs/, concurrent writers.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use berth_errdefs::{HasKind, Kind};
use berth_image::{ContentStore, Error};
use berth_reference::Digest;
use common::names;

fn store() -> (tempfile::TempDir, ContentStore) {
    let tmp = tempfile::tempdir().unwrap();
    let cs = ContentStore::open(tmp.path()).unwrap();
    (tmp, cs)
}

fn blobs(root: &Path) -> Vec<String> {
    names(&root.join("blobs/sha256"))
}

#[test]
fn put_read_size_delete() {
    let (tmp, cs) = store();
    let d = cs.put(b"hello").unwrap();
    assert_eq!(d, Digest::sha256_of(b"hello"));
    assert!(cs.exists(&d));
    assert_eq!(cs.size(&d), Some(5));
    assert_eq!(cs.read(&d).unwrap(), b"hello");
    assert_eq!(cs.path(&d), tmp.path().join("blobs/sha256").join(d.hex()));
    assert_eq!(cs.list().unwrap().len(), 1);
    // Storing the same content again is fine.
    assert_eq!(cs.put(b"hello").unwrap(), d);
    cs.delete(&d).unwrap();
    assert!(!cs.exists(&d));
    assert_eq!(cs.size(&d), None);
    cs.delete(&d).unwrap();
    let err = cs.read(&d).unwrap_err();
    assert_eq!(err.kind(), Kind::NotFound, "{err}");
    assert!(matches!(cs.open_blob(&d), Err(Error::BlobNotFound(_))));
    assert!(names(&tmp.path().join("ingest")).is_empty());
}

#[test]
fn commit_verifies_digest_and_size() {
    let (tmp, cs) = store();
    let right = Digest::sha256_of(b"payload");
    let wrong = Digest::sha256_of(b"something else");
    let sha512 = Digest::parse(&format!("sha512:{}", "a".repeat(128))).unwrap();
    type Check = fn(&Error) -> bool;
    let cases: Vec<(Option<&Digest>, Option<u64>, Check)> = vec![
        (Some(&wrong), None, |e| {
            matches!(e, Error::DigestMismatch { .. })
        }),
        (Some(&right), Some(8), |e| {
            matches!(e, Error::SizeMismatch { .. })
        }),
        (None, Some(1), |e| matches!(e, Error::SizeMismatch { .. })),
        (Some(&sha512), None, |e| {
            matches!(e, Error::UnsupportedDigest(_))
        }),
    ];
    for (want, size, check) in cases {
        let mut w = cs.writer().unwrap();
        w.write_all(b"payload").unwrap();
        let err = w.commit(want, size).unwrap_err();
        assert!(check(&err), "{want:?} {size:?}: {err}");
        assert_eq!(err.kind(), Kind::InvalidArgument, "{err}");
        assert!(blobs(tmp.path()).is_empty(), "nothing stored after {err}");
        assert!(names(&tmp.path().join("ingest")).is_empty());
    }
    let err = {
        let mut w = cs.writer().unwrap();
        w.write_all(b"payload").unwrap();
        w.commit(Some(&wrong), None).unwrap_err()
    };
    assert_eq!(
        err.to_string(),
        format!("digest mismatch: expected {wrong}, got {right}")
    );

    let mut w = cs.writer().unwrap();
    w.write_all(b"pay").unwrap();
    w.write_all(b"load").unwrap();
    assert_eq!(w.written(), 7);
    assert_eq!(w.commit(Some(&right), Some(7)).unwrap(), (right.clone(), 7));
    assert_eq!(blobs(tmp.path()), [right.hex().to_string()]);
}

#[test]
fn an_abandoned_writer_leaves_nothing() {
    let (tmp, cs) = store();
    {
        let mut w = cs.writer().unwrap();
        w.write_all(&vec![1u8; 1 << 20]).unwrap();
        assert_eq!(names(&tmp.path().join("ingest")).len(), 1, "in progress");
        assert!(blobs(tmp.path()).is_empty(), "invisible while written");
    }
    assert!(blobs(tmp.path()).is_empty());
    assert!(names(&tmp.path().join("ingest")).is_empty());
}

#[test]
fn concurrent_writers_of_the_same_content_all_succeed() {
    let (tmp, cs) = store();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let want = Digest::sha256_of(&data);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                let mut w = cs.writer().unwrap();
                for chunk in data.chunks(65_536) {
                    w.write_all(chunk).unwrap();
                }
                let (d, n) = w.commit(Some(&want), Some(data.len() as u64)).unwrap();
                assert_eq!((d, n), (want.clone(), data.len() as u64));
                // Whoever reads it sees all of it.
                assert_eq!(fs::read(cs.path(&want)).unwrap().len(), data.len());
            });
        }
    });
    assert_eq!(blobs(tmp.path()), [want.hex().to_string()]);
    assert_eq!(cs.read(&want).unwrap(), data);
    assert!(names(&tmp.path().join("ingest")).is_empty());
}

#[test]
fn interrupted_writes_are_swept_when_the_image_store_opens() {
    let e = common::store_env();
    let ingest = e.root.join("ingest");
    fs::write(ingest.join("blob-leftover"), b"partial").unwrap();
    fs::create_dir_all(ingest.join("load-leftover/x")).unwrap();
    let _again = berth_image::ImageStore::open(e.db.clone(), &e.root).unwrap();
    assert!(names(&ingest).is_empty());
}
