//! The `GetFlows` call with a codec that keeps what the generated client
//! throws away: each message's bytes, fingerprinted as they are decoded
//! ([`Received`]), so the resume bookkeeping never re-encodes a flow.

use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::http;
use tonic::transport::Channel;
use tonic::{GrpcMethod, Status};

use super::endpoints::Received;
use super::endpoints::{EndpointCache, Recycler};
use crate::proto::observer::GetFlowsRequest;

/// Opens the flow stream: `observer.Observer/GetFlows`, as the generated
/// client does, decoding each message into a [`Received`] (`slim`: without
/// the fields nothing after the door reads, see [`EndpointCache`]).
pub async fn get_flows(
    channel: Channel,
    request: GetFlowsRequest,
    slim: bool,
    recycler: Option<Recycler>,
) -> Result<tonic::Response<tonic::Streaming<Received>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
    let mut req = tonic::Request::new(request);
    req.extensions_mut()
        .insert(GrpcMethod::new("observer.Observer", "GetFlows"));
    let path = http::uri::PathAndQuery::from_static("/observer.Observer/GetFlows");
    let codec = FlowsCodec { slim, recycler };
    grpc.server_streaming(req, path, codec).await
}

/// Requests encoded by prost; responses decoded and fingerprinted.
#[derive(Debug, Clone, Default)]
pub struct FlowsCodec {
    slim: bool,
    recycler: Option<Recycler>,
}

impl Codec for FlowsCodec {
    type Encode = GetFlowsRequest;
    type Decode = Received;
    type Encoder = tonic_prost::ProstEncoder<GetFlowsRequest>;
    type Decoder = FlowsDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        FlowsDecoder {
            endpoints: EndpointCache::new(self.slim).with_recycler(self.recycler.clone()),
        }
    }
}

/// Decodes one `GetFlowsResponse` from the message's (contiguous) bytes,
/// each distinct endpoint once per stream.
pub struct FlowsDecoder {
    endpoints: EndpointCache,
}

impl Decoder for FlowsDecoder {
    type Item = Received;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Received>, Status> {
        let len = src.remaining();
        // tonic hands over a whole message; should a future version split
        // it, the bytes are gathered first so the fingerprint stays the same.
        let received = if src.chunk().len() == len {
            self.endpoints.decode(src.chunk())
        } else {
            self.endpoints.decode(&src.copy_to_bytes(len))
        }
        .map_err(|e| Status::internal(e.to_string()))?;
        src.advance(src.remaining());
        Ok(Some(received))
    }
}
