//! Who is asking: the client's address, believing `X-Forwarded-For` only
//! when the connection comes from a trusted proxy (`TRUSTED_PROXIES`).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address: the peer itself, unless the peer is a trusted
/// proxy; then the nearest address in `X-Forwarded-For`, walking from the
/// right (the entries proxies appended) past our own proxies. The walk stops
/// at an entry it cannot read, keeping the last trusted hop: everything left
/// of it could have been written by the client.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.ip().to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().unwrap_or(""))
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_ip(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: `ip`, `ip:port` or `[v6]:port`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| entry.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'))?.parse().ok())
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();

        assert_eq!(client_ip(stranger, &headers("1.2.3.4"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(proxy, &headers("198.51.100.7"), &trusted), ip("198.51.100.7"));
        // The client forged the left entry; the proxy appended the real one.
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, 198.51.100.7, 10.0.0.3"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(proxy, &headers("garbage"), &trusted), ip("10.0.0.2"));
        // Proxies that append a port are read; the forged entry left of it is not.
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, 198.51.100.7:5555"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(proxy, &headers("[2001:db8::7]:443"), &trusted), ip("2001:db8::7"));
        // An entry that cannot be read ends the walk at the last trusted hop.
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, unknown, 10.0.0.3"), &trusted),
            ip("10.0.0.3")
        );
    }
}
