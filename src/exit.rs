//! Exit codes, from sysexits.h so that sshd's "failed, status N" line means
//! something on its own. Every non-zero code makes sshd reject the key.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Keys served (possibly none); an admin command did what was asked.
    Ok = 0,
    /// `check`/`audit` found something to fix; `remove` matched nothing.
    Attention = 1,
    /// EX_USAGE: the command line is wrong.
    Usage = 64,
    /// EX_DATAERR: a refused user name or fingerprint argument.
    DataErr = 65,
    /// EX_IOERR: the store could not be read or stdout not written.
    IoErr = 74,
    /// EX_TEMPFAIL: another keyward holds the store lock.
    TempFail = 75,
    /// EX_NOPERM: the store or config is not safely owned, or is tampered with.
    NoPerm = 77,
    /// EX_CONFIG: the config file is broken.
    Config = 78,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}
