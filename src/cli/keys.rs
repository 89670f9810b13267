//! `keys rotate`: a new key seals from now on and every stored token is
//! re-sealed with it; the old keys stay, so nothing sealed earlier is lost.

use std::process::ExitCode;

use notion_oauth_gateway::config::{Config, VaultKeySource};
use notion_oauth_gateway::vault::keys::add_key_to_file;

/// Runs `keys rotate`.
pub(crate) async fn rotate(config: &Config) -> anyhow::Result<ExitCode> {
    match &config.store.keys {
        VaultKeySource::File(path) | VaultKeySource::Generated(path) => {
            let id = add_key_to_file(path)?;
            println!("added key {id} in front of {}", path.display());
        }
        VaultKeySource::Env { var, .. } => {
            println!(
                "keys come from {var}: re-sealing with its first key (to rotate, put a new key first in {var}, comma-separated, and run this again)"
            );
        }
    }
    let vault = super::tokens::open(config).await?;
    let resealed = vault.reseal_all().await?;
    println!(
        "re-sealed {resealed} stored token(s) with key {}; keys in use: {}",
        vault.key_ids().first().map_or("-", String::as_str),
        vault.key_ids().join(", ")
    );
    println!("keep the older keys configured until no process still holds a value they sealed");
    Ok(ExitCode::SUCCESS)
}
