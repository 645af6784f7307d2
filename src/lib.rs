//! keyward: an AuthorizedKeysCommand that serves keys from a root-owned store
//! and explains, through syslog, when sshd would refuse a user's own keys.

#![deny(unsafe_code)]

pub mod admin;
pub mod authorized_keys;
pub mod c_library;
pub mod chain;
pub mod cli;
pub mod config;
pub mod edit;
pub mod exit;
pub mod fingerprint;
pub mod index;
pub mod inventory;
pub mod keys;
pub mod log;
pub mod offered;
pub mod openssh;
pub mod platform;
pub mod public_key;
pub mod report;
pub mod sshd;
pub mod sshd_config;
pub mod store;
pub mod strict_modes;
pub mod trusted;
pub mod warned;
