//! Hostile Flight SQL requests, in process: random bytes and mutations of valid encodings as
//! `GetFlightInfo` commands, `DoGet` tickets, `DoAction` bodies and prepared-statement handles,
//! and random `authorization` headers. Each call answers `Ok` or an error status — never a
//! panic. (A bounded, seeded run for CI; `fuzz/fuzz_targets/flight_requests.rs` is the
//! coverage-guided version.)
#![cfg(feature = "flight")]

use std::time::Duration;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, CommandStatementUpdate, ProstMessageExt,
    TicketStatementQuery,
};
use arrow_flight::{Action, FlightDescriptor, Ticket};
use futures::StreamExt;
use prost::Message;
use quiver_store::flight::auth::Authenticator;
use quiver_store::flight::users::{Role, UsersFile};
use quiver_store::flight::QuiverFlightSqlService;
use quiver_store::sql::QuiverSession;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tonic::Request;

/// Valid encodings the mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let query = CommandStatementQuery {
        query: "SELECT 1 AS one".into(),
        transaction_id: None,
    };
    let update = CommandStatementUpdate {
        query: "CREATE VIEW v AS SELECT 2".into(),
        transaction_id: None,
    };
    let ticket = TicketStatementQuery {
        statement_handle: "SELECT 3".into(),
    };
    let prepared = CommandPreparedStatementQuery {
        prepared_statement_handle: vec![0, 0, 0, 0, 0, 0, 0, 1].into(),
    };
    let tables = CommandGetTables {
        include_schema: true,
        ..Default::default()
    };
    let create = ActionCreatePreparedStatementRequest {
        query: "SELECT $1 + 1".into(),
        transaction_id: None,
    };
    let close = ActionClosePreparedStatementRequest {
        prepared_statement_handle: vec![1, 2, 3].into(),
    };
    vec![
        query.as_any().encode_to_vec(),
        update.as_any().encode_to_vec(),
        ticket.as_any().encode_to_vec(),
        prepared.as_any().encode_to_vec(),
        tables.as_any().encode_to_vec(),
        create.as_any().encode_to_vec(),
        close.as_any().encode_to_vec(),
    ]
}

/// A random input: fresh bytes, or a seed as it is or with flips, cuts and insertions.
fn input(rng: &mut SmallRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_bool(0.2) {
        let len = rng.random_range(0..64);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut bytes = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(0..4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..4) {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes.truncate(at),
            2 => bytes.insert(at, rng.random()),
            _ => bytes[at] = rng.random(),
        }
    }
    bytes
}

/// Drains a response stream for at most a second (a mutated query could be slow).
async fn drain<S: futures::Stream + Unpin>(mut stream: S) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while stream.next().await.is_some() {}
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_requests_get_answers_or_errors_never_panics() {
    let db = tempfile::tempdir().unwrap();
    let session = QuiverSession::open_db(db.path(), Default::default()).unwrap();
    let service = QuiverFlightSqlService::new(session);
    let seeds = seeds();
    let mut rng = SmallRng::seed_from_u64(19);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..1500 {
        let bytes = input(&mut rng, &seeds);
        let answers = [
            service
                .get_flight_info(Request::new(FlightDescriptor::new_cmd(bytes.clone())))
                .await
                .is_ok(),
            match service
                .do_get(Request::new(Ticket::new(bytes.clone())))
                .await
            {
                Ok(response) => {
                    drain(response.into_inner()).await;
                    true
                }
                Err(_) => false,
            },
            service
                .get_schema(Request::new(FlightDescriptor::new_cmd(bytes.clone())))
                .await
                .is_ok(),
        ];
        let kinds = [
            "CreatePreparedStatement",
            "ClosePreparedStatement",
            "Nonsense",
        ];
        let action = Action::new(kinds[rng.random_range(0..kinds.len())], bytes);
        let acted = match service.do_action(Request::new(action)).await {
            Ok(response) => {
                drain(response.into_inner()).await;
                true
            }
            Err(_) => false,
        };
        for answered in answers.into_iter().chain([acted]) {
            if answered {
                ok += 1;
            } else {
                refused += 1;
            }
        }
    }
    eprintln!("{ok} calls answered, {refused} refused with a status");
    assert!(ok > 0 && refused > 0, "the mutations reach both outcomes");
}

#[test]
fn random_authorization_headers_are_refused_without_panics() {
    let mut users = UsersFile::default();
    users.set_user("ann", "pw", Role::Read).unwrap();
    let auth = Authenticator::new(users, Duration::from_secs(60));
    let mut rng = SmallRng::seed_from_u64(18);
    let prefixes = [
        "Basic ",
        "Bearer ",
        "Bearer quiver-token.",
        "Bearer quiver-session.",
        "",
    ];
    for _ in 0..2000 {
        let len = rng.random_range(0..48);
        let tail: String = (0..len)
            .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
            .collect();
        let header = format!("{}{tail}", prefixes[rng.random_range(0..prefixes.len())]);
        assert!(auth.check(Some(&header)).is_err(), "{header:?}");
        // Only a handshake with the right password may pass; a random one never has it.
        if !header.starts_with("Basic ") {
            assert!(auth.handshake(Some(&header)).is_err(), "{header:?}");
        }
    }
}
