//! The users file of `quiver serve --users FILE`: who may connect, with which role, and the
//! bearer tokens issued ahead of time.
//!
//! # Contract
//! - A UTF-8 text file of lines; blank lines and lines starting with `#` are ignored:
//!   - `user NAME ROLE HASH` — a user; `ROLE` is `read` or `write`; `HASH` is the password's
//!     Argon2id hash in PHC string form (`$argon2id$v=19$m=...`, salted). No password is ever
//!     stored in plain text.
//!   - `token ID NAME EXPIRES HASH` — a pre-issued bearer token for user `NAME`, valid until
//!     `EXPIRES` (seconds since the Unix epoch, `0` for never). The token itself is
//!     `quiver-token.ID.SECRET` and only its secret's Argon2id hash is stored; `ID` (hex) finds
//!     the line.
//! - Names are 1 to 64 characters of `[A-Za-z0-9_.@-]`. Every malformed line is an error naming
//!   the file and the line; a file with two users of one name, or a token for an unknown user,
//!   is refused.
//! - [`UsersFile::save`] writes a new file beside the old one and renames it over, so a crash
//!   leaves the old file or the new one, never a mix; the file is created with mode 0600.

#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::{Error, Result};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Queries and metadata only.
    Read,
    /// Queries, metadata, and statements that change tables, views or settings.
    Write,
}

impl Role {
    /// Parses `read` or `write`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
        })
    }
}

/// One user line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The password's Argon2id PHC string.
    password_hash: String,
}

/// One pre-issued token line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token's id (hex), the part of the token that finds its line.
    pub id: String,
    /// The user the token acts as.
    pub user: String,
    /// Seconds since the Unix epoch after which the token is refused; 0 for never.
    pub expires: u64,
    secret_hash: String,
}

/// The prefix of every pre-issued token.
pub const TOKEN_PREFIX: &str = "quiver-token.";

/// A parsed users file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersFile {
    users: Vec<User>,
    tokens: Vec<IssuedToken>,
}

impl UsersFile {
    /// Reads and checks `path`; a missing file is an empty one only if `missing_is_empty`.
    pub fn read(path: &Path, missing_is_empty: bool) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if missing_is_empty && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default())
            }
            Err(e) => return Err(Error::io(path, "read the users file", e)),
        };
        Self::parse(&text).map_err(|(line, detail)| {
            Error::invalid(format!(
                "users file {}, line {line}: {detail}",
                path.display()
            ))
        })
    }

    /// Parses the text of a users file; an error is (line number, what is wrong).
    fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut file = Self::default();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["user", name, role, hash] => {
                    check_name(name).map_err(|d| (n, d))?;
                    let role = Role::parse(role)
                        .ok_or_else(|| (n, format!("role {role:?} is neither read nor write")))?;
                    PasswordHash::new(hash)
                        .map_err(|e| (n, format!("the password hash is not a PHC string: {e}")))?;
                    if file.user(name).is_some() {
                        return Err((n, format!("user {name} is listed twice")));
                    }
                    file.users.push(User {
                        name: name.to_string(),
                        role,
                        password_hash: hash.to_string(),
                    });
                }
                ["token", id, name, expires, hash] => {
                    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err((n, format!("token id {id:?} is not hex")));
                    }
                    let expires = expires
                        .parse::<u64>()
                        .map_err(|_| (n, format!("expiry {expires:?} is not a number")))?;
                    if file.user(name).is_none() {
                        return Err((
                            n,
                            format!("token {id} is for user {name}, listed nowhere above"),
                        ));
                    }
                    PasswordHash::new(hash)
                        .map_err(|e| (n, format!("the token hash is not a PHC string: {e}")))?;
                    if file.tokens.iter().any(|t| t.id == *id) {
                        return Err((n, format!("token id {id} is listed twice")));
                    }
                    file.tokens.push(IssuedToken {
                        id: id.to_string(),
                        user: name.to_string(),
                        expires,
                        secret_hash: hash.to_string(),
                    });
                }
                [kind, ..] if *kind == "user" || *kind == "token" => {
                    return Err((n, format!("a {kind} line has the wrong number of fields")));
                }
                [kind, ..] => return Err((n, format!("unknown line kind {kind:?}"))),
                [] => {}
            }
        }
        Ok(file)
    }

    /// The file's text, as [`UsersFile::read`] parses it.
    fn render(&self) -> String {
        let mut out =
            String::from("# Quiver users file (quiver serve --users). Edit with `quiver users`.\n");
        for u in &self.users {
            out.push_str(&format!("user {} {} {}\n", u.name, u.role, u.password_hash));
        }
        for t in &self.tokens {
            out.push_str(&format!(
                "token {} {} {} {}\n",
                t.id, t.user, t.expires, t.secret_hash
            ));
        }
        out
    }

    /// Writes the file to `path` atomically (see the module contract).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = temp_path(path);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, "write the users file", e)
        })
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The users, in file order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Adds user `name` (or replaces its password and role).
    pub fn set_user(&mut self, name: &str, password: &str, role: Role) -> Result<()> {
        check_name(name).map_err(Error::invalid)?;
        let user = User {
            name: name.to_string(),
            role,
            password_hash: hash_secret(password)?,
        };
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(existing) => *existing = user,
            None => self.users.push(user),
        }
        Ok(())
    }

    /// Issues a bearer token for user `name`, valid until `expires` (seconds since the Unix
    /// epoch; 0 for never); returns the token, which is stored nowhere but in its hash.
    pub fn issue_token(&mut self, name: &str, expires: u64) -> Result<String> {
        if self.user(name).is_none() {
            return Err(Error::invalid(format!("there is no user {name}")));
        }
        let id = hex(&random_bytes::<8>()?);
        let secret = hex(&random_bytes::<32>()?);
        self.tokens.push(IssuedToken {
            id: id.clone(),
            user: name.to_string(),
            expires,
            secret_hash: hash_secret(&secret)?,
        });
        Ok(format!("{TOKEN_PREFIX}{id}.{secret}"))
    }

    /// The user a pre-issued token acts as, if the token is one of this file's, unexpired at
    /// `now` (seconds since the Unix epoch), and its secret matches.
    pub fn check_token(&self, token: &str, now: u64) -> Option<&User> {
        let (id, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
        let issued = self.tokens.iter().find(|t| t.id == id)?;
        if issued.expires != 0 && now >= issued.expires {
            return None;
        }
        verify_secret(secret, &issued.secret_hash).then(|| self.user(&issued.user))?
    }

    /// The expiry (seconds since the Unix epoch, 0 for never) of the pre-issued `token`'s line.
    pub fn token_expiry(&self, token: &str) -> Option<u64> {
        let (id, _) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
        self.tokens.iter().find(|t| t.id == id).map(|t| t.expires)
    }

    /// The user `name` if `password` is theirs.
    pub fn check_password(&self, name: &str, password: &str) -> Option<&User> {
        self.user(name)
            .filter(|u| verify_secret(password, &u.password_hash))
    }
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name {name:?} must be 1 to 64 characters of letters, digits and _.@-"
        ))
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp-write");
    path.with_file_name(name)
}

/// The Argon2id hash (default parameters, random 16-byte salt) of `secret`, as a PHC string.
fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| Error::invalid(format!("cannot encode a salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid(format!("cannot hash a password: {e}")))
}

/// Whether `secret` hashes to the PHC string `hash` (parameters and salt taken from it).
fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::invalid(format!("the system random source failed: {e}")))?;
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_tokens_survive_a_save_and_read_and_check_only_their_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let mut file = UsersFile::read(&path, true).unwrap();
        file.set_user("alice", "s3cret", Role::Write).unwrap();
        file.set_user("bob", "hunter2", Role::Read).unwrap();
        let forever = file.issue_token("bob", 0).unwrap();
        let expired = file.issue_token("alice", 1).unwrap();
        file.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret") && !text.contains(forever.rsplit('.').next().unwrap()));

        let read = UsersFile::read(&path, false).unwrap();
        assert_eq!(read, file);
        assert_eq!(
            read.check_password("alice", "s3cret").unwrap().role,
            Role::Write
        );
        assert!(read.check_password("alice", "hunter2").is_none());
        assert!(read.check_password("carol", "s3cret").is_none());
        assert_eq!(read.check_token(&forever, 100).unwrap().name, "bob");
        assert!(read.check_token(&expired, 100).is_none(), "expired");
        let mut tampered = forever.clone();
        tampered.pop();
        tampered.push(if forever.ends_with('0') { '1' } else { '0' });
        assert!(read.check_token(&tampered, 100).is_none());
        assert!(read.check_token("Bearer nonsense", 100).is_none());
    }

    #[test]
    fn malformed_users_files_are_refused_naming_the_line() {
        let hash = hash_secret("x").unwrap();
        for (text, needle) in [
            ("user a admin HASH\n".to_string(), "line 1: role"),
            (
                "# c\n\nuser a read notahash\n".into(),
                "line 3: the password hash",
            ),
            (
                format!("user a read {hash}\nuser a write {hash}\n"),
                "line 2: user a is listed twice",
            ),
            (
                format!("token 12 ghost 0 {hash}\n"),
                "line 1: token 12 is for user ghost",
            ),
            ("group x\n".into(), "unknown line kind"),
            ("user a read\n".into(), "wrong number of fields"),
            (format!("user a/b read {hash}\n"), "user name"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("users");
            std::fs::write(&path, text.replace("HASH", &hash)).unwrap();
            let err = UsersFile::read(&path, false).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("users"), "{err}");
        }
    }
}
