//! The three C library calls sshd makes while it reads an authorized_keys
//! line, made here the same way: `strptime` and `mktime`/`timegm` for
//! `expiry-time`, `strtonum` and `getservbyname` for a permit port,
//! `getaddrinfo(AI_NUMERICHOST)` for a `from=` address. keyward runs beside
//! sshd on the same C library, so calling it is the exact answer; a Rust
//! re-implementation of glibc's leniencies (blanks inside dates, `0x7f.1`
//! addresses, ports by service name) would be a guess.
//!
//! Also how sshd starts an AuthorizedKeysCommand as its user (`start_as`),
//! for `keyward check`, which runs commands as sshd would.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::mem::MaybeUninit;

use crate::openssh::Sshd;

/// `misc.c:parse_absolute_time`: YYYYMMDD[HHMM[SS]] with an optional `Z` or
/// `UTC` (any case) for UTC, else local time. `None` when sshd refuses it.
/// The suffix and the whole-string rule arrived in 9.1; since 10.4 a time
/// before 1970 passes (only a failing mktime is refused).
pub fn parse_absolute_time(s: &[u8], sshd: &Sshd) -> Option<u64> {
    let suffix = match s.len() {
        _ if !sshd.expiry_utc_suffix() => 0,
        l if l > 1 && s[l - 1].eq_ignore_ascii_case(&b'z') => 1,
        l if l > 3 && s[l - 3..].eq_ignore_ascii_case(b"UTC") => 3,
        _ => 0,
    };
    let (l, utc) = (s.len() - suffix, suffix > 0);
    let fmt: &[u8] = match l {
        8 => b"%Y-%m-%d\0",
        12 => b"%Y-%m-%dT%H:%M\0",
        14 => b"%Y-%m-%dT%H:%M:%S\0",
        _ => return None,
    };
    // sshd's snprintf("%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", ...): the digits with
    // the format's separators between the fields (a C string has no NUL to
    // stop `%.2s` early).
    let mut buf = Vec::with_capacity(l + 5);
    for (i, &b) in s[..l].iter().enumerate() {
        match i {
            4 | 6 => buf.push(b'-'),
            8 => buf.push(b'T'),
            10 | 12 => buf.push(b':'),
            _ => {}
        }
        buf.push(b);
    }
    let buf = CString::new(buf).ok()?;
    // SAFETY: both strings are NUL-terminated; tm is zeroed as sshd does
    // and only written by strptime/mktime/timegm.
    unsafe {
        let mut tm: libc::tm = MaybeUninit::zeroed().assume_init();
        let end = libc::strptime(buf.as_ptr(), fmt.as_ptr().cast(), &mut tm);
        if end.is_null() || (sshd.expiry_whole_string() && *end != 0) {
            return None;
        }
        tm.tm_wday = -1;
        let t = if utc {
            libc::timegm(&mut tm)
        } else {
            libc::mktime(&mut tm)
        };
        let failed = if sshd.expiry_before_1970() {
            t == -1 && tm.tm_wday == -1
        } else {
            t < 0
        };
        (!failed).then_some(t as u64)
    }
}

/// `misc.c:a2port`: a number 0..=65535, else a TCP service name.
pub fn a2port(s: &[u8]) -> i64 {
    if let Some(n) = strtonum(s, 0, 65535) {
        return n;
    }
    CString::new(s)
        .ok()
        .and_then(|c| service_port(&c))
        .unwrap_or(-1)
}

/// OpenBSD's `strtonum` (openbsd-compat on Linux): `strtoll` base 10, so
/// blanks and a sign may lead, and nothing may follow.
pub fn strtonum(s: &[u8], min: i64, max: i64) -> Option<i64> {
    let c = CString::new(s).ok()?;
    // SAFETY: c is NUL-terminated; strtoll writes only `end` and errno.
    let (n, ok) = unsafe {
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        *libc::__errno_location() = 0;
        let n = libc::strtoll(c.as_ptr(), &mut end, 10);
        let ok = end.cast_const() != c.as_ptr() && *end == 0 && *libc::__errno_location() == 0;
        (n, ok)
    };
    (ok && (min..=max).contains(&n)).then_some(n)
}

/// `strtoul(s, &end, 10)` that must consume all of `s` (a CIDR mask length).
/// A leading `-` negates, as in C, so `-1` is huge.
pub fn strtoul(s: &[u8]) -> Option<u64> {
    let c = CString::new(s).ok()?;
    // SAFETY: as above.
    unsafe {
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        let n = libc::strtoul(c.as_ptr(), &mut end, 10);
        (*end == 0).then_some(n)
    }
}

// glibc's reentrant lookup; the libc crate does not declare it.
unsafe extern "C" {
    fn getservbyname_r(
        name: *const libc::c_char,
        proto: *const libc::c_char,
        result_buf: *mut libc::servent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::servent,
    ) -> libc::c_int;
}

fn service_port(name: &CString) -> Option<i64> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: the reentrant call writes into ent and buf, both ours and
    // sized as passed; result points into ent or is null.
    unsafe {
        let mut ent: libc::servent = MaybeUninit::zeroed().assume_init();
        let mut result: *mut libc::servent = std::ptr::null_mut();
        let rc = getservbyname_r(
            name.as_ptr(),
            c"tcp".as_ptr(),
            &mut ent,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        (rc == 0 && !result.is_null()).then(|| i64::from(u16::from_be((*result).s_port as u16)))
    }
}

/// An address `getaddrinfo(AI_NUMERICHOST)` reads: family and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// `addr.c:addr_pton`.
pub fn addr_pton(s: &[u8]) -> Option<Addr> {
    let c = CString::new(s).ok()?;
    // SAFETY: hints is zeroed but for the flag; ai is freed once, after
    // its address was copied out according to its family.
    unsafe {
        let mut hints: libc::addrinfo = MaybeUninit::zeroed().assume_init();
        hints.ai_flags = libc::AI_NUMERICHOST;
        let mut ai: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut ai) != 0 || ai.is_null() {
            return None;
        }
        let sa = (*ai).ai_addr;
        let len = (*ai).ai_addrlen as usize;
        let out = if sa.is_null() {
            None
        } else {
            match i32::from((*sa).sa_family) {
                libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                    let v4 = &*sa.cast::<libc::sockaddr_in>();
                    Some(Addr::V4(v4.sin_addr.s_addr.to_ne_bytes()))
                }
                libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                    let v6 = &*sa.cast::<libc::sockaddr_in6>();
                    Some(Addr::V6(v6.sin6_addr.s6_addr))
                }
                _ => None,
            }
        };
        libc::freeaddrinfo(ai);
        out
    }
}

/// What `misc.c:subprocess()` does in the child before it runs an
/// AuthorizedKeysCommand as root's stand-in: only descriptors 0 to 2 reach
/// the program (`closefrom(3)`: an admin's shell may have left anything
/// open, `7</etc/shadow` included), the user's supplementary groups
/// (`initgroups`; `groups` is looked up before the fork, where NSS may
/// allocate), then its gid and uid. A failure stops the exec.
pub fn start_as(
    cmd: &mut std::process::Command,
    uid: u32,
    gid: u32,
    groups: Vec<nix::unistd::Gid>,
) {
    use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
    use std::os::unix::process::CommandExt;
    // Before the fork: the child may only make async-signal-safe calls.
    // SAFETY: sysconf has no preconditions.
    let open_max = match unsafe { libc::sysconf(libc::_SC_OPEN_MAX) } {
        n if n > 0 => n.min(1 << 20) as i32,
        _ => 1024,
    };
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    // SAFETY: the closure runs in the forked child before exec and makes
    // raw system calls only: no allocation, no lock. Descriptors are marked
    // close-on-exec rather than closed, so that std's own pipe, which
    // reports a failed exec, stays open until the exec.
    unsafe {
        cmd.pre_exec(move || {
            let all = libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if all != 0 {
                // Kernels before 5.11 (DSM 7 runs 4.4): one by one.
                for fd in 3..open_max {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            setgroups(&groups)?;
            setresgid(gid, gid, gid)?;
            setresuid(uid, uid, uid)?;
            Ok(())
        });
    }
}

/// Whether `text` matches the shell pattern `pattern` as the shell matches
/// paths (`fnmatch` with `FNM_PATHNAME`: `*`, `?` and `[...]` never match
/// a `/`). A pattern or text with a NUL matches nothing.
pub fn shell_match(pattern: &[u8], text: &[u8]) -> bool {
    let (Ok(p), Ok(t)) = (CString::new(pattern), CString::new(text)) else {
        return false;
    };
    // SAFETY: both are NUL-terminated strings that live across the call.
    unsafe { libc::fnmatch(p.as_ptr(), t.as_ptr(), libc::FNM_PATHNAME) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V92: Sshd = crate::openssh::DEFAULT;
    const V105: Sshd = Sshd {
        version: crate::openssh::Version::new(10, 5, 1),
        debian: false,
    };

    #[test]
    fn expiry_times_as_glibc_reads_them() {
        assert_eq!(parse_absolute_time(b"19700102Z", &V92), Some(86400));
        assert_eq!(parse_absolute_time(b"197001020000utc", &V92), Some(86400));
        // strptime skips blanks before a number; mktime normalises Feb 31.
        assert_eq!(parse_absolute_time(b"1970 1 2Z", &V92), Some(86400));
        assert_eq!(parse_absolute_time(b"19700231Z", &V92), Some(61 * 86400));
        assert_eq!(parse_absolute_time(b"19700001Z", &V92), None);
        assert_eq!(parse_absolute_time(b"1970010Z", &V92), None);
        assert_eq!(parse_absolute_time(b"19600101Z", &V92), None);
        assert!(parse_absolute_time(b"19600101Z", &V105).is_some());
    }

    #[test]
    fn ports_as_strtonum_and_services_read_them() {
        assert_eq!(a2port(b"22"), 22);
        assert_eq!(a2port(b" +22"), 22);
        assert_eq!(a2port(b"22 "), -1);
        assert_eq!(a2port(b"65536"), -1);
        assert_eq!(a2port(b"-0"), 0);
        assert_eq!(a2port(b""), -1);
    }

    #[test]
    fn numeric_addresses_only() {
        assert_eq!(addr_pton(b"10.1"), Some(Addr::V4([10, 0, 0, 1])));
        assert_eq!(
            addr_pton(b"::1").map(|a| matches!(a, Addr::V6(_))),
            Some(true)
        );
        assert_eq!(addr_pton(b"localhost"), None);
        assert_eq!(addr_pton(b"10.0.0.1 "), None);
    }
}
