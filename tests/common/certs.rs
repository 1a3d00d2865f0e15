//! A throw-away PKI for TLS tests, generated with rcgen: a CA, a server
//! certificate signed by it (for the given names) and a client certificate
//! for mTLS, written as PEM files into a temporary directory.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM texts and file paths of one CA and its server and client leaves.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA; the server certificate carries `server_names` (DNS names or
    /// IP addresses).
    pub fn new(server_names: &[&str]) -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flowpolicy test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let names = server_names.iter().map(|s| s.to_string()).collect();
        let (server_cert_pem, server_key_pem) =
            leaf(names, "hubble-relay", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert_pem, client_key_pem) = leaf(
            Vec::new(),
            "flowpolicy client",
            ExtendedKeyUsagePurpose::ClientAuth,
        );

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        TestPki {
            ca_file: write("ca.crt", &ca_cert.pem()),
            client_cert_file: write("client.crt", &client_cert_pem),
            client_key_file: write("client.key", &client_key_pem),
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
            _dir: dir,
        }
    }

    /// Server TLS with this PKI's server certificate; with `require_client`
    /// the server demands a client certificate signed by the CA (mTLS).
    pub fn server_tls(&self, require_client: bool) -> tonic::transport::ServerTlsConfig {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(
            &self.server_cert_pem,
            &self.server_key_pem,
        ));
        if require_client {
            tls.client_ca_root(Certificate::from_pem(&self.ca_pem))
        } else {
            tls
        }
    }
}
