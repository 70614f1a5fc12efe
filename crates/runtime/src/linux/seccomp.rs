//! Seccomp: an OCI `linux.seccomp` compiled to a classic BPF program, and loaded.
//!
//! The program, as libseccomp would have it for runc but built here with no C library:
//!
//! 1. Dispatch on `seccomp_data.arch` to one block per architecture of the filter (x86_64 and
//!    its sub-architectures i386 and x32 — x32 shares x86_64's audit arch and is told apart by
//!    `__X32_SYSCALL_BIT` in the number); any other architecture is killed.
//! 2. In a block, a number above the highest this table knows gets `ENOSYS` (so that a libc
//!    falls back from a newer call, as runc's stub does) unless the default action allows.
//! 3. A binary search over the syscall numbers that have rules (O(log n) per syscall, not a
//!    linear scan of ~400 comparisons), then for each number its rules in order: rules with
//!    argument conditions first (conditions within a rule are ANDed; as runc, conditions that
//!    repeat an argument index become separate rules), then the unconditional one; a number
//!    no rule matches gets the default action.
//!
//! Jumps of classic BPF reach 255 instructions; longer ones go through an inserted `ja`. The
//! program is built back to front so that every target is known when a jump is emitted.
//!
//! Names the table does not know (another architecture's calls) are skipped, as runc does.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use super::{syscalls, Error};

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JGT_K: u16 = 0x05 | 0x20;
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Program {
    insns: Vec<Insn>,
    flags: u32,
}

/// A check of one 64-bit argument.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

fn action_code(a: LinuxSeccompAction, errno: Option<u32>) -> Result<u32, Error> {
    let data = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Spec("seccomp: SCMP_ACT_NOTIFY is not supported".into()))
        }
    })
}

/// One architecture block: its audit arch, its tables and whether args are 32-bit.
struct ArchPlan {
    audit: u32,
    tables: Vec<(&'static [(&'static str, u32)], u32)>,
    word32: bool,
}

fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| table[i].1)
}

fn max_nr(table: &[(&str, u32)]) -> u32 {
    table.iter().map(|(_, n)| *n).max().unwrap_or(0)
}

/// The architectures of the filter this host can run, grouped by audit arch.
fn plan_arches(list: &[Arch]) -> Result<Vec<ArchPlan>, Error> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(Error::Spec(format!(
            "seccomp filters are not supported on {} by this runtime",
            std::env::consts::ARCH
        )));
    }
    let has = |a: Arch| list.is_empty() || list.contains(&a) || list.contains(&Arch::ScmpArchNative);
    let mut out = Vec::new();
    let x32 = list.contains(&Arch::ScmpArchX32);
    if has(Arch::ScmpArchX86_64) || x32 {
        let mut tables = Vec::new();
        if has(Arch::ScmpArchX86_64) {
            tables.push((syscalls::X86_64, 0));
        }
        if x32 {
            tables.push((syscalls::X32, X32_SYSCALL_BIT));
        }
        out.push(ArchPlan { audit: AUDIT_ARCH_X86_64, tables, word32: false });
    }
    if list.contains(&Arch::ScmpArchX86) {
        out.push(ArchPlan { audit: AUDIT_ARCH_I386, tables: vec![(syscalls::X86, 0)], word32: true });
    }
    Ok(out)
}

/// The program under construction, last instruction first. A label is an index into `rev`.
#[derive(Default)]
struct Emitter {
    rev: Vec<Insn>,
}

impl Emitter {
    fn push(&mut self, i: Insn) -> usize {
        self.rev.push(i);
        self.rev.len() - 1
    }
    fn stmt(&mut self, code: u16, k: u32) -> usize {
        self.push(Insn { code, jt: 0, jf: 0, k })
    }
    fn jump(&mut self, code: u16, k: u32, mut jt: usize, mut jf: usize) -> usize {
        loop {
            let r = self.rev.len();
            let (ot, of) = (r - 1 - jt, r - 1 - jf);
            if ot > 255 {
                let same = jt == jf;
                jt = self.push(Insn { code: BPF_JA, jt: 0, jf: 0, k: ot as u32 });
                if same {
                    jf = jt;
                }
                continue;
            }
            if of > 255 {
                jf = self.push(Insn { code: BPF_JA, jt: 0, jf: 0, k: of as u32 });
                continue;
            }
            return self.push(Insn { code, jt: ot as u8, jf: of as u8, k });
        }
    }

    /// Code that goes on to `ok` when the condition holds, to `fail` otherwise.
    fn cond(&mut self, c: &Cond, ok: usize, fail: usize, word32: bool) -> usize {
        use LinuxSeccompOperator as O;
        let lo_off = OFF_ARGS + 8 * c.index;
        let hi_off = lo_off + 4;
        let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
        let (dh, dl) = ((c.value_two >> 32) as u32, c.value_two as u32);
        // The low word, then (64-bit arches) the high word in front of it.
        let lo = match c.op {
            O::ScmpCmpEq => self.jump(BPF_JEQ_K, vl, ok, fail),
            O::ScmpCmpNe => self.jump(BPF_JEQ_K, vl, fail, ok),
            O::ScmpCmpGt => self.jump(BPF_JGT_K, vl, ok, fail),
            O::ScmpCmpGe => self.jump(BPF_JGE_K, vl, ok, fail),
            O::ScmpCmpLt => self.jump(BPF_JGE_K, vl, fail, ok),
            O::ScmpCmpLe => self.jump(BPF_JGT_K, vl, fail, ok),
            O::ScmpCmpMaskedEq => {
                self.jump(BPF_JEQ_K, dl, ok, fail);
                self.stmt(BPF_ALU_AND_K, vl)
            }
        };
        // Each piece falls through to the one emitted before it.
        let _ = lo;
        let lo = self.stmt(BPF_LD_W_ABS, lo_off);
        if word32 {
            return lo;
        }
        match c.op {
            O::ScmpCmpEq => self.jump(BPF_JEQ_K, vh, lo, fail),
            O::ScmpCmpNe => self.jump(BPF_JEQ_K, vh, lo, ok),
            O::ScmpCmpMaskedEq => {
                self.jump(BPF_JEQ_K, dh, lo, fail);
                self.stmt(BPF_ALU_AND_K, vh)
            }
            O::ScmpCmpGt | O::ScmpCmpGe => {
                let eq = self.jump(BPF_JEQ_K, vh, lo, fail);
                self.jump(BPF_JGT_K, vh, ok, eq)
            }
            O::ScmpCmpLt | O::ScmpCmpLe => {
                let eq = self.jump(BPF_JEQ_K, vh, lo, ok);
                self.jump(BPF_JGT_K, vh, fail, eq)
            }
        };
        self.stmt(BPF_LD_W_ABS, hi_off)
    }

    /// A binary search over `intervals` (sorted by start, the first starting at the lowest
    /// number that reaches here); A holds the number. Each leaf's code is emitted next to the
    /// node that jumps to it, so jumps stay short.
    fn tree(&mut self, intervals: &[(u32, &Outcome)], default: u32, word32: bool) -> usize {
        if let [(_, leaf)] = intervals {
            return self.leaf(leaf, default, word32);
        }
        let mid = intervals.len() / 2;
        let right = self.tree(&intervals[mid..], default, word32);
        let left = self.tree(&intervals[..mid], default, word32);
        self.jump(BPF_JGE_K, intervals[mid].0, right, left)
    }

    /// The code of one interval: a `ret`, or one syscall's rules with their own `ret`s.
    fn leaf(&mut self, o: &Outcome, default: u32, word32: bool) -> usize {
        match o {
            Outcome::Ret(k) => self.stmt(BPF_RET_K, *k),
            Outcome::Rules(rules, fallback) => {
                let mut next = self.stmt(BPF_RET_K, fallback.unwrap_or(default));
                for r in rules.iter().rev() {
                    let mut ok = self.stmt(BPF_RET_K, r.ret);
                    for c in r.conds.iter().rev() {
                        ok = self.cond(c, ok, next, word32);
                    }
                    next = ok;
                }
                next
            }
        }
    }
}

/// What a syscall number gets.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// This action, whatever the arguments.
    Ret(u32),
    /// The first rule whose conditions hold; else the unconditional action, or the default.
    Rules(Vec<Rule>, Option<u32>),
}

fn conds(args: &[LinuxSeccompArg]) -> Result<Vec<Vec<Cond>>, Error> {
    let mut all = Vec::new();
    for a in args {
        if a.index() > 5 {
            return Err(Error::Spec(format!("seccomp: argument index {} out of range", a.index())));
        }
        all.push(Cond { index: a.index() as u32, op: a.op(), value: a.value(), value_two: a.value_two().unwrap_or(0) });
    }
    let repeated = (0..6).any(|i| all.iter().filter(|c| c.index == i).count() > 1);
    Ok(if repeated { all.into_iter().map(|c| vec![c]).collect() } else { vec![all] })
}

/// Compile an OCI filter for this host.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, Error> {
    let default = action_code(s.default_action(), s.default_errno_ret())?;
    let arches = plan_arches(s.architectures().as_deref().unwrap_or_default())?;
    let mut flags = 0u32;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
        };
    }
    let mut e = Emitter::default();
    let enosys = RET_ERRNO | libc::ENOSYS as u32;
    let stub_unknown = !matches!(default, RET_ALLOW | RET_LOG);
    // The filter's rules, parsed once for every architecture.
    let mut parsed: Vec<(&[String], u32, Vec<Vec<Cond>>)> = Vec::new();
    for sc in s.syscalls().iter().flatten() {
        let ret = action_code(sc.action(), sc.errno_ret())?;
        let rules = conds(sc.args().as_deref().unwrap_or_default())?;
        if ret == default && rules.iter().all(|r| r.is_empty()) {
            continue;
        }
        parsed.push((sc.names().as_slice(), ret, rules));
    }
    let mut blocks = Vec::new();
    for plan in &arches {
        // What each number gets, per table (indexed by number), in the filter's order.
        let mut slots: Vec<Vec<(Vec<Rule>, Option<u32>)>> =
            plan.tables.iter().map(|(t, _)| vec![(Vec::new(), None); max_nr(t) as usize + 1]).collect();
        for (names, ret, rules) in &parsed {
            for name in names.iter() {
                for ((table, _), slot) in plan.tables.iter().zip(slots.iter_mut()) {
                    let Some(nr) = lookup(table, name) else { continue };
                    let entry = &mut slot[nr as usize];
                    for r in rules {
                        if r.is_empty() {
                            entry.1.get_or_insert(*ret);
                        } else if entry.1.is_none() {
                            entry.0.push(Rule { conds: r.clone(), ret: *ret });
                        }
                    }
                }
            }
        }
        let per_nr = plan.tables.iter().zip(slots).flat_map(|((_, bit), slot)| {
            slot.into_iter()
                .enumerate()
                .filter(|(_, (rules, uncond))| !rules.is_empty() || uncond.is_some())
                .map(move |(nr, v)| (nr as u32 | bit, v))
        });
        // The number line as intervals of equal outcome: numbers without rules get the
        // default; neighbours with the same plain action merge.
        let default_o = Outcome::Ret(default);
        let mut merged: Vec<(u32, Outcome)> = Vec::new();
        let push = |iv: &mut Vec<(u32, Outcome)>, start: u32, o: Outcome| {
            if iv.last().is_some_and(|l| l.0 == start) {
                iv.pop();
            }
            if iv.last().is_some_and(|l| l.1 == o && matches!(o, Outcome::Ret(_))) {
                return;
            }
            iv.push((start, o));
        };
        push(&mut merged, 0, default_o.clone());
        for (nr, (rules, uncond)) in per_nr {
            let o = match (rules.is_empty(), uncond) {
                (true, Some(k)) => Outcome::Ret(k),
                (true, None) => default_o.clone(),
                (false, u) => Outcome::Rules(rules, u),
            };
            push(&mut merged, nr, o);
            if nr < u32::MAX {
                push(&mut merged, nr + 1, default_o.clone());
            }
        }
        let refs: Vec<(u32, &Outcome)> = merged.iter().map(|(s, o)| (*s, o)).collect();
        let tree = e.tree(&refs, default, plan.word32);
        // Numbers beyond the tables: ENOSYS; x32 numbers on x86_64 without x32: killed.
        // Each check is emitted right before the next, so `ld nr` falls through to the last.
        let native_max = plan.tables.iter().find(|(_, b)| *b == 0).map(|(t, _)| max_nr(t));
        let x32_max = plan.tables.iter().find(|(_, b)| *b != 0).map(|(t, _)| max_nr(t) | X32_SYSCALL_BIT);
        if plan.audit == AUDIT_ARCH_X86_64 {
            let x32_part = match x32_max {
                Some(m) if stub_unknown => {
                    let stub = e.stmt(BPF_RET_K, enosys);
                    e.jump(BPF_JGT_K, m, stub, tree)
                }
                Some(_) => tree,
                None => e.stmt(BPF_RET_K, RET_KILL_PROCESS),
            };
            let native_part = match native_max {
                Some(m) if stub_unknown => {
                    let stub = e.stmt(BPF_RET_K, enosys);
                    e.jump(BPF_JGT_K, m, stub, tree)
                }
                _ => tree,
            };
            e.jump(BPF_JGE_K, X32_SYSCALL_BIT, x32_part, native_part);
        } else if let Some(m) = native_max.filter(|_| stub_unknown) {
            let stub = e.stmt(BPF_RET_K, enosys);
            e.jump(BPF_JGT_K, m, stub, tree);
        }
        let block = e.stmt(BPF_LD_W_ABS, OFF_NR);
        blocks.push((plan.audit, block));
    }
    let mut next = e.stmt(BPF_RET_K, RET_KILL_PROCESS);
    for (audit, block) in blocks.iter().rev() {
        next = e.jump(BPF_JEQ_K, *audit, *block, next);
    }
    e.stmt(BPF_LD_W_ABS, OFF_ARCH);
    e.rev.reverse();
    if e.rev.len() > 4096 {
        return Err(Error::Spec(format!("seccomp: the filter needs {} instructions, more than 4096", e.rev.len())));
    }
    Ok(Program { insns: e.rev, flags })
}

impl Program {
    /// The instructions.
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    /// Install the filter on the calling thread. Needs `no_new_privs` or `CAP_SYS_ADMIN`;
    /// allocates nothing.
    pub fn load(&self) -> Result<(), Error> {
        let prog = libc::sock_fprog {
            len: self.insns.len() as libc::c_ushort,
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at our instructions, which outlive the call; the kernel copies
        // them.
        let rc = unsafe {
            if self.flags == 0 {
                libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog)
            } else {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    self.flags as libc::c_ulong,
                    &prog as *const libc::sock_fprog,
                ) as libc::c_int
            }
        };
        super::check(rc, || "load seccomp filter".into())
    }

    /// Run the program on one `seccomp_data` (a test aid: what the kernel would answer).
    pub fn evaluate(&self, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let mut a: u32 = 0;
        let mut pc = 0usize;
        while let Some(i) = self.insns.get(pc) {
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    let o = i.k as usize;
                    a = u32::from_ne_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
                }
                BPF_ALU_AND_K => a &= i.k,
                BPF_JA => pc += i.k as usize,
                BPF_JEQ_K | BPF_JGT_K | BPF_JGE_K => {
                    let t = match i.code {
                        BPF_JEQ_K => a == i.k,
                        BPF_JGT_K => a > i.k,
                        _ => a >= i.k,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                BPF_RET_K => return i.k,
                _ => return RET_KILL_PROCESS,
            }
        }
        RET_KILL_PROCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::seccomp::{default_profile, Profile, Target};
    use crate::spec::{all_capabilities, effective_capabilities};

    const EPERM: u32 = RET_ERRNO | 1;
    const ENOSYS: u32 = RET_ERRNO | 38;

    fn default_program(add: &[&str]) -> Program {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        let caps = effective_capabilities(&add, &[], false, &all_capabilities()).expect("caps");
        let f = default_profile()
            .to_oci(&caps, &Target { arch: "amd64", kernel: (6, 18) })
            .expect("ok")
            .expect("filter");
        compile(&f).expect("compile")
    }

    fn nr(name: &str) -> u32 {
        lookup(syscalls::X86_64, name).expect(name)
    }

    #[test]
    fn default_profile_decisions() {
        let p = default_program(&[]);
        // Intervals of equal outcome keep the program small (one node per syscall would be ~2600).
        assert!(p.instructions().len() < 1000, "{} instructions", p.instructions().len());
        let x64 = AUDIT_ARCH_X86_64;
        let clone_newuser = libc::CLONE_NEWUSER as u64;
        // (arch, nr, args, expected)
        let table: &[(u32, u32, [u64; 6], u32)] = &[
            (x64, nr("read"), [0; 6], RET_ALLOW),
            (x64, nr("execve"), [0; 6], RET_ALLOW),
            (x64, nr("mount"), [0; 6], EPERM),
            (x64, nr("unshare"), [0; 6], EPERM),
            (x64, nr("finit_module"), [0; 6], EPERM),
            (x64, nr("ptrace"), [0; 6], RET_ALLOW),
            (x64, nr("clone"), [libc::SIGCHLD as u64, 0, 0, 0, 0, 0], RET_ALLOW),
            (x64, nr("clone"), [clone_newuser | libc::SIGCHLD as u64, 0, 0, 0, 0, 0], EPERM),
            (x64, nr("clone3"), [0; 6], ENOSYS),
            (x64, nr("personality"), [0, 0, 0, 0, 0, 0], RET_ALLOW),
            (x64, nr("personality"), [0xffff_ffff, 0, 0, 0, 0, 0], RET_ALLOW),
            (x64, nr("personality"), [1, 0, 0, 0, 0, 0], EPERM),
            (x64, nr("personality"), [0x2_0008, 0, 0, 0, 0, 0], RET_ALLOW),
            (x64, nr("socket"), [libc::AF_INET as u64, 0, 0, 0, 0, 0], RET_ALLOW),
            (x64, 1000, [0; 6], ENOSYS),
            (x64, 444, [0; 6], RET_ALLOW), // landlock_create_ruleset
            (x64, 180, [0; 6], EPERM),     // nfsservctl: in no list
            (x64, X32_SYSCALL_BIT, [0; 6], RET_ALLOW), // x32 read
            (AUDIT_ARCH_I386, 3, [0; 6], RET_ALLOW),   // i386 read
            (AUDIT_ARCH_I386, 21, [0; 6], EPERM),      // i386 mount
            (0xc00000b7, 63, [0; 6], RET_KILL_PROCESS), // aarch64: not in the filter
        ];
        for (arch, n, args, want) in table {
            assert_eq!(p.evaluate(*arch, *n, *args), *want, "arch {arch:#x} nr {n} args {args:?}");
        }
        let admin = default_program(&["SYS_ADMIN", "SYS_MODULE"]);
        for (n, args, want) in [
            (nr("mount"), [0; 6], RET_ALLOW),
            (nr("clone"), [clone_newuser, 0, 0, 0, 0, 0], RET_ALLOW),
            (nr("clone3"), [0; 6], RET_ALLOW),
            (nr("finit_module"), [0; 6], RET_ALLOW),
        ] {
            assert_eq!(admin.evaluate(x64, n, args), want, "admin nr {n}");
        }
    }

    #[test]
    fn argument_operators() {
        // personality(arg0 OP 0x1_0000_0005) -> ERRNO(7), else allow.
        let f = |op: &str, v2: &str| -> Program {
            let json = format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":7,"args":[{{"index":0,"value":4294967301,{v2}"op":"{op}"}}]}}]}}"#
            );
            let p = Profile::parse(&json).expect("parse");
            let f = p.to_oci(&[], &Target { arch: "amd64", kernel: (6, 18) }).expect("oci").expect("some");
            compile(&f).expect("compile")
        };
        let v = 0x1_0000_0005u64;
        let table: &[(&str, &str, u64, bool)] = &[
            ("SCMP_CMP_EQ", "", v, true),
            ("SCMP_CMP_EQ", "", 5, false),
            ("SCMP_CMP_NE", "", 5, true),
            ("SCMP_CMP_NE", "", v, false),
            ("SCMP_CMP_GT", "", v + 1, true),
            ("SCMP_CMP_GT", "", v, false),
            ("SCMP_CMP_GT", "", 0x2_0000_0000, true),
            ("SCMP_CMP_GE", "", v, true),
            ("SCMP_CMP_GE", "", v - 1, false),
            ("SCMP_CMP_LT", "", v - 1, true),
            ("SCMP_CMP_LT", "", 7, true),
            ("SCMP_CMP_LT", "", v, false),
            ("SCMP_CMP_LE", "", v, true),
            ("SCMP_CMP_LE", "", v + 1, false),
            ("SCMP_CMP_MASKED_EQ", r#""valueTwo":1,"#, 0x6_0000_0001, true),
            ("SCMP_CMP_MASKED_EQ", r#""valueTwo":1,"#, 0x1_0000_0001, false),
            ("SCMP_CMP_MASKED_EQ", r#""valueTwo":1,"#, 0x4, false),
        ];
        for (op, v2, arg, hit) in table {
            let p = f(op, v2);
            let want = if *hit { RET_ERRNO | 7 } else { RET_ALLOW };
            assert_eq!(p.evaluate(AUDIT_ARCH_X86_64, nr("personality"), [*arg, 0, 0, 0, 0, 0]), want, "{op} {arg:#x}");
            // Other calls are untouched.
            assert_eq!(p.evaluate(AUDIT_ARCH_X86_64, nr("read"), [*arg, 0, 0, 0, 0, 0]), RET_ALLOW);
        }
    }

    #[test]
    fn long_jumps_go_through_trampolines() {
        // Many conditional rules on one call make the default far from the first jumps.
        let rules: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{{"index":1,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#))
            .collect();
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{}]}}"#,
            rules.join(",")
        );
        let f = Profile::parse(&json).expect("parse").to_oci(&[], &Target { arch: "amd64", kernel: (6, 18) }).expect("oci").expect("some");
        let p = compile(&f).expect("compile");
        for i in [0u64, 1, 150, 199] {
            assert_eq!(p.evaluate(AUDIT_ARCH_X86_64, nr("ioctl"), [0, i, 0, 0, 0, 0]), RET_ALLOW, "ioctl {i}");
        }
        assert_eq!(p.evaluate(AUDIT_ARCH_X86_64, nr("ioctl"), [0, 200, 0, 0, 0, 0]), EPERM);
        assert_eq!(p.evaluate(AUDIT_ARCH_X86_64, nr("read"), [0; 6]), EPERM);
    }

    #[test]
    fn loaded_filter_answers_with_its_errno() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":99}]}"#;
        let f = Profile::parse(json).expect("parse").to_oci(&[], &Target { arch: "amd64", kernel: (6, 18) }).expect("oci").expect("some");
        let p = compile(&f).expect("compile");
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: constant prctl arguments; mkdir on a static path; _exit.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if p.load().is_err() {
                    libc::_exit(2);
                }
                let rc = libc::mkdir(c"/nonexistent-berth-seccomp-test".as_ptr(), 0o700);
                let e = *libc::__errno_location();
                libc::_exit(if rc < 0 && e == 99 { 0 } else { 1 });
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
