//! What the installed sshd will do, asked of sshd itself (`sshd -T`), and
//! how it turns its AuthorizedKeysCommand line into argv (9.2's `argv_split`
//! and `percent_expand`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

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
                "cannot ask sshd about user {u:?}: sshd -C cannot carry ',', '=' or blanks in a name"
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
/// blocks for the user apply as they would on a local login.
pub fn effective(sshd: &Path, config: Option<&Path>, user: &str) -> Result<Settings, SshdError> {
    if user.is_empty() || user.contains([',', '=', ' ', '\t']) {
        return Err(SshdError::BadSpec(user.to_string()));
    }
    let spec = format!("user={user},host=localhost,addr=127.0.0.1");
    run(sshd, config, &["-T", "-C", &spec]).map(|out| parse_dump(&out))
}

/// `sshd -T` without a connection spec: the global values, no Match block.
pub fn global(sshd: &Path, config: Option<&Path>) -> Result<Settings, SshdError> {
    run(sshd, config, &["-T"]).map(|out| parse_dump(&out))
}

/// `sshd -t`: does sshd accept the configuration at all?
pub fn test(sshd: &Path, config: Option<&Path>) -> Result<(), SshdError> {
    run(sshd, config, &["-t"]).map(drop)
}

fn run(sshd: &Path, config: Option<&Path>, args: &[&str]) -> Result<String, SshdError> {
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
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `servconf.c:dump_config` output: `keyword value`, keyword in lower case.
pub fn parse_dump(text: &str) -> Settings {
    let mut s = Settings::default();
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let none = |v: &str| (v != "none").then(|| v.to_string());
        match key {
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

/// `misc.c:argv_split(s, .., terminate_on_comment = 0)`: blanks separate,
/// `'` and `"` quote, `\` escapes only `'`, `"`, `\` and (unquoted) a space.
/// A `#` is an ordinary character: sshd passes a trailing comment as argv.
pub fn argv_split(s: &str) -> Result<Vec<String>, &'static str> {
    let b = s.as_bytes();
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
                    Some(b' ') if quote == 0 => {
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
        argv.push(String::from_utf8_lossy(&arg).into_owned());
    }
    if argv.is_empty() {
        return Err("yielded no arguments");
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

/// The `%` tokens sshd 9.2 expands in AuthorizedKeysCommand arguments.
pub const COMMAND_TOKENS: &[char] = &['%', 'U', 'u', 'h', 't', 'f', 'k'];

/// Tokens 9.2 does not know (`%C`, `%D`, ...): sshd drops the whole
/// connection on them. A lone `%` at the end counts too.
pub fn unknown_tokens(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(t) if COMMAND_TOKENS.contains(&t) => {}
                Some(t) => out.push(format!("%{t}")),
                None => out.push("%".into()),
            }
        }
    }
    out
}

/// `percent_expand` with `values` for the letters; unknown tokens are left.
pub fn expand(arg: &str, values: &[(char, &str)]) -> String {
    let mut out = String::new();
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match values.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
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
    fn only_9_2_tokens_are_known() {
        assert!(unknown_tokens("%u").is_empty());
        assert!(unknown_tokens("a%%b%f%k%t%h%U").is_empty());
        assert_eq!(unknown_tokens("%C"), ["%C"]);
        assert_eq!(unknown_tokens("x%D%"), ["%D", "%"]);
    }

    #[test]
    fn expand_replaces_known_tokens() {
        assert_eq!(
            expand("%u:%f:%%:%C", &[('u', "alice"), ('f', "SHA256:x")]),
            "alice:SHA256:x:%:%C"
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
    }
}
