//! The properties every fuzz target checks. `cargo fuzz` runs them on
//! generated inputs; `tests/fuzz_replay.rs` runs them on stable Rust over
//! the committed corpus and every past crash, so a fixed bug stays fixed.
//! Each function panics when a property fails.

// Each fuzz target uses one of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keyward::config::Config;
use keyward::lookup::keys::{Verdict, judge};
use keyward::lookup::offered::Offered;
use keyward::lookup::warned;
use keyward::openssh::authorized_keys::parse_line;
use keyward::openssh::fingerprint::Fingerprint;
use keyward::openssh::pubkey_auth::{self, CommandOutput, KeyFile, Revocation};
use keyward::openssh::sshd_config;
use keyward::store::index::{self, Hit};
use keyward::store::trusted::FileId;

use base64::Engine;

/// A fingerprint no line carries (no SHA-256 preimage is known for it).
const NOBODY: Fingerprint = Fingerprint::Sha256([0x5a; 32]);

/// The line parser and the key filter, on every line of `data`: no panic;
/// an accepted line is printed byte for byte and holds no NUL or LF;
/// the key's own fingerprint selects it, another key's never does (unless
/// it is a cert-authority line, which every fingerprint lookup serves);
/// the key itself (`%k`) selects it exactly when it is no cert-authority
/// line, and a certificate signed by that key exactly when it is one;
/// error text carries no control byte.
pub fn line(data: &[u8]) {
    for raw in data.split(|&b| b == b'\n') {
        match parse_line(raw) {
            Ok(Some(line)) => {
                assert!(!line.text.iter().any(|b| matches!(b, 0 | b'\n')));
                assert!(raw.windows(line.text.len()).any(|w| w == line.text));
                match judge(raw, None) {
                    Verdict::Served(l) => assert_eq!(l.text, line.text),
                    v => panic!("parsed but not served without a fingerprint: {v:?}"),
                }
                let own = Offered::Fingerprint(Fingerprint::of_sha256(&line.blob));
                match judge(raw, Some(&own)) {
                    Verdict::Served(l) => assert_eq!(l.text, line.text),
                    v => panic!("its own fingerprint does not select it: {v:?}"),
                }
                if let Verdict::Served(l) = judge(raw, Some(&Offered::Fingerprint(NOBODY))) {
                    assert!(l.options.cert_authority, "served for another key");
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(&line.blob);
                let key = Offered::parse(b64.as_bytes()).expect("a key sshd reads is a %k");
                let by_key = matches!(judge(raw, Some(&key)), Verdict::Served(_));
                assert_eq!(by_key, !line.options.cert_authority, "the key itself");
                let cert = b64.len() < 100_000 && {
                    let c =
                        base64::engine::general_purpose::STANDARD.encode(certificate(&line.blob));
                    let cert =
                        Offered::parse(c.as_bytes()).expect("a certificate by any key is a %k");
                    matches!(judge(raw, Some(&cert)), Verdict::Served(_))
                };
                assert_eq!(
                    cert, line.options.cert_authority,
                    "a certificate by the key"
                );
            }
            Ok(None) => assert!(matches!(judge(raw, None), Verdict::Ignored)),
            Err(e) => {
                assert!(matches!(judge(raw, None), Verdict::Invalid(_)));
                inert(&e.to_string());
            }
        }
    }
}

/// The config reader: no panic, and an error is one line.
pub fn config(data: &[u8]) {
    if let Err(e) = Config::parse(data, Path::new("/etc/keyward/keyward.toml")) {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

/// setup's sshd_config editing: keyward's block comes before every
/// directive, and removing it gives back the very same bytes.
pub fn sshd_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sshd_config::drop_in_dir(text);
    let _ = sshd_config::match_overrides(text);
    let clean = sshd_config::remove_block(text).unwrap_or_else(|| text.to_string());
    let new = sshd_config::insert_block(&clean, "/usr/bin/keyward keys %u %f %h %U", "keyward");
    assert_eq!(
        sshd_config::remove_block(&new).as_deref(),
        Some(clean.as_str())
    );
    let marker = new
        .lines()
        .position(|l| l == sshd_config::MARKER)
        .expect("no marker");
    let first_directive = new.lines().position(|l| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    });
    assert!(first_directive.is_some_and(|d| d > marker), "{new:?}");
}

/// Fingerprints as sshd's %f gives them: no panic, and what parses prints
/// back as the same fingerprint.
pub fn fingerprint(data: &[u8]) {
    if let Ok(fp) = Fingerprint::parse(data) {
        assert_eq!(Fingerprint::parse(fp.to_string().as_bytes()), Ok(fp));
    }
}

/// The index reader, on a store file and an index (the first two bytes say
/// how long the store file is): no panic; every hit that is served is one
/// whole line of the file; hits never claim more than the file holds.
pub fn index(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (store, idx) = rest.split_at(len);
    let files = [(
        PathBuf::from("/s/users/alice"),
        FileId {
            size: store.len() as u64,
            ..FileId::default()
        },
    )];
    for fp in [[0u8; 32], [0x5a; 32], first_key(idx)] {
        let Some(hits) = index::lookup(idx, &files, &fp) else {
            continue;
        };
        let claimed: u64 = hits.iter().map(|h| u64::from(h.len) + 1).sum();
        assert!(claimed <= store.len() as u64 + 1);
        for hit in &hits {
            if let Some(line) = index::line_in(store, hit) {
                assert!(is_whole_line(store, hit, line));
            }
        }
    }
}

/// The fingerprint of the index's first key record, if it has one, so
/// that lookups also find something.
fn first_key(idx: &[u8]) -> [u8; 32] {
    idx.len()
        .checked_sub(52)
        .and_then(|at| idx.get(at..at + 32))
        .and_then(|b| b.try_into().ok())
        .unwrap_or([1; 32])
}

fn is_whole_line(store: &[u8], hit: &Hit, line: &[u8]) -> bool {
    let mut at = 0u64;
    store.split(|&b| b == b'\n').any(|l| {
        let found = at == hit.offset && l == line;
        at += l.len() as u64 + 1;
        found
    })
}

fn inert(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

/// sshd's second argument (`%k` or `%f`), which comes from the client's
/// offer: no panic; a key it accepts selects exactly the line carrying it
/// (or, for a certificate, none of the plain key lines).
pub fn offered(data: &[u8]) {
    match Offered::parse(data) {
        Ok(Offered::Key(k)) => {
            // sshd's canonical blob: it reads back as itself, and the line
            // an admin writes for it (a CA line for a certificate) is the
            // one line selected.
            inert(&k.fingerprint.to_string());
            let b64 = k.base64().to_vec();
            let blob = base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .unwrap();
            let label = &blob[4..4 + u32::from_be_bytes(blob[..4].try_into().unwrap()) as usize];
            let again = Offered::parse(&b64).expect("the canonical blob reads");
            assert!(matches!(&again, Offered::Key(a) if a.base64() == b64.as_slice()));
            let key_line = [label, b" ", &b64].concat();
            let ca_line = [b"cert-authority ".as_slice(), &key_line].concat();
            let (want, other) = if k.certificate {
                (ca_line, key_line)
            } else {
                (key_line, ca_line)
            };
            let offered = Offered::Key(k);
            assert!(matches!(judge(&want, Some(&offered)), Verdict::Served(_)));
            assert!(!matches!(judge(&other, Some(&offered)), Verdict::Served(_)));
        }
        Ok(Offered::Fingerprint(fp)) => {
            assert_eq!(Fingerprint::parse(fp.to_string().as_bytes()), Ok(fp));
        }
        Err(e) => inert(&e.to_string()),
    }
}

/// `check --key`'s model on a user's authorized_keys file (and principals
/// file) holding `data`, for a plain key (first byte even) or a
/// certificate signed by that key (odd): no panic, and nothing it says
/// carries a control byte from the file, which anyone may have written.
pub fn refusal(data: &[u8]) {
    struct Home<'a>(&'a [u8]);
    impl pubkey_auth::World for Home<'_> {
        fn set_at(&self, _: &str) -> Option<String> {
            None
        }
        fn revoked(&self, _: &Path, _: &[u8]) -> Revocation {
            Revocation::Clean
        }
        fn key_file(&self, _: &Path) -> KeyFile {
            KeyFile::Lines(self.0.to_vec())
        }
        fn root_file(&self, _: &Path) -> Result<Vec<u8>, String> {
            Ok(self.0.to_vec())
        }
        fn command(&self) -> CommandOutput {
            CommandOutput::Lines(self.0.to_vec())
        }
        fn principals_command(&self) -> CommandOutput {
            CommandOutput::Lines(self.0.to_vec())
        }
        fn pam_account(&self) -> Vec<String> {
            Vec::new()
        }
        fn nologin(&self) -> bool {
            false
        }
    }
    let ed = base64::engine::general_purpose::STANDARD
        .decode("AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe")
        .unwrap();
    let sshd = keyward::openssh::DEFAULT;
    let Ok(keyward::openssh::public_key::Read::Key(key)) =
        keyward::openssh::public_key::read(&ed, &sshd)
    else {
        panic!("the test key reads");
    };
    let offered = if data.first().is_some_and(|b| b & 1 == 1) {
        let blob = certificate(&ed);
        let cert = keyward::openssh::public_key::read_certificate(&blob, &sshd).unwrap();
        pubkey_auth::Offered {
            key: cert.key.clone(),
            cert: Some(cert),
            blob,
        }
    } else {
        pubkey_auth::Offered {
            key,
            cert: None,
            blob: ed,
        }
    };
    let settings = keyward::openssh::sshd::parse_dump(
        "usepam no\npubkeyauthentication yes\nstrictmodes yes\nauthenticationmethods any\n\
         authorizedkeysfile .ssh/authorized_keys\nauthorizedkeyscommand /usr/bin/keyward keys %u %k\n\
         trustedusercakeys /etc/ssh/ca\nauthorizedprincipalsfile /etc/ssh/principals/%u\n\
         authorizedprincipalscommand /usr/bin/principals %u\n\
         pubkeyacceptedalgorithms *\ncasignaturealgorithms *\n",
    );
    let account = pubkey_auth::Account {
        uid: 1000,
        home: "/home/alice".into(),
        shell: "/bin/sh".into(),
        shell_state: pubkey_auth::ShellState::Executable,
        groups: vec!["alice".into()],
        locked: false,
        expired: false,
    };
    let login = pubkey_auth::Login {
        sshd,
        settings: &settings,
        user: "alice",
        account: Some(&account),
        from: "192.0.2.7".parse().unwrap(),
        key: &offered,
        now: 1_800_000_000,
    };
    let j = pubkey_auth::judge(&login, &Home(data));
    for p in &j.steps {
        inert(&p.text);
    }
    if let Some(r) = &j.refusal {
        for text in [&r.what, &r.cause, &r.log, &r.fix] {
            inert(text);
        }
    }
}

/// The home warnings' state record: no panic, and only what `record`
/// writes reads back, as the same time.
pub fn state(data: &[u8]) {
    if let Some(t) = warned::parse_record(data) {
        assert_eq!(warned::record(t).as_bytes(), data);
    }
}

/// A user certificate for an ed25519 key, signed by `ca` (a signature
/// sshd would have checked before passing it on).
fn certificate(ca: &[u8]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut c = Vec::new();
    string(&mut c, b"ssh-ed25519-cert-v01@openssh.com");
    string(&mut c, &[1; 32]);
    string(&mut c, &[2; 32]);
    c.extend_from_slice(&[0; 8]);
    c.extend_from_slice(&1u32.to_be_bytes());
    string(&mut c, b"fuzz");
    string(&mut c, b"");
    c.extend_from_slice(&[0; 8]);
    c.extend_from_slice(&[0xff; 8]);
    string(&mut c, b"");
    string(&mut c, b"");
    string(&mut c, b"");
    string(&mut c, ca);
    string(&mut c, b"");
    c
}
