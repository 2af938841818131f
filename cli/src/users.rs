//! `quiver users`: edit the users file of `quiver serve --users`.
//!
//! # Contract
//! - `quiver users add FILE NAME [--password P] [--role read|write]` adds a user (or sets an
//!   existing one's password and role), creating the file (mode 0600) if needed. Without
//!   `--password` the password is read from the terminal without echo, twice, or as one line
//!   of standard input when that is not a terminal.
//! - `quiver users token FILE NAME [--expires-in SECONDS]` issues a bearer token for a user
//!   and prints it once on stdout; the file keeps only its hash.
//! - The file is rewritten atomically; a failure leaves it as it was.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use quiver_store::flight::users::{Role, UsersFile};
use quiver_store::{Error, Result};

/// Arguments of `quiver users`.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user, or set an existing user's password and role.
    Add {
        /// The users file (created if missing).
        file: PathBuf,
        /// The user name: 1 to 64 letters, digits or _.@-.
        name: String,
        /// The password (default: prompted for, or one line of standard input).
        #[arg(long)]
        password: Option<String>,
        /// `read` (queries and metadata) or `write` (also statements that change anything).
        #[arg(long, default_value = "read", value_parser = parse_role)]
        role: Role,
    },
    /// Issue a bearer token for a user and print it (only its hash is stored).
    Token {
        /// The users file.
        file: PathBuf,
        /// The user the token acts as.
        name: String,
        /// Seconds until the token expires (default: never).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
    },
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("role {s:?} is neither read nor write"))
}

/// Runs `quiver users`.
pub fn run(command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Add {
            file,
            name,
            password,
            role,
        } => {
            let mut users = UsersFile::read(&file, true)?;
            let password = match password {
                Some(p) => p,
                None => read_password(&name)?,
            };
            if password.is_empty() {
                return Err(Error::invalid("the password is empty"));
            }
            users.set_user(&name, &password, role)?;
            users.save(&file)
        }
        UsersCommand::Token {
            file,
            name,
            expires_in,
        } => {
            let mut users = UsersFile::read(&file, false)?;
            let expires = match expires_in {
                Some(s) => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_add(s.max(1)),
                None => 0,
            };
            let token = users.issue_token(&name, expires)?;
            users.save(&file)?;
            println!("{token}");
            Ok(())
        }
    }
}

/// The password, from the terminal (twice, no echo) or one line of standard input.
fn read_password(name: &str) -> Result<String> {
    let stdin = std::io::stdin();
    let io_err = |e| Error::io(Path::new("<stdin>"), "read the password from", e);
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map_err(io_err)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = prompt_hidden(&format!("password for {name}: ")).map_err(io_err)?;
    let again = prompt_hidden("again: ").map_err(io_err)?;
    if first != again {
        return Err(Error::invalid("the two passwords differ"));
    }
    Ok(first)
}

/// Reads one line from the terminal with echo off (restored afterwards, also on error).
fn prompt_hidden(prompt: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let echo = Echo::off()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    writeln!(err)?;
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Terminal echo switched off until dropped, through `stty` (no unsafe code here).
struct Echo;

impl Echo {
    fn off() -> std::io::Result<Self> {
        stty("-echo")?;
        Ok(Self)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = stty("echo");
    }
}

fn stty(arg: &str) -> std::io::Result<()> {
    let status = std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("stty failed"))
    }
}
