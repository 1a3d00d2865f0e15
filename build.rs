//! Compiles `proto/` (flowpolicy's own wire-compatible subset of the Hubble
//! Observer API, and the peer service listing the node servers) in pure
//! Rust: protox parses the .proto files, tonic-prost-build
//! emits the prost messages and the tonic client/server, and pbjson-build emits
//! the proto3 JSON mapping (proto field names, unknown fields and enum values
//! tolerated) used to read `hubble observe -o jsonpb` dumps. No system protoc.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["observer/observer.proto", "peer/peer.proto"], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_bytes = fds.encode_to_vec();
    std::fs::write(out_dir.join("hubble_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .ignore_unknown_enum_variants()
        .build(&[".flow", ".observer", ".relay"])?;
    Ok(())
}
