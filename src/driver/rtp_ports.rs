//! RTP port allocation.
//!
//! Ports are tried round-robin from the configured range (even ports only, RFC 3550 §11),
//! so a port freed by a call that just ended is not reused at once and late packets of the
//! old call do not land in a new one. A port already taken by someone else is skipped.

use std::io;
use std::net::{IpAddr, SocketAddr};

pub(super) struct RtpPorts {
    min: u16,
    max: u16,
    next: u16,
}

impl RtpPorts {
    pub(super) fn new(min: u16, max: u16) -> Self {
        let min = min + min % 2;
        RtpPorts {
            min,
            max,
            next: min,
        }
    }

    /// Binds the next free even port on `ip` (a non-blocking socket, for the runtime or the
    /// media clock).
    pub(super) fn bind(&mut self, ip: IpAddr) -> io::Result<(std::net::UdpSocket, u16)> {
        let count = (u32::from(self.max) - u32::from(self.min)) / 2 + 1;
        let mut last_err = io::Error::new(io::ErrorKind::AddrInUse, "RTP port range exhausted");
        for _ in 0..count {
            let port = self.next;
            self.next = if u32::from(port) + 2 > u32::from(self.max) {
                self.min
            } else {
                port + 2
            };
            match std::net::UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    return Ok((s, port));
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }
}
