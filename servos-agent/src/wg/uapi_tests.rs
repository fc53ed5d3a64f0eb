//! Unit tests of the configuration protocol's requests and answers.

use super::*;

const KEY_HEX: &str = "1c8828f7137324c58b2804928624ea2326f1674537c062e251e2753ca7fcca4c";

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn key() -> WgPublicKey {
    "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        .parse()
        .expect("key")
}

#[test]
fn a_get_answer_parses_into_device_and_peers() {
    let answer = lines(&format!(
        "own_public_key={KEY_HEX}\nlisten_port=51820\npublic_key={KEY_HEX}\n\
         persistent_keepalive_interval=25\nendpoint=10.231.1.3:51820\n\
         allowed_ip=10.210.0.3/32\nallowed_ip=10.210.130.0/24\n\
         last_handshake_time_sec=12\nlast_handshake_time_nsec=5\n\
         rx_bytes=1234\ntx_bytes=5678\nerrno=0"
    ));
    let state = parse_get(&answer).expect("parses");
    assert_eq!(state.public_key, Some(key()));
    assert_eq!(state.listen_port, Some(51820));
    assert_eq!(state.peers.len(), 1);
    let peer = &state.peers[0];
    assert_eq!(peer.spec.public_key, key());
    assert_eq!(
        peer.spec.endpoint,
        Some("10.231.1.3:51820".parse().expect("addr"))
    );
    assert_eq!(peer.spec.allowed_ips.len(), 2);
    assert_eq!(peer.spec.persistent_keepalive, Some(25));
    assert_eq!(peer.last_handshake, Some(Duration::new(12, 5)));
    assert_eq!((peer.rx_bytes, peer.tx_bytes), (1234, 5678));
    assert_eq!(parse_errno(&answer).expect("errno"), 0);
}

#[test]
fn a_peer_that_never_shook_hands_has_no_handshake_age() {
    let answer = lines(&format!(
        "public_key={KEY_HEX}\nrx_bytes=0\ntx_bytes=0\nerrno=0"
    ));
    let state = parse_get(&answer).expect("parses");
    assert_eq!(state.peers[0].last_handshake, None);
    assert_eq!(state.public_key, None);
}

#[test]
fn malformed_answers_are_errors() {
    assert!(parse_get(&lines("public_key=abcd\nerrno=0")).is_err());
    assert!(parse_get(&lines(&format!(
        "public_key={KEY_HEX}\nrx_bytes=lots\nerrno=0"
    )))
    .is_err());
    assert!(parse_get(&lines("no equals sign")).is_err());
    assert!(parse_errno(&lines("listen_port=1")).is_err());
    assert_eq!(parse_errno(&lines("errno=22")).expect("errno"), 22);
}

#[test]
fn requests_carry_one_peer_each_and_end_with_a_blank_line() {
    let peer = PeerSpec::new(
        key(),
        Some("10.231.1.3:51820".parse().expect("addr")),
        ["10.210.0.3/32".parse().expect("net")],
        Some(25),
    );
    assert_eq!(
        add_peer_request(&peer),
        format!(
            "set=1\npublic_key={KEY_HEX}\nendpoint=10.231.1.3:51820\n\
             persistent_keepalive_interval=25\nallowed_ip=10.210.0.3/32\n\n"
        )
    );
    assert_eq!(
        remove_peer_request(&key()),
        format!("set=1\npublic_key={KEY_HEX}\nremove=true\n\n")
    );
    let private = PrivateKey::generate().expect("rng");
    let identity = set_identity_request(&private, 51820);
    assert!(identity.starts_with("set=1\nprivate_key="));
    assert!(identity.ends_with("\nlisten_port=51820\n\n"));
}

#[test]
fn an_exchange_reads_exactly_one_answer() {
    let (ours, mut theirs) = UnixStream::pair().expect("pair");
    let mut connection = UapiConnection::new(ours).expect("connection");
    let device = std::thread::spawn(move || {
        let mut reader = BufReader::new(theirs.try_clone().expect("clone"));
        let mut request = String::new();
        reader.read_line(&mut request).expect("read");
        theirs
            .write_all(format!("own_public_key={KEY_HEX}\nerrno=0\n\n").as_bytes())
            .expect("write");
        request
    });
    let answer = connection.exchange(GET_REQUEST).expect("answer");
    assert_eq!(device.join().expect("device thread"), GET_REQUEST);
    assert_eq!(parse_get(&answer).expect("parses").public_key, Some(key()));
}
