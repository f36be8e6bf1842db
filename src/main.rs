//! The `mercure-setup` binary: parses arguments and hands over to the library.

fn main() {
    std::process::exit(mercure_setup::cli::main());
}
