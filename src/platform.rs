//! Which kind of system keyward runs on, where that changes the advice.
//!
//! On Synology DSM, home folders carry a Synology ACL (the `+` in
//! `drwxrwxrwx+`) and `chmod` removes it: the universal "chmod go-w ~" fix has
//! a side effect there that no StrictModes message mentions.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Synology when `/etc/synoinfo.conf` exists, otherwise Linux.
    Auto,
    Synology,
    Linux,
}

impl Platform {
    pub fn resolve(self) -> Platform {
        match self {
            Platform::Auto if Path::new("/etc/synoinfo.conf").exists() => Platform::Synology,
            Platform::Auto => Platform::Linux,
            p => p,
        }
    }

    /// `fix` as an admin on this platform should read it.
    pub fn fix(self, fix: String) -> String {
        if self.resolve() == Platform::Synology && fix.contains("chmod") {
            format!(
                "{fix} (on Synology DSM, chmod removes the folder's ACL, the + in `ls -l`, and with it the \
                 access DSM granted; keyward already serves this user's keys, so leaving the folder as it is \
                 is the DSM-safe choice; if you chmod, check the folder's permissions in DSM afterwards)"
            )
        } else {
            fix
        }
    }
}
