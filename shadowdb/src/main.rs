//! The stock `shadowdb` command line: no contracts are linked in, so writes
//! need `--allow-uncontracted`. See [`shadowdb::cli`] for a binary of your own
//! with your `#[derive(SafeModel)]` types.

fn main() -> std::process::ExitCode {
    shadowdb::cli::main()
}
