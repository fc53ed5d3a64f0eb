//! Caddy, driven through its admin API on the server's loopback
//! (`localhost:2019`), reached over an SSH `direct-tcpip` channel: no port
//! is opened to the network and no HTTP client is needed on the server.
//!
//! ServOS runs its own Caddy with its state under the SSH user's XDG data
//! directory (`$XDG_DATA_HOME/servos/proxy`, config autosaved by Caddy
//! under `$XDG_CONFIG_HOME/caddy`), restarted with `--resume` so routes
//! survive a restart. Every change is one admin request, which Caddy
//! applies as one graceful reload (made lossless by [`handover`]).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{handover, ProxyError, Route};
use crate::ssh::tunnel_http::HttpResponse;
use crate::ssh::{Session, SshError};

/// The admin API's port on the server's loopback.
const ADMIN_PORT: u16 = 2019;
/// The only `Host` the admin API accepts.
const ADMIN_HOST: &str = "localhost:2019";
/// The name of ServOS's HTTP server in Caddy's configuration.
const SERVER: &str = "servos";
/// How long a freshly started Caddy may take to answer.
const START_WITHIN: Duration = Duration::from_secs(15);
/// How many bytes of a refusal are kept for the error message.
const SHOWN_BODY: usize = 300;

/// The configuration a new proxy starts with: HTTPS on 443 (Caddy adds the
/// HTTP-to-HTTPS redirects on 80), no routes yet, old connections given
/// 30 seconds to finish on a reload, and the internal CA kept out of the
/// system trust store.
fn base_config() -> Value {
    json!({
        "admin": {"listen": ADMIN_HOST},
        "apps": {
            "http": {
                "grace_period": "30s",
                "servers": {SERVER: {"listen": [":443"], "routes": []}}
            },
            "tls": {"automation": {"policies": []}},
            "pki": {"certificate_authorities": {"local": {"install_trust": false}}}
        }
    })
}

/// Installs Caddy when missing (Debian's package, whose own service is
/// disabled so that it does not hold the ports), and starts it detached
/// with the autosaved configuration, else the base one (from stdin). Under
/// a lock, and not when the one started before still runs, so that
/// deployments arriving together start one proxy.
const START_SCRIPT: &str = r#"set -e
if ! command -v caddy >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q caddy >/dev/null 2>&1
        if command -v systemctl >/dev/null 2>&1; then systemctl disable --now caddy >/dev/null 2>&1 || true; fi
    else
        echo "caddy is not installed and cannot be installed as this user" >&2
        exit 3
    fi
fi
d="${XDG_DATA_HOME:-$HOME/.local/share}/servos/proxy"
umask 077
mkdir -p "$d"
exec 9>"$d/start.lock"
flock 9
if [ -s "$d/caddy.pid" ] && kill -0 "$(cat "$d/caddy.pid")" 2>/dev/null; then exit 0; fi
cat > "$d/caddy.json.new"
mv -f "$d/caddy.json.new" "$d/caddy.json"
setsid -f caddy run --resume --config "$d/caddy.json" --pidfile "$d/caddy.pid" >>"$d/caddy.log" 2>&1 </dev/null 9>&-
"#;

/// Attempts of one admin request whose connection is cut off: Caddy
/// replaces its admin endpoint on every configuration change, so a request
/// that arrives meanwhile (another deployment's) can lose its connection.
const ATTEMPTS: u32 = 6;

/// True when the request may not have reached Caddy or its answer was lost
/// (as opposed to nothing listening on the admin port at all).
fn cut_off(error: &SshError) -> bool {
    matches!(error, SshError::Protocol(message) if !message.contains("cannot open a tunnel"))
}

async fn send_once(
    session: &Session,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<HttpResponse, SshError> {
    let body = body.map(Value::to_string).map(String::into_bytes);
    session
        .http(ADMIN_PORT, method, path, ADMIN_HOST, body)
        .await
}

/// One admin request. `GET`, `PATCH` (a replacement) and `DELETE` are
/// repeated when cut off; for `POST` see [`post_with_id`].
async fn admin(
    session: &Session,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<HttpResponse, SshError> {
    let mut attempt = 1;
    loop {
        match send_once(session, method, path, body).await {
            Err(e) if method != "POST" && attempt < ATTEMPTS && cut_off(&e) => {
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Appends `body`, whose `@id` is `id`, under `path`; when the connection
/// is cut off, asks whether the object exists before sending it again, so
/// it is never added twice.
async fn post_with_id(
    session: &Session,
    what: &'static str,
    path: &str,
    id: &str,
    body: &Value,
) -> Result<(), ProxyError> {
    let mut attempt = 1;
    loop {
        match send_once(session, "POST", path, Some(body)).await {
            Ok(response) => return accepted(what, response).map(drop),
            Err(e) if attempt < ATTEMPTS && cut_off(&e) => {
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                attempt += 1;
                if admin(session, "GET", &format!("/id/{id}"), None)
                    .await?
                    .status
                    == 200
                {
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `response` when its status is 2xx, else [`ProxyError::Refused`].
fn accepted(what: &'static str, response: HttpResponse) -> Result<HttpResponse, ProxyError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let body: String = String::from_utf8_lossy(&response.body)
        .chars()
        .take(SHOWN_BODY)
        .collect();
    Err(ProxyError::Refused {
        what,
        status: response.status,
        body: body.trim().to_owned(),
    })
}

fn parse(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

/// Makes sure ServOS's Caddy runs and answers on the server (see
/// [`running`]) and that its changes lose no connection (see
/// [`handover`]), both at once over the session. `Some(why)` when a
/// change may reset connections that arrive during it; the proxy works
/// regardless.
pub async fn ensure(session: &Session) -> Result<Option<String>, ProxyError> {
    let ((), caveat) = tokio::try_join!(running(session), handover::ensure(session))?;
    Ok(caveat)
}

/// Starts (and if needed installs) Caddy when nothing answers on the admin
/// port; gives an unconfigured Caddy the base configuration; refuses a
/// Caddy configured by someone else.
async fn running(session: &Session) -> Result<(), ProxyError> {
    let path = format!("/config/apps/http/servers/{SERVER}");
    let mut started: Option<Instant> = None;
    loop {
        match admin(session, "GET", &path, None).await {
            Ok(response) if response.status == 200 && parse(&response) != Value::Null => {
                return Ok(())
            }
            Ok(response) if response.status == 200 => return load_base(session).await,
            Ok(response) => return accepted("reading the configuration", response).map(drop),
            // Nothing listens (yet).
            Err(SshError::Protocol(_)) => {}
            Err(other) => return Err(other.into()),
        }
        match started {
            None => {
                start(session).await?;
                started = Some(Instant::now());
            }
            Some(at) if at.elapsed() > START_WITHIN => {
                return Err(ProxyError::Unavailable(format!(
                    "caddy was started but its admin API did not answer within {START_WITHIN:?}"
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Loads the base configuration into a Caddy that has none.
async fn load_base(session: &Session) -> Result<(), ProxyError> {
    let all = accepted(
        "reading the configuration",
        admin(session, "GET", "/config/", None).await?,
    )?;
    if parse(&all) != Value::Null {
        return Err(ProxyError::Foreign(
            "a Caddy configured by someone else answers on localhost:2019; ServOS needs its own"
                .into(),
        ));
    }
    accepted(
        "loading the base configuration",
        admin(session, "POST", "/load", Some(&base_config())).await?,
    )
    .map(drop)
}

async fn start(session: &Session) -> Result<(), ProxyError> {
    let config = base_config().to_string();
    let output = session.run(START_SCRIPT, Some(config.as_bytes())).await?;
    if output.exit_status == Some(0) {
        Ok(())
    } else {
        Err(ProxyError::Unavailable(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// What a route's id is made of: this prefix and the application id.
const ROUTE_PREFIX: &str = "servos-";

fn route_id(app_id: &str) -> String {
    format!("{ROUTE_PREFIX}{app_id}")
}

/// The ids of the applications that have a route on the proxy.
pub async fn routed_apps(session: &Session) -> Result<Vec<String>, ProxyError> {
    let path = format!("/config/apps/http/servers/{SERVER}/routes");
    let routes = parse(&accepted(
        "reading the routes",
        admin(session, "GET", &path, None).await?,
    )?);
    Ok(routes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|route| route.get("@id")?.as_str()?.strip_prefix(ROUTE_PREFIX))
        .map(str::to_owned)
        .collect())
}

fn tls_policy_id(app_id: &str) -> String {
    format!("servos-tls-{app_id}")
}

fn dial(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The loopback port the application's route sends requests to, if the
/// route exists.
pub async fn live_port(session: &Session, app_id: &str) -> Result<Option<u16>, ProxyError> {
    let path = format!("/id/{}/handle/0/upstreams", route_id(app_id));
    let response = admin(session, "GET", &path, None).await?;
    if response.status == 404 {
        return Ok(None);
    }
    let upstreams = parse(&accepted("reading the route", response)?);
    Ok(upstreams
        .get(0)
        .and_then(|u| u.get("dial"))
        .and_then(Value::as_str)
        .and_then(|d| d.strip_prefix("127.0.0.1:"))
        .and_then(|p| p.parse().ok()))
}

/// Points the application's route at `127.0.0.1:port` in one change,
/// creating the route the first time, keeping its certificate policy
/// current and following a change of the application's host name.
pub async fn point(session: &Session, route: &Route, port: u16) -> Result<(), ProxyError> {
    let id = route_id(&route.app_id);
    let current = admin(session, "GET", &format!("/id/{id}"), None).await?;
    if current.status == 404 {
        return create(session, route, port).await;
    }
    let current = parse(&accepted("reading the route", current)?);
    ensure_tls_policy(session, route).await?;
    let host = current.pointer("/match/0/host/0").and_then(Value::as_str);
    if host != Some(route.host.as_str()) {
        accepted(
            "changing the route's host",
            admin(
                session,
                "PATCH",
                &format!("/id/{id}/match"),
                Some(&json!([{"host": [route.host]}])),
            )
            .await?,
        )?;
    }
    accepted(
        "switching the upstream",
        admin(
            session,
            "PATCH",
            &format!("/id/{id}/handle/0/upstreams"),
            Some(&json!([{"dial": dial(port)}])),
        )
        .await?,
    )?;
    Ok(())
}

async fn create(session: &Session, route: &Route, port: u16) -> Result<(), ProxyError> {
    // The policy first: a route without one would start an ACME order
    // before any visitor comes.
    ensure_tls_policy(session, route).await?;
    let body = json!({
        "@id": route_id(&route.app_id),
        "match": [{"host": [route.host]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": dial(port)}]}],
        "terminal": true
    });
    post_with_id(
        session,
        "creating the route",
        &format!("/config/apps/http/servers/{SERVER}/routes"),
        &route_id(&route.app_id),
        &body,
    )
    .await
}

/// The certificate policy of `route`: its name only, from the internal CA
/// or the default ACME issuers, "on demand". Caddy (before 2.7) starts
/// every configuration with an empty certificate cache and may serve
/// before its TLS app has loaded the certificates again, failing the
/// handshakes that arrive meanwhile; on demand, such a handshake loads the
/// certificate from storage instead (or obtains it, the first time).
fn tls_policy(route: &Route) -> Value {
    let mut policy = json!({
        "@id": tls_policy_id(&route.app_id),
        "subjects": [route.host],
        "on_demand": true
    });
    if route.internal_tls {
        policy["issuers"] = json!([{"module": "internal"}]);
    }
    policy
}

/// Makes the route's certificate policy (see [`tls_policy`]) the current
/// one, changing the configuration only when it differs.
async fn ensure_tls_policy(session: &Session, route: &Route) -> Result<(), ProxyError> {
    let id = tls_policy_id(&route.app_id);
    let wanted = tls_policy(route);
    let existing = admin(session, "GET", &format!("/id/{id}"), None).await?;
    if existing.status == 404 {
        return post_with_id(
            session,
            "adding the certificate policy",
            "/config/apps/tls/automation/policies",
            &id,
            &wanted,
        )
        .await;
    }
    if parse(&accepted("reading the certificate policy", existing)?) == wanted {
        return Ok(());
    }
    accepted(
        "changing the certificate policy",
        admin(session, "PATCH", &format!("/id/{id}"), Some(&wanted)).await?,
    )
    .map(drop)
}

/// Requests the proxy is sending to `127.0.0.1:port` right now; `None` when
/// no route uses that upstream any more (nothing in flight).
pub async fn in_flight(session: &Session, port: u16) -> Result<Option<u64>, ProxyError> {
    let response = accepted(
        "reading the upstreams",
        admin(session, "GET", "/reverse_proxy/upstreams", None).await?,
    )?;
    let address = dial(port);
    Ok(parse(&response)
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|u| u.get("address").and_then(Value::as_str) == Some(address.as_str()))
        })
        .and_then(|u| u.get("num_requests"))
        .and_then(Value::as_u64))
}

/// Removes the application's route and its certificate policy, in that
/// order (so that no route is left without its policy), and verifies the
/// route is gone. `true` when there was a route to remove; a repeated
/// removal finds nothing and is as good.
pub async fn remove_route(session: &Session, app_id: &str) -> Result<bool, ProxyError> {
    let id = route_id(app_id);
    let removed = admin(session, "DELETE", &format!("/id/{id}"), None).await?;
    let existed = removed.status != 404;
    if existed {
        accepted("removing the route", removed)?;
    }
    let policy = admin(
        session,
        "DELETE",
        &format!("/id/{}", tls_policy_id(app_id)),
        None,
    )
    .await?;
    if policy.status != 404 {
        accepted("removing the certificate policy", policy)?;
    }
    let left = admin(session, "GET", &format!("/id/{id}"), None).await?;
    if left.status != 404 {
        return Err(ProxyError::Refused {
            what: "removing the route",
            status: left.status,
            body: "the route is still configured".into(),
        });
    }
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::TlsMode;

    #[test]
    fn certificate_policies_cover_their_name_only_and_load_on_demand() {
        let internal = tls_policy(&Route::new("a1", "shop", None, TlsMode::Internal));
        assert_eq!(
            internal,
            json!({"@id": "servos-tls-a1", "subjects": ["shop.servos.internal"],
                "on_demand": true, "issuers": [{"module": "internal"}]})
        );
        let public = tls_policy(&Route::new(
            "a1",
            "shop",
            Some("shop.example.com"),
            TlsMode::Acme,
        ));
        assert_eq!(
            public,
            json!({"@id": "servos-tls-a1", "subjects": ["shop.example.com"], "on_demand": true})
        );
    }
}
