//! Resolving a container's `User` against the image's `/etc/passwd` and `/etc/group`.
//!
//! The rules are those of `github.com/moby/sys/user` `GetExecUser`, which Docker and runc use:
//!
//! - The spec is `user[:group]`; each part is a name or a number. Empty means uid 0.
//! - A user found in passwd (by number when numeric, else by name; first match wins) gives the
//!   uid, the primary gid and the home directory. A numeric user need not exist; a named one
//!   must: `unable to find user NAME: no matching entries in passwd file`.
//! - An explicit group replaces the primary gid (a numeric group need not exist, a named one
//!   must). Without an explicit group, the groups that list the matched user's name as a member
//!   become the supplementary groups.
//! - `GroupAdd` entries (names or numbers) are looked up in the group file and appended.
//! - The process's additional gids are, as Docker builds them: the primary gid, then the
//!   supplementary groups, then the `GroupAdd` groups.
//! - The home directory is the passwd entry's, or `/` when there is none; runc puts it in the
//!   environment as `HOME` unless the environment already has one ([`with_home`]).
//!
//! The file contents are passed in as text; a missing file is `None` (then only numeric ids
//! resolve). Nothing here does IO.

use berth_errdefs::{HasKind, Kind};

/// The largest uid or gid Docker accepts.
const MAX_ID: u64 = (1 << 31) - 1;

/// Why a user spec cannot be resolved. Every variant is an invalid argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A named user is not in passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    /// A named group (of the user spec or of `GroupAdd`) is not in group.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    /// A numeric id is outside 0..=2147483647.
    #[error("uids and gids must be in range 0-2147483647")]
    OutOfRange,
}

impl HasKind for UserError {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

/// The identity a container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Additional group ids, as Docker lists them: the primary gid first, then the groups the
    /// user is a member of, then `GroupAdd`.
    pub additional_gids: Vec<u32>,
    /// Home directory (from passwd, else `/`).
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Go's `strconv.Atoi` with errors as 0, as the passwd parser reads numeric fields.
fn lenient_int(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            PasswdEntry {
                name: get(0),
                uid: lenient_int(get(2)),
                gid: lenient_int(get(3)),
                home: get(5),
            }
        })
}

fn parse_group(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("");
            let members = match get(3) {
                "" => Vec::new(),
                m => m.split(',').collect(),
            };
            GroupEntry {
                name: get(0),
                gid: lenient_int(get(2)),
                members,
            }
        })
}

/// `Some(id)` for a numeric part, `None` for a name; an out-of-range number is an error.
fn numeric(s: &str) -> Result<Option<u32>, UserError> {
    if s.is_empty() {
        return Ok(None);
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<i64>() {
        Ok(n) if (0..=MAX_ID as i64).contains(&n) => Ok(Some(n as u32)),
        _ => Err(UserError::OutOfRange),
    }
}

fn in_range(id: i64) -> Result<u32, UserError> {
    if (0..=MAX_ID as i64).contains(&id) {
        Ok(id as u32)
    } else {
        Err(UserError::OutOfRange)
    }
}

/// Resolve `user` (the container's `User`, may be empty) and `group_add` (HostConfig
/// `GroupAdd`) against the rootfs's passwd and group files.
pub fn resolve(
    user: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = numeric(user_arg)?;
    let gid_arg = numeric(group_arg)?;

    let mut uid: u32 = 0;
    let mut gid: u32 = 0;
    let mut home = String::new();
    let mut matched_name: Option<&str> = None;

    let found = passwd.and_then(|p| {
        parse_passwd(p).find(|e| match (user_arg, uid_arg) {
            ("", _) => e.uid == 0,
            (_, Some(n)) => e.uid == n as i64,
            (name, None) => e.name == name,
        })
    });
    match found {
        Some(e) => {
            matched_name = Some(e.name);
            uid = in_range(e.uid)?;
            gid = in_range(e.gid)?;
            home = e.home.to_string();
        }
        None if user_arg.is_empty() => {}
        None => match uid_arg {
            Some(n) => uid = n,
            None => return Err(UserError::NoSuchUser(user_arg.to_string())),
        },
    }

    let mut supplementary: Vec<u32> = Vec::new();
    if !group_arg.is_empty() {
        let found = group.and_then(|g| {
            parse_group(g).find(|e| match gid_arg {
                Some(n) => e.gid == n as i64,
                None => e.name == group_arg,
            })
        });
        gid = match (found, gid_arg) {
            (Some(e), _) => in_range(e.gid)?,
            (None, Some(n)) => n,
            (None, None) => return Err(UserError::NoSuchGroup(group_arg.to_string())),
        };
    } else if let (Some(name), Some(g)) = (matched_name, group) {
        for e in parse_group(g).filter(|e| e.members.contains(&name)) {
            supplementary.push(in_range(e.gid)?);
        }
    }

    let added = additional_groups(group_add, group)?;
    let mut additional_gids = vec![gid];
    additional_gids.extend(supplementary);
    additional_gids.extend(added);

    if home.is_empty() {
        home = "/".to_string();
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolve `GroupAdd` entries: names must exist in the group file, numbers need not. Each
/// gid appears once, in the order first asked for.
pub fn additional_groups(names: &[String], group: Option<&str>) -> Result<Vec<u32>, UserError> {
    let mut out: Vec<u32> = Vec::new();
    for name in names {
        let num = numeric(name)?;
        let found = group.and_then(|g| {
            parse_group(g).find(|e| e.name == name || num.is_some_and(|n| e.gid == n as i64))
        });
        let gid = match (found, num) {
            (Some(e), _) => in_range(e.gid)?,
            (None, Some(n)) => n,
            (None, None) => return Err(UserError::NoSuchGroup(name.clone())),
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

/// `env` with `HOME=home` appended unless it already sets `HOME` (what runc does at exec).
pub fn with_home(env: &[String], home: &str) -> Vec<String> {
    let mut out = env.to_vec();
    if !env
        .iter()
        .any(|e| e.split_once('=').is_some_and(|(k, _)| k == "HOME"))
    {
        out.push(format!("HOME={home}"));
    }
    out
}
