//! A TLS test server: `openssl s_server -HTTP` on 127.0.0.1 with a certificate signed by a
//! test CA made for it, serving the response files in its directory. Used by the security
//! tests (verification, https→http redirects) and the real-server tests (verification errors
//! fail at once).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::closed_port;

/// A running `openssl s_server`; killed on drop.
pub struct TlsServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The test CA's certificate (PEM), for `Config::set_ca_file`.
    pub ca: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The validity of the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Valid from now for two days.
    Current,
    /// Valid only from 2020-01-01 to 2020-01-02: expired (made with `openssl ca -startdate
    /// -enddate`, as OpenSSL 3.0's `x509` cannot backdate).
    Expired,
}

/// Runs `openssl args` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Starts a TLS server whose files are `files` (name, complete HTTP response). `san` is the
/// subjectAltName of its certificate. `Err` when openssl is not usable here.
pub fn tls_server(
    dir: &Path,
    san: &str,
    files: &[(&str, String)],
) -> std::result::Result<TlsServer, String> {
    tls_server_with(dir, san, Validity::Current, files)
}

/// [`tls_server`] with a certificate of the given validity.
pub fn tls_server_with(
    dir: &Path,
    san: &str,
    validity: Validity,
    files: &[(&str, String)],
) -> std::result::Result<TlsServer, String> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=bgfetch test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=bgfetch test server",
    ]);
    openssl(dir, &csr)?;
    let extensions = format!(
        "subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
         extendedKeyUsage=serverAuth\n"
    );
    match validity {
        Validity::Current => {
            std::fs::write(dir.join("leaf.ext"), extensions).unwrap();
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "leaf.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    "leaf.ext",
                    "-out",
                    "leaf.pem",
                ],
            )?;
        }
        Validity::Expired => {
            std::fs::create_dir_all(dir.join("ca-db")).unwrap();
            std::fs::write(dir.join("ca-db/index.txt"), "").unwrap();
            std::fs::write(dir.join("ca-db/serial"), "1000\n").unwrap();
            std::fs::write(
                dir.join("ca.cnf"),
                format!(
                    "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = ca-db/index.txt\n\
                     serial = ca-db/serial\nnew_certs_dir = ca-db\ndefault_md = sha256\n\
                     policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n\
                     [leaf]\n{extensions}"
                ),
            )
            .unwrap();
            openssl(
                dir,
                &[
                    "ca",
                    "-batch",
                    "-notext",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    "ca.pem",
                    "-keyfile",
                    "ca.key",
                    "-in",
                    "leaf.csr",
                    "-out",
                    "leaf.pem",
                    "-startdate",
                    "20200101000000Z",
                    "-enddate",
                    "20200102000000Z",
                    "-extensions",
                    "leaf",
                ],
            )?;
        }
    }
    start_s_server(dir, "ca.pem", files)
}

/// A TLS server whose certificate is self-signed (no CA: `ca` is the certificate itself), for
/// `san`.
pub fn self_signed_tls_server(
    dir: &Path,
    san: &str,
    files: &[(&str, String)],
) -> std::result::Result<TlsServer, String> {
    let san_ext = format!("subjectAltName={san}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.pem",
            "-subj",
            "/CN=bgfetch self-signed test server",
            "-addext",
            &san_ext,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ],
    )?;
    start_s_server(dir, "leaf.pem", files)
}

/// Writes `files` into `dir` and starts `openssl s_server -HTTP` there with `leaf.pem` and
/// `leaf.key`; `ca` names the file that [`TlsServer::ca`] points to.
fn start_s_server(
    dir: &Path,
    ca: &str,
    files: &[(&str, String)],
) -> std::result::Result<TlsServer, String> {
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    // The port is free when chosen; should another process take it first, s_server exits
    // and another port is tried.
    for _ in 0..3 {
        let port = closed_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-HTTP", "-cert", "leaf.pem"])
            .args(["-key", "leaf.key", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("openssl s_server: {e}"))?;
        let mut server = TlsServer {
            child,
            port,
            ca: dir.join(ca),
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if !matches!(server.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err("openssl s_server did not start".into())
}

/// A complete HTTP response with a Content-Length body, closing the connection.
pub fn http_response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
