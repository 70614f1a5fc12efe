//! The iptables backend, for hosts that have `iptables` but no `nft`.
//!
//! The same [`Ruleset`] as the nft render, as `iptables-restore --noflush` input (and
//! `ip6tables-restore` for IPv6) in chains of our own, named from the table name
//! ([`Chains::for_table`]: `berth-abc123` -> `BERTH-abc123-PRE`, ...):
//!
//! | table  | chain   | entered from                     | holds                                 |
//! |--------|---------|----------------------------------|---------------------------------------|
//! | nat    | `-PRE`  | `PREROUTING -j` (appended)       | `-m addrtype --dst-type LOCAL -j -PORTS` |
//! | nat    | `-OUT`  | `OUTPUT -j` (appended)           | the same                              |
//! | nat    | `-PORTS`| `-PRE`, `-OUT`                   | one DNAT per published port           |
//! | nat    | `-POST` | `POSTROUTING -j` (appended)      | loopback, hairpin, outbound masquerade|
//! | filter | `-FWD`  | `FORWARD -j` (inserted first)    | established, internal drops, DNATed, isolation |
//! | filter | `-ISO`  | `-FWD`, per bridge leaving itself| a drop per bridge going out           |
//!
//! Declaring a chain in a restore file (`:NAME - [0:0]`) creates or flushes it, so one
//! restore per family replaces all of our rules, each iptables table in one commit, without
//! touching anyone else's.
//!
//! The jumps from the built-in chains are plain (`-A PREROUTING -j BERTH-x-PRE`, no
//! matches: every match lives in our flushed chains, so a jump never changes shape). They go
//! into the same restore input, computed from a listing taken just before
//! (`iptables -t T -S`): a missing jump is added (`FORWARD`: inserted at position 1, so our
//! drops come before anyone's accepts), a duplicated one is deleted down to one copy, and a
//! present one is left where it is. Chains and jumps thus appear in one commit, and applying
//! twice cannot duplicate a jump. (Callers serialise applies, as the engine does; two
//! daemons never share chains.) `-C`-then-insert would work too but cannot repair duplicates.
//!
//! One deliberate difference in spelling, not in meaning: where the nft `forward` chain says
//! `accept` (established/related, DNATed), ours says `RETURN`. An nft base chain's accept
//! only ends that chain, and the packet still meets every other table's rules; an iptables
//! `ACCEPT` inside a chain jumped to from `FORWARD` would end `FORWARD` itself and skip the
//! host's own rules after our jump. `RETURN` keeps "our rules only add drops".

use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{find_program, normalize, run, BridgeRules, Error, Family, PortForward, Ruleset};

/// Longest chain name iptables accepts.
const MAX_CHAIN: usize = 28;

/// The chains of one table name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    /// nat, from `PREROUTING`.
    pub pre: String,
    /// nat, from `OUTPUT`.
    pub out: String,
    /// nat, the DNATs.
    pub ports: String,
    /// nat, from `POSTROUTING`.
    pub post: String,
    /// filter, from `FORWARD`.
    pub fwd: String,
    /// filter, network isolation.
    pub iso: String,
}

impl Chains {
    /// `BERTH-<suffix>-PRE` etc., where the suffix is `table` without a leading `berth-`. A
    /// suffix that is long (over 16 characters, as the longest name must fit iptables' 28) or
    /// holds characters other than ASCII letters, digits, `-`, `_` and `.` becomes its first
    /// clean characters plus a hash of `table`, so distinct tables keep distinct chains.
    pub fn for_table(table: &str) -> Chains {
        let raw = table.strip_prefix("berth-").unwrap_or(table);
        let clean: String = raw.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
        let room = MAX_CHAIN - "BERTH-".len() - "-PORTS".len();
        let suffix = if !clean.is_empty() && clean == raw && clean.len() <= room {
            clean
        } else {
            let digest = Sha256::digest(table.as_bytes());
            let hash: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
            let keep: String = clean.chars().take(room - hash.len() - 1).collect();
            if keep.is_empty() {
                hash
            } else {
                format!("{keep}-{hash}")
            }
        };
        let name = |part: &str| format!("BERTH-{suffix}-{part}");
        Chains {
            pre: name("PRE"),
            out: name("OUT"),
            ports: name("PORTS"),
            post: name("POST"),
            fwd: name("FWD"),
            iso: name("ISO"),
        }
    }

    /// Our chains in iptables table `tbl`.
    fn of(&self, tbl: &str) -> Vec<&str> {
        match tbl {
            "nat" => vec![&self.pre, &self.out, &self.ports, &self.post],
            "filter" => vec![&self.fwd, &self.iso],
            _ => Vec::new(),
        }
    }

    /// The jumps from built-in chains: (iptables table, built-in chain, our chain, insert
    /// at position 1 rather than append).
    fn jumps(&self) -> [(&'static str, &'static str, &str, bool); 4] {
        [
            ("nat", "PREROUTING", &self.pre, false),
            ("nat", "OUTPUT", &self.out, false),
            ("nat", "POSTROUTING", &self.post, false),
            ("filter", "FORWARD", &self.fwd, true),
        ]
    }
}

/// The iptables tables we write, in restore order.
const TABLES: [&str; 2] = ["nat", "filter"];

/// `iptables-restore --noflush` input for IPv4 and `ip6tables-restore --noflush` input for
/// IPv6 that declare (so create or flush) and fill our chains for `table` with the rules of
/// `rs`. The jumps from the built-in chains are not in it: they depend on what is already
/// there, and [`Iptables`] adds them at apply time. Deterministic, as [`super::render`].
pub fn render_iptables(table: &str, rs: &Ruleset) -> (String, String) {
    let chains = Chains::for_table(table);
    let (bridges, forwards) = normalize(rs);
    let none = |_: &str| -> Vec<String> { Vec::new() };
    (
        render_family(&chains, Family::V4, &bridges, &forwards, &none),
        render_family(&chains, Family::V6, &bridges, &forwards, &none),
    )
}

/// One family's restore input; `extra(tbl)` are lines appended to iptables table `tbl`
/// before its COMMIT (the jump fix-ups).
fn render_family(
    chains: &Chains,
    fam: Family,
    bridges: &[&BridgeRules],
    forwards: &[&PortForward],
    extra: &dyn Fn(&str) -> Vec<String>,
) -> String {
    let what = match fam {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    let mut out = String::new();
    let prefix = chains.pre.trim_end_matches("PRE");
    let _ = writeln!(out, "# generated by berthd: the whole of chains {prefix}* ({what})");
    let host_len = if fam == Family::V4 { 32 } else { 128 };

    let _ = writeln!(out, "*nat");
    for c in chains.of("nat") {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    for c in [&chains.pre, &chains.out] {
        let _ = writeln!(out, "-A {c} -m addrtype --dst-type LOCAL -j {}", chains.ports);
    }
    for f in forwards {
        let Some((daddr, to)) = f.in_family(fam) else { continue };
        let daddr = daddr.map(|ip| format!("-d {ip}/{host_len} ")).unwrap_or_default();
        let p = f.proto.as_str();
        let _ = writeln!(
            out,
            "-A {} {daddr}-p {p} -m {p} --dport {} -j DNAT --to-destination {to}",
            chains.ports, f.host_port
        );
    }
    for b in bridges.iter().filter(|b| !b.internal) {
        let dev = ifname(&b.device);
        let post = &chains.post;
        if fam == Family::V4 {
            let _ = writeln!(out, "-A {post} -s 127.0.0.0/8 -o {dev} -j MASQUERADE");
        }
        for net in b.subnets.iter().filter(|n| fam.matches(&n.addr())) {
            let net = net.trunc();
            let _ = writeln!(out, "-A {post} -s {net} -o {dev} -m conntrack --ctstate DNAT -j MASQUERADE");
            if b.masquerade {
                let _ = writeln!(out, "-A {post} -s {net} ! -o {dev} -j MASQUERADE");
            }
        }
    }
    for line in extra("nat") {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "COMMIT");

    let (fwd, iso) = (&chains.fwd, &chains.iso);
    let _ = writeln!(out, "*filter");
    for c in chains.of("filter") {
        let _ = writeln!(out, ":{c} - [0:0]");
    }
    let _ = writeln!(out, "-A {fwd} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN");
    for b in bridges.iter().filter(|b| b.internal) {
        let dev = ifname(&b.device);
        let _ = writeln!(out, "-A {fwd} -i {dev} ! -o {dev} -j DROP");
        let _ = writeln!(out, "-A {fwd} ! -i {dev} -o {dev} -j DROP");
    }
    if bridges.len() > 1 {
        let _ = writeln!(out, "-A {fwd} -m conntrack --ctstate DNAT -j RETURN");
        for b in bridges {
            let dev = ifname(&b.device);
            let _ = writeln!(out, "-A {fwd} -i {dev} ! -o {dev} -j {iso}");
        }
        for b in bridges {
            let _ = writeln!(out, "-A {iso} -o {} -j DROP", ifname(&b.device));
        }
    }
    for line in extra("filter") {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "COMMIT");
    out
}

/// An interface name as one restore-file word (names never hold these; drop any rather
/// than break the input).
fn ifname(dev: &str) -> String {
    dev.chars().filter(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '\\')).collect()
}

/// The lines that make `-A builtin -j target` exist exactly once, given `listing` (the
/// table's `iptables -S`): none if it does; an insert at 1 (`first`) or an append if it is
/// missing; deletes of the surplus copies if it is duplicated.
fn jump_fixups(listing: &str, builtin: &str, target: &str, first: bool) -> Vec<String> {
    let rule = format!("-A {builtin} -j {target}");
    match listing.lines().filter(|l| l.trim_end() == rule).count() {
        0 if first => vec![format!("-I {builtin} 1 -j {target}")],
        0 => vec![rule],
        n => vec![format!("-D {builtin} -j {target}"); n - 1],
    }
}

/// The lines that remove `ours` from a table, given its `listing` (`iptables -S`): every
/// rule elsewhere jumping (`-j`/`-g`) to one of them, then a flush and a delete of each that
/// exists. Empty if none of it is there.
fn removal_lines(listing: &str, ours: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for line in listing.lines() {
        let Some(rule) = line.trim_end().strip_prefix("-A ") else { continue };
        let words: Vec<&str> = rule.split_whitespace().collect();
        if words.first().is_some_and(|c| ours.contains(c)) {
            continue;
        }
        if let [.., flag, target] = words[..] {
            if matches!(flag, "-j" | "-g") && ours.contains(&target) {
                out.push(format!("-D {rule}"));
            }
        }
    }
    let present: Vec<&str> =
        ours.iter().copied().filter(|c| listing.lines().any(|l| l.trim_end() == format!("-N {c}"))).collect();
    out.extend(present.iter().map(|c| format!("-F {c}")));
    out.extend(present.iter().map(|c| format!("-X {c}")));
    out
}

/// Does the state need IPv6 rules at all?
fn wants_v6(bridges: &[&BridgeRules], forwards: &[&PortForward]) -> bool {
    bridges.iter().any(|b| b.subnets.iter().any(|n| n.addr().is_ipv6()))
        || forwards.iter().any(|f| f.container_ip.is_ipv6())
}

/// One family's tools.
#[derive(Debug, Clone)]
struct Tools {
    /// `iptables` / `ip6tables`.
    list: PathBuf,
    /// `iptables-restore` / `ip6tables-restore`.
    restore: PathBuf,
    /// `iptables` / `ip6tables`, for messages.
    name: &'static str,
}

/// The iptables backend: lists the built-in chains' jumps with `iptables -S`, then applies
/// [`render_iptables`]'s input plus the jump fix-ups with `iptables-restore --noflush`
/// (`ip6tables*` for IPv6), optionally behind a command prefix (tests use
/// `ip netns exec NAME`). Uses whatever `iptables` the host has (nf_tables or legacy).
#[derive(Debug, Clone)]
pub struct Iptables {
    v4: Tools,
    v6: Option<Tools>,
    prefix: Vec<String>,
}

impl Iptables {
    /// Find `iptables` and `iptables-restore` (required) and `ip6tables` and
    /// `ip6tables-restore` (optional: without them, a ruleset with IPv6 subnets or forwards
    /// fails to apply with [`Error::Ip6tablesNotFound`]) in `PATH`, then /usr/sbin and /sbin.
    pub fn new() -> Result<Iptables, Error> {
        let v4 = match (find_program("iptables"), find_program("iptables-restore")) {
            (Some(list), Some(restore)) => Tools { list, restore, name: "iptables" },
            _ => return Err(Error::IptablesNotFound),
        };
        let v6 = match (find_program("ip6tables"), find_program("ip6tables-restore")) {
            (Some(list), Some(restore)) => Some(Tools { list, restore, name: "ip6tables" }),
            _ => None,
        };
        Ok(Iptables { v4, v6, prefix: Vec::new() })
    }

    /// As [`Iptables::new`], every command run as `prefix... iptables ...`, e.g.
    /// `Iptables::with_prefix(["ip", "netns", "exec", "NAME"])`.
    pub fn with_prefix<I, S>(prefix: I) -> Result<Iptables, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut ipt = Iptables::new()?;
        ipt.prefix = prefix.into_iter().map(Into::into).collect();
        Ok(ipt)
    }

    /// Use these binaries: `iptables` and `iptables-restore`, and for IPv6 optionally
    /// `ip6tables` and `ip6tables-restore` (e.g. the `-legacy` ones).
    pub fn at(
        iptables: impl Into<PathBuf>,
        iptables_restore: impl Into<PathBuf>,
        ipv6: Option<(PathBuf, PathBuf)>,
    ) -> Iptables {
        Iptables {
            v4: Tools { list: iptables.into(), restore: iptables_restore.into(), name: "iptables" },
            v6: ipv6.map(|(list, restore)| Tools { list, restore, name: "ip6tables" }),
            prefix: Vec::new(),
        }
    }

    /// Can this backend write IPv6 rules?
    pub fn has_ipv6(&self) -> bool {
        self.v6.is_some()
    }

    /// `iptables -t tbl -S`: the whole table, one rule or chain per line.
    fn list(&self, tools: &Tools, tbl: &str) -> Result<String, Error> {
        let label = format!("{} -t {tbl} -S", tools.name);
        run(&self.prefix, &tools.list, &["--wait=10", "-t", tbl, "-S"], None, &label)
    }

    /// `iptables-restore --noflush` with `input`; a rejected line is quoted in the error.
    fn restore(&self, tools: &Tools, input: &str) -> Result<(), Error> {
        let label = format!("{}-restore --noflush", tools.name);
        match run(&self.prefix, &tools.restore, &["--wait=10", "--noflush"], Some(input), &label) {
            Ok(_) => Ok(()),
            Err(Error::Failed { program, status, stderr }) => {
                let stderr = match failed_line(&stderr).and_then(|n| input.lines().nth(n.wrapping_sub(1))) {
                    Some(line) => format!("{stderr} (line: {line})"),
                    None => stderr,
                };
                Err(Error::Failed { program, status, stderr })
            }
            Err(e) => Err(e),
        }
    }

    fn families(&self) -> Vec<(Family, &Tools)> {
        let mut out = vec![(Family::V4, &self.v4)];
        if let Some(v6) = &self.v6 {
            out.push((Family::V6, v6));
        }
        out
    }
}

/// The input line number in an iptables-restore error: nf_tables says
/// `Error occurred at line: 3`, legacy says `line 3 failed`.
fn failed_line(stderr: &str) -> Option<usize> {
    stderr.match_indices("line").find_map(|(at, word)| {
        let rest = stderr[at + word.len()..].trim_start_matches([':', ' ']);
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    })
}

impl super::Backend for Iptables {
    /// Per family (IPv4 always, IPv6 when `ip6tables-restore` exists): list the nat and
    /// filter tables, then one restore replacing our chains and fixing the jumps. The IPv6
    /// tools' absence is checked before anything is applied; a failure of the IPv6 restore
    /// after the IPv4 one succeeded leaves the new IPv4 rules (the next apply retries both).
    fn apply(&self, table: &str, rs: &Ruleset) -> Result<(), Error> {
        let chains = Chains::for_table(table);
        let (bridges, forwards) = normalize(rs);
        if self.v6.is_none() && wants_v6(&bridges, &forwards) {
            return Err(Error::Ip6tablesNotFound);
        }
        for (fam, tools) in self.families() {
            let nat = self.list(tools, "nat")?;
            let filter = self.list(tools, "filter")?;
            let extra = |tbl: &str| -> Vec<String> {
                let listing = if tbl == "nat" { &nat } else { &filter };
                chains
                    .jumps()
                    .iter()
                    .filter(|(t, ..)| *t == tbl)
                    .flat_map(|(_, builtin, ours, first)| jump_fixups(listing, builtin, ours, *first))
                    .collect()
            };
            let input = render_family(&chains, fam, &bridges, &forwards, &extra);
            self.restore(tools, &input)?;
        }
        Ok(())
    }

    /// Per family: list the nat and filter tables, then one restore deleting every jump to
    /// our chains and the chains themselves; nothing to do if none of it is there.
    fn remove(&self, table: &str) -> Result<(), Error> {
        let chains = Chains::for_table(table);
        for (_, tools) in self.families() {
            let mut input = String::new();
            for tbl in TABLES {
                let lines = removal_lines(&self.list(tools, tbl)?, &chains.of(tbl));
                if !lines.is_empty() {
                    let _ = writeln!(input, "*{tbl}\n{}\nCOMMIT", lines.join("\n"));
                }
            }
            if !input.is_empty() {
                self.restore(tools, &input)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::tests::sample;
    use crate::firewall::Backend;
    use crate::ports::Proto;
    use expect_test::expect;

    #[test]
    fn chain_names() {
        let cases = [
            ("berth-abc123", "BERTH-abc123-PORTS"),
            ("t", "BERTH-t-PORTS"),
            ("berth-t1234567", "BERTH-t1234567-PORTS"),
            ("berth-0123456789abcdef", "BERTH-0123456789abcdef-PORTS"),
            // Too long: a prefix plus a hash of the whole name.
            ("berth-0123456789abcdefg", "BERTH-012345678-ee7865-PORTS"),
            // Characters iptables names should not hold.
            ("berth-a b", "BERTH-ab-741e31-PORTS"),
            ("berth-", "BERTH-2e6d63-PORTS"),
        ];
        for (table, want) in cases {
            let c = Chains::for_table(table);
            assert_eq!(c.ports, want, "{table}");
            for name in [&c.pre, &c.out, &c.ports, &c.post, &c.fwd, &c.iso] {
                assert!(name.len() <= MAX_CHAIN, "{name}");
            }
        }
        assert_ne!(Chains::for_table("berth-x y"), Chains::for_table("berth-xy"));
    }

    #[test]
    fn render_empty() {
        let (v4, v6) = render_iptables("berth-abc123", &Ruleset::default());
        expect![[r#"
            # generated by berthd: the whole of chains BERTH-abc123-* (IPv4)
            *nat
            :BERTH-abc123-PRE - [0:0]
            :BERTH-abc123-OUT - [0:0]
            :BERTH-abc123-PORTS - [0:0]
            :BERTH-abc123-POST - [0:0]
            -A BERTH-abc123-PRE -m addrtype --dst-type LOCAL -j BERTH-abc123-PORTS
            -A BERTH-abc123-OUT -m addrtype --dst-type LOCAL -j BERTH-abc123-PORTS
            COMMIT
            *filter
            :BERTH-abc123-FWD - [0:0]
            :BERTH-abc123-ISO - [0:0]
            -A BERTH-abc123-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
            COMMIT
        "#]]
        .assert_eq(&v4);
        assert_eq!(v6, v4.replace("IPv4", "IPv6"));
    }

    #[test]
    fn render_sample() {
        let (v4, v6) = render_iptables("t", &sample());
        expect![[r#"
            # generated by berthd: the whole of chains BERTH-t-* (IPv4)
            *nat
            :BERTH-t-PRE - [0:0]
            :BERTH-t-OUT - [0:0]
            :BERTH-t-PORTS - [0:0]
            :BERTH-t-POST - [0:0]
            -A BERTH-t-PRE -m addrtype --dst-type LOCAL -j BERTH-t-PORTS
            -A BERTH-t-OUT -m addrtype --dst-type LOCAL -j BERTH-t-PORTS
            -A BERTH-t-PORTS -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53
            -A BERTH-t-PORTS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
            -A BERTH-t-PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.18.0.2:80
            -A BERTH-t-PORTS -p tcp -m tcp --dport 8082 -j DNAT --to-destination 172.18.0.3:80
            -A BERTH-t-POST -s 127.0.0.0/8 -o babc123-9f8e7d -j MASQUERADE
            -A BERTH-t-POST -s 172.18.0.0/16 -o babc123-9f8e7d -m conntrack --ctstate DNAT -j MASQUERADE
            -A BERTH-t-POST -s 172.18.0.0/16 ! -o babc123-9f8e7d -j MASQUERADE
            -A BERTH-t-POST -s 127.0.0.0/8 -o babc123-nomasq -j MASQUERADE
            -A BERTH-t-POST -s 172.20.0.0/16 -o babc123-nomasq -m conntrack --ctstate DNAT -j MASQUERADE
            -A BERTH-t-POST -s 127.0.0.0/8 -o berth0 -j MASQUERADE
            -A BERTH-t-POST -s 172.17.0.0/16 -o berth0 -m conntrack --ctstate DNAT -j MASQUERADE
            -A BERTH-t-POST -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE
            COMMIT
            *filter
            :BERTH-t-FWD - [0:0]
            :BERTH-t-ISO - [0:0]
            -A BERTH-t-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
            -A BERTH-t-FWD -i babc123-internal ! -o babc123-internal -j DROP
            -A BERTH-t-FWD ! -i babc123-internal -o babc123-internal -j DROP
            -A BERTH-t-FWD -m conntrack --ctstate DNAT -j RETURN
            -A BERTH-t-FWD -i babc123-9f8e7d ! -o babc123-9f8e7d -j BERTH-t-ISO
            -A BERTH-t-FWD -i babc123-internal ! -o babc123-internal -j BERTH-t-ISO
            -A BERTH-t-FWD -i babc123-nomasq ! -o babc123-nomasq -j BERTH-t-ISO
            -A BERTH-t-FWD -i berth0 ! -o berth0 -j BERTH-t-ISO
            -A BERTH-t-ISO -o babc123-9f8e7d -j DROP
            -A BERTH-t-ISO -o babc123-internal -j DROP
            -A BERTH-t-ISO -o babc123-nomasq -j DROP
            -A BERTH-t-ISO -o berth0 -j DROP
            COMMIT
        "#]]
        .assert_eq(&v4);
        expect![[r#"
            # generated by berthd: the whole of chains BERTH-t-* (IPv6)
            *nat
            :BERTH-t-PRE - [0:0]
            :BERTH-t-OUT - [0:0]
            :BERTH-t-PORTS - [0:0]
            :BERTH-t-POST - [0:0]
            -A BERTH-t-PRE -m addrtype --dst-type LOCAL -j BERTH-t-PORTS
            -A BERTH-t-OUT -m addrtype --dst-type LOCAL -j BERTH-t-PORTS
            -A BERTH-t-PORTS -p tcp -m tcp --dport 8084 -j DNAT --to-destination [fd00:1::2]:80
            -A BERTH-t-PORTS -d fd00::5/128 -p sctp -m sctp --dport 8085 -j DNAT --to-destination [fd00:1::2]:80
            -A BERTH-t-POST -s fd00:1::/64 -o babc123-9f8e7d -m conntrack --ctstate DNAT -j MASQUERADE
            -A BERTH-t-POST -s fd00:1::/64 ! -o babc123-9f8e7d -j MASQUERADE
            COMMIT
            *filter
            :BERTH-t-FWD - [0:0]
            :BERTH-t-ISO - [0:0]
            -A BERTH-t-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
            -A BERTH-t-FWD -i babc123-internal ! -o babc123-internal -j DROP
            -A BERTH-t-FWD ! -i babc123-internal -o babc123-internal -j DROP
            -A BERTH-t-FWD -m conntrack --ctstate DNAT -j RETURN
            -A BERTH-t-FWD -i babc123-9f8e7d ! -o babc123-9f8e7d -j BERTH-t-ISO
            -A BERTH-t-FWD -i babc123-internal ! -o babc123-internal -j BERTH-t-ISO
            -A BERTH-t-FWD -i babc123-nomasq ! -o babc123-nomasq -j BERTH-t-ISO
            -A BERTH-t-FWD -i berth0 ! -o berth0 -j BERTH-t-ISO
            -A BERTH-t-ISO -o babc123-9f8e7d -j DROP
            -A BERTH-t-ISO -o babc123-internal -j DROP
            -A BERTH-t-ISO -o babc123-nomasq -j DROP
            -A BERTH-t-ISO -o berth0 -j DROP
            COMMIT
        "#]]
        .assert_eq(&v6);
    }

    #[test]
    fn render_is_deterministic_whatever_the_input_order() {
        let mut b = sample();
        b.bridges.reverse();
        b.forwards.reverse();
        b.forwards.push(b.forwards[0].clone());
        assert_eq!(render_iptables("t", &sample()), render_iptables("t", &b));
    }

    #[test]
    fn ifname_never_breaks_the_input() {
        assert_eq!(ifname("berth0"), "berth0");
        assert_eq!(ifname("a\"b c\\d'\n"), "abcd");
    }

    #[test]
    fn jump_fixups_keep_exactly_one() {
        let listing = "-P FORWARD ACCEPT\n-N X\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j X\n-A FORWARD -i x -j X\n";
        let dup = "-P FORWARD ACCEPT\n-A FORWARD -j X\n-A FORWARD -j Y\n-A FORWARD -j X \n-A FORWARD -j X\n";
        let cases: [(&str, &str, bool, &[&str]); 6] = [
            ("-P FORWARD ACCEPT\n", "X", true, &["-I FORWARD 1 -j X"]),
            ("-P FORWARD ACCEPT\n", "X", false, &["-A FORWARD -j X"]),
            (listing, "X", true, &[]),
            // A jump with matches is somebody else's rule, not ours.
            ("-A FORWARD -i x -j X\n", "X", true, &["-I FORWARD 1 -j X"]),
            // A longer name that starts with ours is not ours.
            ("-A FORWARD -j X-OTHER\n", "X", false, &["-A FORWARD -j X"]),
            (dup, "X", true, &["-D FORWARD -j X", "-D FORWARD -j X"]),
        ];
        for (listing, target, first, want) in cases {
            assert_eq!(jump_fixups(listing, "FORWARD", target, first), want, "{listing:?}");
        }
    }

    #[test]
    fn removal_lines_from_a_listing() {
        let ours = ["BERTH-t-PRE", "BERTH-t-PORTS", "BERTH-t-POST"];
        let listing = "\
-P PREROUTING ACCEPT
-P POSTROUTING ACCEPT
-N BERTH-t-PORTS
-N BERTH-t-PRE
-N DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A PREROUTING -j BERTH-t-PRE
-A PREROUTING -j BERTH-t-PRE
-A OUTPUT -m comment --comment \"a b\" -g BERTH-t-PORTS
-A DOCKER -j BERTH-t-PRE-X
-A BERTH-t-PRE -m addrtype --dst-type LOCAL -j BERTH-t-PORTS
-A BERTH-t-PORTS -p tcp -m tcp --dport 80 -j DNAT --to-destination 1.2.3.4:80
";
        expect![[r#"
            -D PREROUTING -j BERTH-t-PRE
            -D PREROUTING -j BERTH-t-PRE
            -D OUTPUT -m comment --comment "a b" -g BERTH-t-PORTS
            -F BERTH-t-PRE
            -F BERTH-t-PORTS
            -X BERTH-t-PRE
            -X BERTH-t-PORTS"#]]
        .assert_eq(&removal_lines(listing, &ours).join("\n"));
        assert!(removal_lines("-P PREROUTING ACCEPT\n-N DOCKER\n", &ours).is_empty());
    }

    #[test]
    fn failed_line_in_both_dialects() {
        let cases = [
            (
                "iptables-nft-restore v1.8.9 (nf_tables): Chain 'Y' does not exist\nError occurred at line: 3\nTry",
                Some(3),
            ),
            ("iptables-restore: line 12 failed", Some(12)),
            ("something else", None),
        ];
        for (stderr, want) in cases {
            assert_eq!(failed_line(stderr), want, "{stderr}");
        }
    }

    #[test]
    fn wants_v6_only_for_v6_state() {
        let rs = sample();
        let (b, f) = normalize(&rs);
        assert!(wants_v6(&b, &f));
        let v4_only = Ruleset { bridges: rs.bridges[1..2].to_vec(), forwards: rs.forwards[..2].to_vec() };
        let (b, f) = normalize(&v4_only);
        assert!(!wants_v6(&b, &f));
    }

    #[test]
    fn without_ip6tables_v6_state_fails_before_anything_runs() {
        // Programs that cannot exist: reaching them would be a Spawn error instead.
        let ipt = Iptables::at("/nonexistent/iptables", "/nonexistent/iptables-restore", None);
        assert!(!ipt.has_ipv6());
        let e = ipt.apply("t", &sample()).unwrap_err();
        assert!(matches!(e, Error::Ip6tablesNotFound), "{e}");
        assert_eq!(berth_errdefs::HasKind::kind(&e), berth_errdefs::Kind::Unavailable);
        let v4_only = Ruleset { bridges: sample().bridges[1..2].to_vec(), forwards: Vec::new() };
        assert!(matches!(ipt.apply("t", &v4_only).unwrap_err(), Error::Spawn { .. }));
    }

    #[test]
    fn restore_failure_quotes_the_rejected_line() {
        // `sh -c` as the prefix stands in for the tools: listings are empty, the restore
        // reads its input and fails the way iptables-nft-restore does.
        let script = "case \"$0\" in *restore) cat >/dev/null; echo 'Error occurred at line: 3' >&2; exit 2;; esac";
        let ipt = Iptables {
            prefix: vec!["sh".into(), "-c".into(), script.into()],
            ..Iptables::at("iptables", "iptables-restore", None)
        };
        let v4_only = Ruleset { bridges: sample().bridges[1..2].to_vec(), forwards: Vec::new() };
        let e = ipt.apply("t", &v4_only).unwrap_err();
        assert_eq!(
            e.to_string(),
            "iptables-restore --noflush failed (exit status: 2): Error occurred at line: 3 (line: :BERTH-t-PRE - [0:0])"
        );
        // remove with nothing listed runs no restore at all.
        ipt.remove("t").unwrap();
    }

    /// A network namespace made with `ip netns add`, deleted on drop.
    struct Netns(String);

    impl Netns {
        fn new(role: &str) -> Netns {
            let name = format!("berth-ipt-{}{role}", std::process::id());
            let ok = std::process::Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "ip netns add {name} failed");
            Netns(name)
        }

        /// `PROGRAM ARGS` inside the namespace: stdout; panics on failure.
        fn run(&self, args: &[&str]) -> String {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &self.0])
                .args(args)
                .output()
                .expect("run ip netns exec");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{args:?} in {}: {stdout}{}", self.0, String::from_utf8_lossy(&out.stderr));
            stdout
        }

        /// `-A` lines of `iptables -t tbl -S chain` (or the error text if the chain is absent).
        fn rules(&self, cmd: &str, tbl: &str, chain: &str) -> Result<Vec<String>, String> {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &self.0, cmd, "-t", tbl, "-S", chain])
                .output()
                .expect("run iptables");
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("-A "))
                .map(String::from)
                .collect())
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn fwd(proto: Proto, host_ip: Option<&str>, host_port: u16, cip: &str, dev: &str) -> PortForward {
        PortForward {
            proto,
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port,
            container_ip: cip.parse().unwrap(),
            container_port: 80,
            device: dev.into(),
        }
    }

    fn netns_ruleset(with_udp: bool) -> Ruleset {
        let mut forwards = vec![
            fwd(Proto::Tcp, None, 8080, "172.30.0.2", "bt-a"),
            fwd(Proto::Tcp, Some("127.0.0.1"), 8081, "172.30.0.3", "bt-a"),
            fwd(Proto::Tcp, None, 8082, "fd00:30::2", "bt-a"),
        ];
        if with_udp {
            forwards.push(fwd(Proto::Udp, None, 5353, "172.30.0.2", "bt-a"));
        }
        Ruleset {
            bridges: vec![
                BridgeRules {
                    device: "bt-a".into(),
                    subnets: vec!["172.30.0.0/16".parse().unwrap(), "fd00:30::/64".parse().unwrap()],
                    internal: false,
                    masquerade: true,
                },
                BridgeRules {
                    device: "bt-internal".into(),
                    subnets: vec!["172.31.0.0/16".parse().unwrap()],
                    internal: true,
                    masquerade: true,
                },
            ],
            forwards,
        }
    }

    /// The `-A` lines of `input` for `chain`: what `iptables -S chain` shows after applying it.
    fn rendered(input: &str, chain: &str) -> Vec<String> {
        let head = format!("-A {chain} ");
        input.lines().filter(|l| l.starts_with(&head)).map(String::from).collect()
    }

    /// Every chain with its iptables table.
    fn all(c: &Chains) -> Vec<(&'static str, &str)> {
        TABLES.iter().flat_map(|t| c.of(t).into_iter().map(move |chain| (*t, chain))).collect()
    }

    #[test]
    fn apply_twice_change_and_remove_in_a_throwaway_netns() {
        let test = "apply_twice_change_and_remove_in_a_throwaway_netns";
        if !is_root() {
            eprintln!("SKIPPING {test}: needs root (ip netns, iptables)");
            return;
        }
        let Ok(probe) = Iptables::new() else {
            eprintln!("SKIPPING {test}: no iptables/iptables-restore");
            return;
        };
        if !probe.has_ipv6() {
            eprintln!("SKIPPING {test}: no ip6tables-restore");
            return;
        }
        let ns = Netns::new("");
        let ipt = Iptables { prefix: vec!["ip".into(), "netns".into(), "exec".into(), ns.0.clone()], ..probe };
        apply_twice_change_and_remove(&ns, &ipt, "iptables", "ip6tables");
    }

    /// The same with iptables-legacy, which hosts without nft are the likeliest to have.
    #[test]
    fn apply_twice_change_and_remove_with_iptables_legacy() {
        let test = "apply_twice_change_and_remove_with_iptables_legacy";
        if !is_root() {
            eprintln!("SKIPPING {test}: needs root (ip netns, iptables-legacy)");
            return;
        }
        let tools = ["iptables-legacy", "iptables-legacy-restore", "ip6tables-legacy", "ip6tables-legacy-restore"];
        let found: Vec<PathBuf> = tools.iter().filter_map(|t| find_program(t)).collect();
        let [v4, v4r, v6, v6r] = &found[..] else {
            eprintln!("SKIPPING {test}: no {}", tools.join("/"));
            return;
        };
        let ns = Netns::new("-legacy");
        let mut ipt = Iptables::at(v4, v4r, Some((v6.clone(), v6r.clone())));
        ipt.prefix = vec!["ip".into(), "netns".into(), "exec".into(), ns.0.clone()];
        apply_twice_change_and_remove(&ns, &ipt, "iptables-legacy", "ip6tables-legacy");
    }

    /// Apply twice, change, remove, fail, in `ns` (fresh), with `ipt` running there; `cmd4`
    /// and `cmd6` are the matching listing tools.
    fn apply_twice_change_and_remove(ns: &Netns, ipt: &Iptables, cmd4: &str, cmd6: &str) {
        let table = format!("berth-t{}", std::process::id());
        let c = Chains::for_table(&table);

        // Somebody else's rules, which must survive everything we do.
        ns.run(&[
            cmd4,
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "9",
            "-j",
            "DNAT",
            "--to-destination",
            "10.0.0.9:9",
        ]);
        ns.run(&[cmd4, "-A", "FORWARD", "-i", "other0", "-j", "ACCEPT"]);

        // Applying twice: the jumps exist exactly once, our chains hold exactly the render.
        let rs = netns_ruleset(true);
        ipt.apply(&table, &rs).unwrap();
        ipt.apply(&table, &rs).unwrap();
        let (v4, v6) = render_iptables(&table, &rs);
        for (cmd, input) in [(cmd4, &v4), (cmd6, &v6)] {
            for (tbl, builtin, ours, _) in c.jumps() {
                let jumps = ns.rules(cmd, tbl, builtin).unwrap();
                let want = format!("-A {builtin} -j {ours}");
                assert_eq!(jumps.iter().filter(|l| **l == want).count(), 1, "{cmd} {builtin}: {jumps:?}");
            }
            assert_eq!(ns.rules(cmd, "filter", "FORWARD").unwrap()[0], format!("-A FORWARD -j {}", c.fwd), "{cmd}");
            for (tbl, chain) in all(&c) {
                assert_eq!(ns.rules(cmd, tbl, chain).unwrap(), rendered(input, chain), "{cmd} {chain}");
            }
        }
        let ports = ns.rules(cmd4, "nat", &c.ports).unwrap().join("\n");
        for want in [
            "--dport 8080 -j DNAT --to-destination 172.30.0.2:80",
            "-d 127.0.0.1/32 -p tcp -m tcp --dport 8081",
            "--dport 5353",
        ] {
            assert!(ports.contains(want), "missing {want:?} in:\n{ports}");
        }
        let ports6 = ns.rules(cmd6, "nat", &c.ports).unwrap().join("\n");
        assert!(ports6.contains("--dport 8082 -j DNAT --to-destination [fd00:30::2]:80"), "{ports6}");
        assert!(!ports6.contains("172.30."), "{ports6}");

        // A duplicated jump (a crash, a human) is brought back to one.
        ns.run(&[cmd4, "-t", "nat", "-A", "POSTROUTING", "-j", &c.post]);
        // A changed ruleset: the removed DNAT is gone, the rest stays.
        let rs = netns_ruleset(false);
        ipt.apply(&table, &rs).unwrap();
        let ports = ns.rules(cmd4, "nat", &c.ports).unwrap().join("\n");
        assert!(!ports.contains("5353"), "{ports}");
        assert!(ports.contains("--dport 8080"), "{ports}");
        let post = ns.rules(cmd4, "nat", "POSTROUTING").unwrap();
        assert_eq!(post, vec![format!("-A POSTROUTING -j {}", c.post)]);

        // Remove: chains and jumps gone in both families, other rules kept; again is fine.
        ipt.remove(&table).unwrap();
        ipt.remove(&table).unwrap();
        for cmd in [cmd4, cmd6] {
            for (tbl, builtin, ..) in c.jumps() {
                let rules = ns.rules(cmd, tbl, builtin).unwrap();
                assert!(rules.iter().all(|l| !l.contains("BERTH-")), "{cmd} {builtin}: {rules:?}");
            }
            for (tbl, chain) in all(&c) {
                assert!(ns.rules(cmd, tbl, chain).is_err(), "{cmd} {chain} still exists");
            }
        }
        assert_eq!(ns.rules(cmd4, "nat", "PREROUTING").unwrap().len(), 1);
        assert_eq!(ns.rules(cmd4, "filter", "FORWARD").unwrap(), vec!["-A FORWARD -i other0 -j ACCEPT".to_string()]);

        // A rejected input fails with the tool's words and the line, and commits nothing.
        let bad = Ruleset {
            bridges: vec![BridgeRules {
                device: "a-name-longer-than-ifnamsiz".into(),
                subnets: vec!["172.30.0.0/16".parse().unwrap()],
                internal: false,
                masquerade: true,
            }],
            forwards: Vec::new(),
        };
        let e = ipt.apply(&table, &bad).unwrap_err().to_string();
        assert!(e.starts_with("iptables-restore --noflush failed"), "{e}");
        assert!(e.contains("(line: -A "), "{e}");
        assert!(ns.rules(cmd4, "nat", &c.pre).is_err(), "nat chains left behind");
        assert!(ns.rules(cmd4, "nat", "PREROUTING").unwrap().iter().all(|l| !l.contains("BERTH-")));
    }
}
