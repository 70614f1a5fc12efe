//! Table tests of `berth_runtime::user`: `User` + `GroupAdd` against passwd/group text.

use berth_runtime::user::{resolve, with_home};
use expect_test::expect;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh

dup:x:1001:1001::/first:/bin/sh
dup:x:1002:1002::/second:/bin/sh
nohome:x:1003:1003:::/bin/sh
";

const GROUP: &str = "\
# comment line
root:x:0:root
bin:x:1:root,daemon
wheel:x:10:root,app
audio:x:29:app
nogroup:x:65534:
app:x:1000:
staff:x:50:
";

/// (user spec, GroupAdd, passwd present, group present)
fn cases() -> Vec<(&'static str, &'static [&'static str], bool, bool)> {
    vec![
        ("", &[], true, true),
        ("root", &[], true, true),
        ("0", &[], true, true),
        ("app", &[], true, true),
        ("1000", &[], true, true),
        ("app:staff", &[], true, true),
        ("app:50", &[], true, true),
        ("1000:2000", &[], true, true),
        ("4242", &[], true, true),
        ("4242:4242", &[], true, true),
        ("nobody2", &[], true, true),
        ("app:nogroup2", &[], true, true),
        ("dup", &[], true, true),
        ("nohome", &[], true, true),
        ("app", &["staff", "10", "777", "staff"], true, true),
        ("", &["audio"], true, true),
        ("", &["nosuchgroup"], true, true),
        ("99999999999", &[], true, true),
        ("-1", &[], true, true),
        ("app", &[], false, false),
        ("1000:1000", &["5"], false, false),
        ("", &[], false, false),
        ("app", &[], true, false),
        ("1000:staff", &[], true, false),
    ]
}

#[test]
fn resolve_table() {
    let mut out = String::new();
    for (spec, add, with_passwd, with_group) in cases() {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        let r = resolve(
            spec,
            &add,
            with_passwd.then_some(PASSWD),
            with_group.then_some(GROUP),
        );
        let files = match (with_passwd, with_group) {
            (true, true) => "",
            (true, false) => " [no group file]",
            (false, false) => " [no passwd, no group file]",
            (false, true) => " [no passwd file]",
        };
        let shown = match r {
            Ok(u) => format!(
                "uid={} gid={} groups={:?} home={}",
                u.uid, u.gid, u.additional_gids, u.home
            ),
            Err(e) => format!("error: {e}"),
        };
        out.push_str(&format!("{spec:?} +{add:?}{files} -> {shown}\n"));
    }
    expect![[r#"
        "" +[] -> uid=0 gid=0 groups=[0, 0, 1, 10] home=/root
        "root" +[] -> uid=0 gid=0 groups=[0, 0, 1, 10] home=/root
        "0" +[] -> uid=0 gid=0 groups=[0, 0, 1, 10] home=/root
        "app" +[] -> uid=1000 gid=1000 groups=[1000, 10, 29] home=/home/app
        "1000" +[] -> uid=1000 gid=1000 groups=[1000, 10, 29] home=/home/app
        "app:staff" +[] -> uid=1000 gid=50 groups=[50] home=/home/app
        "app:50" +[] -> uid=1000 gid=50 groups=[50] home=/home/app
        "1000:2000" +[] -> uid=1000 gid=2000 groups=[2000] home=/home/app
        "4242" +[] -> uid=4242 gid=0 groups=[0] home=/
        "4242:4242" +[] -> uid=4242 gid=4242 groups=[4242] home=/
        "nobody2" +[] -> error: unable to find user nobody2: no matching entries in passwd file
        "app:nogroup2" +[] -> error: unable to find group nogroup2: no matching entries in group file
        "dup" +[] -> uid=1001 gid=1001 groups=[1001] home=/first
        "nohome" +[] -> uid=1003 gid=1003 groups=[1003] home=/
        "app" +["staff", "10", "777", "staff"] -> uid=1000 gid=1000 groups=[1000, 10, 29, 50, 10, 777] home=/home/app
        "" +["audio"] -> uid=0 gid=0 groups=[0, 0, 1, 10, 29] home=/root
        "" +["nosuchgroup"] -> error: unable to find group nosuchgroup: no matching entries in group file
        "99999999999" +[] -> error: uids and gids must be in range 0-2147483647
        "-1" +[] -> error: uids and gids must be in range 0-2147483647
        "app" +[] [no passwd, no group file] -> error: unable to find user app: no matching entries in passwd file
        "1000:1000" +["5"] [no passwd, no group file] -> uid=1000 gid=1000 groups=[1000, 5] home=/
        "" +[] [no passwd, no group file] -> uid=0 gid=0 groups=[0] home=/
        "app" +[] [no group file] -> uid=1000 gid=1000 groups=[1000] home=/home/app
        "1000:staff" +[] [no group file] -> error: unable to find group staff: no matching entries in group file
    "#]].assert_eq(&out);
}

#[test]
fn home_is_added_only_when_missing() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["PATH=/bin"], "/root", "PATH=/bin HOME=/root"),
        (&["HOME=/custom"], "/root", "HOME=/custom"),
        (&["HOMEDIR=/x"], "/", "HOMEDIR=/x HOME=/"),
        (&[], "/home/app", "HOME=/home/app"),
    ];
    for (env, home, want) in cases {
        let env: Vec<String> = env.iter().map(|s| s.to_string()).collect();
        assert_eq!(with_home(&env, home).join(" "), *want);
    }
}
