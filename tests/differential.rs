//! keyward's line grammar against OpenSSH's own, line by line.
//!
//! tests/oracle/build.sh compiles OpenSSH's parser (`sshkey_read`,
//! `sshkey_advance_past_options`, `sshauthopt_parse`, `addr_match_list`)
//! from each source it finds into target/oracle/<name>/authkeys-oracle. This
//! test generates a corpus (every key type, OpenSSH's regress vectors,
//! option grammar, encodings and mutations; fixed seed), feeds it to each
//! oracle and to `parse_line_as` for that release, and requires the same
//! verdict for every line: skipped, refused, or used with the same key
//! (fingerprint of the key as sshd writes it), the same cert-authority flag
//! and the same expiry time.
//!
//! The second test does the same for what sshd passes as `%k`: generated
//! certificates (signed by the oracle with real CA keys, since sshd checks
//! the signature before it runs the command) and plain keys, each with the
//! store lines that might carry it; the keyward binary, told the oracle's
//! release, must serve exactly the lines on which sshd finds the key.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyward::openssh::authorized_keys::parse_line_as;
use keyward::openssh::fingerprint::Fingerprint;
use keyward::openssh::{Sshd, Version};

struct Oracle {
    name: String,
    sshd: Sshd,
    program: PathBuf,
    source: PathBuf,
}

fn oracles() -> Vec<Oracle> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle");
    let mut found = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return found;
    };
    for dir in dirs.flatten() {
        let dir = dir.path();
        let (Ok(version), true) = (
            std::fs::read_to_string(dir.join("version")),
            dir.join("authkeys-oracle").exists(),
        ) else {
            continue;
        };
        let mut words = version.split_whitespace();
        let v = Version::parse(words.next().unwrap_or("")).expect("version file");
        let debian = words.next() == Some("1");
        let source = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("auth-options.c").exists())
            .expect("source tree beside the oracle");
        found.push(Oracle {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            sshd: Sshd { version: v, debian },
            program: dir.join("authkeys-oracle"),
            source,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// xorshift64*: a fixed seed gives the same corpus on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// The fields of a blob, as length-prefixed strings.
fn fields(blob: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = blob;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if rest.len() < 4 + len {
            break;
        }
        out.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    out
}

fn join(f: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in f {
        string(&mut out, x);
    }
    out
}

fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

/// Base keys: the fixtures, OpenSSH's regress vectors, and security keys
/// built from plain ones (no token needed to write a public key).
fn base_keys(sources: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut keys = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")];
    for s in sources {
        dirs.push(s.join("regress/unittests/sshkey/testdata"));
    }
    let mut seen = BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_none_or(|e| e != "pub") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let mut words = text.split_whitespace();
            let (Some(label), Some(field)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(blob) = STANDARD.decode(field) else {
                continue;
            };
            if seen.insert(blob.clone()) {
                keys.push((label.to_string(), blob));
            }
        }
    }
    let plain: Vec<(String, Vec<u8>)> = keys.clone();
    for (label, blob) in &plain {
        let f = fields(blob);
        if label == "ssh-ed25519" {
            keys.push((
                "sk-ssh-ed25519@openssh.com".into(),
                join(&[
                    b"sk-ssh-ed25519@openssh.com".to_vec(),
                    f[1].clone(),
                    b"ssh:".to_vec(),
                ]),
            ));
        }
        if label == "ecdsa-sha2-nistp256" {
            keys.push((
                "sk-ecdsa-sha2-nistp256@openssh.com".into(),
                join(&[
                    b"sk-ecdsa-sha2-nistp256@openssh.com".to_vec(),
                    f[1].clone(),
                    f[2].clone(),
                    b"ssh:".to_vec(),
                ]),
            ));
        }
    }
    keys
}

/// Encodings and damage a key blob can carry.
fn blob_variants(label: &str, blob: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let f = fields(blob);
    let mut out = vec![(label.to_string(), blob.to_vec())];
    let with = |i: usize, v: Vec<u8>| {
        let mut g = f.clone();
        g[i] = v;
        join(&g)
    };
    let ty = f[0].clone();
    let short: &[&[u8]] = match ty.as_slice() {
        b"ssh-ed25519" => &[b"ED25519", b"ed25519", b"Ed25519"],
        b"ssh-rsa" => &[b"RSA", b"rsa", b"rsa-sha2-256", b"rsa-sha2-512"],
        b"ssh-dss" => &[b"DSA", b"dsa"],
        b"sk-ssh-ed25519@openssh.com" => &[b"ED25519-SK", b"ed25519-sk"],
        b"sk-ecdsa-sha2-nistp256@openssh.com" => {
            &[b"ECDSA-SK", b"webauthn-sk-ecdsa-sha2-nistp256@openssh.com"]
        }
        t if t.starts_with(b"ecdsa-sha2-") => &[b"ECDSA", b"ecdsa"],
        _ => &[],
    };
    for s in short {
        out.push((label.to_string(), with(0, s.to_vec())));
    }
    out.push((label.to_string(), with(0, [&ty[..], b"\0"].concat())));
    out.push((label.to_string(), with(0, [&ty[..], b"\0x"].concat())));
    out.push((label.to_string(), [blob, &[0]].concat()));
    out.push((label.to_string(), blob[..blob.len() - 1].to_vec()));
    match ty.as_slice() {
        b"ssh-rsa" | b"ssh-dss" => {
            for (i, field) in f.iter().enumerate().skip(1) {
                out.push((label.to_string(), with(i, [&[0u8, 0][..], field].concat())));
                let mut neg = field.clone();
                while neg.first() == Some(&0) {
                    neg.remove(0);
                }
                neg[0] |= 0x80;
                out.push((label.to_string(), with(i, neg)));
            }
            let n = f.len() - 1;
            out.push((label.to_string(), with(n, vec![0x7f; 2049])));
            out.push((
                label.to_string(),
                with(n, [&[0u8][..], &[0xff; 2048]].concat()),
            ));
            out.push((
                label.to_string(),
                with(n, [&[0u8][..], &[0xff; 127]].concat()),
            ));
            out.push((
                label.to_string(),
                with(n, [&[0u8][..], &[0xff; 128]].concat()),
            ));
            out.push((label.to_string(), with(n, vec![1; 2050])));
            out.push((label.to_string(), with(1, Vec::new())));
        }
        b"ssh-ed25519" | b"sk-ssh-ed25519@openssh.com" => {
            out.push((label.to_string(), with(1, f[1][..31].to_vec())));
            out.push((label.to_string(), with(1, [&f[1][..], &[0]].concat())));
        }
        t if t.starts_with(b"ecdsa-sha2-") || t.starts_with(b"sk-ecdsa") => {
            let p = &f[2];
            let half = (p.len() - 1) / 2;
            let mut compressed = vec![2 + (p[p.len() - 1] & 1)];
            compressed.extend_from_slice(&p[1..1 + half]);
            out.push((label.to_string(), with(2, compressed)));
            let mut hybrid = p.clone();
            hybrid[0] = 6 + (p[p.len() - 1] & 1);
            out.push((label.to_string(), with(2, hybrid)));
            let mut off = p.clone();
            let last = off.len() - 1;
            off[last] ^= 1;
            out.push((label.to_string(), with(2, off)));
            out.push((label.to_string(), with(2, vec![4])));
            out.push((label.to_string(), with(2, vec![0])));
            let other = if t.ends_with(b"nistp384") {
                b"nistp256"
            } else {
                b"nistp384"
            };
            out.push((label.to_string(), with(1, other.to_vec())));
            let mut zero_x = p.clone();
            zero_x[1..1 + half].fill(0);
            out.push((label.to_string(), with(2, zero_x)));
        }
        _ => {}
    }
    if ty.starts_with(b"sk-") {
        let app = f.len() - 1;
        for a in [&b"ssh:\0"[..], b"ssh:\0x", b"", b"\xff\xfessh", b"ssh:\0\0"] {
            out.push((label.to_string(), with(app, a.to_vec())));
        }
    }
    // A random byte flipped.
    let mut flip = blob.to_vec();
    let i = rng.below(flip.len());
    flip[i] ^= 1 << rng.below(8);
    out.push((label.to_string(), flip));
    out
}

/// Option fields: valid and invalid forms of every option sshd knows.
fn option_atoms() -> Vec<String> {
    let mut v: Vec<String> = [
        "restrict",
        "no-restrict",
        "cert-authority",
        "CERT-AUTHORITY",
        "no-cert-authority",
        "port-forwarding",
        "no-port-forwarding",
        "agent-forwarding",
        "no-agent-forwarding",
        "x11-forwarding",
        "no-X11-forwarding",
        "pty",
        "no-pty",
        "No-Pty",
        "user-rc",
        "no-user-rc",
        "touch-required",
        "no-touch-required",
        "verify-required",
        "no-verify-required",
        "no-ptyx",
        "ptyx",
        "bogus",
        "",
        "command=\"echo hi\"",
        "command=\"a \\\"b\\\" c\"",
        "command=echo",
        "command=\"\"",
        "principals=\"alice,bob\"",
        "principals=\"\"",
        "from=\"10.0.0.0/8\"",
        "from=\"10.0.0.1/8\"",
        "from=\"10.0.0.0/33\"",
        "from=\"\"",
        "from=\"10.0.0.1,\"",
        "from=\"a,,b\"",
        "from=\"!\"",
        "from=\"!10.0.0.1,*.example.com\"",
        "from=\"::1/128\"",
        "from=\"fe80::/10\"",
        "from=\"fe80::1/10\"",
        "from=\"::/129\"",
        "from=\"10.0.0.0/+8\"",
        "from=\"10.0.0.1/+8\"",
        "from=\"10.0.0.0/ 8\"",
        "from=\"10.0.0.1/-0\"",
        "from=\"10.1/16\"",
        "from=\"10.1.0.1/16\"",
        "from=\"0x0a.0.0.0/8\"",
        "from=\"010.0.0.1/32\"",
        "from=\"10.0.0.0/8x\"",
        "from=\"10.0.0.0/\"",
        "from=\"*.example.com,192.168.0.0/16\"",
        "from=\"0.0.0.0/0\"",
        "from=\"1.2.3.4/0\"",
        "from=\"::ffff:10.0.0.1/128\"",
        "expiry-time=\"20991231\"",
        "expiry-time=\"209912312359\"",
        "expiry-time=\"20991231235959\"",
        "expiry-time=\"20991231Z\"",
        "expiry-time=\"20991231utc\"",
        "expiry-time=\"20991231UTC\"",
        "expiry-time=\"2099 1 1\"",
        "expiry-time=\"2099123 \"",
        "expiry-time=\"20990231\"",
        "expiry-time=\"20991301\"",
        "expiry-time=\"19700101Z\"",
        "expiry-time=\"19700101000001Z\"",
        "expiry-time=\"19600101Z\"",
        "expiry-time=\"20991231235960Z\"",
        "expiry-time=\"20991231235962Z\"",
        "expiry-time=\"2099\"",
        "expiry-time=\"20991231T\"",
        "expiry-time=\"20200101\"",
        "expiry-time=\"209912312400\"",
        "expiry-time=\"\tx991231\"",
        "expiry-time=\"+0991231Z\"",
        "environment=\"FOO=bar\"",
        "environment=\"FOO_1=a b\"",
        "environment=\"=x\"",
        "environment=\"1=x\"",
        "environment=\"NOEQ\"",
        "environment=\"A-B=x\"",
        "environment=\",=bah\"",
        "permitopen=\"localhost:22\"",
        "permitopen=\"localhost:ssh\"",
        "permitopen=\"localhost:+22\"",
        "permitopen=\"localhost: 22\"",
        "permitopen=\"localhost:22 \"",
        "permitopen=\"localhost:0\"",
        "permitopen=\"localhost:65536\"",
        "permitopen=\"localhost:*\"",
        "permitopen=\"[::1]:22\"",
        "permitopen=\"[::1]\"",
        "permitopen=\"[::1]x:22\"",
        "permitopen=\"[:\"",
        "permitopen=\"host\"",
        "permitopen=\"host:\"",
        "permitopen=\"foo:bar\"",
        "permitopen=\":22\"",
        "permitopen=\"h/22\"",
        "permitopen=\"h:22:33\"",
        "permitopen=\"localhost:-1\"",
        "permitopen=\"localhost:nosuchsvc\"",
        "permitlisten=\"8080\"",
        "permitlisten=\"localhost:8080\"",
        "permitlisten=\"*\"",
        "permitlisten=\"[::]:2222\"",
        "permitlisten=\"http\"",
        "permitlisten=\"0\"",
        "tunnel=\"1\"",
        "tunnel=\"any\"",
        "tunnel=\"ANY\"",
        "tunnel=\"+1\"",
        "tunnel=\" 1\"",
        "tunnel=\"-1\"",
        "tunnel=\"2147483645\"",
        "tunnel=\"2147483646\"",
        "tunnel=\"x\"",
        "tunnel=\"\"",
        "command=\"oops",
        "from=10.0.0.1",
        "pty=\"x\"",
        "restrict=\"\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let long = "h".repeat(1022);
    v.push(format!("permitopen=\"{long}:22\""));
    v.push(format!("permitopen=\"[{long}]:22\""));
    v.push(format!("permitopen=\"{}:22\"", "h".repeat(1024)));
    v.push(format!("permitopen=\"{}:22\"", "h".repeat(1025)));
    v
}

/// String literals of OpenSSH's own option tests (regress/unittests/authopt).
fn regress_options(sources: &[PathBuf]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for s in sources {
        let Ok(text) = std::fs::read_to_string(s.join("regress/unittests/authopt/tests.c")) else {
            continue;
        };
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '"' {
                continue;
            }
            let mut lit = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            lit.push(n);
                        }
                    }
                    '"' => break,
                    '\n' => break,
                    c => lit.push(c),
                }
            }
            if !lit.contains(' ') || lit.contains('"') {
                out.insert(lit);
            }
        }
    }
    out.into_iter().collect()
}

fn corpus(sources: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x6b65_7977_6172_6421);
    let keys = base_keys(sources);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let atoms = option_atoms();
    let regress = regress_options(sources);
    let ed = keys
        .iter()
        .find(|(l, _)| l == "ssh-ed25519")
        .expect("an ed25519 fixture")
        .clone();
    let plain_ed = format!("ssh-ed25519 {}", b64(&ed.1));
    // Every key, every encoding, every label it can carry.
    for (label, blob) in &keys {
        for (l, b) in blob_variants(label, blob, &mut rng) {
            let field = b64(&b);
            lines.push(format!("{l} {field} comment").into_bytes());
            lines.push(format!("cert-authority {l} {field}").into_bytes());
        }
        let field = b64(blob);
        for l in [
            "ssh-rsa",
            "rsa-sha2-256",
            "rsa-sha2-512",
            "ssh-ed25519",
            "SSH-ED25519",
            "ecdsa-sha2-nistp384",
            "ssh-dss",
            "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
            "sk-ssh-ed25519@openssh.com",
            "ssh-ed25519-cert-v01@openssh.com",
            "ssh-mldsa44-ed25519@openssh.com",
            "ssh-foo",
        ] {
            lines.push(format!("{l} {field}").into_bytes());
        }
    }
    // The line around one good key: blanks, comments, base64 spelling, NULs.
    let f = b64(&ed.1);
    let bare = f.trim_end_matches('=');
    for l in [
        String::new(),
        "   ".into(),
        "# comment".into(),
        "  #x".into(),
        "\t".into(),
        "\r".into(),
        plain_ed.clone(),
        format!("  {plain_ed}"),
        format!("\t{plain_ed}\tc"),
        format!("{plain_ed}\r"),
        format!("ssh-ed25519\t{f}"),
        format!("ssh-ed25519  {f}  c  d"),
        "ssh-ed25519".into(),
        "ssh-ed25519 ".into(),
        format!("ssh-ed25519{f}"),
        format!("ssh-ed25519 {bare}"),
        format!("ssh-ed25519 {f}="),
        format!("ssh-ed25519 {f}=="),
        format!("ssh-ed25519 {}\x0b{}", &f[..8], &f[8..]),
        format!("ssh-ed25519 {}\x0c{}", &f[..8], &f[8..]),
        format!("ssh-ed25519 {}\r{}", &f[..8], &f[8..]),
        format!("{plain_ed}\0junk"),
        format!("ssh-ed25519 {}\0{}", &f[..8], &f[8..]),
        format!("\0{plain_ed}"),
        format!("no-pty\0 {plain_ed}"),
        format!("{plain_ed} a\rb"),
        format!("command=\"a\rb\" {plain_ed}"),
        format!("no-pty\r {plain_ed}"),
        format!("no-pty {plain_ed} ssh-rsa x"),
        format!("no-pty  \t {plain_ed}"),
        format!("ssh-ed25519 ssh-ed25519 {f}"),
        "no-pty ssh-ed25519".into(),
        "no-pty ssh-ed25519 ".into(),
        format!("\"no-pty\" {plain_ed}"),
        format!("command=\"x\\\" {plain_ed}"),
        format!("command=\"a b\"c {plain_ed}"),
        format!("command=\"a\"\"b\" {plain_ed}"),
        format!("command=\"a\\\"\" {plain_ed}"),
        f.clone(),
    ] {
        lines.push(l.into_bytes());
    }
    // Each option alone, after a comma, and the regress vectors.
    for a in atoms.iter().chain(&regress) {
        lines.push(format!("{a} {plain_ed}").into_bytes());
        lines.push(format!(",{a} {plain_ed}").into_bytes());
        lines.push(format!("{a},no-pty {plain_ed}").into_bytes());
        lines.push(format!("cert-authority,{a} {plain_ed}").into_bytes());
    }
    // Random combinations with mutations.
    for _ in 0..3000 {
        let n = 1 + rng.below(4);
        let mut opts: Vec<String> = (0..n).map(|_| rng.pick(&atoms).clone()).collect();
        match rng.below(10) {
            0 => opts.insert(0, String::new()),
            1 => opts.push(String::new()),
            2 => {
                let i = rng.below(opts.len());
                opts[i] = opts[i].to_uppercase();
            }
            3 => {
                let i = rng.below(opts.len());
                let s = &mut opts[i];
                let at = rng.below(s.len() + 1);
                s.insert(at, *rng.pick(&['"', ' ', '\t', ',', '\\', '=']));
            }
            _ => {}
        }
        let (label, blob) = rng.pick(&keys).clone();
        let line = format!("{} {label} {} c", opts.join(","), b64(&blob));
        lines.push(line.into_bytes());
    }
    // Limits: 4,096 permits per kind, 1,024 environment names.
    for (open, listen) in [(4097, 0), (4098, 0), (4097, 4097), (3000, 3000), (0, 4098)] {
        let mut o: Vec<String> = (0..open)
            .map(|i| format!("permitopen=\"h:{}\"", 1 + i % 60000))
            .collect();
        o.extend((0..listen).map(|i| format!("permitlisten=\"{}\"", 1 + i % 60000)));
        lines.push(format!("{} {plain_ed}", o.join(",")).into_bytes());
    }
    for (names, repeat) in [(1025, 1), (1026, 1), (1027, 1), (600, 3)] {
        let o: Vec<String> = (0..names * repeat)
            .map(|i| format!("environment=\"N{}=v\"", i % names))
            .collect();
        lines.push(format!("{} {plain_ed}", o.join(",")).into_bytes());
    }
    lines
}

fn esc(b: &[u8]) -> String {
    let s: String = b.escape_ascii().to_string();
    if s.len() > 300 {
        format!("{}...({} bytes)", &s[..300], b.len())
    } else {
        s
    }
}

fn keyward_verdict(line: &[u8], sshd: &Sshd) -> String {
    match parse_line_as(line, sshd) {
        Ok(None) => "SKIP".into(),
        Err(e) => format!("NO {e}"),
        Ok(Some(k)) => format!(
            "OK {} {} ca={} expiry={}",
            k.kind.name(),
            Fingerprint::of_sha256(&k.blob),
            u8::from(k.options.cert_authority),
            k.options.valid_before.unwrap_or(0)
        ),
    }
}

#[test]
fn keyward_reads_lines_as_openssh_does() {
    let oracles = oracles();
    if oracles.is_empty() {
        eprintln!("skipped: no source (tests/oracle/build.sh found no OpenSSH source to build)");
        return;
    }
    let sources: Vec<PathBuf> = oracles.iter().map(|o| o.source.clone()).collect();
    let lines = corpus(&sources);
    let mut input = Vec::new();
    for l in &lines {
        assert!(!l.contains(&b'\n'));
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let mut failures = Vec::new();
    for o in &oracles {
        let mut child = Command::new(&o.program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the oracle");
        let mut stdin = child.stdin.take().unwrap();
        let feed = input.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&feed));
        let out = child.wait_with_output().expect("oracle output");
        writer.join().unwrap().expect("feed the oracle");
        assert!(out.status.success(), "{}: oracle failed", o.name);
        let verdicts: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(
            verdicts.len(),
            lines.len(),
            "{}: one verdict per line",
            o.name
        );
        let (mut ok, mut no, mut skip, mut differ) = (0, 0, 0, 0);
        for (line, theirs) in lines.iter().zip(&verdicts) {
            let ours = keyward_verdict(line, &o.sshd);
            let same = match (
                theirs.split_once(' ').map_or(*theirs, |p| p.0),
                ours.as_str(),
            ) {
                ("OK", _) => ours == *theirs,
                // Unused either way: a line sshd reads as blank or as junk.
                ("NO" | "SKIP", o) => o.starts_with("NO ") || o == "SKIP",
                _ => false,
            };
            match *theirs {
                t if t.starts_with("OK") => ok += 1,
                t if t.starts_with("NO") => no += 1,
                _ => skip += 1,
            }
            if !same {
                differ += 1;
                if differ <= 12 {
                    failures.push(format!(
                        "{}: {}\n    openssh: {theirs}\n    keyward: {ours}",
                        o.name,
                        esc(line)
                    ));
                }
            }
        }
        eprintln!(
            "{}: {} lines, {ok} used, {no} refused, {skip} skipped; {differ} disagreements",
            o.name,
            lines.len()
        );
    }
    assert!(
        failures.is_empty(),
        "keyward and OpenSSH disagree:\n{}",
        failures.join("\n")
    );
}

/// An oracle in its `offered` mode, asked one command at a time.
struct Asker {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Asker {
    fn new(o: &Oracle) -> Asker {
        let mut child = Command::new(&o.program)
            .arg("offered")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the oracle");
        let out = BufReader::new(child.stdout.take().unwrap());
        Asker { child, out }
    }

    fn ask(&mut self, command: &[u8]) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(command).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.out.read_line(&mut answer).unwrap();
        answer.trim_end().to_string()
    }
}

impl Drop for Asker {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A certificate body up to the signature (`PROTOCOL.certkeys`), from
/// parts that each may be encoded as sshd also reads them, or damaged.
fn cert_body(rng: &mut Rng, name: &[u8], key_fields: &[Vec<u8>], ca: &[u8]) -> Vec<u8> {
    let now = 1_780_000_000u64;
    let times = [
        0,
        1,
        now,
        now + 3600,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    let mut c = Vec::new();
    string(&mut c, name);
    string(&mut c, &[rng.below(256) as u8; 32]); // nonce
    for f in key_fields {
        string(&mut c, f);
    }
    c.extend_from_slice(&rng.next().to_be_bytes()); // serial
    let kind = if rng.below(15) == 0 {
        3
    } else {
        *rng.pick(&[1u32, 1, 2])
    };
    c.extend_from_slice(&kind.to_be_bytes());
    string(
        &mut c,
        // An inner NUL (refused) now and then.
        rng.pick::<&[u8]>(&[
            b"id",
            b"caf\xe9",
            b"",
            b"id\0",
            b"\xff\xfe",
            b"id",
            b"id",
            b"i\0d",
        ]),
    );
    let principal_sets: [&[&[u8]]; 10] = [
        &[],
        &[b"alice"],
        &[b"alice"],
        &[b"alice", b"b\xffb"],
        &[b"alice", b"alice"],
        &[b"x\0"],
        &[b"kwtdiff"],
        &[b"b", b"a"],
        &[b""],
        &[b"a\0b"],
    ];
    let mut principals = Vec::new();
    if rng.below(40) == 0 {
        for _ in 0..257 {
            string(&mut principals, b"p");
        }
    } else {
        for p in *rng.pick(&principal_sets) {
            string(&mut principals, p);
        }
    }
    string(&mut c, &principals);
    c.extend_from_slice(&rng.pick(&times).to_be_bytes());
    c.extend_from_slice(&rng.pick(&times).to_be_bytes());
    // Critical options and extensions: duplicates, any order, values that
    // are not a string inside a string, names that are not UTF-8, and now
    // and then an odd number of strings.
    let pairs: [(&[u8], &[u8]); 6] = [
        (b"permit-pty", b""),
        (b"permit-X11-forwarding", b""),
        (b"force-command", b"\0\0\0\x09/bin/true"),
        (b"source-address", b"raw"),
        (b"verify-required", b""),
        (b"x\xff", b"\xfe"),
    ];
    for _ in 0..2 {
        let mut section = Vec::new();
        for _ in 0..rng.below(4) {
            let (k, v) = *rng.pick(&pairs);
            string(&mut section, k);
            string(&mut section, v);
        }
        if rng.below(30) == 0 {
            string(&mut section, b"odd");
        }
        string(&mut c, &section);
    }
    string(&mut c, rng.pick::<&[u8]>(&[b"", b"reserved"]));
    string(&mut c, ca);
    c
}

#[test]
fn keyward_selects_for_offered_keys_as_openssh_does() {
    let oracles = oracles();
    if oracles.is_empty() {
        eprintln!("skipped: no source (tests/oracle/build.sh found no OpenSSH source to build)");
        return;
    }
    let t = common::Tree::new();
    let mut rng = Rng(0x6f66_6665_7265_6421);
    // CA keys the oracles sign with, and keys to certify, from ssh-keygen.
    let mut cas = Vec::new();
    let mut subjects = Vec::new();
    for (kind, bits) in [
        ("ed25519", ""),
        ("rsa", "2048"),
        ("ecdsa", "256"),
        ("ecdsa", "384"),
        ("ecdsa", "521"),
        ("dsa", ""),
    ] {
        for role in ["ca", "user"] {
            let path = t.root.join(format!("{role}-{kind}{bits}"));
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-N", "", "-t", kind, "-f"]).arg(&path);
            if !bits.is_empty() {
                cmd.args(["-b", bits]);
            }
            if !cmd.status().unwrap().success() {
                continue; // this ssh-keygen no longer makes that type
            }
            let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
            let blob = STANDARD.decode(public.split(' ').nth(1).unwrap()).unwrap();
            let label = public.split(' ').next().unwrap().to_string();
            if role == "ca" {
                cas.push((path, label, blob));
            } else {
                subjects.push((label, blob));
            }
        }
    }
    // Security keys to certify too (no token needed for a public key).
    let ed = fields(&subjects[0].1);
    let ec = fields(
        &subjects
            .iter()
            .find(|s| s.0 == "ecdsa-sha2-nistp256")
            .unwrap()
            .1,
    );
    subjects.push((
        "sk-ssh-ed25519@openssh.com".into(),
        join(&[
            b"sk-ssh-ed25519@openssh.com".to_vec(),
            ed[1].clone(),
            b"ssh:".to_vec(),
        ]),
    ));
    subjects.push((
        "sk-ecdsa-sha2-nistp256@openssh.com".into(),
        join(&[
            b"sk-ecdsa-sha2-nistp256@openssh.com".to_vec(),
            ec[1].clone(),
            ec[2].clone(),
            b"ssh:".to_vec(),
        ]),
    ));

    // (what sshd would be passed as %k, the store lines to offer it to)
    let mut cases: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    let mut signer: Vec<Asker> = oracles.iter().map(Asker::new).collect();
    for (ca_path, ca_label, ca_blob) in &cas {
        let ca_variants = blob_variants(ca_label, ca_blob, &mut rng);
        let other_ca = &cas[(cas.iter().position(|c| &c.1 == ca_label).unwrap() + 1) % cas.len()];
        for (subject_label, subject) in &subjects {
            for _ in 0..16 {
                // Mostly as ssh-keygen writes it; else another encoding.
                let subject_variants = blob_variants(subject_label, subject, &mut rng);
                let n = if rng.below(2) == 0 {
                    1
                } else {
                    subject_variants.len().min(8)
                };
                let (_, key_blob) = rng.pick(&subject_variants[..n]);
                let f = fields(key_blob);
                let base = subject_label
                    .strip_suffix("@openssh.com")
                    .unwrap_or(subject_label);
                let mut name = format!("{base}-cert-v01@openssh.com").into_bytes();
                if subject_label == "ssh-rsa" && rng.below(3) == 0 {
                    name = rng
                        .pick(&[
                            &b"rsa-sha2-256-cert-v01@openssh.com"[..],
                            b"rsa-sha2-512-cert-v01@openssh.com",
                        ])
                        .to_vec();
                }
                if rng.below(8) == 0 {
                    name.push(0);
                }
                let n = if rng.below(2) == 0 {
                    1
                } else {
                    ca_variants.len().min(8)
                };
                let (_, ca_field) = rng.pick(&ca_variants[..n]);
                let body = cert_body(&mut rng, &name, &f[1..], ca_field);
                let alg = if ca_label == "ssh-rsa" {
                    *rng.pick(&["-", "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"])
                } else {
                    "-"
                };
                let mut command = format!("SIGN {} {alg} ", ca_path.display()).into_bytes();
                command.extend_from_slice(b64(&body).as_bytes());
                // The first oracle whose release still signs with this CA type.
                let Some(cert) = signer
                    .iter_mut()
                    .map(|a| a.ask(&command))
                    .find(|answer| !answer.starts_with("ERR"))
                else {
                    continue;
                };
                let mut cert = STANDARD.decode(&cert).unwrap();
                match rng.below(25) {
                    0 => cert.push(0), // data after the signature
                    1 => {
                        let last = cert.len() - 1;
                        cert[last] ^= 1; // a broken signature
                    }
                    _ => {}
                }
                let mut lines = Vec::new();
                for (l, b) in ca_variants.iter().take(12) {
                    lines.push(format!("cert-authority {l} {}", b64(b)).into_bytes());
                }
                let ca_b64 = b64(ca_blob);
                let (head, tail) = ca_b64.split_at(17);
                for line in [
                    format!("{ca_label} {ca_b64}"),
                    format!("CERT-AUTHORITY {ca_label} {ca_b64}"),
                    format!("cert-authority,principals=\"alice\" {ca_label} {ca_b64}"),
                    format!("from=\"127.0.0.1\",cert-authority {ca_label} {ca_b64}"),
                    format!("environment=\"A=cert-authority\" {ca_label} {ca_b64}"),
                    format!("cert-authority {ca_label} {head}\x0b{tail}"),
                    format!("cert-authority {ca_label} {head}\x0c{tail}"),
                    format!("cert-authority {} {}", other_ca.1, b64(&other_ca.2)),
                    format!("{subject_label} {}", b64(subject)),
                    format!("cert-authority {subject_label} {}", b64(subject)),
                ] {
                    lines.push(line.into_bytes());
                }
                cases.push((b64(&cert), lines));
            }
        }
    }
    drop(signer);
    // Plain keys: sshd passes the key as it writes it; lines spell it in
    // every encoding, with and without cert-authority.
    for (label, blob) in &subjects {
        let mut lines = Vec::new();
        for (l, b) in blob_variants(label, blob, &mut rng) {
            lines.push(format!("{l} {}", b64(&b)).into_bytes());
            lines.push(format!("cert-authority {l} {}", b64(&b)).into_bytes());
            lines.push(format!("environment=\"N=cert-authority\" {l} {}", b64(&b)).into_bytes());
        }
        cases.push((b64(blob), lines));
    }

    let user = "kwtdiff";
    let mut failures = Vec::new();
    for o in &oracles {
        t.write_config(&format!(
            "[sshd]\nversion = \"{}\"\ndebian = {}\n",
            o.sshd.version, o.sshd.debian
        ));
        let mut asker = Asker::new(o);
        let (mut offered, mut matched, mut differ) = (0, 0, 0);
        let mut refused = std::collections::BTreeMap::<String, usize>::new();
        for (key, lines) in &cases {
            let verdict = asker.ask(format!("OFFER {key}").as_bytes());
            let theirs: BTreeSet<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| asker.ask(&[&b"LINE "[..], l].concat()) == "MATCH")
                .map(|(i, _)| i)
                .collect();
            if verdict != "OK" {
                // sshd never passes a key it cannot read.
                *refused.entry(verdict).or_default() += 1;
                continue;
            }
            offered += 1;
            matched += theirs.len();
            // Each line numbered by its comment, so the output names it.
            let mut store = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                store.extend_from_slice(l);
                store.extend_from_slice(format!(" c{i}\n").as_bytes());
            }
            common::write(&t.user_file(user), &store, 0o644);
            let out = t.keys_as_root(&[user, key]);
            let ours: BTreeSet<usize> = out
                .stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| {
                    let tail = l.rsplit(|&b| b == b' ').next()?;
                    std::str::from_utf8(tail.strip_prefix(b"c")?)
                        .ok()?
                        .parse()
                        .ok()
                })
                .collect();
            if out.status.code() != Some(0) || ours != theirs {
                differ += 1;
                if failures.len() < 12 {
                    failures.push(format!(
                        "{}: %k {}\n    exit {:?}, stderr {}\n    openssh matches {:?}\n    keyward serves {:?}\n    lines: {}",
                        o.name,
                        esc(key.as_bytes()),
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr).trim(),
                        theirs,
                        ours,
                        theirs
                            .symmetric_difference(&ours)
                            .map(|&i| format!("\n      {i}: {}", esc(&lines[i])))
                            .collect::<String>()
                    ));
                }
            }
        }
        eprintln!(
            "{}: {} keys and certificates: {offered} read, {} refused by sshd {refused:?}; {matched} matching lines; {differ} disagreements",
            o.name,
            cases.len(),
            refused.values().sum::<usize>()
        );
    }
    assert!(
        failures.is_empty(),
        "keyward and OpenSSH disagree on %k:\n{}",
        failures.join("\n")
    );
}
