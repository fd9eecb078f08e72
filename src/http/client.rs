//! Who is asking: the client's address, believing `X-Forwarded-For` only
//! when the connection comes from a trusted proxy (`TRUSTED_PROXIES`).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address: the peer itself, unless the peer is a trusted
/// proxy; then the nearest address in `X-Forwarded-For` that is not one of
/// ours (everything left of it could be forged by the client).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.ip().to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|item| item.trim().parse::<IpAddr>().ok())
        .collect();
    let mut client = peer;
    for ip in forwarded.iter().rev() {
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
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
    }
}
