//! Terminals allocated inside the container, and passing file descriptors over unix sockets.
//!
//! The pty is opened from the container's own devpts instance (its `/dev/ptmx`), so the
//! process's terminal is `/dev/pts/N` in the container as with runc, and the master is handed
//! to the monitor with `SCM_RIGHTS`.

use std::io;
use std::os::fd::RawFd;

use super::{check, Error};

/// Open a new pty pair from the container's `/dev/ptmx` (call after pivot_root).
/// Returns (master, replica, replica's path in the container).
pub(crate) fn open_in_container() -> Result<(RawFd, RawFd, String), Error> {
    // SAFETY: plain open/ioctl calls on fds we own.
    unsafe {
        let master = libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        check(master, || "open /dev/ptmx".into())?;
        let unlock: libc::c_int = 0;
        check(libc::ioctl(master, libc::TIOCSPTLCK, &unlock), || "unlock pty".into())?;
        let mut n: libc::c_uint = 0;
        check(libc::ioctl(master, libc::TIOCGPTN, &mut n), || "pty number".into())?;
        let path = format!("/dev/pts/{n}");
        let c = super::cstr(&path)?;
        let replica = libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        check(replica, || format!("open {path}"))?;
        Ok((master, replica, path))
    }
}

/// Send `fd` with a one-byte message `tag` over a unix socket.
pub fn send_fd(sock: RawFd, tag: u8, fd: RawFd) -> io::Result<()> {
    let mut byte = [tag];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // CMSG_SPACE(sizeof(int)) fits easily in 64 bytes; u64 keeps it aligned.
    let mut cbuf = [0u64; 8];
    // SAFETY: a sendmsg with one iovec and one SCM_RIGHTS control message built with the CMSG
    // macros inside a buffer large enough for it.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        if libc::sendmsg(sock, &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receive one message from a unix socket: its bytes and the fd it carried, if any (the fd
/// is made close-on-exec).
pub fn recv_fd(sock: RawFd) -> io::Result<(Vec<u8>, Option<RawFd>)> {
    let mut buf = vec![0u8; 4096];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut cbuf = [0u64; 8];
    // SAFETY: a recvmsg with valid buffers; the control message is read with the CMSG macros.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break n;
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        let c = libc::CMSG_FIRSTHDR(&msg);
        let fd = if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
            Some(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd))
        } else {
            None
        };
        Ok((buf, fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fds_cross_a_socketpair_with_their_tag() {
        let mut sv = [0; 2];
        // SAFETY: creating a socketpair and a pipe we close below.
        unsafe { assert_eq!(libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()), 0) };
        let mut p = [0; 2];
        unsafe { assert_eq!(libc::pipe(p.as_mut_ptr()), 0) };
        send_fd(sv[0], b'P', p[1]).unwrap();
        let (bytes, fd) = recv_fd(sv[1]).unwrap();
        assert_eq!(bytes, b"P");
        let fd = fd.expect("an fd");
        // SAFETY: writing through the received duplicate, reading from the original pipe.
        unsafe {
            assert_eq!(libc::write(fd, b"x".as_ptr().cast(), 1), 1);
            let mut b = [0u8; 1];
            assert_eq!(libc::read(p[0], b.as_mut_ptr().cast(), 1), 1);
            assert_eq!(&b, b"x");
            for f in [sv[0], sv[1], p[0], p[1], fd] {
                libc::close(f);
            }
        }
    }
}
