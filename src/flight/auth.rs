//! Who is calling: the Flight SQL handshake's HTTP Basic exchange for a bearer token, and the
//! check of every other call's bearer token.
//!
//! # Contract
//! - [`Authenticator::handshake`] takes the `authorization` header of a `Handshake` call —
//!   `Basic base64(user:password)`, as the Flight SQL JDBC and ADBC drivers send it — and, if
//!   the password is the user's, issues a session token (`quiver-session.` + 256 random bits,
//!   hex) valid for the authenticator's time to live. A `Bearer` header on a handshake is
//!   checked like any call's and answered with the same token.
//! - [`Authenticator::check`] takes any other call's `authorization` header: `Bearer TOKEN`
//!   with a live session token or an unexpired pre-issued token of the users file
//!   (`users.rs`). Anything else — no header, a wrong password, an expired, unknown or
//!   altered token — is `Unauthenticated` with a message that says which, never what the
//!   right credentials would be.
//! - Session tokens live in memory only (a restart logs everyone out); expired ones are
//!   dropped when the next token is issued. A pre-issued token's hash is verified once, then
//!   the token is remembered until its expiry, so calls do not pay Argon2 each time.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use tonic::Status;

use super::users::{hex, random_bytes, Role, UsersFile};

/// The user a call acts as, put in the request's extensions by the authentication layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user name.
    pub user: String,
    /// What the user may do.
    pub role: Role,
}

/// The prefix of session tokens.
const SESSION_PREFIX: &str = "quiver-session.";

/// Checks credentials against a users file (see the module contract).
#[derive(Debug)]
pub struct Authenticator {
    users: UsersFile,
    ttl: Duration,
    /// Live tokens: session tokens and verified pre-issued ones.
    live: Mutex<HashMap<String, Live>>,
}

/// A token the authenticator accepts without checking the users file.
#[derive(Debug)]
struct Live {
    caller: Caller,
    until: Instant,
    /// Pre-issued tokens are verified again once `until` passes; session tokens are dead.
    pre_issued: bool,
}

impl Authenticator {
    /// Authenticates against `users`; session tokens live for `ttl`.
    pub fn new(users: UsersFile, ttl: Duration) -> Self {
        Self {
            users,
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The `Handshake` exchange: the caller and the bearer token to answer with.
    pub fn handshake(&self, authorization: Option<&str>) -> Result<(Caller, String), Status> {
        let header = authorization.ok_or_else(|| {
            Status::unauthenticated(
                "the handshake needs an authorization header (Basic user:password)",
            )
        })?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            return Ok((self.check_token(token.trim())?, token.trim().to_string()));
        }
        let encoded = header.strip_prefix("Basic ").ok_or_else(|| {
            Status::unauthenticated("the authorization header is neither Basic nor Bearer")
        })?;
        // Padded (RFC 7617) or not (arrow-go's client, under the ADBC driver, sends it raw).
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let decoded = lenient
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Status::unauthenticated("the Basic credentials are not base64 UTF-8"))?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("the Basic credentials have no ':'"))?;
        let user = self
            .users
            .check_password(name, password)
            .ok_or_else(|| Status::unauthenticated("wrong user name or password"))?;
        let caller = Caller {
            user: user.name.clone(),
            role: user.role,
        };
        let secret = random_bytes::<32>().map_err(|e| Status::internal(e.to_string()))?;
        let token = format!("{SESSION_PREFIX}{}", hex(&secret));
        let now = Instant::now();
        let mut live = self.lock()?;
        live.retain(|_, entry| entry.until > now);
        let entry = Live {
            caller: caller.clone(),
            until: now + self.ttl,
            pre_issued: false,
        };
        live.insert(token.clone(), entry);
        Ok((caller, token))
    }

    /// The caller of any call other than the handshake.
    pub fn check(&self, authorization: Option<&str>) -> Result<Caller, Status> {
        let header = authorization.ok_or_else(|| {
            Status::unauthenticated(
                "no authorization header: authenticate with the handshake first",
            )
        })?;
        let token = header.strip_prefix("Bearer ").ok_or_else(|| {
            Status::unauthenticated("the authorization header is not a Bearer token")
        })?;
        self.check_token(token.trim())
    }

    fn check_token(&self, token: &str) -> Result<Caller, Status> {
        {
            let mut live = self.lock()?;
            if let Some(entry) = live.get(token) {
                if entry.until > Instant::now() {
                    return Ok(entry.caller.clone());
                }
                if !entry.pre_issued {
                    return Err(Status::unauthenticated(
                        "the token has expired; authenticate again",
                    ));
                }
                // A remembered pre-issued token is verified again below.
                live.remove(token);
            }
        }
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let user = self
            .users
            .check_token(token, unix_now)
            .ok_or_else(|| Status::unauthenticated("the token is unknown, expired or altered"))?;
        let caller = Caller {
            user: user.name.clone(),
            role: user.role,
        };
        // Remembered until it expires, or for the session time to live if it never does.
        let remembered = self
            .users
            .token_expiry(token)
            .filter(|&e| e != 0)
            .map_or(self.ttl, |e| {
                Duration::from_secs(e.saturating_sub(unix_now))
            });
        let entry = Live {
            caller: caller.clone(),
            until: Instant::now() + remembered,
            pre_issued: true,
        };
        self.lock()?.insert(token.to_string(), entry);
        Ok(caller)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Live>>, Status> {
        self.live
            .lock()
            .map_err(|_| Status::internal("the token table's lock is poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        let raw = format!("{user}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn basic_credentials_are_read_with_or_without_base64_padding() {
        let mut users = UsersFile::default();
        users.set_user("ann", "pw", Role::Write).unwrap();
        let auth = Authenticator::new(users, Duration::from_secs(60));
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.encode("ann:pw");
        assert!(!raw.ends_with('='));
        for header in [basic("ann", "pw"), format!("Basic {raw}")] {
            assert_eq!(auth.handshake(Some(&header)).unwrap().0.user, "ann");
        }
    }

    #[test]
    fn a_password_buys_a_session_token_that_expires_and_nothing_else_passes() {
        let mut users = UsersFile::default();
        users.set_user("ann", "pw", Role::Read).unwrap();
        let issued = users.issue_token("ann", 0).unwrap();
        let auth = Authenticator::new(users, Duration::from_secs(3));

        let (caller, token) = auth.handshake(Some(&basic("ann", "pw"))).unwrap();
        assert_eq!(caller.role, Role::Read);
        assert_eq!(
            auth.check(Some(&format!("Bearer {token}"))).unwrap(),
            caller
        );
        assert_eq!(
            auth.check(Some(&format!("Bearer {issued}"))).unwrap(),
            caller
        );
        assert_eq!(
            auth.check(Some(&format!("Bearer {issued}"))).unwrap(),
            caller,
            "remembered"
        );

        for bad in [
            None,
            Some(basic("ann", "pw")),
            Some(basic("ann", "wrong")),
            Some("Bearer quiver-session.00".to_string()),
            Some(format!("Bearer {token}x")),
        ] {
            let status = auth.check(bad.as_deref()).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
        let wrong = auth.handshake(Some(&basic("ann", "wrong"))).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        std::thread::sleep(Duration::from_millis(3100));
        let expired = auth.check(Some(&format!("Bearer {token}"))).unwrap_err();
        assert!(expired.message().contains("expired"), "{expired}");
    }
}
