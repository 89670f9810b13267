//! The console's pages: what each shows, read from the store and the
//! plugins, as askama templates (`templates/`). Times are written in UTC
//! (`<time datetime>`); the console's script shows them in the viewer's
//! time zone.

use askama::Template;
use http::StatusCode;

use super::chart;
use crate::plugins::{KEPT_LINES, Plugins, ReloadOutcome, ReloadRecord};
use crate::vault::StoreError;
use crate::vault::store::{
    Connection, DeliveryRecord, Evidence, EvidenceRecord, FlowOutcome, Store, Table,
};

/// What every signed-in page carries.
#[derive(Debug, Clone, Default)]
pub(super) struct Layout {
    /// The session's CSRF token, for the page's forms.
    pub(super) csrf: String,
    /// A line saying what the last action did.
    pub(super) notice: String,
}

/// The line for an action's `?done=` (a fixed set: nothing is reflected).
pub(super) fn notice(done: &str) -> &'static str {
    match done {
        "refreshed" => "Refreshed: the connection has a new token.",
        "revoked" => "Revoked at Notion.",
        "retried" => "Made due again: the delivery worker takes it now.",
        "again" => "Delivering the current token again, under a new idempotency key.",
        _ => "",
    }
}

/// A page ready to render.
pub(super) struct Page {
    pub(super) status: StatusCode,
    body: Box<dyn Fn() -> askama::Result<String> + Send>,
}

impl Page {
    fn of<T: Template + Send + 'static>(template: T) -> Self {
        Self::with_status(StatusCode::OK, template)
    }

    fn with_status<T: Template + Send + 'static>(status: StatusCode, template: T) -> Self {
        Self {
            status,
            body: Box::new(move || template.render()),
        }
    }

    /// The HTML.
    pub(super) fn html(&self) -> askama::Result<String> {
        (self.body)()
    }

    pub(super) fn not_found(layout: Layout) -> Self {
        Self::with_status(
            StatusCode::NOT_FOUND,
            MessagePage {
                signed_in: true,
                section: "",
                csrf: layout.csrf,
                notice: String::new(),
                heading: "Not found".into(),
                sentence: "There is no such page in the console.".into(),
                back: "/admin".into(),
            },
        )
    }

    pub(super) fn store_error() -> Self {
        Self::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            MessagePage {
                signed_in: true,
                section: "",
                csrf: String::new(),
                notice: String::new(),
                heading: "The store did not answer".into(),
                sentence: "The database could not be read just now; the log says why. Try again in a moment.".into(),
                back: "/admin".into(),
            },
        )
    }
}

/// A time in ms since the epoch as RFC 3339 UTC, to the second
/// (`2026-12-01T18:00:00Z`).
fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A duration in ms, roughly, for people: `3 days`, `5 hours`, `12 minutes`.
fn age(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (n, unit) = match minutes {
        m if m >= 2 * 1440 => (m / 1440, "days"),
        m if m >= 120 => (m / 60, "hours"),
        m => (m, "minutes"),
    };
    if n == 1 {
        format!("1 {}", unit.trim_end_matches('s'))
    } else {
        format!("{n} {unit}")
    }
}

fn url_part(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ---------- sign-in ----------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    error: String,
    next: String,
}

pub(super) fn login(error: &str, next: &str) -> Page {
    Page::of(LoginPage {
        signed_in: false,
        section: "",
        csrf: String::new(),
        notice: String::new(),
        error: error.to_string(),
        next: next.to_string(),
    })
}

// ---------- messages ----------

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    heading: String,
    sentence: String,
    back: String,
}

pub(super) fn message(heading: &str, sentence: &str, back: &str) -> Page {
    Page::of(MessagePage {
        signed_in: true,
        section: "",
        csrf: String::new(),
        notice: String::new(),
        heading: heading.to_string(),
        sentence: sentence.to_string(),
        back: back.to_string(),
    })
}

// ---------- overview ----------

struct FigureRow {
    label: &'static str,
    hour: i64,
    day: i64,
    alert: bool,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    now: String,
    rows: Vec<FigureRow>,
    pending: i64,
    dead: i64,
    chart: String,
    chart_caption: String,
}

fn count(counts: &[(String, i64)], status: &str) -> i64 {
    counts
        .iter()
        .filter(|(s, _)| s == status)
        .map(|(_, n)| n)
        .sum()
}

pub(super) async fn overview(store: &Store, layout: Layout) -> Result<Page, StoreError> {
    let now = crate::clock::unix_ms();
    let (hour, day) = (now - 3_600_000, now - 86_400_000);
    let minutes = store.flow_minutes(day).await?;
    let flows = |since: i64, outcome: FlowOutcome| -> i64 {
        minutes
            .iter()
            .filter(|(m, o, _)| *m >= since - 59_999 && o == outcome.name())
            .map(|(_, _, n)| n)
            .sum()
    };
    let exchanges = [
        store.ended_since(Evidence::Exchange, hour).await?,
        store.ended_since(Evidence::Exchange, day).await?,
    ];
    let refreshes = [
        store.ended_since(Evidence::Refresh, hour).await?,
        store.ended_since(Evidence::Refresh, day).await?,
    ];
    let outbox = store.counts(Table::Outbox).await?;
    let rows = vec![
        FigureRow {
            label: "Flows completed",
            hour: flows(hour, FlowOutcome::Completed),
            day: flows(day, FlowOutcome::Completed),
            alert: false,
        },
        FigureRow {
            label: "Flows denied by the user",
            hour: flows(hour, FlowOutcome::Denied),
            day: flows(day, FlowOutcome::Denied),
            alert: false,
        },
        FigureRow {
            label: "Flows failed",
            hour: flows(hour, FlowOutcome::Failed),
            day: flows(day, FlowOutcome::Failed),
            alert: flows(hour, FlowOutcome::Failed) > 0,
        },
        FigureRow {
            label: "Tokens possibly lost",
            hour: count(&exchanges[0], "lost"),
            day: count(&exchanges[1], "lost"),
            alert: count(&exchanges[1], "lost") > 0,
        },
        FigureRow {
            label: "Refreshes ok",
            hour: count(&refreshes[0], "committed"),
            day: count(&refreshes[1], "committed"),
            alert: false,
        },
        FigureRow {
            label: "Refreshes failed",
            hour: count(&refreshes[0], "failed") + count(&refreshes[0], "lost"),
            day: count(&refreshes[1], "failed") + count(&refreshes[1], "lost"),
            alert: count(&refreshes[0], "failed") + count(&refreshes[0], "lost") > 0,
        },
    ];
    let (chart, chart_caption) = chart::flows_per_minute(&minutes, now);
    Ok(Page::of(OverviewPage {
        signed_in: true,
        section: "overview",
        csrf: layout.csrf,
        notice: layout.notice,
        now: utc(now),
        rows,
        pending: count(&outbox, "pending"),
        dead: count(&outbox, "dead"),
        chart,
        chart_caption,
    }))
}

// ---------- connections ----------

struct ConnectionRow {
    bot_id: String,
    bot_id_url: String,
    workspace: String,
    owner: String,
    version: i64,
    revoked: bool,
    created: String,
}

fn workspace_of(c: &Connection) -> String {
    c.workspace_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| c.workspace_id.clone())
}

fn owner_of(c: &Connection) -> String {
    match (&c.owner_email, &c.owner_user_id) {
        (Some(email), _) => email.clone(),
        (None, Some(user)) => format!("user {user}"),
        (None, None) => "the workspace (a bot owner)".into(),
    }
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    query: String,
    total: i64,
    connections: Vec<ConnectionRow>,
    page: i64,
    pages: i64,
    prev: Option<String>,
    next: Option<String>,
}

pub(super) async fn connections(
    store: &Store,
    layout: Layout,
    query: &str,
    page: i64,
    per_page: i64,
) -> Result<Page, StoreError> {
    let search = (!query.is_empty()).then_some(query);
    let found = store
        .search_connections(search, per_page, (page - 1).saturating_mul(per_page))
        .await?;
    let pages = ((found.total + per_page - 1) / per_page).max(1);
    let link = |p: i64| {
        if query.is_empty() {
            format!("/admin/connections?page={p}")
        } else {
            format!("/admin/connections?q={}&page={p}", url_part(query))
        }
    };
    Ok(Page::of(ConnectionsPage {
        signed_in: true,
        section: "connections",
        csrf: layout.csrf,
        notice: layout.notice,
        query: query.to_string(),
        total: found.total,
        connections: found
            .connections
            .iter()
            .map(|c| ConnectionRow {
                bot_id: c.bot_id.clone(),
                bot_id_url: url_part(&c.bot_id),
                workspace: workspace_of(c),
                owner: owner_of(c),
                version: c.version,
                revoked: c.revoked_at.is_some(),
                created: utc(c.created_at),
            })
            .collect(),
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    }))
}

struct DeliveryRow {
    id_url: String,
    bot_id: String,
    bot_id_url: String,
    reason: String,
    status: String,
    status_class: String,
    attempts: i64,
    last_error: String,
    next_attempt: String,
    created: String,
}

fn delivery_row(d: &DeliveryRecord) -> DeliveryRow {
    DeliveryRow {
        id_url: url_part(&d.id),
        bot_id: d.bot_id.clone(),
        bot_id_url: url_part(&d.bot_id),
        reason: d.reason.clone(),
        status: d.status.clone(),
        status_class: d.status.clone(),
        attempts: d.attempts,
        last_error: d.last_error.clone().unwrap_or_default(),
        next_attempt: utc(d.next_attempt_at),
        created: utc(d.created_at),
    }
}

struct EvidenceRow {
    id: String,
    status: String,
    status_class: String,
    started: String,
    finished: String,
    why: String,
}

fn evidence_row(e: &EvidenceRecord) -> EvidenceRow {
    EvidenceRow {
        id: e.id.clone(),
        status: match e.status.as_str() {
            "committed" => "ok".into(),
            other => other.to_string(),
        },
        status_class: e.status.clone(),
        started: utc(e.started_at),
        finished: e.finished_at.map(utc).unwrap_or_default(),
        why: match (&e.why, e.status.as_str()) {
            (Some(why), _) => why.clone(),
            (None, "failed" | "lost") => {
                "not recorded (it ended before this gateway version)".into()
            }
            (None, _) => String::new(),
        },
    }
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ConnectionDetailPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    c: Connection,
    bot_id_url: String,
    workspace: String,
    owner: String,
    created: String,
    updated: String,
    revoked: String,
    token_age: String,
    deliveries: Vec<DeliveryRow>,
    refreshes: Vec<EvidenceRow>,
}

pub(super) async fn connection(
    store: &Store,
    layout: Layout,
    bot_id: &str,
) -> Result<Page, StoreError> {
    let Some(c) = store.connection(bot_id).await? else {
        return Ok(Page::not_found(layout));
    };
    let deliveries = store.deliveries_of(bot_id, 50).await?;
    let refreshes = store.refreshes_of(bot_id, 50).await?;
    let now = crate::clock::unix_ms();
    Ok(Page::of(ConnectionDetailPage {
        signed_in: true,
        section: "connections",
        csrf: layout.csrf,
        notice: layout.notice,
        bot_id_url: url_part(&c.bot_id),
        workspace: workspace_of(&c),
        owner: owner_of(&c),
        created: utc(c.created_at),
        updated: utc(c.updated_at),
        revoked: c.revoked_at.map(utc).unwrap_or_default(),
        token_age: age(now - c.updated_at),
        deliveries: deliveries.iter().map(delivery_row).collect(),
        refreshes: refreshes.iter().map(evidence_row).collect(),
        c,
    }))
}

// ---------- deliveries ----------

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    deliveries: Vec<DeliveryRow>,
    dead: usize,
    lost: Vec<EvidenceRow>,
}

pub(super) async fn deliveries(store: &Store, layout: Layout) -> Result<Page, StoreError> {
    let open = store.undelivered(200).await?;
    let lost = store.lost_exchanges(50).await?;
    Ok(Page::of(DeliveriesPage {
        signed_in: true,
        section: "deliveries",
        csrf: layout.csrf,
        notice: layout.notice,
        dead: open.iter().filter(|d| d.status == "dead").count(),
        deliveries: open.iter().map(delivery_row).collect(),
        lost: lost.iter().map(evidence_row).collect(),
    }))
}

// ---------- plugins ----------

struct LineRow {
    at: String,
    level: &'static str,
    source: &'static str,
    request_id: String,
    message: String,
}

struct ReloadRow {
    name: String,
    at: String,
    class: &'static str,
    summary: String,
    refused_sha256: String,
}

struct PluginRow {
    name: String,
    roles: String,
    wit: String,
    sha256: String,
    path: String,
    grants: String,
    compiled: String,
    loaded_at: String,
    load_ms: u128,
    warnings: Vec<String>,
    reload: Option<ReloadRow>,
    lines: Vec<LineRow>,
}

#[derive(Template)]
#[template(path = "plugins.html")]
struct PluginsPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    notice: String,
    plugins: Vec<PluginRow>,
    /// Reloads of components the config gives no role.
    others: Vec<ReloadRow>,
    kept_lines: usize,
}

fn reload_row(name: &str, r: &ReloadRecord) -> ReloadRow {
    let (class, refused_sha256) = match &r.outcome {
        ReloadOutcome::Refused { sha256, .. } => ("bad", sha256.clone().unwrap_or_default()),
        ReloadOutcome::Removed => ("bad", String::new()),
        _ => ("ok", String::new()),
    };
    ReloadRow {
        name: name.to_string(),
        at: utc(r.at_ms),
        class,
        summary: r.outcome.summary(),
        refused_sha256,
    }
}

pub(super) fn plugins(plugins: &Plugins, layout: Layout) -> Page {
    let (consumer, view) = (plugins.consumer(), plugins.view());
    let mut serving = vec![(consumer.clone(), "consumer")];
    if view.sha256() == consumer.sha256() && view.name() == consumer.name() {
        serving[0].1 = "consumer and view";
    } else {
        serving.push((view, "view"));
    }
    let mut reloads = plugins.reloads();
    let rows = serving
        .into_iter()
        .map(|(p, roles)| PluginRow {
            name: p.name().to_string(),
            roles: roles.to_string(),
            wit: p.wit_versions().join(", "),
            sha256: p.sha256().to_string(),
            path: p.path().display().to_string(),
            grants: p.grants_summary(),
            compiled: if p.from_cache() {
                "from the compile cache".into()
            } else {
                "at load".into()
            },
            loaded_at: utc(p.loaded_at_ms()),
            load_ms: p.load_took().as_millis(),
            warnings: p.warnings().to_vec(),
            reload: reloads.remove(p.name()).map(|r| reload_row(p.name(), &r)),
            lines: plugins
                .recent_lines(p.name())
                .into_iter()
                .map(|l| LineRow {
                    at: utc(l.at_ms),
                    level: l.level,
                    source: l.source,
                    request_id: l.request_id,
                    message: l.message,
                })
                .collect(),
        })
        .collect();
    Page::of(PluginsPage {
        signed_in: true,
        section: "plugins",
        csrf: layout.csrf,
        notice: layout.notice,
        plugins: rows,
        others: reloads.iter().map(|(n, r)| reload_row(n, r)).collect(),
        kept_lines: KEPT_LINES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_796_083_200_000), "2026-12-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000 + 3_723_000), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(59_000), "0 minutes");
        assert_eq!(age(60_000), "1 minute");
        assert_eq!(age(3 * 3_600_000), "3 hours");
        assert_eq!(age(3 * 86_400_000), "3 days");
    }
}
