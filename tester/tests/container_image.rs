//! The container image (`cargo xtask image`, `switchyard:local`) run with podman: it starts
//! as the Dockerfile's runtime stage says (entrypoint, port 4100 on all interfaces, the
//! non-root user, `data/` a volume), serves one OpenAI chat request to a fake provider on the
//! host, records its usage row in the volume's SQLite file, and passes its own health check.
//! Skipped, with the reason printed, only where podman is not installed; fails when the image
//! was not built (`cargo xtask image`, which `cargo xtask ci` runs first).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns fail the test by panicking"
)]

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tester::container::{
    Container, Volume, image, image_missing, podman, podman_missing, podman_ok,
};
use switchyard_tester::fake_openai::{FakeOpenAi, REPLY};
use switchyard_tester::harness::scratch_dir;
use switchyard_tester::http_client::post_json;

const CLIENT_KEY: &str = "sk-container-client-0001";
const UPSTREAM_KEY: &str = "sk-container-upstream-0001";
/// The image's user (the Dockerfile's `useradd --uid 10001`).
const UID: &str = "10001";

/// The config the container reads (mounted read-only, as docker-compose.yml mounts
/// `deploy/config.toml`): the provider is the fake on the host, reached by the name podman
/// puts in the container's /etc/hosts. The database stays at its default, `data/` under the
/// working directory `/app`, which is the volume.
fn config(fake_port: u16) -> String {
    format!(
        r#"
[[client_keys]]
id = "container"
key = "{CLIENT_KEY}"

[[providers]]
name = "fake"
base_url = "http://host.containers.internal:{fake_port}/v1"
models = ["gpt-test"]

[[providers.accounts]]
name = "acct0"
api_key_env = "FAKE_KEY"
"#
    )
}

/// The usage rows of the SQLite file in `volume`: (status, provider, prompt tokens), polled
/// for up to ten seconds until there is one (the usage writer batches in the background).
async fn usage_rows(volume: &Volume) -> Vec<(i64, String, i64)> {
    let start = Instant::now();
    loop {
        let db = volume.readable().join("switchyard.db");
        let rows = rusqlite::Connection::open(&db).ok().and_then(|conn| {
            let mut stmt = conn
                .prepare("SELECT status, provider, prompt_tokens FROM usage")
                .ok()?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .ok()?
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            Some(rows)
        });
        if let Some(rows) = rows.filter(|r| !r.is_empty()) {
            return rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no usage row in {} after 10 s",
            volume.mountpoint().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every uid (real, effective, saved, filesystem) of host process `pid`, as its own user
/// namespace numbers them: the host's number rootful (the map is the identity), the image's
/// user rather than its subordinate uid on the host rootless.
fn uids(pid: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let inside = |host: u64| {
        map.lines().find_map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            let (first, outside, count) = (*n.first()?, *n.get(1)?, *n.get(2)?);
            (outside..outside.saturating_add(count))
                .contains(&host)
                .then(|| first + (host - outside))
        })
    };
    line.split_whitespace()
        .skip(1)
        .map(|host| inside(host.parse().unwrap()).unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_serves_records_and_is_healthy() {
    if let Some(reason) = podman_missing().or_else(image_missing) {
        println!("skipped: {reason}");
        return;
    }

    // What the image declares is what the Dockerfile's runtime stage declares.
    let declared = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{.Config.WorkingDir}}",
        &image(),
    ]);
    for part in [
        "switchyard ",
        r#"["switchyard"]"#,
        r#"["serve"]"#,
        "4100/tcp",
        "/app/data",
        "/app/logs",
        " /app",
    ] {
        assert!(
            declared.contains(part),
            "image config {declared} lacks {part}"
        );
    }
    let env = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &image(),
    ]);
    assert!(env.contains("SWITCHYARD_LISTEN=0.0.0.0:4100"), "{env}");

    // The fake listens on every interface: the container reaches the host through the
    // bridge, not through loopback.
    let fake = FakeOpenAi::start_on("0.0.0.0:0").await;
    let dir = scratch_dir("container");
    let config_file = dir.join("config.toml");
    std::fs::write(&config_file, config(fake.addr.port())).unwrap();
    let data = Volume::create("data");
    let logs = Volume::create("logs");
    let mount_config = format!("{}:/etc/switchyard/config.toml:ro", config_file.display());
    let mount_data = format!("{}:/app/data", data.name);
    let mount_logs = format!("{}:/app/logs", logs.name);
    let env_key = format!("FAKE_KEY={UPSTREAM_KEY}");
    let container = Container::run(
        "smoke",
        &[
            "--publish",
            "127.0.0.1::4100",
            "--volume",
            &mount_config,
            "--volume",
            &mount_data,
            "--volume",
            &mount_logs,
            "--env",
            &env_key,
        ],
        &["--config", "/etc/switchyard/config.toml", "serve"],
    );
    let base = format!("http://127.0.0.1:{}", container.host_port(4100));
    container
        .wait_healthy(&format!("{base}/health"), Duration::from_secs(60))
        .await;

    let res = post_json(
        &format!("{base}/v1/chat/completions"),
        CLIENT_KEY,
        &json!({"model": "fake/gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status, 200, "{}\n{}", res.text(), container.logs());
    assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
    assert_eq!(fake.keys_seen(), [UPSTREAM_KEY]);

    let rows = usage_rows(&data).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, 200);
    assert_eq!(rows[0].1, "fake");
    assert!(rows[0].2 > 0, "{rows:?}");

    // The server itself, as the host sees it, and a process started in the container.
    let pid = container.inspect("{{.State.Pid}}");
    assert_eq!(uids(&pid), [UID; 4]);
    let exec_uid = podman_ok(&["exec", &container.name, "bash", "-c", "echo $UID"]);
    assert_eq!(exec_uid, UID);

    let (healthy, out, err) = podman(&["healthcheck", "run", &container.name]);
    assert!(
        healthy,
        "health check failed: {out}{err}\n{}",
        container.logs()
    );

    container.stop(10);
    let exit = container.inspect("{{.State.ExitCode}}");
    assert_eq!(exit, "0", "{}", container.logs());
    let _ = std::fs::remove_dir_all(&dir);
}

const ADMIN_KEY: &str = "sk-container-admin-0001";

/// Two containers of the image sharing one `redis-server` on the host, as
/// docker-compose.yml runs them: each with its own data volume, both reading one config.
fn cluster_config(fake_port: u16, redis_port: u16) -> String {
    format!(
        r#"
[server]
admin_key = "{ADMIN_KEY}"

[cluster]
redis_url = "redis://host.containers.internal:{redis_port}/0"

[[client_keys]]
id = "container"
key = "{CLIENT_KEY}"

[[providers]]
name = "p"
base_url = "http://host.containers.internal:{fake_port}/v1"

[[providers.accounts]]
name = "a1"
api_key_env = "FAKE_KEY"
"#
    )
}

/// `/health` of the instance at `base`, polled until its cluster status is `connected`.
async fn wait_connected(container: &Container, base: &str) {
    let start = Instant::now();
    loop {
        let res =
            switchyard_tester::http_client::request("GET", &format!("{base}/health"), &[], "")
                .await;
        let health = res.json();
        if health["cluster"]["status"] == "connected" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} never connected to redis: {health}\n{}",
            container.name,
            container.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ask(base: &str, model: &str) -> switchyard_tester::http_client::Reply {
    post_json(
        &format!("{base}/v1/chat/completions"),
        CLIENT_KEY,
        &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_share_a_combo_through_redis() {
    if let Some(reason) = podman_missing().or_else(image_missing) {
        println!("skipped: {reason}");
        return;
    }
    let fake = FakeOpenAi::start_on("0.0.0.0:0").await;
    let redis = switchyard_tester::redis_server::RedisServer::start_for_containers();
    let dir = scratch_dir("container-cluster");
    let config_file = dir.join("config.toml");
    std::fs::write(&config_file, cluster_config(fake.addr.port(), redis.port)).unwrap();
    let mount_config = format!("{}:/etc/switchyard/config.toml:ro", config_file.display());
    let env_key = format!("FAKE_KEY={UPSTREAM_KEY}");
    let mut volumes = Vec::new();
    let mut instances = Vec::new();
    for label in ["cluster-a", "cluster-b"] {
        let data = Volume::create("cluster-data");
        let mount_data = format!("{}:/app/data", data.name);
        let container = Container::run(
            label,
            &[
                "--publish",
                "127.0.0.1::4100",
                "--volume",
                &mount_config,
                "--volume",
                &mount_data,
                "--env",
                &env_key,
                "--env",
                "SWITCHYARD_CLUSTER_KEY=container-cluster-secret-0123456789abcdef",
            ],
            &["--config", "/etc/switchyard/config.toml", "serve"],
        );
        let base = format!("http://127.0.0.1:{}", container.host_port(4100));
        container
            .wait_healthy(&format!("{base}/health"), Duration::from_secs(60))
            .await;
        wait_connected(&container, &base).await;
        volumes.push(data);
        instances.push((container, base));
    }
    let (a, b) = (&instances[0].1, &instances[1].1);
    assert_eq!(ask(b, "team-chain").await.status, 404);

    let auth = format!("Bearer {ADMIN_KEY}");
    let res = switchyard_tester::http_client::request(
        "POST",
        &format!("{a}/api/combos"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        json!({"name": "team-chain", "targets": ["p/m1", "p/m2"]}).to_string(),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text());
    // The one-second promise is cluster.rs's to check on bare processes; here the point is
    // that the containers reach Redis and each other's changes at all.
    let created = Instant::now();
    loop {
        let res = ask(b, "team-chain").await;
        if res.status == 200 {
            assert_eq!(res.json()["choices"][0]["message"]["content"], REPLY);
            break;
        }
        assert!(
            created.elapsed() < Duration::from_secs(5),
            "b does not serve the combo 5 s after a made it: {} {}\n{}",
            res.status,
            res.text(),
            instances[1].0.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B keeps it in its own database, in its own volume.
    let db = volumes[1].readable().join("switchyard.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM routes WHERE name = 'team-chain'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    for (container, _) in &instances {
        container.stop(10);
        assert_eq!(
            container.inspect("{{.State.ExitCode}}"),
            "0",
            "{}",
            container.logs()
        );
    }
    drop(instances);
    drop(volumes);
    let _ = std::fs::remove_dir_all(&dir);
}
