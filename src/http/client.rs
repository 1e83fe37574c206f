//! Who is asking: the client's address for sign-in throttling. The TCP peer, unless the
//! peer is one of `server.trusted_proxies`: then the first address of `X-Forwarded-For`
//! (the client as the proxy saw it). A forwarded header from anyone else is ignored, so a
//! client cannot pick its own address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The client address of a request ("unknown" when the server did not record a peer, as
/// in router-only tests).
pub fn client_addr(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> String {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    resolve(peer.map(|p| p.ip()), forwarded, trusted)
}

fn resolve(peer: Option<IpAddr>, forwarded: Option<&str>, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    let peer = canonical(peer);
    if trusted.iter().any(|n| n.contains(&peer)) {
        if let Some(ip) = forwarded
            .and_then(|f| f.split(',').next())
            .and_then(|first| address(first.trim()))
        {
            return canonical(ip).to_string();
        }
    }
    peer.to_string()
}

/// A forwarded address as proxies write it: `203.0.113.9`, `2001:db8::1`, or with the
/// client's port (`203.0.113.9:5555`, `[2001:db8::1]:443`), which some proxies add.
fn address(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<ipnet::IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            resolve(Some(lo), Some("203.0.113.9, 10.0.0.1"), &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            resolve(Some(other), Some("203.0.113.9"), &trusted),
            "192.0.2.7"
        );
        assert_eq!(resolve(Some(lo), Some("203.0.113.9"), &[]), "127.0.0.1");
        assert_eq!(resolve(Some(lo), Some("not an ip"), &trusted), "127.0.0.1");
        // With the client's port, as some proxies write it.
        assert_eq!(
            resolve(Some(lo), Some("10.4.4.4:5555"), &trusted),
            "10.4.4.4"
        );
        assert_eq!(
            resolve(Some(lo), Some("[2001:db8::1]:443"), &trusted),
            "2001:db8::1"
        );
        assert_eq!(
            resolve(Some(lo), Some("[2001:db8::2]"), &trusted),
            "2001:db8::2"
        );
        assert_eq!(resolve(Some(lo), None, &trusted), "127.0.0.1");
        assert_eq!(resolve(None, Some("203.0.113.9"), &trusted), "unknown");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(resolve(Some(mapped), None, &[]), "192.0.2.7");
    }
}
