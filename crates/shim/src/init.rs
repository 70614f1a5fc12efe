//! A minimal init (pid 1) for containers run with `--init`: runs the command as its child,
//! forwards termination signals to it, reaps every zombie, and exits with the child's status.

use std::ffi::CString;
use std::process::ExitCode;

pub fn main(args: &[String]) -> ExitCode {
    let args: Vec<&String> = args.iter().skip_while(|a| a.as_str() == "--").collect();
    if args.is_empty() {
        eprintln!("berth-init: no command given");
        return ExitCode::from(2);
    }
    let cargs: Vec<CString> = match args.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("berth-init: argument with a NUL byte");
            return ExitCode::from(2);
        }
    };
    // SAFETY: signal mask manipulation and fork in a single-threaded process; the child only
    // restores the mask and execs.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
        let child = libc::fork();
        if child < 0 {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            return ExitCode::from(1);
        }
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::setpgid(0, 0);
            let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
            argv.push(std::ptr::null());
            libc::execvp(argv[0], argv.as_ptr());
            let e = std::io::Error::last_os_error();
            eprintln!("berth-init: exec {}: {e}", args[0]);
            libc::_exit(if e.raw_os_error() == Some(libc::ENOENT) { 127 } else { 126 });
        }
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            if libc::sigwaitinfo(&all, &mut info) < 0 {
                continue;
            }
            let sig = info.si_signo;
            if sig != libc::SIGCHLD {
                libc::kill(child, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    return ExitCode::from(code as u8);
                }
            }
        }
    }
}
