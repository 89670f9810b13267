//! `tokens list | show | refresh | revoke`: the vault's connections, from
//! the command line. Token values are never printed.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use notion_oauth_gateway::config::Config;
use notion_oauth_gateway::delivery::{Freshness, Keeper};
use notion_oauth_gateway::metrics::Metrics;
use notion_oauth_gateway::notion::NotionClient;
use notion_oauth_gateway::vault::{Connection, Vault};

/// What to do with the vault's tokens.
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// List the connections (no token values), with delivery totals.
    List,
    /// Show one connection (no token values).
    Show {
        /// The connection's bot id.
        bot_id: String,
        /// Also ask Notion whether its access token is active.
        #[arg(long)]
        introspect: bool,
    },
    /// Refresh one connection's token now (the consumer is told).
    Refresh {
        /// The connection's bot id.
        bot_id: String,
    },
    /// Revoke one connection's token at Notion and forget it (the consumer is told).
    Revoke {
        /// The connection's bot id.
        bot_id: String,
    },
}

/// Opens the vault of `config`.
pub(crate) async fn open(config: &Config) -> anyhow::Result<Arc<Vault>> {
    Ok(Arc::new(Vault::open(&config.store).await?))
}

fn describe(c: &Connection) -> String {
    format!(
        "{}  workspace {} ({})  version {}  {}",
        c.bot_id,
        c.workspace_id,
        c.workspace_name.as_deref().unwrap_or("unnamed"),
        c.version,
        if c.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        }
    )
}

/// `status n, status n` or `none`.
fn totals(counts: &[(String, i64)]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a `tokens` subcommand.
pub(crate) async fn run(config: &Config, command: TokensCommand) -> anyhow::Result<ExitCode> {
    let vault = open(config).await?;
    let notion = NotionClient::new(&config.notion)?;
    let keeper = Arc::new(Keeper::new(vault, notion, Arc::new(Metrics::default())));
    let store = keeper.store();
    match command {
        TokensCommand::List => {
            let connections = store.connections().await?;
            if !config.store.keep_tokens {
                println!("note: [store] keep_tokens = false, so no connection is kept");
            }
            for c in &connections {
                println!("{}", describe(c));
            }
            println!("{} connection(s)", connections.len());
            println!("deliveries: {}", totals(&store.outbox_counts().await?));
            println!("exchanges: {}", totals(&store.exchange_counts().await?));
        }
        TokensCommand::Show { bot_id, introspect } => {
            let c = keeper.connection(&bot_id).await?;
            println!("bot_id:         {}", c.bot_id);
            println!("workspace_id:   {}", c.workspace_id);
            println!(
                "workspace_name: {}",
                c.workspace_name.as_deref().unwrap_or("-")
            );
            println!(
                "owner_user_id:  {}",
                c.owner_user_id.as_deref().unwrap_or("-")
            );
            println!("version:        {}", c.version);
            println!("created_at_ms:  {}", c.created_at);
            println!("updated_at_ms:  {}", c.updated_at);
            println!(
                "status:         {}",
                if c.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                }
            );
            if introspect {
                let i = keeper.introspect(&bot_id).await?;
                println!("notion_active:  {}", i.active);
            }
        }
        TokensCommand::Refresh { bot_id } => {
            let t = keeper
                .current_token(&bot_id, Freshness::refreshed_now())
                .await?;
            println!("refreshed {}: now version {}", t.bot_id, t.version);
        }
        TokensCommand::Revoke { bot_id } => {
            keeper.revoke(&bot_id).await?;
            println!("revoked {bot_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
