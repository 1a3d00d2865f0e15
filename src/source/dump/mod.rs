//! Saved Hubble dumps: `hubble observe -o jsonpb` files, Hubble exporter files,
//! the legacy bare-flow JSON lines and `{"flow":…}`-only lines; plain, gzip or
//! zstd (detected by magic bytes, not by name), or `-` for stdin.
//!
//! Lines are decoded with the generated proto3 JSON mapping (proto and
//! lowerCamel names, unknown fields ignored), in batches on a few threads
//! ([`super::parallel`]) but handed to the sink one at a time in file order,
//! so memory does not grow with the file and the result does not depend on
//! the thread count. Bad lines are counted and the first few are kept with
//! file:line for the report; `strict` turns them into an error.
//!
//! Most lines take the fast path ([`super::fast`]): only what is read
//! downstream is built, each distinct endpoint is decoded and checked once.
//! Any line it declines is decoded by the full decoder ([`decode_line`]),
//! which then decides; the report counts both.
//!
//! Each decoded flow is also checked at the door
//! ([`crate::source::validate`], on the decoder threads): a flow with a
//! damaged name or an absurd number is never handed on; it is counted by
//! reason with its file:line, like a malformed line, and fatal with `strict`.

mod decode;
mod error;
mod open;
mod read;

pub use decode::{
    decode_line, decode_line_checked, decode_line_checked_full, recycle, Decoded, Fault,
};
pub use error::{DumpError, LineError};
pub use open::{
    decompressed_size, display_name, open_input, open_input_counted, open_reader, Compression,
    Input,
};
pub use read::{read_dumps, read_one, DumpOptions, FileReport};
