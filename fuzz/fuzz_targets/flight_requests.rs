//! Flight SQL requests from arbitrary bytes, through the real service in process: the first
//! byte picks the call (`GetFlightInfo` command, `DoGet` ticket, `GetSchema` command,
//! `DoAction` CreatePreparedStatement / ClosePreparedStatement / unknown, or an
//! `authorization` header for the authenticator), the rest is its payload. Every call answers
//! or returns a status; none may panic. Result streams are drained for at most a second.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{Action, FlightDescriptor, Ticket};
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use quiver_store::flight::auth::Authenticator;
use quiver_store::flight::users::{Role, UsersFile};
use quiver_store::flight::QuiverFlightSqlService;
use quiver_store::sql::QuiverSession;
use tonic::Request;

struct World {
    runtime: tokio::runtime::Runtime,
    service: QuiverFlightSqlService,
    auth: Authenticator,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let db = tempfile::tempdir().unwrap().keep();
        let session = QuiverSession::open_db(&db, Default::default()).unwrap();
        let mut users = UsersFile::default();
        users.set_user("ann", "pw", Role::Read).unwrap();
        World {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            service: QuiverFlightSqlService::new(session),
            auth: Authenticator::new(users, Duration::from_secs(60)),
        }
    })
}

async fn drain<S: futures::Stream + Unpin>(mut stream: S) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while stream.next().await.is_some() {}
    })
    .await;
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    let w = world();
    let payload = payload.to_vec();
    w.runtime.block_on(async {
        let s = &w.service;
        match kind % 7 {
            0 => {
                let _ = s
                    .get_flight_info(Request::new(FlightDescriptor::new_cmd(payload)))
                    .await;
            }
            1 => {
                if let Ok(r) = s.do_get(Request::new(Ticket::new(payload))).await {
                    drain(r.into_inner()).await;
                }
            }
            2 => {
                let _ = s
                    .get_schema(Request::new(FlightDescriptor::new_cmd(payload)))
                    .await;
            }
            3 | 4 | 5 => {
                let name = [
                    "CreatePreparedStatement",
                    "ClosePreparedStatement",
                    "Nonsense",
                ][usize::from(kind % 7 - 3)];
                if let Ok(r) = s.do_action(Request::new(Action::new(name, payload))).await {
                    drain(r.into_inner()).await;
                }
            }
            _ => {
                let header = String::from_utf8_lossy(&payload);
                let _ = w.auth.check(Some(&header));
                if !header.starts_with("Basic ") {
                    let _ = w.auth.handshake(Some(&header));
                }
            }
        }
    });
});
