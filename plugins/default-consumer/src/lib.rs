//! The default consumer: logs each new authorization (workspace, bot id, owner)
//! to the gateway's log and accepts it. It never logs a token.
//!
//! Use it to try the gateway; replace it with a consumer that stores the token
//! (or the `webhook-consumer`) for real use.

wit_bindgen::generate!({ path: "../../wit", world: "consumer-plugin", generate_all });

use exports::notion::oauth::consumer::Guest;
use notion::oauth::types::{ConsumerError, Owner, RedirectError, StateInfo, TokenInfo};
use wasi::logging::logging::{Level, log};

struct DefaultConsumer;

impl Guest for DefaultConsumer {
    fn consume_token_info(token: TokenInfo, state: StateInfo) -> Result<(), ConsumerError> {
        let auth = &token.authorization;
        let owner = match &auth.owner {
            Owner::User(user) => format!(
                "user {}{}",
                user.id,
                user.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            Owner::Workspace => "workspace".to_string(),
        };
        log(
            Level::Info,
            "authorization",
            &format!(
                "new authorization: workspace {} ({}), bot {}, owner {}, refresh token {}, app data {}",
                auth.workspace_name.as_deref().unwrap_or("unnamed"),
                auth.workspace_id,
                auth.bot_id,
                owner,
                if token.refresh_token.is_some() {
                    "present"
                } else {
                    "absent"
                },
                if state.app_data.is_some() {
                    "present"
                } else {
                    "absent"
                },
            ),
        );
        Ok(())
    }

    fn consume_redirect_error(
        error: RedirectError,
        _state: StateInfo,
    ) -> Result<(), ConsumerError> {
        log(
            Level::Info,
            "authorization",
            &format!("authorization not granted: {}", error.error.escape_debug()),
        );
        Ok(())
    }
}

export!(DefaultConsumer);
