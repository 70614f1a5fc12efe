//! Crafting tarballs byte by byte, including the malicious ones `tar::Builder` refuses.
#![allow(dead_code)]

use std::io::Write;

use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// True when running as root; otherwise says loudly that the calling test is skipped.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED {test}: needs root");
        return false;
    }
    true
}

/// A unique name for paths outside the test's temporary directory.
pub fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", std::process::id())
}

pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: MTIME,
        }
    }
}

fn header(kind: EntryType, name: &str, link: Option<&str>, size: u64, meta: &Meta) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    h.set_size(size);
    let gnu = h.as_gnu_mut().unwrap();
    assert!(name.len() < 100, "test names must be short");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        assert!(l.len() < 100);
        gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    loop {
        let total = rest + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn raw(mut self, mut h: Header, data: &[u8]) -> Tar {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Tar {
        self.file_with(name, data, &Meta::default())
    }

    pub fn file_with(self, name: &str, data: &[u8], meta: &Meta) -> Tar {
        let h = header(EntryType::Regular, name, None, data.len() as u64, meta);
        self.raw(h, data)
    }

    pub fn dir(self, name: &str) -> Tar {
        self.dir_with(
            name,
            &Meta {
                mode: 0o755,
                ..Meta::default()
            },
        )
    }

    pub fn dir_with(self, name: &str, meta: &Meta) -> Tar {
        let h = header(EntryType::Directory, name, None, 0, meta);
        self.raw(h, &[])
    }

    /// An old-style entry: type '\0', a directory when the name ends with '/'.
    pub fn old_style(self, name: &str, data: &[u8]) -> Tar {
        let mut h = header(
            EntryType::Regular,
            name,
            None,
            data.len() as u64,
            &Meta::default(),
        );
        h.as_old_mut().linkflag = [0];
        self.raw(h, data)
    }

    pub fn symlink(self, name: &str, target: &str) -> Tar {
        let h = header(
            EntryType::Symlink,
            name,
            Some(target),
            0,
            &Meta {
                mode: 0o777,
                ..Meta::default()
            },
        );
        self.raw(h, &[])
    }

    pub fn hardlink(self, name: &str, target: &str) -> Tar {
        let h = header(EntryType::Link, name, Some(target), 0, &Meta::default());
        self.raw(h, &[])
    }

    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32) -> Tar {
        let mut h = header(
            kind,
            name,
            None,
            0,
            &Meta {
                mode: 0o666,
                ..Meta::default()
            },
        );
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, &[])
    }

    /// PAX records for the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Tar {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let h = header(
            EntryType::XHeader,
            "PaxHeaders/x",
            None,
            data.len() as u64,
            &Meta::default(),
        );
        self.raw(h, &data)
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A store in a fresh temporary directory.
pub struct StoreEnv {
    pub tmp: tempfile::TempDir,
    pub db: berth_metadata::Store,
    pub root: std::path::PathBuf,
    pub images: berth_image::ImageStore,
}

pub fn store_env() -> StoreEnv {
    let tmp = tempfile::tempdir().unwrap();
    let db = berth_metadata::Store::open(&tmp.path().join("metadata.db")).unwrap();
    let root = tmp.path().join("image");
    let images = berth_image::ImageStore::open(db.clone(), &root).unwrap();
    StoreEnv {
        tmp,
        db,
        root,
        images,
    }
}

/// Names directly in `dir`, sorted (empty when it does not exist).
pub fn names(dir: &std::path::Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// An overlay mount, unmounted on drop.
pub struct Overlay {
    pub merged: std::path::PathBuf,
}

impl Overlay {
    /// Mount `lowers` (top first), with `upper`/`work` when given (read-only otherwise).
    pub fn mount(
        lowers: &[&std::path::Path],
        rw: Option<(&std::path::Path, &std::path::Path)>,
        merged: &std::path::Path,
    ) -> std::io::Result<Overlay> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let mut data = format!("lowerdir={}", lower.join(":"));
        let mut flags = libc::MS_RDONLY;
        if let Some((upper, work)) = rw {
            data.push_str(&format!(
                ",upperdir={},workdir={}",
                upper.display(),
                work.display()
            ));
            flags = 0;
        }
        let c = |p: &std::path::Path| CString::new(p.as_os_str().as_bytes()).unwrap();
        let ov = CString::new("overlay").unwrap();
        let target = c(merged);
        let data = CString::new(data).unwrap();
        // SAFETY: valid C strings.
        let r = unsafe {
            libc::mount(
                ov.as_ptr(),
                target.as_ptr(),
                ov.as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Overlay {
            merged: merged.to_path_buf(),
        })
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(self.merged.as_os_str().as_bytes()).unwrap();
        // SAFETY: unmounting what we mounted.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The entries of a tar (plain/gzip/zstd): (path, type byte, size).
pub fn tar_entries(data: &[u8]) -> Vec<(String, u8, u64)> {
    let plain = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out).unwrap();
        out
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(data).unwrap()
    } else {
        data.to_vec()
    };
    let mut a = tar::Archive::new(&plain[..]);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().entry_type().as_byte(),
                e.header().size().unwrap(),
            )
        })
        .collect()
}
