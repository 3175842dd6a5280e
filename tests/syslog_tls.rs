//! Syslog over TLS with certificates made in the test: with `ca_file`, clients that present a
//! certificate signed by that CA are served and clients without one are refused at the
//! handshake (counted); without `ca_file`, any client is served; a client that never
//! completes the handshake is cut off after the handshake timeout.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::net::{free_tcp_port, summary, Logweir};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

const MESSAGES: usize = 100;

struct Pki {
    ca_der: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivatePkcs8KeyDer<'static>,
}

/// Writes `ca.pem`, `server.pem`, `server.key` into `dir`; returns what clients need.
fn make_pki(dir: &std::path::Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "logweir test ca");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    Pki {
        ca_der: ca_cert.der().clone(),
        client_chain: vec![client_cert.der().clone()],
        client_key: PrivatePkcs8KeyDer::from(client_key.serialize_der()),
    }
}

fn connector(pki: &Pki, with_client_cert: bool) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if with_client_cert {
        builder
            .with_client_auth_cert(
                pki.client_chain.clone(),
                PrivateKeyDer::Pkcs8(pki.client_key.clone_key()),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    TlsConnector::from(Arc::new(config))
}

fn messages(label: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..MESSAGES {
        let msg = format!("<14>1 2026-11-24T10:00:00Z host {label} - - - {label} {i}");
        out.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
    }
    out
}

/// Sends `label`'s messages over TLS; then waits for the server to close. Returns whether
/// the server accepted the session (a clean close rather than an alert or reset).
async fn send_over_tls(connector: &TlsConnector, port: u16, label: &str) -> bool {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = match connector.connect(name, tcp).await {
        Ok(tls) => tls,
        Err(_) => return false,
    };
    if tls.write_all(&messages(label)).await.is_err() || tls.flush().await.is_err() {
        return false;
    }
    // Half-close our side; the server ends the connection after reading to our end.
    if tls.shutdown().await.is_err() {
        return false;
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut rest)).await;
    matches!(read, Ok(Ok(_)))
}

#[test]
fn tls_with_and_without_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = make_pki(d);
    let (mtls_port, tls_port) = (free_tcp_port(), free_tcp_port());
    let config = format!(
        r#"data_dir = "{data}"
[sources.mtls]
type = "syslog"
address = "127.0.0.1:{mtls_port}"
tls = {{ cert_file = "{d}/server.pem", key_file = "{d}/server.key", ca_file = "{d}/ca.pem" }}
[sources.tls]
type = "syslog"
address = "127.0.0.1:{tls_port}"
tls = {{ cert_file = "{d}/server.pem", key_file = "{d}/server.key", handshake_timeout_secs = 1 }}
[sinks.out_mtls]
type = "file"
inputs = ["mtls"]
path = "{d}/mtls.ndjson"
[sinks.out_tls]
type = "file"
inputs = ["tls"]
path = "{d}/tls.ndjson"
"#,
        data = d.join("data").display(),
        d = d.display(),
    );
    let logweir = Logweir::start(d, &config, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let with_cert = connector(&pki, true);
    let without_cert = connector(&pki, false);
    let (accepted_with, accepted_without, accepted_plain_server) = rt.block_on(async {
        let a = send_over_tls(&with_cert, mtls_port, "withcert").await;
        let b = send_over_tls(&without_cert, mtls_port, "nocert").await;
        let c = send_over_tls(&without_cert, tls_port, "plainclient").await;
        (a, b, c)
    });
    assert!(
        accepted_with,
        "a client with a CA-signed certificate is served"
    );
    assert!(
        !accepted_without,
        "a client without a certificate is refused"
    );
    assert!(
        accepted_plain_server,
        "without ca_file no client certificate is needed"
    );

    // A client that connects and never starts the handshake is disconnected.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    let closed = matches!(std::io::Read::read(&mut stalled, &mut buf), Ok(0) | Err(_));
    assert!(
        closed,
        "the server closed a connection stuck before the handshake"
    );

    // Plain syslog sent to a TLS port is not read as messages.
    {
        use std::io::Write;
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", mtls_port)).unwrap();
        let _ = plain.write_all(&messages("plaintext"));
        plain
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = std::io::Read::read(&mut plain, &mut buf);
    }

    let mtls_out = d.join("mtls.ndjson");
    let tls_out = d.join("tls.ndjson");
    let arrived = common::wait_until(Duration::from_secs(30), || {
        common::count_lines(&mtls_out) >= MESSAGES && common::count_lines(&tls_out) >= MESSAGES
    });
    let logs = logweir.stop();
    assert!(arrived, "{logs}");
    let mtls_events = common::read_ndjson(&mtls_out);
    assert_eq!(
        mtls_events.len(),
        MESSAGES,
        "only the certified client's messages"
    );
    for (i, e) in mtls_events.iter().enumerate() {
        assert_eq!(e["message"], format!("withcert {i}"));
        assert_eq!(e["process"]["name"], "withcert");
    }
    let tls_events = common::read_ndjson(&tls_out);
    assert_eq!(tls_events.len(), MESSAGES);
    assert!(tls_events
        .iter()
        .enumerate()
        .all(|(i, e)| e["message"] == format!("plainclient {i}")));

    let mtls = summary(&logs, "syslog source finished", "mtls");
    assert_eq!(
        mtls["tls_handshake_failures"], 2,
        "no certificate + plaintext: {mtls}"
    );
    assert_eq!(mtls["events"], MESSAGES);
    let tls = summary(&logs, "syslog source finished", "tls");
    assert_eq!(
        tls["tls_handshake_failures"], 1,
        "the stalled client: {tls}"
    );
}
