//! Decoding one dump line: the fast path when it takes the line, else the
//! full proto3-JSON decoder, then the door check of a flow.

use crate::proto::{flow, observer};
use crate::source::event::{EndpointHint, SourceEvent};
use crate::source::fast::{EndpointIds, FastDecoder};
use crate::source::validate::{self, Rejection};

/// Decodes one line with the full decoder (the generated proto3 JSON
/// mapping): a `GetFlowsResponse`, or a bare flow (legacy JSON output).
/// `Ok(None)` for blank lines and empty responses.
pub fn decode_line(line: &[u8]) -> Result<Option<SourceEvent>, String> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed[0] != b'{' {
        return Err(format!(
            "not a JSON object (starts with {:?})",
            String::from_utf8_lossy(&trimmed[..trimmed.len().min(24)])
        ));
    }
    let resp: observer::GetFlowsResponse =
        serde_json::from_slice(trimmed).map_err(|e| e.to_string())?;
    if resp.response_types.is_some() {
        return Ok(SourceEvent::from_response(resp));
    }
    // No `flow`/`lost_events`/`node_status` key: the legacy bare-flow form.
    let bare: flow::Flow = serde_json::from_slice(trimmed).map_err(|e| e.to_string())?;
    if bare == flow::Flow::default() {
        return Ok(None);
    }
    Ok(Some(SourceEvent::Flow(Box::new(bare))))
}

/// Why a line gave no event.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Malformed(String),
    Rejected(Rejection),
}

/// One line, decoded and checked.
#[derive(Debug)]
pub struct Decoded {
    pub outcome: Result<Option<SourceEvent>, Fault>,
    /// Taken by the fast path (else by the full decoder, or blank).
    pub fast: bool,
    /// For [`recycle`]: the fast path's endpoints the flow holds copies of.
    endpoints: EndpointIds,
}

impl Decoded {
    /// The fast path's numbers for the flow's endpoints, for interpretation.
    pub fn hint(&self) -> EndpointHint {
        self.endpoints.hint()
    }
}

/// Gives a decoded line back to the fast path of the thread that decoded
/// it (called there by [`super::parallel`]), which keeps its endpoints as
/// spares; anything else is simply dropped.
pub fn recycle(decoded: Decoded) {
    if let (true, Ok(Some(SourceEvent::Flow(f)))) = (decoded.fast, decoded.outcome) {
        FAST.with(|fast| fast.borrow_mut().recycle(f, decoded.endpoints));
    }
}

thread_local! {
    /// Each decoding thread's fast path (its endpoint cache).
    static FAST: std::cell::RefCell<FastDecoder> = std::cell::RefCell::new(FastDecoder::default());
}

/// Whether the fast path is used: `FLOWPOLICY_FULL_DECODE=1` sends every
/// line through the full decoder instead (to compare, or to rule it out;
/// the output is the same either way).
fn fast_path_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("FLOWPOLICY_FULL_DECODE").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Decodes and checks one line: the fast path when it takes the line, else
/// [`decode_line_checked_full`].
pub fn decode_line_checked(line: &[u8]) -> Decoded {
    let trimmed = line.trim_ascii();
    if trimmed.first() == Some(&b'{') && fast_path_on() {
        if let Some(fast) = FAST.with(|f| f.borrow_mut().decode(trimmed)) {
            return Decoded {
                outcome: match fast.check {
                    Ok(()) => Ok(Some(SourceEvent::Flow(fast.flow))),
                    Err(r) => Err(Fault::Rejected(r)),
                },
                fast: true,
                endpoints: fast.endpoints,
            };
        }
    }
    Decoded {
        outcome: decode_line_checked_full(line),
        fast: false,
        endpoints: EndpointIds::default(),
    }
}

/// [`decode_line`] (the full decoder), then the door check of a flow.
pub fn decode_line_checked_full(line: &[u8]) -> Result<Option<SourceEvent>, Fault> {
    let event = decode_line(line).map_err(Fault::Malformed)?;
    if let Some(SourceEvent::Flow(f)) = &event {
        validate::check_flow(f).map_err(Fault::Rejected)?;
    }
    Ok(event)
}
