//! Who may see the supervisor's and admin's pages: an admin's session (and, for a POST,
//! its CSRF token); everyone else gets the login page or 403.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages;
use super::{Console, Who, html as page_response, to_login, who, who_posting};
use crate::http::daemon::Daemon;

/// The session, if it is an admin's; otherwise the response to send (login or 403).
pub(super) async fn admin<D: Daemon>(c: &Console<D>, headers: &HeaderMap) -> Result<Who, Response> {
    let Some((who, _)) = who(c, headers).await else {
        return Err(to_login());
    };
    if who.account.admin {
        return Ok(who);
    }
    Err(forbidden(c, &who))
}

fn forbidden<D: Daemon>(c: &Console<D>, who: &Who) -> Response {
    c.daemon.http_refusals().count(
        crate::metrics::http::Listener::Admin,
        crate::metrics::http::Refusal::Forbidden,
    );
    tracing::warn!(account = %who.account.name, "console: admin page refused to an operator");
    let open = c.live.borrow().open_work;
    page_response(
        StatusCode::FORBIDDEN,
        pages::refusal(
            "Nincs jogosultsága",
            "Ezt az oldalt csak a rendszergazdák láthatják.",
            Some(&who.viewer(open)),
        ),
    )
}

/// An admin's POST: session, CSRF, role.
pub(super) async fn admin_posting<D: Daemon>(
    c: &Console<D>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Who, Response> {
    let (who, _) = who_posting(c, headers, csrf).await?;
    if who.account.admin {
        Ok(who)
    } else {
        Err(forbidden(c, &who))
    }
}
