//! Small file helpers for cgroupfs: no `O_CREAT`, no `O_TRUNC`, one `write(2)` per value.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// `dir/file`.
pub(crate) fn join(dir: &Path, file: &str) -> PathBuf {
    let mut p = PathBuf::with_capacity(dir.as_os_str().len() + 1 + file.len());
    p.push(dir);
    p.push(file);
    p
}

/// Write `value` to `dir/file` in one `write(2)`. The file must exist: cgroupfs files are made
/// by the kernel, so a missing file means a missing controller or feature.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = join(dir, file);
    write_path(&path, value)
}

pub(crate) fn write_path(path: &Path, value: &str) -> Result<()> {
    let res = OpenOptions::new().write(true).open(path).and_then(|mut f| {
        let n = f.write(value.as_bytes())?;
        if n != value.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    });
    res.map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Whether the error is "no such file or directory".
pub(crate) fn enoent(e: &Error) -> bool {
    match e {
        Error::Write { source, .. } | Error::Read { source, .. } | Error::Create { source, .. } => {
            source.raw_os_error() == Some(libc::ENOENT)
        }
        _ => false,
    }
}

pub(crate) fn errno(e: &Error) -> Option<i32> {
    match e {
        Error::Write { source, .. }
        | Error::Read { source, .. }
        | Error::Create { source, .. }
        | Error::Remove { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

/// Read `dir/file` as text.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = join(dir, file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

/// Read `dir/file` as text; `None` if it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = join(dir, file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Read a small file into `buf` without allocating; returns the number of bytes read (at
/// most `buf.len()`).
pub(crate) fn read_raw(dir: &Path, file: &str, buf: &mut [u8]) -> Result<usize> {
    let path = join(dir, file);
    let res = fs::File::open(&path).and_then(|mut f| {
        let mut n = 0;
        while n < buf.len() {
            let m = f.read(&mut buf[n..])?;
            if m == 0 {
                break;
            }
            n += m;
        }
        Ok(n)
    });
    res.map_err(|source| Error::Read { path, source })
}

/// Like [`read_raw`], returning the trimmed text.
pub(crate) fn read_small<'a>(dir: &Path, file: &str, buf: &'a mut [u8]) -> Result<&'a str> {
    let n = read_raw(dir, file, buf)?;
    std::str::from_utf8(&buf[..n]).map(str::trim).map_err(|_| Error::Parse {
        path: join(dir, file),
        content: String::from_utf8_lossy(&buf[..n]).into_owned(),
    })
}

/// Parse a single unsigned number (or `max`, as `None`) from `dir/file`.
pub(crate) fn read_u64_or_max(dir: &Path, file: &str) -> Result<Option<u64>> {
    let mut buf = [0u8; 64];
    let s = read_small(dir, file, &mut buf)?;
    crate::stats::parse_u64_or_max(s)
        .ok_or_else(|| Error::Parse { path: join(dir, file), content: s.to_string() })
}

/// `mkdir`; `Ok(true)` if it was created, `Ok(false)` if it already existed.
pub(crate) fn mkdir(path: &Path) -> io::Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Exponential backoff: starts at `first`, doubles up to `max_step`, gives up after `total`.
pub(crate) struct Backoff {
    delay: Duration,
    max_step: Duration,
    deadline: Instant,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max_step: Duration, total: Duration) -> Self {
        Backoff { delay: first, max_step, deadline: Instant::now() + total }
    }

    /// Sleep for the next step; `false` once the time is up (without sleeping).
    pub(crate) fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let d = self.delay.min(self.deadline - now);
        std::thread::sleep(d);
        self.delay = (self.delay * 2).min(self.max_step);
        true
    }
}

/// Remove the cgroup directory `path` and every child cgroup below it, deepest first. A
/// missing directory is fine. `EBUSY` (processes still leaving) is retried for about half a
/// second, then reported as [`Error::Busy`].
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    remove_tree_with(path, &mut removal_backoff())
}

/// The patience of one `destroy`, shared by all its directories.
pub(crate) fn removal_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(1), Duration::from_millis(50), Duration::from_millis(500))
}

/// [`remove_tree`] with a caller's backoff, so several hierarchies share one time budget.
pub(crate) fn remove_tree_with(path: &Path, backoff: &mut Backoff) -> Result<()> {
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
            {
                // Child cgroups make rmdir fail with EBUSY too: remove them first.
                let mut had_children = false;
                if let Ok(rd) = fs::read_dir(path) {
                    for ent in rd.flatten() {
                        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            had_children = true;
                            remove_tree_with(&ent.path(), backoff)?;
                        }
                    }
                }
                if had_children {
                    continue;
                }
                if e.raw_os_error() == Some(libc::ENOTEMPTY) {
                    // Not a cgroupfs directory (plain files inside): nothing to wait for.
                    return Err(Error::Remove { path: path.to_path_buf(), source: e });
                }
                if !backoff.wait() {
                    return Err(Error::Busy { path: path.to_path_buf() });
                }
            }
            Err(source) => return Err(Error::Remove { path: path.to_path_buf(), source }),
        }
    }
}
