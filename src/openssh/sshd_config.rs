//! Editing sshd_config as text, for `keyward setup`: where sshd reads
//! drop-ins, where keyward's lines go when it does not, and how to take them
//! out again. sshd takes the first value of a keyword and a `Match` block
//! runs to the next `Match` or the end of the file, so keyward's lines must
//! come before every other directive that could set them, and never after a
//! `Match` (DSM's stock file ends in `Match User ...` blocks).

use std::path::{Path, PathBuf};

/// First line of everything `keyward setup` writes; how `--undo` knows it.
pub const MARKER: &str = "# keyward: written by `keyward setup`; `keyward setup --undo` removes it";
/// Closes the block `setup` inserts into a main sshd_config.
pub const END_MARKER: &str = "# keyward: end";
/// The drop-in's name; `40-` leaves room before it for what must win.
pub const DROP_IN: &str = "40-keyward.conf";

/// The lines that register keyward, without the markers.
pub fn directives(command: &str, user: &str) -> String {
    format!("AuthorizedKeysCommand {command}\nAuthorizedKeysCommandUser {user}\n")
}

/// A drop-in file's whole content.
pub fn drop_in(command: &str, user: &str) -> String {
    format!("{MARKER}\n{}", directives(command, user))
}

fn keyword(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    t.split([' ', '\t', '=']).next()
}

/// The directory of `*.conf` drop-ins an `Include` in the global section
/// pulls in, if any. Relative Include paths are relative to /etc/ssh, as
/// sshd resolves them (SSHDIR), whatever file they appear in.
pub fn drop_in_dir(text: &str) -> Option<PathBuf> {
    for line in text.lines() {
        match keyword(line) {
            Some(k) if k.eq_ignore_ascii_case("match") => return None,
            Some(k) if k.eq_ignore_ascii_case("include") => {
                for arg in line.split_whitespace().skip(1) {
                    if let Some(dir) = arg.strip_suffix("/*.conf") {
                        let dir = Path::new(dir);
                        return Some(if dir.is_absolute() {
                            dir.to_path_buf()
                        } else {
                            Path::new("/etc/ssh").join(dir)
                        });
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// Where `config` and the files it includes set `keyword` (case does not
/// matter), in the order sshd reads them: `file:line`, with the `Match`
/// line when inside one. Include globs expand as sshd's glob(3) does,
/// sorted, relative to /etc/ssh.
pub fn locate(config: &Path, keyword: &str) -> Vec<String> {
    let mut out = Vec::new();
    locate_in(config, keyword, None, 0, &mut out);
    out
}

fn locate_in(
    file: &Path,
    wanted: &str,
    mut block: Option<String>,
    depth: u8,
    out: &mut Vec<String>,
) {
    // sshd's own limit on nested Includes.
    if depth > 16 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for (i, line) in text.lines().enumerate() {
        let Some(k) = keyword(line) else { continue };
        if k.eq_ignore_ascii_case("match") {
            block = Some(line.trim().to_string());
        } else if k.eq_ignore_ascii_case("include") {
            for arg in line.trim_start()[k.len()..]
                .split([' ', '\t', '='])
                .filter(|a| !a.is_empty())
            {
                for f in include_files(arg) {
                    locate_in(&f, wanted, block.clone(), depth + 1, out);
                }
            }
        } else if k.eq_ignore_ascii_case(wanted) {
            let at = format!("{}:{}", file.display(), i + 1);
            out.push(match &block {
                Some(m) => format!("{at}, in \"{m}\""),
                None => at,
            });
        }
    }
}

/// The files an `Include` argument names.
fn include_files(arg: &str) -> Vec<PathBuf> {
    let path = if Path::new(arg).is_absolute() {
        PathBuf::from(arg)
    } else {
        Path::new("/etc/ssh").join(arg)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return vec![path];
    }
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            !n.to_string_lossy().starts_with('.')
                && crate::openssh::c_library::shell_match(name.as_bytes(), n.as_encoded_bytes())
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Directives inside `Match` blocks that set AuthorizedKeysCommand or its
/// user: the connections such a block matches run something else than the
/// global command. Each as (line number, the Match line, the directive).
pub fn match_overrides(text: &str) -> Vec<(usize, String, String)> {
    let mut block: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match keyword(line) {
            Some(k) if k.eq_ignore_ascii_case("match") => block = Some(line.trim()),
            Some(k)
                if k.eq_ignore_ascii_case("authorizedkeyscommand")
                    || k.eq_ignore_ascii_case("authorizedkeyscommanduser") =>
            {
                if let Some(m) = block {
                    out.push((i + 1, m.to_string(), line.trim().to_string()));
                }
            }
            _ => {}
        }
    }
    out
}

/// `text` with keyward's block inserted after the leading comments, that
/// is before every directive (and so before the first `Match`).
pub fn insert_block(text: &str, command: &str, user: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut at = lines
        .iter()
        .position(|l| keyword(l).is_some())
        .unwrap_or(lines.len());
    // A file of comments whose last line has no newline: the block goes
    // before that line, so that undo gives back the very same bytes.
    if at == lines.len() && lines.last().is_some_and(|l| !l.ends_with('\n')) {
        at -= 1;
    }
    let mut out = String::with_capacity(text.len() + 256);
    for l in &lines[..at] {
        out.push_str(l);
    }
    out.push_str(MARKER);
    out.push('\n');
    out.push_str(&directives(command, user));
    out.push_str(END_MARKER);
    out.push('\n');
    for l in &lines[at..] {
        out.push_str(l);
    }
    out
}

/// `text` without keyward's block; `None` when it has none (or a damaged
/// one, which is left for a person to look at). The block is exactly what
/// `insert_block` writes, four lines from marker to end marker, so a stray
/// marker line elsewhere never widens what is removed.
pub fn remove_block(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = (0..lines.len()).find(|&i| {
        lines[i].trim_end() == MARKER
            && lines.get(i + 3).is_some_and(|l| l.trim_end() == END_MARKER)
    })?;
    let end = start + 3;
    let mut out = String::with_capacity(text.len());
    for l in lines[..start].iter().chain(&lines[end + 1..]) {
        out.push_str(l);
    }
    Some(out)
}

/// The lines of keyward's block in `text`, if it has one.
pub fn block(text: &str) -> Option<&str> {
    let start = text.find(MARKER)?;
    let end = start + text[start..].find(END_MARKER)?;
    Some(&text[start..end])
}

/// A unified diff (`diff -u`, three lines of context) of what setup would
/// change, for `--dry-run`.
pub fn diff(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSM: &str = "# $OpenBSD: sshd_config,v 1.103 $\n\n#Port 22\nUsePAM yes\n\
        Subsystem sftp internal-sftp -f DAEMON -u 000\n\
        Match User root\n    AllowTcpForwarding yes\nMatch User anonymous\n    AllowTcpForwarding no\n";

    #[test]
    fn block_goes_before_every_directive_and_comes_out_byte_exact() {
        let new = insert_block(DSM, "/usr/bin/keyward keys %u %f", "nobody");
        let block_at = new.find(MARKER).unwrap();
        assert!(block_at < new.find("UsePAM").unwrap());
        assert!(new.find("AuthorizedKeysCommand ").unwrap() < new.find("Match").unwrap());
        assert!(new.starts_with("# $OpenBSD"));
        assert_eq!(remove_block(&new).unwrap(), DSM);
        assert_eq!(remove_block(DSM), None);
        for text in [
            "",
            "# only comments, no newline",
            "# a\n# b",
            "Port 22",
            "# a\nPort 22",
        ] {
            let new = insert_block(text, "/usr/bin/keyward keys %u", "nobody");
            assert_eq!(remove_block(&new).unwrap(), text, "{text:?}");
            assert!(new.contains(&format!("{MARKER}\n")), "{new:?}");
        }
        assert!(
            block(&new)
                .unwrap()
                .contains("AuthorizedKeysCommandUser nobody")
        );
    }

    #[test]
    fn match_blocks_that_set_their_own_command_are_found() {
        let text = "AuthorizedKeysCommand /a %u\nMatch User bob\n  X11Forwarding no\n\
                    \tauthorizedkeyscommand /b %u\nMatch all\nAuthorizedKeysCommandUser=x\n";
        assert_eq!(
            match_overrides(text),
            vec![
                (
                    4,
                    "Match User bob".into(),
                    "authorizedkeyscommand /b %u".into()
                ),
                (6, "Match all".into(), "AuthorizedKeysCommandUser=x".into()),
            ]
        );
        assert!(match_overrides(DSM).is_empty());
    }

    #[test]
    fn drop_in_dir_only_from_the_global_section() {
        assert_eq!(
            drop_in_dir("# x\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 22\n"),
            Some(PathBuf::from("/etc/ssh/sshd_config.d"))
        );
        assert_eq!(
            drop_in_dir("include sshd_config.d/*.conf\n"),
            Some(PathBuf::from("/etc/ssh/sshd_config.d"))
        );
        assert_eq!(drop_in_dir(DSM), None);
        assert_eq!(
            drop_in_dir("Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n"),
            None
        );
        assert_eq!(drop_in_dir("Include /etc/ssh/extra.conf\n"), None);
    }

    #[test]
    fn shipped_example_drop_in_is_what_setup_writes() {
        assert_eq!(
            include_str!("../../conf/sshd_config.d/40-keyward.conf"),
            drop_in("/usr/bin/keyward keys %u %k %h %U", "keyward")
        );
    }

    /// The hunks are GNU diff's own (the headers carry no timestamps).
    #[test]
    fn diff_is_what_diff_u_prints() {
        let dir = std::env::temp_dir().join(format!("keyward-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (old, new) in [
            ("a\nb\nc\nd\n", "a\nb\nX\nY\nc\nd\n"),
            ("", "X\n"),
            ("X\n", ""),
            (
                DSM,
                &insert_block(DSM, "/usr/bin/keyward keys %u %k", "nobody"),
            ),
            ("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nx\n4\n5\n6\n7\n8\ny\n"),
        ] {
            let (a, b) = (dir.join("a"), dir.join("b"));
            std::fs::write(&a, old).unwrap();
            std::fs::write(&b, new).unwrap();
            let out = std::process::Command::new("diff")
                .arg("-u")
                .arg(&a)
                .arg(&b)
                .output()
                .unwrap();
            let gnu = String::from_utf8(out.stdout).unwrap();
            let hunks = |d: &str| d.lines().skip(2).collect::<Vec<_>>().join("\n");
            let ours = diff("a", "b", old, new);
            assert!(ours.starts_with("--- a\n+++ b\n"), "{ours}");
            assert_eq!(hunks(&ours), hunks(&gnu), "{old:?} -> {new:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
