//! The `keyward` binary: everything lives in the library.
//!
//! No Rust runtime start-up (`no_main`): sshd starts this process twice for
//! every key a client offers, and std's start-up spent a fifth of a lookup's
//! instructions finding the main thread's stack through /proc/self/maps, for
//! a stack-overflow message keyward does not need. SIGPIPE keeps its default
//! action, so a closed pipe ends the process as it ends `cat`.
#![no_main]

use std::ffi::{c_char, c_int};
use std::io::Write;

// SAFETY: the C runtime calls this once, as it would call C's main; the
// arguments are read through std::env::args_os, which glibc provides to std
// before main runs.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let code = keyward::cli::main(std::env::args_os()).code();
    // Without std's runtime nothing flushes stdout at exit.
    let _ = std::io::stdout().flush();
    code
}
