//! What the installed sshd will do, asked of sshd itself (`sshd -T`, `sshd
//! -V`), and how it turns its AuthorizedKeysCommand line into argv (its
//! release's `argv_split` and `percent_expand`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::openssh;

/// Debian's path; DSM's sshd is /usr/bin/sshd (see `default_sshd`).
pub const DEFAULT_SSHD: &str = "/usr/sbin/sshd";

/// The sshd of this system: Debian's path, else DSM's.
pub fn default_sshd() -> PathBuf {
    [DEFAULT_SSHD, "/usr/bin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SSHD))
}

/// The settings `keyward check` reports, as `sshd -T -C user=...` prints them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settings {
    pub pubkey_authentication: bool,
    pub strict_modes: bool,
    /// Empty for `none`.
    pub authorized_keys_files: Vec<String>,
    /// `None` for `none`; otherwise the line verbatim, tokens unexpanded.
    pub command: Option<String>,
    pub command_user: Option<String>,
    /// Every line of the dump, in order (a list directive such as AllowUsers
    /// has one line per value): what `keyward check --key` judges.
    pub values: Vec<(String, String)>,
}

impl Settings {
    /// The first value of `keyword` (lower case), `None` when absent or `none`.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
            .filter(|v| *v != "none")
    }

    /// Every value of a list directive, each split on blanks.
    pub fn list(&self, keyword: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == keyword)
            .flat_map(|(_, v)| v.split_whitespace())
            .filter(|v| *v != "none")
            .collect()
    }

    pub fn yes(&self, keyword: &str) -> bool {
        self.get(keyword) == Some("yes")
    }
}

#[derive(Debug)]
pub enum SshdError {
    /// A user name sshd's `-C` spec cannot carry (it splits on `,` and `=`).
    BadSpec(String),
    Run {
        sshd: PathBuf,
        err: std::io::Error,
    },
    Failed {
        sshd: PathBuf,
        args: String,
        stderr: String,
    },
}

impl fmt::Display for SshdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshdError::BadSpec(u) => write!(
                f,
                "cannot ask sshd about user \"{u}\": sshd -C cannot carry ',', '=' or blanks in a name"
            ),
            SshdError::Run { sshd, err } => write!(f, "cannot run {}: {err}", sshd.display()),
            SshdError::Failed { sshd, args, stderr } => write!(
                f,
                "{} {args} failed: {}",
                sshd.display(),
                stderr.trim().replace('\n', "; ")
            ),
        }
    }
}

/// Runs `sshd -T -C user=USER,host=localhost,addr=127.0.0.1`, so that Match
/// blocks for the user apply as they would on a local login. USER is the
/// name's own bytes: sshd must be asked about this account, not about one
/// named like its escaped form.
pub fn effective(sshd: &Path, config: Option<&Path>, user: &OsStr) -> Result<Settings, SshdError> {
    effective_from(sshd, config, user, "127.0.0.1")
}

/// The same for a login from `addr`, which is also the host name sshd
/// matches (`UseDNS no`, the default).
pub fn effective_from(
    sshd: &Path,
    config: Option<&Path>,
    user: &OsStr,
    addr: &str,
) -> Result<Settings, SshdError> {
    let b = user.as_bytes();
    if b.is_empty() || b.iter().any(|c| matches!(c, b',' | b'=' | b' ' | b'\t')) {
        return Err(SshdError::BadSpec(crate::log::escape(b)));
    }
    let mut spec = OsString::from("user=");
    spec.push(user);
    let host = if addr == "127.0.0.1" {
        "localhost"
    } else {
        addr
    };
    spec.push(format!(",host={host},addr={addr}"));
    run(
        sshd,
        config,
        &["-T".as_ref(), "-C".as_ref(), spec.as_os_str()],
    )
    .map(|out| parse_dump(&out))
}

/// `sshd -T` without a connection spec: the global values, no Match block.
pub fn global(sshd: &Path, config: Option<&Path>) -> Result<Settings, SshdError> {
    run(sshd, config, &["-T".as_ref()]).map(|out| parse_dump(&out))
}

/// Which release `sshd` is: `sshd -V` prints its version on stderr (and
/// exits 0 since 7.?; older releases print it in their usage text and exit
/// 1, which is just as good).
pub fn identify(sshd: &Path) -> Result<openssh::Sshd, SshdError> {
    let out = Command::new(sshd)
        .arg("-V")
        .output()
        .map_err(|err| SshdError::Run {
            sshd: sshd.to_path_buf(),
            err,
        })?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let mut found = openssh::identify(&text).ok_or_else(|| SshdError::Failed {
        sshd: sshd.to_path_buf(),
        args: "-V".into(),
        stderr: format!("no OpenSSH version in its output: {}", text.trim()),
    })?;
    // Debian's `sshd -V` says "OpenSSH_9.2" only; the version it sends
    // clients, with the vendor ("OpenSSH_9.2p1 Debian-2+deb12u10"), is a
    // string in the binary.
    if let Ok(binary) = std::fs::read(sshd) {
        for at in memchr::memmem::find_iter(&binary, b"OpenSSH_") {
            let rest = &binary[at..binary.len().min(at + 128)];
            let end = memchr::memchr(0, rest).unwrap_or(rest.len());
            if let Some(banner) = std::str::from_utf8(&rest[..end])
                .ok()
                .and_then(openssh::identify)
                && banner.debian
                && (banner.version.major, banner.version.minor)
                    == (found.version.major, found.version.minor)
            {
                found = banner;
                break;
            }
        }
    }
    Ok(found)
}

/// `sshd -t`: does sshd accept the configuration at all?
pub fn test(sshd: &Path, config: Option<&Path>) -> Result<(), SshdError> {
    run(sshd, config, &["-t".as_ref()]).map(drop)
}

fn run(sshd: &Path, config: Option<&Path>, args: &[&OsStr]) -> Result<String, SshdError> {
    let mut cmd = Command::new(sshd);
    cmd.args(args);
    if let Some(c) = config {
        cmd.arg("-f").arg(c);
    }
    let out = cmd.output().map_err(|err| SshdError::Run {
        sshd: sshd.to_path_buf(),
        err,
    })?;
    if !out.status.success() {
        return Err(SshdError::Failed {
            sshd: sshd.to_path_buf(),
            args: crate::log::escape(args.join(OsStr::new(" ")).as_bytes()),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `servconf.c:dump_config` output: `keyword value`. The keyword is in
/// lower case up to 10.3 and as the manual spells it from 10.4
/// (`PubkeyAuthentication yes`); keyward keeps it in lower case.
pub fn parse_dump(text: &str) -> Settings {
    let mut s = Settings::default();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let key = key.to_ascii_lowercase();
        let none = |v: &str| (v != "none").then(|| v.to_string());
        s.values.push((key.clone(), value.to_string()));
        match key.as_str() {
            "pubkeyauthentication" => s.pubkey_authentication = value == "yes",
            "strictmodes" => s.strict_modes = value == "yes",
            "authorizedkeysfile" => {
                s.authorized_keys_files = match value {
                    "none" | "" => Vec::new(),
                    v => v.split(' ').map(str::to_string).collect(),
                }
            }
            "authorizedkeyscommand" => s.command = none(value),
            "authorizedkeyscommanduser" => s.command_user = none(value),
            _ => {}
        }
    }
    s
}

/// `argv_assemble`: the expanded command as sshd names it in its log (a
/// word with blanks in double quotes, `\`, `'` and `"` escaped).
pub fn argv_assemble(argv: &[OsString]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        let a = String::from_utf8_lossy(a.as_bytes());
        let mut word = String::new();
        for c in a.chars() {
            if matches!(c, '\\' | '\'' | '"') {
                word.push('\\');
            }
            word.push(c);
        }
        if i != 0 {
            out.push(' ');
        }
        if a.contains([' ', '\t']) {
            out.push_str(&format!("\"{word}\""));
        } else {
            out.push_str(&word);
        }
    }
    out
}

/// `misc.c:argv_split` for the AuthorizedKeysCommand line, as the
/// installed release has it.
pub fn argv_split(s: &str) -> Result<Vec<String>, &'static str> {
    argv_split_as(s, openssh::installed())
}

/// `argv_split` as release `sshd` splits: since 8.7 (`terminate_on_comment
/// = 0`) blanks separate, `'` and `"` quote anywhere in a word, `\` escapes
/// only `'`, `"`, `\` and (unquoted) a space; 8.6 the same without `\ `;
/// before 8.6 a quote counts only at the start of a word and ends it.
/// A `#` is an ordinary character: sshd passes a trailing comment as argv.
pub fn argv_split_as(s: &str, sshd: &openssh::Sshd) -> Result<Vec<String>, &'static str> {
    let v = sshd.version;
    let argv = if (v.major, v.minor) < (8, 6) {
        argv_split_old(s.as_bytes())?
    } else {
        argv_split_new(s.as_bytes(), (v.major, v.minor) >= (8, 7))?
    };
    if argv.is_empty() {
        return Err("yielded no arguments");
    }
    Ok(argv
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect())
}

fn argv_split_new(b: &[u8], escaped_space: bool) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut argv = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let mut quote = 0u8;
        let mut arg = Vec::new();
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                match b.get(i + 1) {
                    Some(&n @ (b'\'' | b'"' | b'\\')) => {
                        arg.push(n);
                        i += 1;
                    }
                    Some(b' ') if quote == 0 && escaped_space => {
                        arg.push(b' ');
                        i += 1;
                    }
                    _ => arg.push(c),
                }
            } else if quote == 0 && (c == b' ' || c == b'\t') {
                break;
            } else if quote == 0 && (c == b'"' || c == b'\'') {
                quote = c;
            } else if quote != 0 && c == quote {
                quote = 0;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote != 0 {
            return Err("contains invalid quotes");
        }
        argv.push(arg);
    }
    Ok(argv)
}

/// Before 8.6: a word may open with a quote (or an escaped quote or
/// backslash, taken literally); the closing quote ends the word, and a quote
/// inside a word is an ordinary character.
fn argv_split_old(b: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut argv = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let mut quote = 0u8;
        if b[i] == b'\\' && matches!(b.get(i + 1), Some(b'\'' | b'"' | b'\\')) {
            i += 1;
        } else if b[i] == b'\'' || b[i] == b'"' {
            quote = b[i];
            i += 1;
        }
        let mut arg = Vec::new();
        while i < b.len() {
            let c = b[i];
            if c == b'\\' && matches!(b.get(i + 1), Some(b'\'' | b'"' | b'\\')) {
                i += 1;
                arg.push(b[i]);
            } else if (quote == 0 && (c == b' ' || c == b'\t')) || (quote != 0 && c == quote) {
                break;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        argv.push(arg);
        if i >= b.len() {
            if quote != 0 {
                return Err("contains invalid quotes");
            }
            break;
        }
        i += 1;
    }
    Ok(argv)
}

/// For `keyward [--config FILE] keys ARGS...`: the config and ARGS.
pub fn keyward_args(argv: &[String]) -> Option<(Option<&str>, &[String])> {
    match argv.get(1..)? {
        [keys, args @ ..] if keys == "keys" => Some((None, args)),
        [opt, file, keys, args @ ..] if opt == "--config" && keys == "keys" => {
            Some((Some(file.as_str()), args))
        }
        [opt, keys, args @ ..] if opt.starts_with("--config=") && keys == "keys" => {
            Some((Some(&opt["--config=".len()..]), args))
        }
        _ => None,
    }
}

/// The `%` tokens release `sshd` expands in AuthorizedKeysCommand
/// arguments: `%% %u %h %t %f %k` since 6.9, `%U` since 7.8, `%C` and `%D`
/// since 9.4.
pub fn command_tokens(sshd: &openssh::Sshd) -> Vec<char> {
    let v = (sshd.version.major, sshd.version.minor);
    let mut t = vec!['%', 'u', 'h', 't', 'f', 'k'];
    if v >= (7, 8) {
        t.push('U');
    }
    if v >= (9, 4) {
        t.extend(['C', 'D']);
    }
    t
}

/// Tokens the release does not know: sshd drops the whole connection on
/// them. A lone `%` at the end counts too.
pub fn unknown_tokens(arg: &str, sshd: &openssh::Sshd) -> Vec<String> {
    tokens_outside(arg, &command_tokens(sshd))
}

/// The `%` tokens of `arg` that are not in `known`.
pub fn tokens_outside(arg: &str, known: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(t) if known.contains(&t) => {}
                Some(t) => out.push(format!("%{t}")),
                None => out.push("%".into()),
            }
        }
    }
    out
}

/// The token letters `arg` uses (`%%` included as `%`).
pub fn tokens_used(arg: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '%'
            && let Some(t) = chars.next()
        {
            out.push(t);
        }
    }
    out
}

/// `percent_expand` with `values` for the letters; unknown tokens are left.
/// Values are bytes, as sshd has them: a user name such as `DOMAIN\alice`
/// or `jürgen` in another encoding must reach a program, or a path,
/// exactly as sshd passed it; escaping is for logs and terminals only.
pub fn expand(arg: &str, values: &[(char, &OsStr)]) -> OsString {
    let mut out = Vec::with_capacity(arg.len());
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        match chars.next() {
            Some('%') => out.push(b'%'),
            Some(t) => match values.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.extend_from_slice(v.as_bytes()),
                None => {
                    out.push(b'%');
                    out.extend_from_slice(t.encode_utf8(&mut [0; 4]).as_bytes());
                }
            },
            None => out.push(b'%'),
        }
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_split_matches_sshd() {
        assert_eq!(
            argv_split("/usr/bin/keyward keys %u %f").unwrap(),
            ["/usr/bin/keyward", "keys", "%u", "%f"]
        );
        assert_eq!(
            argv_split("/x \"quoted arg\" 'a b'\tc\\ d").unwrap(),
            ["/x", "quoted arg", "a b", "c d"]
        );
        assert_eq!(
            argv_split("/x %u # trailing comment").unwrap(),
            ["/x", "%u", "#", "trailing", "comment"]
        );
        assert_eq!(argv_split("/x \\q").unwrap(), ["/x", "\\q"]);
        assert!(argv_split("/x \"open").is_err());
        assert!(argv_split("  ").is_err());
    }

    #[test]
    fn argv_split_of_older_releases() {
        let v82 = openssh::Sshd {
            version: openssh::Version::new(8, 2, 1),
            debian: false,
        };
        let split = |s| argv_split_as(s, &v82).unwrap();
        // A quote counts only at the start of a word, and closing it ends it.
        assert_eq!(split("/x \"a b\"c d"), ["/x", "a b", "c", "d"]);
        assert_eq!(split("/x a\"b c\""), ["/x", "a\"b", "c\""]);
        // No `\ ` escape before 8.7.
        assert_eq!(split("/x c\\ d"), ["/x", "c\\", "d"]);
        assert_eq!(split("/x \\\"q"), ["/x", "\"q"]);
        assert!(argv_split_as("/x \"open", &v82).is_err());
    }

    #[test]
    fn only_9_2_tokens_are_known() {
        let d = &openssh::DEFAULT;
        assert!(unknown_tokens("%u", d).is_empty());
        assert!(unknown_tokens("a%%b%f%k%t%h%U", d).is_empty());
        assert_eq!(unknown_tokens("%C", d), ["%C"]);
        assert_eq!(unknown_tokens("x%D%", d), ["%D", "%"]);
        let v105 = openssh::Sshd {
            version: openssh::Version::new(10, 5, 1),
            debian: false,
        };
        assert!(unknown_tokens("%C %D", &v105).is_empty());
    }

    #[test]
    fn expand_replaces_known_tokens() {
        let (u, f) = (OsStr::new("alice"), OsStr::new("SHA256:x"));
        assert_eq!(
            expand("%u:%f:%%:%C", &[('u', u), ('f', f)]),
            "alice:SHA256:x:%:%C"
        );
        // The bytes sshd gave, not an escaped or lossy form of them.
        let raw = OsStr::from_bytes(b"DOMAIN\\j\xfcrgen");
        assert_eq!(
            expand("%u/x", &[('u', raw)]).as_bytes(),
            b"DOMAIN\\j\xfcrgen/x"
        );
    }

    #[test]
    fn dump_is_read_keyword_by_keyword() {
        let s = parse_dump(
            "pubkeyauthentication yes\nstrictmodes no\n\
             authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n\
             authorizedkeyscommand /usr/bin/keyward keys %u %f\n\
             authorizedkeyscommanduser nobody\n",
        );
        assert!(s.pubkey_authentication && !s.strict_modes);
        assert_eq!(
            s.authorized_keys_files,
            [".ssh/authorized_keys", ".ssh/authorized_keys2"]
        );
        assert_eq!(s.command.as_deref(), Some("/usr/bin/keyward keys %u %f"));
        assert_eq!(s.command_user.as_deref(), Some("nobody"));
        assert_eq!(parse_dump("authorizedkeyscommand none\n").command, None);
        // 10.4 and later print the keywords as the manual spells them.
        let s = parse_dump(
            "PubkeyAuthentication yes\nAuthorizedKeysCommand /usr/bin/keyward keys %u %k\nAllowUsers a b\n",
        );
        assert!(s.pubkey_authentication);
        assert_eq!(s.command.as_deref(), Some("/usr/bin/keyward keys %u %k"));
        assert_eq!(s.list("allowusers"), ["a", "b"]);
    }
}
