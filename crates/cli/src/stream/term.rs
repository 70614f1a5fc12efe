//! The local terminal: raw mode for `-t`, window size for resize.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{self, SetArg, Termios};

/// Restores the terminal's saved attributes when dropped.
pub struct RawGuard {
    saved: Termios,
}

impl RawGuard {
    /// Put stdin into raw mode (as docker's `term.SetRawTerminal`), if it is a terminal.
    pub fn stdin() -> Option<RawGuard> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !nix::unistd::isatty(fd).unwrap_or(false) {
            return None;
        }
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawGuard { saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Is this fd a terminal?
pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// Is stdout a terminal?
pub fn stdout_is_tty() -> bool {
    is_tty(std::io::stdout().as_fd())
}

/// Is stdin a terminal?
pub fn stdin_is_tty() -> bool {
    is_tty(std::io::stdin().as_fd())
}

/// `(height, width)` of the terminal on stdout, if it is one.
pub fn size() -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc != 0 || (ws.ws_row == 0 && ws.ws_col == 0) {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}
