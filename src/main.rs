fn main() {
    std::process::exit(keyward::cli::main(std::env::args_os()).code());
}
