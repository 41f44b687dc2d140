//! SIP over TCP (and, after its handshake, TLS: `tls.rs`): one reader and one writer task
//! per connection.
//!
//! The reader frames messages with [`crate::sip::framing`] (Content-Length is mandatory on
//! streams, RFC 3261 §18.3) and hands each complete message to the SIP task; CRLF
//! keep-alives are answered with a single CRLF (RFC 5626 §4.4.1). A framing error closes the
//! connection: after a bad length there is no way to find the next message boundary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::debug;

use super::ToSip;
use crate::pii::{Security, security};
use crate::sip::framing::{Frame, next_frame};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

pub(super) async fn accept_loop(
    listener: TcpListener,
    to_sip: mpsc::UnboundedSender<ToSip>,
    max: usize,
) {
    loop {
        match listener.accept().await {
            Ok((stream, src)) => {
                let conn = next_conn();
                tokio::spawn(connection(conn, stream, src, to_sip.clone(), max));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                debug!("SIP/TCP accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    conn: u64,
    stream: TcpStream,
    src: SocketAddr,
    to_sip: mpsc::UnboundedSender<ToSip>,
    max: usize,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    serve(
        Stream {
            conn,
            src,
            local,
            secure: false,
        },
        stream,
        to_sip,
        max,
    )
    .await;
}

/// The next connection's id, shared by TCP and TLS (the SIP task keeps one table of
/// writers).
pub(super) fn next_conn() -> u64 {
    NEXT_CONN.fetch_add(1, Ordering::Relaxed)
}

/// Who a stream connection is, for the SIP task.
pub(super) struct Stream {
    pub conn: u64,
    pub src: SocketAddr,
    pub local: SocketAddr,
    /// TLS (RFC 3261 §26) rather than plain TCP.
    pub secure: bool,
}

/// Reads and writes SIP on an accepted stream (plain TCP, or TLS after its handshake)
/// until either side closes it.
pub(super) async fn serve<S>(
    who: Stream,
    stream: S,
    to_sip: mpsc::UnboundedSender<ToSip>,
    max: usize,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Stream {
        conn,
        src,
        local,
        secure,
    } = who;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Arc<[u8]>>();
    if to_sip
        .send(ToSip::TcpOpen {
            conn,
            writer: wtx.clone(),
        })
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 4096];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match next_frame(&buf, max) {
                Frame::Incomplete => break,
                Frame::KeepAlive(len) => {
                    // RFC 5626 §4.4.1: a double CRLF ping is answered with a single CRLF pong.
                    if len >= 4 {
                        let _ = wtx.send(Arc::from(&b"\r\n"[..]));
                    }
                    buf.drain(..len);
                }
                Frame::Message(len) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    if to_sip
                        .send(ToSip::Tcp {
                            conn,
                            src,
                            local,
                            bytes,
                            secure,
                        })
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Frame::Invalid(e) => {
                    // A stream that cannot be framed again: a security line, as a broken
                    // datagram is (RFC 4475 §3.1.2.3, §3.3.9 on a stream).
                    let error = e.to_string().replace('"', "'");
                    security(
                        Security::Malformed,
                        src,
                        &format!("action=closed transport=tcp error=\"{error}\""),
                    );
                    break 'read;
                }
            }
        }
    }
    let _ = to_sip.send(ToSip::TcpClosed { conn });
    drop(wtx);
    let _ = writer.await;
}
