//! [`Guarded`]: a Flight service that lets a call through only with valid credentials.
//!
//! # Contract
//! - `Handshake` is answered here, never by the inner service: the caller's `authorization`
//!   header is exchanged for a bearer token ([`Authenticator::handshake`]), sent back both as
//!   the response's `authorization: Bearer TOKEN` header (what the JDBC and ADBC drivers read)
//!   and as the handshake payload.
//! - Every other call is checked ([`Authenticator::check`]) before the inner service sees it:
//!   refused calls answer `Unauthenticated` and reach nothing; admitted ones carry the
//!   [`Caller`] in their request extensions, where the inner service reads the role.

#![forbid(unsafe_code)]

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, SchemaResult, Ticket,
};
use futures::Stream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authenticator, Caller};

/// The `authorization` header of a request, if it is valid ASCII.
fn authorization<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
}

/// `inner`, reachable only with valid credentials (see the module contract).
pub struct Guarded<S> {
    inner: S,
    auth: Arc<Authenticator>,
}

impl<S> Guarded<S> {
    /// Guards `inner` with `auth`.
    pub fn new(inner: S, auth: Arc<Authenticator>) -> Self {
        Self { inner, auth }
    }

    /// Checks the caller and records it in the request's extensions.
    fn admit<T>(&self, request: &mut Request<T>) -> Result<(), Status> {
        let caller: Caller = self.auth.check(authorization(request))?;
        request.extensions_mut().insert(caller);
        Ok(())
    }
}

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl<S: FlightService> FlightService for Guarded<S> {
    type HandshakeStream = Boxed<HandshakeResponse>;
    type ListFlightsStream = S::ListFlightsStream;
    type DoGetStream = S::DoGetStream;
    type DoPutStream = S::DoPutStream;
    type DoExchangeStream = S::DoExchangeStream;
    type DoActionStream = S::DoActionStream;
    type ListActionsStream = S::ListActionsStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let (_, token) = self.auth.handshake(authorization(&request))?;
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("the issued token is not a valid header value"))?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let mut response: Response<Self::HandshakeStream> =
            Response::new(Box::pin(futures::stream::iter([Ok(answer)])));
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn list_flights(
        &self,
        mut request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.admit(&mut request)?;
        self.inner.list_flights(request).await
    }

    async fn get_flight_info(
        &self,
        mut request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.admit(&mut request)?;
        self.inner.get_flight_info(request).await
    }

    async fn poll_flight_info(
        &self,
        mut request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        self.admit(&mut request)?;
        self.inner.poll_flight_info(request).await
    }

    async fn get_schema(
        &self,
        mut request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        self.admit(&mut request)?;
        self.inner.get_schema(request).await
    }

    async fn do_get(
        &self,
        mut request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.admit(&mut request)?;
        self.inner.do_get(request).await
    }

    async fn do_put(
        &self,
        mut request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        self.admit(&mut request)?;
        self.inner.do_put(request).await
    }

    async fn do_exchange(
        &self,
        mut request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.admit(&mut request)?;
        self.inner.do_exchange(request).await
    }

    async fn do_action(
        &self,
        mut request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        self.admit(&mut request)?;
        self.inner.do_action(request).await
    }

    async fn list_actions(
        &self,
        mut request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.admit(&mut request)?;
        self.inner.list_actions(request).await
    }
}
