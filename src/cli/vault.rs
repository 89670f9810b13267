//! `vault status`: the vault's figures read from the store, so they cover
//! every instance sharing it: exchanges, deliveries and connections by state.

use std::process::ExitCode;

use clap::Subcommand;
use notion_oauth_gateway::config::Config;
use notion_oauth_gateway::vault::store::Status;

/// What to ask the vault.
#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Exchanges, deliveries and connections by state, across every instance.
    Status {
        /// Print exactly `{"exchanges": {...}, "deliveries": {...}, "connections": {...}}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `vault` subcommand.
pub(crate) async fn run(config: &Config, command: VaultCommand) -> anyhow::Result<ExitCode> {
    let VaultCommand::Status { json } = command;
    let vault = super::tokens::open(config).await?;
    let status = vault.store().status().await?;
    if json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        print!("{}", text(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The figures for people, one table per line.
fn text(s: &Status) -> String {
    let e = &s.exchanges;
    let d = &s.deliveries;
    let c = &s.connections;
    format!(
        "exchanges    pending {}  committed {}  failed {}  lost {}\n\
         deliveries   pending {}  delivered {}  dead {}\n\
         connections  active {}  revoked {}\n",
        e.pending,
        e.committed,
        e.failed,
        e.lost,
        d.pending,
        d.delivered,
        d.dead,
        c.active,
        c.revoked
    )
}
