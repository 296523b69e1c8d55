//! `switchyard models`: the catalogue, then each provider's own model list as last fetched
//! (a model the catalogue does not price is flagged "no price"); `--refresh` fetches the
//! lists first, with the configured accounts, as the server's refresh route does. The
//! providers are the server's: the file's and those stored through the management API.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::catalogue::discovery;
use crate::cli::{Error, config_and_database};
use crate::state::{app, usage_store};

pub fn run(config_path: &Path, refresh: bool) -> Result<(), Error> {
    if refresh {
        refresh_all(config_path)?;
    }
    let (config, conn) = config_and_database(config_path)?;
    print!("{}", super::report::models_table(&config.catalogue));
    let lists = discovery::load(&conn)?;
    let sources = crate::start::stored_reconfigure(&conn, config)
        .map_err(|e| Error::Refused(e.to_string()))?;
    let providers: Vec<(&str, &str)> = sources
        .file
        .providers
        .iter()
        .chain(&sources.stored_providers)
        .map(|p| (p.name.as_str(), p.kind.as_str()))
        .collect();
    print!(
        "{}",
        discovered_table(&sources.file.catalogue, &providers, lists)
    );
    Ok(())
}

/// Each provider's stored list, every model with its limits and whether it is priced.
fn discovered_table(
    catalogue: &crate::catalogue::Catalogue,
    providers: &[(&str, &str)],
    lists: Vec<(String, i64, Vec<discovery::Discovered>)>,
) -> String {
    let mut out = String::new();
    for (provider, fetched_ms, models) in lists {
        let Some((name, kind)) = providers.iter().find(|p| p.0 == provider) else {
            continue;
        };
        let view = discovery::view(catalogue, name, kind, fetched_ms, models);
        let _ = writeln!(
            out,
            "\nprovider `{}` lists {} models (fetched {}):",
            view.provider,
            view.models.len(),
            view.fetched_at
        );
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        for m in &view.models {
            let _ = writeln!(
                out,
                "  {:<40}  {:>9}  {:>9}  {}",
                m.model.id,
                n(m.model.context),
                n(m.model.max_output),
                if m.priced { "priced" } else { "no price" }
            );
        }
    }
    out
}

/// Fetches and stores every provider's list whose API has one; a provider that fails is
/// reported and the others still refreshed.
fn refresh_all(config_path: &Path) -> Result<(), Error> {
    let (config, conn) = config_and_database(config_path)?;
    let sources = crate::start::stored_reconfigure(&conn, config)
        .map_err(|e| Error::Refused(e.to_string()))?;
    let (usage, writer) =
        usage_store::start(conn, usage_store::WriterOptions::default()).map_err(Error::Runtime)?;
    let app =
        Arc::new(app::build(usage, None, &[], sources).map_err(|e| Error::Refused(e.to_string()))?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let mut failed = Vec::new();
    runtime.block_on(async {
        for p in &app.snapshot().providers {
            match discovery::refresh(&app, p).await {
                Ok(list) => println!(
                    "provider `{}`: {} models fetched",
                    p.name,
                    list.models.len()
                ),
                Err(e) if e.code == Some("no_model_list") => {
                    println!("provider `{}`: {}", p.name, e.message);
                }
                Err(e) => {
                    eprintln!("provider `{}`: {}", p.name, e.message);
                    failed.push(p.name.clone());
                }
            }
        }
    });
    drop(app);
    writer.close();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "the model list of {} could not be refreshed",
            failed.join(", ")
        )))
    }
}
