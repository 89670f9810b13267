//! Turns Notion's token response into the records plugins receive.

use super::bindings::contract::{Authorization, Delivery, DeliveryReason, Owner, TokenInfo, User};
use crate::notion::{self, TokenResponse};

/// What a view may see of an authorization: everything but the secrets.
pub fn authorization_of(token: &TokenResponse) -> Authorization {
    Authorization {
        bot_id: token.bot_id.clone(),
        token_type: token.token_type.clone(),
        workspace_id: token.workspace_id.clone(),
        workspace_name: token.workspace_name.clone(),
        workspace_icon: token.workspace_icon.clone(),
        owner: match &token.owner {
            notion::Owner::Workspace => Owner::Workspace,
            notion::Owner::User { user } => Owner::User(User {
                id: user.id.clone(),
                user_type: user.user_type.clone(),
                name: user.name.clone(),
                avatar_url: user.avatar_url.clone(),
                email: user.person.as_ref().and_then(|p| p.email.clone()),
                email_verified: user.person.as_ref().and_then(|p| p.email_verified),
            }),
        },
        duplicated_template_id: token.duplicated_template_id.clone(),
        request_id: token.request_id.clone(),
    }
}

/// The full token for the consumer, with the delivery's facts.
pub fn token_info_of(
    token: &TokenResponse,
    idempotency_key: String,
    reason: DeliveryReason,
    attempt: u32,
) -> TokenInfo {
    TokenInfo {
        access_token: token.access_token.expose().to_string(),
        refresh_token: token.refresh_token.as_ref().map(|t| t.expose().to_string()),
        authorization: authorization_of(token),
        delivery: Delivery {
            idempotency_key,
            reason,
            attempt,
        },
    }
}
