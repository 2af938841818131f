//! The `quiver` command-line tool. See `quiver --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = quiver_cli::Cli::parse();
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`quiver info t | head`) instead of failing on the broken pipe. Not for the servers
    // (`serve`, `cluster`): a peer that hangs up must cost them a connection, not the process.
    if !cli.command.is_server() {
        // SAFETY: called in `main` before anything has started a thread (argument parsing
        // starts none); restoring the default disposition of SIGPIPE has no memory-safety
        // preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // A decoder panic on damaged input becomes an ordinary `error:` line: keep the default
    // hook's message and backtrace for every other panic only.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !quiver_store::io::panic_is_guarded() {
            default_hook(info);
        }
    }));
    match quiver_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the message: some decoders' errors span several.
            let message = e.to_string();
            let one_line: Vec<&str> = message.split(['\n', '\r']).map(str::trim).collect();
            eprintln!("error: {}", one_line.join("; "));
            ExitCode::FAILURE
        }
    }
}
