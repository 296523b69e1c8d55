//! `cargo xtask image`: the container image, assembled FROM SCRATCH with buildah.
//!
//! The `Dockerfile` is the recipe for machines that can pull `rust` and `debian` base images.
//! Where no registry is reachable (CI here), nothing can be pulled, so this assembles the same
//! runtime image from files of this machine: the release binary, the shared libraries `ldd`
//! names for it, the CA bundle, an `/etc/passwd` and `/etc/group` with the non-root user,
//! and bash (plus its libraries) for the health check, which speaks HTTP over bash's
//! `/dev/tcp` so no curl is needed. Entrypoint, command, port, environment, user, volumes and
//! health check are those of the Dockerfile's runtime stage. The result is committed in
//! docker format (OCI images cannot carry a health check) as `switchyard:local`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The tag `cargo xtask image` commits and the container smoke test runs.
pub const TAG: &str = "switchyard:local";
/// The non-root user of the Dockerfile's runtime stage.
const UID: u32 = 10001;
/// The health check of the Dockerfile's runtime stage: bash builtins only, so the image
/// needs bash and nothing else (no curl, head or grep).
pub const HEALTH_SCRIPT: &str = "exec 3<>/dev/tcp/127.0.0.1/4100 \
    && printf \"GET /health HTTP/1.1\\r\\nhost: localhost\\r\\nconnection: close\\r\\n\\r\\n\" >&3 \
    && read -r status <&3 && [[ $status == *\" 200 \"* ]]";

/// Builds the release binary (timed), assembles the image and commits it as [`TAG`].
pub fn run(root: &Path) -> Result<(), String> {
    need_buildah()?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    // `SWITCHYARD_IMAGE_BINARY` names a binary already built (a debug build, to check the
    // assembly quickly); the image then carries that build, not the release one.
    let binary = match std::env::var_os("SWITCHYARD_IMAGE_BINARY") {
        Some(binary) => PathBuf::from(binary),
        None => {
            let started = Instant::now();
            crate::cargo(&[
                "build",
                "--release",
                "-p",
                "switchyard-server",
                "--bin",
                "switchyard",
            ])?;
            eprintln!("release build: {:.1} s", started.elapsed().as_secs_f64());
            target.join("release").join("switchyard")
        }
    };
    let staging = target.join("image");
    let _ = std::fs::remove_dir_all(&staging);
    let assembled = Instant::now();
    let rootfs = staging.join("rootfs");
    let app = staging.join("app");
    stage_rootfs(&binary, &rootfs)?;
    for dir in ["data", "logs"] {
        mkdir(&app.join(dir))?;
    }
    commit(&rootfs, &app)?;
    let _ = std::fs::remove_dir_all(&staging);
    eprintln!(
        "image {TAG} assembled and committed in {:.1} s",
        assembled.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether buildah is installed (CI builds the image only where it is).
pub fn buildah_present() -> bool {
    Command::new("buildah")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Fails with what to install when buildah is not on PATH.
fn need_buildah() -> Result<(), String> {
    if buildah_present() {
        Ok(())
    } else {
        Err(
            "`buildah` is needed to build the image (Debian: apt-get install podman buildah)"
                .into(),
        )
    }
}

fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Copies `from` to the same absolute path under `rootfs`, through symlinks (the image has
/// no `/lib -> usr/lib` link of its own, so each file lands where the loader looks for it).
fn place(rootfs: &Path, from: &Path, at: &Path) -> Result<(), String> {
    let relative = at.strip_prefix("/").unwrap_or(at);
    let to = rootfs.join(relative);
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(from, &to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// The shared libraries (and the loader) `ldd` names for `binary`, as absolute paths.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run ldd: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Lines are `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, or the loader's
    // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Writes the runtime filesystem (everything but `/app`) into `rootfs`.
fn stage_rootfs(release_binary: &Path, rootfs: &Path) -> Result<(), String> {
    let binary = rootfs.join("usr/local/bin/switchyard");
    place(
        rootfs,
        release_binary,
        Path::new("/usr/local/bin/switchyard"),
    )?;
    // As the Dockerfile's builder does: the symbols only make the image larger.
    let stripped = Command::new("strip").arg(&binary).status();
    if !matches!(stripped, Ok(s) if s.success()) {
        eprintln!("strip is missing or failed: the image carries an unstripped binary");
    }
    let bash = Path::new("/bin/bash");
    place(rootfs, bash, bash)?;
    let mut libraries = shared_libraries(release_binary)?;
    libraries.extend(shared_libraries(bash)?);
    libraries.sort();
    libraries.dedup();
    for library in &libraries {
        place(rootfs, library, library)?;
    }
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if !bundle.exists() {
        return Err("no CA bundle at /etc/ssl/certs/ca-certificates.crt (Debian: apt-get install ca-certificates)".into());
    }
    place(rootfs, bundle, bundle)?;
    let etc = rootfs.join("etc");
    let files = [
        (
            "passwd",
            format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\nswitchyard:x:{UID}:{UID}::/app:/usr/sbin/nologin\n"
            ),
        ),
        ("group", format!("root:x:0:\nswitchyard:x:{UID}:\n")),
        // glibc reads the hosts and users databases through NSS; without this file it
        // guesses, with it the lookup order is the one a Debian image has.
        (
            "nsswitch.conf",
            "passwd: files\ngroup: files\nhosts: files dns\n".to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(etc.join(name), text)
            .map_err(|e| format!("cannot write /etc/{name}: {e}"))?;
    }
    mkdir(&rootfs.join("tmp"))?;
    set_mode(&rootfs.join("tmp"), 0o1777)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn buildah(args: &[&str]) -> Result<String, String> {
    let out = Command::new("buildah")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run buildah: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`buildah {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A working container from scratch with `rootfs` at `/` and `app` at `/app` owned by the
/// non-root user, configured as the Dockerfile's runtime stage and committed as [`TAG`].
fn commit(rootfs: &Path, app: &Path) -> Result<(), String> {
    const NAME: &str = "switchyard-image-build";
    // A working container left by an interrupted run would hold the name.
    let _ = buildah(&["rm", NAME]);
    buildah(&["from", "--name", NAME, "scratch"])?;
    let result = configure(NAME, rootfs, app)
        .and_then(|()| buildah(&["commit", "--format", "docker", "--rm", NAME, TAG]).map(|_| ()));
    if result.is_err() {
        let _ = buildah(&["rm", NAME]);
    }
    result
}

fn configure(name: &str, rootfs: &Path, app: &Path) -> Result<(), String> {
    let rootfs = format!("{}/", rootfs.display());
    let app = format!("{}/", app.display());
    let owner = format!("{UID}:{UID}");
    buildah(&["add", "--chown", "0:0", name, &rootfs, "/"])?;
    buildah(&["add", "--chown", &owner, name, &app, "/app"])?;
    let health = format!("CMD bash -c '{HEALTH_SCRIPT}'");
    buildah(&[
        "config",
        "--user",
        "switchyard",
        "--workingdir",
        "/app",
        "--env",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "--env",
        "SWITCHYARD_LISTEN=0.0.0.0:4100",
        "--port",
        "4100/tcp",
        "--volume",
        "/app/data",
        "--volume",
        "/app/logs",
        "--entrypoint",
        r#"["switchyard"]"#,
        "--cmd",
        "serve",
        "--healthcheck",
        &health,
        "--healthcheck-interval",
        "10s",
        "--healthcheck-timeout",
        "3s",
        "--healthcheck-start-period",
        "5s",
        "--healthcheck-retries",
        "3",
        "--label",
        "org.opencontainers.image.title=switchyard",
        "--label",
        "org.opencontainers.image.description=Switchyard assembled from scratch by cargo xtask image",
        name,
    ])
    .map(|_| ())
}
