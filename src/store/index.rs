//! A fingerprint index for users with many keys: `<store>/index/<user>`.
//!
//! With sshd's `%f`, a lookup without an index hashes the key of every line
//! (SHA-256 over ~100,000 keys is most of 100 ms on a small CPU). The index
//! lists, sorted by SHA-256 fingerprint, where each line's key is, plus every
//! line that may be `cert-authority`. It records the identity of every store
//! file it was built from (inode, size, mtime, ctime); if any differs, the
//! index is ignored and the files are read in full, so a hand edit can never
//! make keyward serve stale keys. Lines found through the index are read
//! from the store files and parsed like any other, so an index can hide a key
//! but never add one.
//!
//! Writers (`add`, `remove`, `import`, `index`) keep it current; it is only
//! written for users whose files total at least `MIN_BYTES`.

use std::os::fd::AsFd;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::openssh::authorized_keys::{self, Candidate};
use crate::store::Source;
use crate::store::trusted::{FileId, Trusted};

/// Below this, reading the files is as fast as reading an index.
pub const MIN_BYTES: u64 = 256 * 1024;
/// The index directory in the store root.
pub const DIR: &str = "index";
/// 52 bytes per line of at least ~80: an index never outgrows its store.
pub const MAX_BYTES: u64 = crate::store::MAX_USER_BYTES;

const MAGIC: &[u8; 8] = b"KWIDX01\n";
const RECORD: usize = 32 + 4 + 4 + 8 + 4;

/// Where one candidate line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub file: u32,
    pub offset: u64,
    pub len: u32,
    /// 1-based, for log messages.
    pub line: u32,
}

/// The index for `sources`, as bytes.
pub fn build(sources: &[Source]) -> Vec<u8> {
    let mut keys: Vec<([u8; 32], Hit)> = Vec::new();
    let mut cas: Vec<Hit> = Vec::new();
    for (file, source) in sources.iter().enumerate() {
        let mut offset = 0u64;
        for (i, raw) in source.data.split(|&b| b == b'\n').enumerate() {
            let hit = Hit {
                file: file as u32,
                offset,
                len: raw.len() as u32,
                line: (i + 1) as u32,
            };
            offset += raw.len() as u64 + 1;
            match authorized_keys::candidate(raw) {
                Some(Candidate::CertAuthority) => cas.push(hit),
                Some(Candidate::Key(blob)) => keys.push((Sha256::digest(&blob).into(), hit)),
                None => {}
            }
        }
    }
    keys.sort();
    let mut out = Vec::with_capacity(64 + (keys.len() + cas.len()) * RECORD);
    out.extend_from_slice(MAGIC);
    put32(&mut out, sources.len() as u32);
    for source in sources {
        let id = &source.id;
        let name = source
            .path
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        put32(&mut out, name.len() as u32);
        out.extend_from_slice(name);
        for v in [id.dev, id.ino, id.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [id.mtime.0, id.mtime.1, id.ctime.0, id.ctime.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    put32(&mut out, cas.len() as u32);
    for hit in &cas {
        put_record(&mut out, &[0; 32], hit);
    }
    put32(&mut out, keys.len() as u32);
    for (fp, hit) in &keys {
        put_record(&mut out, fp, hit);
    }
    out
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_record(out: &mut Vec<u8>, fp: &[u8; 32], hit: &Hit) {
    out.extend_from_slice(fp);
    put32(out, hit.file);
    put32(out, hit.line);
    out.extend_from_slice(&hit.offset.to_le_bytes());
    put32(out, hit.len);
}

/// A little-endian reader that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn record(&mut self) -> Option<([u8; 32], Hit)> {
        let fp: [u8; 32] = self.take(32)?.try_into().ok()?;
        let file = self.u32()?;
        let line = self.u32()?;
        let offset = self.u64()?;
        let len = self.u32()?;
        Some((
            fp,
            Hit {
                file,
                offset,
                len,
                line,
            },
        ))
    }
}

/// The candidate lines for the SHA-256 fingerprint `fp`, in file order:
/// the key's own lines and every possible `cert-authority` line. `None`
/// when the index does not describe `files` (path and identity of each
/// store file) exactly: stale, damaged, or forged.
pub fn lookup(index: &[u8], files: &[(PathBuf, FileId)], fp: &[u8; 32]) -> Option<Vec<Hit>> {
    let mut r = Reader(index);
    if r.take(MAGIC.len())? != MAGIC || r.u32()? as usize != files.len() {
        return None;
    }
    for (path, file_id) in files {
        let len = r.u32()? as usize;
        let name = r.take(len)?;
        if Some(name) != path.file_name().map(|n| n.as_encoded_bytes()) {
            return None;
        }
        let id = FileId {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime: (r.i64()?, r.i64()?),
            ctime: (r.i64()?, r.i64()?),
        };
        if id != *file_id {
            return None;
        }
    }
    let n_ca = r.u32()? as usize;
    let mut hits = Vec::new();
    for _ in 0..n_ca {
        hits.push(r.record()?.1);
    }
    let n_keys = r.u32()? as usize;
    let table = r.take(n_keys.checked_mul(RECORD)?)?;
    let at = |i: usize| -> Option<([u8; 32], Hit)> { Reader(table.get(i * RECORD..)?).record() };
    // Lower bound of fp in the sorted table.
    let (mut lo, mut hi) = (0, n_keys);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if at(mid)?.0 < *fp {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    while lo < n_keys {
        let (key, hit) = at(lo)?;
        if key != *fp {
            break;
        }
        hits.push(hit);
        lo += 1;
    }
    hits.sort();
    hits.dedup();
    // Distinct whole lines of the files (`read_line` checks each) can add up
    // to no more than the files hold: a forged index that claims more would
    // only make us read the same bytes over and over.
    let total: u64 = files.iter().map(|(_, id)| id.size).sum();
    let claimed: u64 = hits.iter().map(|h| u64::from(h.len) + 1).sum();
    if hits.iter().any(|h| h.file as usize >= files.len()) || claimed > total + files.len() as u64 {
        return None;
    }
    Some(hits)
}

/// Reads the line a hit points at: exactly one whole line of `file`
/// (starting at the file's start or after a newline, ending at a newline or
/// the file's end, with no newline inside). `None` otherwise: an index that
/// points into the middle of a line could drop its options (`restrict`,
/// `from=`) or reach past a `#`.
pub fn read_line(file: &Trusted, hit: &Hit) -> Option<Vec<u8>> {
    let (start, len) = window(hit, file.size)?;
    let mut buf = vec![0; len];
    let n = nix::sys::uio::pread(file.fd.as_fd(), &mut buf, start as i64).ok()?;
    (n == len).then_some(())?;
    whole_line(&buf, hit, file.size).map(<[u8]>::to_vec)
}

/// `read_line` on a file held in memory.
pub fn line_in<'a>(data: &'a [u8], hit: &Hit) -> Option<&'a [u8]> {
    let (start, len) = window(hit, data.len() as u64)?;
    whole_line(
        data.get(start as usize..)?.get(..len)?,
        hit,
        data.len() as u64,
    )
}

/// The bytes to read for a hit: the line and one byte either side, where
/// there is one, to see the line's ends.
fn window(hit: &Hit, size: u64) -> Option<(u64, usize)> {
    let end = hit.offset.checked_add(u64::from(hit.len))?;
    if end > size {
        return None;
    }
    let before = u64::from(hit.offset > 0);
    let after = u64::from(end < size);
    Some((
        hit.offset - before,
        (u64::from(hit.len) + before + after) as usize,
    ))
}

fn whole_line<'a>(window: &'a [u8], hit: &Hit, size: u64) -> Option<&'a [u8]> {
    let before = usize::from(hit.offset > 0);
    let after = usize::from(hit.offset + u64::from(hit.len) < size);
    if before == 1 && window.first() != Some(&b'\n') || after == 1 && window.last() != Some(&b'\n')
    {
        return None;
    }
    let line = window.get(before..window.len().checked_sub(after)?)?;
    (!line.contains(&b'\n')).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPjxbcCt16ae+JIX96e3/y7b+Z1IVkdp4aRj8KNT/aMG";

    fn fp(line: &str) -> [u8; 32] {
        match authorized_keys::candidate(line.as_bytes()) {
            Some(Candidate::Key(b)) => Sha256::digest(&b).into(),
            other => panic!("{other:?}"),
        }
    }

    /// A store file on disk with a descriptor, as `keys` has it.
    fn stored(data: &str) -> Trusted {
        let path = std::env::temp_dir().join(format!(
            "keyward-index-test-{}-{}",
            std::process::id(),
            data.len()
        ));
        std::fs::write(&path, data).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Trusted {
            fd: f.into(),
            path: PathBuf::from("/s/users/alice"),
            kind: crate::store::trusted::Kind::File,
            size: data.len() as u64,
            id: FileId {
                ino: 7,
                size: data.len() as u64,
                ..FileId::default()
            },
        }
    }

    #[test]
    fn build_then_lookup_finds_the_key_and_ca_lines_in_file_order() {
        let data =
            format!("# c\ncert-authority {OTHER}\n{OTHER} x\n\n{KEY} mine\nbroken\n{KEY} again");
        let file = stored(&data);
        let source = Source {
            path: file.path.clone(),
            id: file.id,
            data: data.clone().into_bytes(),
        };
        let index = build(std::slice::from_ref(&source));
        let files = [(file.path.clone(), file.id)];
        let hits = lookup(&index, &files, &fp(KEY)).unwrap();
        let lines: Vec<u32> = hits.iter().map(|h| h.line).collect();
        assert_eq!(lines, [2, 5, 7]);
        for h in &hits {
            assert_eq!(
                read_line(&file, h).unwrap(),
                data.lines().nth(h.line as usize - 1).unwrap().as_bytes()
            );
        }
        // A changed file makes the index unusable rather than wrong.
        let mut changed = files.clone();
        changed[0].1.ctime.1 += 1;
        assert_eq!(lookup(&index, &changed, &fp(KEY)), None);
        assert_eq!(lookup(b"garbage", &[], &fp(KEY)), None);
    }

    #[test]
    fn a_hit_must_be_one_whole_line() {
        let data = format!("restrict,from=\"10.0.0.1\" {KEY} a\n#{KEY} off\n{OTHER}\n{KEY}");
        let file = stored(&data);
        let at = |needle: &str, from: usize| data[from..].find(needle).unwrap() + from;
        let hit = |offset: usize, len: usize| Hit {
            file: 0,
            offset: offset as u64,
            len: len as u32,
            line: 1,
        };
        // The key without its line's options, and a commented-out key.
        assert_eq!(read_line(&file, &hit(at(KEY, 0), KEY.len() + 2)), None);
        assert_eq!(read_line(&file, &hit(at(KEY, 40), KEY.len())), None);
        // Two lines as one.
        let second = at("#", 0);
        assert_eq!(read_line(&file, &hit(0, second + 3)), None);
        // Past the end.
        assert_eq!(
            read_line(&file, &hit(data.len() - KEY.len(), KEY.len() + 1)),
            None
        );
        // Whole lines, first and last.
        assert_eq!(
            read_line(&file, &hit(0, second - 1)).unwrap(),
            &data.as_bytes()[..second - 1]
        );
        assert_eq!(
            read_line(&file, &hit(data.len() - KEY.len(), KEY.len())).unwrap(),
            KEY.as_bytes()
        );
    }

    #[test]
    fn forged_hits_cannot_claim_more_than_the_files_hold() {
        let data = format!("{KEY}\n");
        let source = Source {
            path: PathBuf::from("/s/users/alice"),
            id: FileId {
                size: data.len() as u64,
                ..FileId::default()
            },
            data: data.clone().into_bytes(),
        };
        let mut index = build(std::slice::from_ref(&source));
        // Append 1,000 forged cert-authority records, each the whole file.
        let ca_at = index.len() - 4 - RECORD - 4;
        let forged = 1000u32;
        index.splice(ca_at..ca_at + 4, forged.to_le_bytes());
        let mut records = Vec::new();
        for i in 0..forged {
            put_record(
                &mut records,
                &[0; 32],
                &Hit {
                    file: 0,
                    offset: 0,
                    len: data.len() as u32 - 1 + (i % 2),
                    line: i,
                },
            );
        }
        index.splice(ca_at + 4..ca_at + 4, records);
        let files = [(source.path.clone(), source.id)];
        assert_eq!(lookup(&index, &files, &fp(KEY)), None);
    }
}
