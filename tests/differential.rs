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

use std::collections::BTreeSet;
use std::io::Write;
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
