//! `match.c` and `addrmatch.c`: the patterns sshd matches names, algorithms
//! and addresses with.

use std::net::IpAddr;

/// `match_pattern`: `*` and `?` wildcards, nothing else. The same answers
/// as sshd's recursion, without its exponential time: a `from=` pattern
/// comes from a file anyone may have written, and check must not hang on
/// `*****...*x`. (Backtracking to the last `*` only is enough for `*`.)
pub(super) fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                // Let the last `*` take one more byte.
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// `match_pattern_list` (case-sensitive): 1 for a match, -1 for a negated
/// match, 0 for none.
pub(super) fn match_pattern_list(s: &str, list: &str) -> i32 {
    let mut got = 0;
    for p in list.split(',') {
        let (neg, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        if match_pattern(s.as_bytes(), p.as_bytes()) {
            if neg {
                return -1;
            }
            got = 1;
        }
    }
    got
}

/// `match_list` as 8.2 uses it for `principals=`: any entry of the
/// principal (itself a list) equal to an entry of the option.
pub(super) fn match_list_any(principal: &str, option: &str) -> bool {
    principal
        .split(',')
        .any(|c| option.split(',').any(|s| s == c))
}

/// `match_user` with the host being the address (UseDNS no).
pub(super) fn match_user(user: &str, ip: &str, pattern: &str) -> bool {
    match pattern.split_once('@') {
        None => match_pattern(user.as_bytes(), pattern.as_bytes()),
        Some((u, host)) => {
            match_pattern(user.as_bytes(), u.as_bytes())
                && ip.parse().is_ok_and(|a| from_matches(host, a))
        }
    }
}

/// `match_host_and_ip` with the host name being the address: each entry a
/// CIDR block or a wildcard pattern, `!` negating.
pub(super) fn from_matches(list: &str, addr: IpAddr) -> bool {
    let text = addr.to_string();
    let mut got = false;
    for entry in list.split(',') {
        let (neg, entry) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        let hit = match cidr(entry) {
            Some((net, bits)) => in_net(addr, net, bits),
            None => match_pattern(text.as_bytes(), entry.to_ascii_lowercase().as_bytes()),
        };
        if hit {
            if neg {
                return false;
            }
            got = true;
        }
    }
    got
}

fn cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (a, bits) = match entry.split_once('/') {
        Some((a, m)) => (a, Some(m.parse::<u32>().ok()?)),
        None => (entry, None),
    };
    let a: IpAddr = a.parse().ok()?;
    let width = if a.is_ipv4() { 32 } else { 128 };
    Some((a, bits.unwrap_or(width).min(width)))
}

fn in_net(addr: IpAddr, net: IpAddr, bits: u32) -> bool {
    let (a, n, width) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sshd's `match_pattern`, recursion and all.
    fn reference(s: &[u8], p: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| reference(&s[i..], rest)),
            Some((b'?', rest)) => !s.is_empty() && reference(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && reference(&s[1..], rest),
        }
    }

    /// Every word over `alphabet` up to `max` long.
    fn words(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|w: &Vec<u8>| {
                    alphabet.iter().map(move |&c| {
                        let mut n = w.clone();
                        n.push(c);
                        n
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn match_pattern_answers_as_sshd_does() {
        for p in words(b"ab*?", 5) {
            for s in words(b"ab", 6) {
                assert_eq!(match_pattern(&s, &p), reference(&s, &p), "{s:?} {p:?}");
            }
        }
    }

    #[test]
    fn patterns_as_match_c_has_them() {
        assert_eq!(match_pattern_list("ssh-ed25519", "ssh-*,!ssh-rsa"), 1);
        assert_eq!(match_pattern_list("ssh-rsa", "ssh-*,!ssh-rsa"), -1);
        assert_eq!(match_pattern_list("rsa-sha2-512", "ssh-rsa"), 0);
        assert!(match_pattern(b"abc", b"a?c"));
        assert!(match_pattern(b"", b"**"));
        assert!(!match_pattern(b"", b"?"));
        assert!(match_pattern(b"abcbc", b"a*bc"));
        assert!(!match_pattern(b"abcb", b"a*bc"));
        assert!(match_pattern(
            b"ssh-ed25519-cert-v01@openssh.com",
            b"*-cert-v01@*"
        ));
        // What took sshd's recursion (and this function's first version)
        // exponential time.
        let stars = format!("{}x", "*".repeat(60));
        assert!(!match_pattern(b"192.168.100.200", stars.as_bytes()));
        assert!(!match_pattern(b"abc", b"a[b]c"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(from_matches("10.0.0.0/8,192.0.2.1", ip("10.1.2.3")));
        assert!(!from_matches("10.0.0.0/8,!10.1.2.3", ip("10.1.2.3")));
        assert!(from_matches("192.0.2.*", ip("192.0.2.9")));
        assert!(!from_matches("*.example.com", ip("192.0.2.9")));
        assert!(from_matches("::1", ip("::1")));
        assert!(match_user("alice", "192.0.2.1", "al*@192.0.2.0/24"));
        assert!(!match_user("alice", "192.0.2.1", "alice@10.0.0.1"));
    }
}
