//! keyward: an AuthorizedKeysCommand that serves keys from a root-owned store
//! and explains, through syslog, when sshd would refuse a user's own keys.
//!
//! The modules by role (docs/architecture.md has the map):
//! - `lookup`: `keyward keys`, which sshd runs before authentication as the
//!   AuthorizedKeysCommandUser, on input a client chose. Nothing in it may
//!   depend on `admin`.
//! - `openssh`: what a given OpenSSH release does, and nothing else.
//! - `store`: the root-owned store: safe opening, reading, index, edits.
//! - `admin`: the commands root runs (setup, add, import, check, ...).
//! - `config`, `log`, `exit`, `platform`, `cli`: shared by all of them.

#![deny(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod exit;
pub mod log;
pub mod lookup;
pub mod openssh;
pub mod platform;
pub mod store;
