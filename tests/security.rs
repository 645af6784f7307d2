//! The security review's findings (issue 10), each as a test that failed
//! before its fix: planted keys, attacker bytes in output, a lying index,
//! a foreign command's slot, many fragments, and setup's edge cases.

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)))
}

fn homes(t: &Tree) -> std::path::PathBuf {
    let h = t.root.join("homes");
    mkdir(&h, 0o755);
    h
}

/// No byte that steers a terminal or splits a log line.
fn assert_inert(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "{what} carries control bytes: {:?}",
        String::from_utf8_lossy(bytes)
    );
}

/// An ECDSA line whose curve name ssh-key quotes in its error: a forged
/// syslog line and a terminal escape.
fn blob_with_hostile_error() -> String {
    let mut blob = Vec::new();
    for field in [
        &b"ecdsa-sha2-nistp256"[..],
        b"x\nsshd[1]: Accepted publickey for root\x1b[2K",
        &[4; 65],
    ] {
        blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
        blob.extend_from_slice(field);
    }
    format!(
        "ecdsa-sha2-nistp256 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[test]
fn attacker_bytes_never_reach_a_log_line_or_a_terminal() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, key) = t.keygen("laptop");
    let (kind, b64) = key.split_once(' ').unwrap();
    let b64 = b64.split(' ').next().unwrap();
    let comment = "laptop\x1b[2K\rroot-ok \u{202e}evil";
    let hostile = format!(
        "command=\"echo \x1b[8mhidden\" {kind} {b64} {comment}\n{}\n",
        blob_with_hostile_error()
    );
    write(&t.user_file(&u.name), &hostile, 0o644);

    // The sshd path: every line is judged, the bad one logged.
    let o = t.keys_as_nobody(&[&u.name]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let msgs = t.syslog.drain();
    let skipped = expect_msg(&msgs, WARNING, &["line skipped"]);
    assert!(skipped.text.contains("\\x0asshd[1]"), "{}", skipped.text);
    for m in &msgs {
        assert_inert("a syslog message", m.text.as_bytes());
    }

    // Admin commands on a terminal-bound stdout and stderr.
    for args in [
        vec!["list", u.name.as_str()],
        vec!["audit"],
        vec!["remove", u.name.as_str(), "nothing-has-this-comment"],
    ] {
        let o = t.admin(&args);
        assert_inert(&format!("{args:?} stdout"), &o.stdout);
        assert_inert(&format!("{args:?} stderr"), &o.stderr);
        assert!(!stdout(&o).contains('\u{202e}'), "{args:?}: {}", stdout(&o));
    }
    let text = stdout(&t.admin(&["list", &u.name]));
    assert!(text.contains("laptop\\x1b[2K\\x0droot-ok"), "{text}");
    assert!(text.contains("echo \\x1b[8mhidden"), "{text}");
    let audit = stdout(&t.admin(&["audit"]));
    assert!(audit.contains("x\\x0asshd[1]: Accepted"), "{audit}");

    // JSON stays exact.
    let rows = json(&t.admin(&["list", "--json", &u.name]));
    assert_eq!(rows[0]["comment"], comment);
    assert_eq!(rows[0]["options"], "command=\"echo \x1b[8mhidden\"");

    // Removing by that comment prints it escaped, and does remove it.
    let o = t.admin(&["remove", &u.name, comment]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_inert("remove's output", &o.stdout);
    assert!(stdout(&o).contains("laptop\\x1b[2K"), "{}", stdout(&o));
}
