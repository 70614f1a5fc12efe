//! cgroup v2 device rules: a small eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`
//! generated from the rules (pure, tested) and attached to the cgroup with `bpf(2)`.
//!
//! The program looks at the rules last to first and answers with the first that matches, and
//! denies when none does. An allow rule matches when it covers every requested access bit, a
//! deny rule when it covers any of them. For the usual rule list (deny everything, then allow
//! a few devices) this is exactly v1's `devices.deny`/`devices.allow` behaviour.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::resources::{DeviceKind, DeviceRule};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | (dst & 0xf), off, imm }
}

// Opcodes (class | size/op | source).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57; // dst &= imm
const ALU64_RSH_K: u8 = 0x77; // dst >>= imm
const ALU64_MOV_X: u8 = 0xbf; // dst = src
const ALU64_MOV_K: u8 = 0xb7; // dst = imm
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto pc + 1 + off
const JMP_JEQ_K: u8 = 0x15; // if dst == imm goto pc + 1 + off
const JMP_EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }; access_type is
// (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The program for `rules` (see the module documentation for its meaning).
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    // r2 = type, r3 = requested access, r4 = major, r5 = minor.
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_MOV_X, 3, 2, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Jumps to the next rule get their offsets once the block's length is known.
        let mut to_next = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Block | DeviceKind::Char => {
                let t = if rule.kind == DeviceKind::Block { DEV_BLOCK } else { DEV_CHAR };
                to_next.push(p.len());
                p.push(insn(JMP_JNE_K, 2, 0, 0, t));
            }
        }
        for (reg, num) in [(4, rule.major), (5, rule.minor)] {
            if let Some(n) = num.filter(|n| *n >= 0) {
                to_next.push(p.len());
                p.push(insn(JMP_JNE_K, reg, 0, 0, n.min(i32::MAX as i64) as i32));
            }
        }
        let acc = access_bits(&rule.access);
        let all = ACC_READ | ACC_WRITE | ACC_MKNOD;
        if acc != all {
            p.push(insn(ALU64_MOV_X, 6, 3, 0, 0));
            if rule.allow {
                // Every requested bit must be granted: (req & ~acc) == 0.
                p.push(insn(ALU64_AND_K, 6, 0, 0, all & !acc));
                to_next.push(p.len());
                p.push(insn(JMP_JNE_K, 6, 0, 0, 0));
            } else {
                // Any requested bit denied: (req & acc) != 0.
                p.push(insn(ALU64_AND_K, 6, 0, 0, acc));
                to_next.push(p.len());
                p.push(insn(JMP_JEQ_K, 6, 0, 0, 0));
            }
        }
        p.push(insn(ALU64_MOV_K, 0, 0, 0, rule.allow as i32));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
        if to_next.is_empty() {
            // Matches every access: later rules and the default are unreachable, and the
            // verifier rejects unreachable code.
            return p;
        }
        let next = p.len();
        for at in to_next {
            p[at].off = (next - at - 1) as i16;
        }
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Run `prog` like the kernel would for one device access (a tiny interpreter of the
/// instructions [`program`] emits; for tests).
#[cfg(test)]
pub(crate) fn run(prog: &[Insn], kind: DeviceKind, major: u32, minor: u32, access: &str) -> bool {
    let t = match kind {
        DeviceKind::Block => DEV_BLOCK,
        DeviceKind::Char => DEV_CHAR,
        DeviceKind::All => 0,
    } as u32;
    let ctx = [(access_bits(access) as u32) << 16 | t, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = ctx[i.off as usize / 4] as u64,
            ALU64_MOV_X => r[dst] = r[src],
            ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
            ALU64_AND_K => r[dst] &= i.imm as i64 as u64,
            ALU64_RSH_K => r[dst] >>= i.imm,
            JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
            JMP_JNE_K | JMP_JEQ_K => {}
            JMP_EXIT => return r[0] == 1,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr, sizeof attr)`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<i64> {
    // SAFETY: attr points to a live, fully initialised repr(C) value of the given size, laid
    // out as the kernel's union bpf_attr member for `cmd`; the kernel reads and may write it.
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint)
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"Apache\0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            // Load again with the verifier's log, for a useful message.
            let mut log = vec![0u8; 16 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().take(3).collect::<Vec<_>>().join("; ");
            return Err(io::Error::new(e.kind(), format!("{e}: verifier: {last}")));
        }
        Err(e) => return Err(e),
    };
    // SAFETY: BPF_PROG_LOAD returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The ids of the device programs attached to the cgroup itself.
fn attached(cgroup: &File) -> io::Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(ids[..(attr.prog_cnt as usize).min(ids.len())].to_vec())
}

/// Replace the device rules of the cgroup at `dir` with `rules`: attach the new program,
/// then detach the ones attached before (so there is no moment without a filter).
pub(crate) fn set_device_filter(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let err = |source: io::Error| Error::Write {
        path: dir.to_path_buf(),
        value: "device filter".into(),
        source,
    };
    let cgroup =
        File::open(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    let old = attached(&cgroup).map_err(err)?;
    let prog = load(&program(rules)).map_err(err)?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(err)?;
    for id in old {
        let mut get = GetFdAttr { prog_id: id, ..Default::default() };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else { continue };
        // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new file descriptor that we own.
        let old_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut det = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        match bpf(BPF_PROG_DETACH, &mut det) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceKind::*;

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule { allow, kind, major, minor, access: access.into() }
    }

    #[test]
    fn docker_default_rules_allow_only_listed_devices() {
        let rules = vec![
            rule(false, All, None, None, "rwm"),
            rule(true, Char, Some(1), Some(3), "rwm"), // null
            rule(true, Char, Some(1), Some(5), "rwm"), // zero
            rule(true, Char, Some(136), None, "rwm"),  // pts
            rule(true, Char, Some(5), Some(1), "rw"),  // console, no mknod
            rule(true, Char, None, None, "m"),         // mknod of any char device
            rule(false, Char, Some(1), Some(5), "w"),  // and then: no writes to zero
        ];
        let p = program(&rules);
        let cases = [
            (Char, 1, 3, "rw", true),
            (Char, 1, 3, "m", true),
            (Char, 136, 7, "rw", true),
            (Char, 5, 1, "rw", true),
            // A request is matched as a whole: neither 5:1 (rw) nor c *:* m grants all three.
            (Char, 5, 1, "rwm", false),
            (Char, 1, 5, "r", true),
            (Char, 1, 5, "w", false),
            (Char, 1, 5, "rw", false),
            (Char, 4, 1, "r", false),
            (Char, 4, 1, "m", true),
            (Block, 8, 0, "r", false),
            (Block, 8, 0, "m", false),
        ];
        for (kind, major, minor, access, want) in cases {
            assert_eq!(
                run(&p, kind, major, minor, access),
                want,
                "{kind:?} {major}:{minor} {access}"
            );
        }
    }

    #[test]
    fn empty_and_allow_all_programs() {
        let deny = program(&[]);
        assert!(!run(&deny, Char, 1, 3, "r"));
        let allow = program(&[rule(true, All, None, None, "rwm")]);
        assert!(run(&allow, Char, 1, 3, "r"));
        assert!(run(&allow, Block, 8, 0, "rwm"));
        // Jump offsets land inside the program.
        for (i, ins) in program(&[rule(true, Block, Some(8), Some(0), "r")]).iter().enumerate() {
            if ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K {
                assert!(i + 1 + (ins.off as usize) < 20);
            }
        }
    }
}
