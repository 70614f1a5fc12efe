//! Writing layer-style tars from a directory tree: headers from file metadata, PAX records
//! for extended attributes, and reading those attributes. Shared by the layer writer
//! (`create_layer_from_dir`) and the engine's container export.

use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tar::{EntryType, Header};

/// A GNU header with the metadata of `md`: numeric owner, whole-second mtime, size 0 (the
/// caller sets the size of regular files).
pub fn header(md: &Metadata, kind: EntryType, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);
    h
}

/// One PAX record: `<len> <key>=<value>\n`, the length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
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

/// The PAX extended header (and its data) that carries `records` for the next entry, to be
/// appended under the name `PaxHeaders.0/entry`; None when there is nothing to carry.
pub fn pax_header(records: &[(String, Vec<u8>)]) -> Option<(Header, Vec<u8>)> {
    if records.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    for (k, v) in records {
        data.extend_from_slice(&pax_record(k, v));
    }
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::XHeader);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    Some((h, data))
}

/// The name under which [`pax_header`]'s header is appended.
pub const PAX_NAME: &str = "PaxHeaders.0/entry";

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("path {p:?} contains a NUL byte")))
}

fn get_xattr_c(c: &CString, name: &CString) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid NUL-terminated strings; the buffer is valid for its length.
        let r = unsafe { libc::lgetxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENODATA) | Some(libc::ENOTSUP) | Some(libc::ENOENT) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// One extended attribute of `p` (not following a final symlink); None when absent.
pub fn get_xattr(p: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let name = CString::new(name).map_err(io::Error::other)?;
    get_xattr_c(&cpath(p)?, &name)
}

/// The extended attributes of `p` (not following a final symlink), sorted by name;
/// filesystems without xattrs have none.
pub fn list_xattrs(p: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let c = cpath(p)?;
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: valid NUL-terminated path; the buffer is valid for its length.
        let r = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) | Some(libc::ENOENT) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    };
    names.truncate(len);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(key) = std::str::from_utf8(name) else { continue };
        let cname = CString::new(name).map_err(io::Error::other)?;
        // An attribute removed meanwhile is simply not there.
        if let Some(v) = get_xattr_c(&c, &cname)? {
            out.push((key.to_string(), v));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        for (k, v, want) in [("a", "b", "6 a=b\n"), ("SCHILY.xattr.user.x", "12345", "29 SCHILY.xattr.user.x=12345\n")] {
            assert_eq!(String::from_utf8(pax_record(k, v.as_bytes())).unwrap(), want);
        }
        // Crossing a power of ten: the length's own digits push it over.
        let long = "x".repeat(93);
        let r = pax_record("k", long.as_bytes());
        assert_eq!(r.len().to_string(), String::from_utf8_lossy(&r).split(' ').next().unwrap());
        assert!(pax_header(&[]).is_none());
        let (h, data) = pax_header(&[("a".into(), b"b".to_vec())]).unwrap();
        assert_eq!(h.entry_type(), EntryType::XHeader);
        assert_eq!(data, b"6 a=b\n");
    }
}
