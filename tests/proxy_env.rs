//! The proxy from the environment (`HTTP_PROXY` & co. and `NO_PROXY`), and `""` turning it
//! off. One test in a binary of its own: it changes the process environment.

mod common;
use common::*;

use bgfetch::*;

fn fetch_through(cfg: Config, id: &str) -> Vec<u8> {
    let m = Manager::open(cfg).unwrap();
    let reg = fetch_urls(&m, id, &["/bytes/1000?seed=1"]);
    reg.wait(WAIT).unwrap();
    assert_eq!(reg.snapshot().result, FetchResult::Success);
    body(&reg, 0)
}

#[test]
fn the_environment_names_the_proxy_unless_the_config_says_otherwise() {
    let server = TestServer::start();
    let proxy = ConnectProxy::start();
    for var in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTP_PROXY", proxy.url());
    std::env::remove_var("http_proxy");

    // From the environment.
    assert_eq!(fetch_through(config(&server, "env"), "a"), pattern(1000, 1));
    let after_env = proxy.tunnels();
    assert!(after_env >= 1, "HTTP_PROXY was not used");

    // "" turns it off.
    let mut direct = config(&server, "direct");
    direct.set_proxy("").unwrap();
    assert_eq!(fetch_through(direct, "b"), pattern(1000, 1));
    assert_eq!(
        proxy.tunnels(),
        after_env,
        "the proxy was used although set to \"\""
    );

    // NO_PROXY names the host: no proxy.
    std::env::set_var("NO_PROXY", "127.0.0.1");
    assert_eq!(
        fetch_through(config(&server, "noproxy"), "c"),
        pattern(1000, 1)
    );
    assert_eq!(proxy.tunnels(), after_env, "NO_PROXY was not honoured");
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("HTTP_PROXY");
}
