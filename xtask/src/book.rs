//! `cargo xtask book`: builds the documentation site with mdbook (installed once into a
//! cache outside the checkout, like the real clients, since CI runs in a fresh clone and
//! compiling mdbook is the slow part), checks every internal link of the rendered site, and
//! opens the front page and a provider page in headless Chromium for screenshots under
//! `target/book-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Pinned so a new mdbook release cannot change the site unseen.
const MDBOOK_VERSION: &str = "0.5.4";
/// The pages opened in Chromium: the front page and one provider page.
const SCREENSHOTS: &[(&str, &str)] = &[
    ("index.html", "front"),
    ("providers/claude.html", "provider-claude"),
];

/// `mdbook` from the cache, installed with `cargo install --locked` when missing or outdated.
fn ensure_mdbook() -> Result<PathBuf, String> {
    let root = crate::clients::cache_dir()?
        .parent()
        .map(|p| p.join("switchyard-mdbook"))
        .ok_or("no cache directory")?;
    let bin = root.join("bin/mdbook");
    let current = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if current.is_some_and(|v| v.trim() == format!("mdbook v{MDBOOK_VERSION}")) {
        return Ok(bin);
    }
    let started = std::time::Instant::now();
    let root_arg = root.to_string_lossy().into_owned();
    crate::cargo(&[
        "install",
        "--locked",
        "mdbook",
        "--version",
        MDBOOK_VERSION,
        "--root",
        &root_arg,
        // Only `mdbook build` is used: leaving out `serve` and `watch` (a web server and a
        // file watcher) saves about half of the compile.
        "--no-default-features",
        "--features",
        "search",
    ])?;
    eprintln!(
        "mdbook {MDBOOK_VERSION} installed into {} in {:.0} s",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

/// Builds the book into `target/book`, checks its links and takes the screenshots.
pub fn run(root: &Path) -> Result<(), String> {
    let mdbook = ensure_mdbook()?;
    let out = root.join("target/book");
    let _ = std::fs::remove_dir_all(&out);
    eprintln!("\n==> mdbook build docs");
    let status = Command::new(&mdbook)
        .arg("build")
        .arg(root.join("docs"))
        .status()
        .map_err(|e| format!("cannot run {}: {e}", mdbook.display()))?;
    if !status.success() {
        return Err("`mdbook build docs` failed".into());
    }
    let broken = check_links(&out)?;
    if !broken.is_empty() {
        return Err(format!("broken links in the book:\n{}", broken.join("\n")));
    }
    eprintln!("book: every internal link resolves");
    screenshots(root, &out)
}

/// Every `href`/`src` of every page that points inside the site and does not resolve (a
/// missing file, or a `#fragment` no element of the target page has as its id).
pub fn check_links(site: &Path) -> Result<Vec<String>, String> {
    let mut broken = Vec::new();
    for page in html_files(site)? {
        let text = std::fs::read_to_string(&page).map_err(|e| e.to_string())?;
        for link in links(&text) {
            if link.contains("://")
                || link.starts_with("mailto:")
                || link.starts_with("javascript:")
            {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let path = path.split('?').next().unwrap_or_default();
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(site).join(path)
            };
            let target = if target.is_dir() {
                target.join("index.html")
            } else {
                target
            };
            let shown = page
                .strip_prefix(site)
                .unwrap_or(&page)
                .display()
                .to_string();
            if !target.exists() {
                broken.push(format!("{shown}: {link} (no such file)"));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|e| e == "html") {
                let body = std::fs::read_to_string(&target).unwrap_or_default();
                if !body.contains(&format!("id=\"{fragment}\"")) {
                    broken.push(format!("{shown}: {link} (no element with id {fragment:?})"));
                }
            }
        }
    }
    Ok(broken)
}

/// The pages of the site, without mdbook's own assets, the print page (which repeats every
/// page's links) and the 404 page (whose links are absolute, for wherever the site is served).
fn html_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "css" | "fonts" | "FontAwesome" | "theme" | "static"
            ) {
                out.extend(html_files(&path)?);
            }
        } else if name.ends_with(".html")
            && !matches!(name.as_str(), "print.html" | "toc.html" | "404.html")
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The values of `href="..."` and `src="..."` attributes.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = rest.get(at + attr.len()..).unwrap_or_default();
            let end = rest.find('"').unwrap_or(rest.len());
            out.push(rest.get(..end).unwrap_or_default().to_owned());
        }
    }
    out
}

/// Opens each page of [`SCREENSHOTS`] in headless Chromium and checks a PNG came out.
fn screenshots(root: &Path, site: &Path) -> Result<(), String> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or("no chromium on PATH: `apt-get install -y chromium` (.ci/run does)")?;
    let dir = root.join("target/book-screenshots");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for (page, name) in SCREENSHOTS {
        let file = dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        let url = format!("file://{}", site.join(page).display());
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg("--window-size=1280,900")
            .arg(format!("--screenshot={}", file.display()))
            .arg(&url)
            .output()
            .map_err(|e| format!("cannot run {chromium}: {e}"))?;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        // A PNG of a rendered page is tens of kilobytes; a blank or missing one is not.
        if size < 10_000 {
            return Err(format!(
                "{chromium} made no screenshot of {url} ({size} bytes):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("book: {} ({size} bytes)", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link checker reports a missing page and a missing anchor, and passes good links.
    #[test]
    fn broken_links_are_reported() {
        let site = crate::root().join("target/link-check-test");
        let _ = std::fs::remove_dir_all(&site);
        std::fs::create_dir_all(site.join("sub")).unwrap();
        std::fs::write(
            site.join("index.html"),
            r#"<a href="sub/page.html#here">ok</a> <a href="gone.html">x</a>
               <a href="sub/page.html#nowhere">y</a> <a href="https://example.com/">out</a>"#,
        )
        .unwrap();
        std::fs::write(
            site.join("sub/page.html"),
            r#"<h2 id="here">Here</h2><a href="../index.html">up</a>"#,
        )
        .unwrap();
        let broken = check_links(&site).unwrap();
        assert_eq!(
            broken,
            vec![
                "index.html: gone.html (no such file)".to_owned(),
                "index.html: sub/page.html#nowhere (no element with id \"nowhere\")".to_owned(),
            ]
        );
    }
}
