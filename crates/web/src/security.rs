//! Request ids, security headers, authentication (session cookie or bearer
//! token) and the anti-forgery check on every state-changing request.

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use haven_app::{AppError, Ctx, auth};
use haven_domain::audit::AuditAction;
use haven_store::{AuditCtx, SessionRow};
use std::net::SocketAddr;

use crate::{AppState, MAX_BODY, error::problem};

/// Request id, set on every request and echoed in `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The authenticated staff member of a request.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Actor and request id for use cases.
    pub ctx: Ctx,
    /// The session, when authenticated by cookie.
    pub session: Option<SessionRow>,
    /// The cookie value, when authenticated by cookie.
    pub secret: Option<String>,
    /// The site the person is working at (sessions only).
    pub site_id: Option<String>,
    /// Open emergencies at that site, for the banner on every page (page
    /// requests of sessions only).
    pub emergencies: Vec<haven_store::EmergencyRow>,
    /// Alerts showing at that site, for the banner on every page.
    pub alerts: Vec<haven_store::AlertRow>,
}

impl Staff {
    /// Anti-forgery token for forms.
    pub fn csrf(&self) -> String {
        self.session.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default()
    }
}

/// Whether the request came from an API client (paths under `/api/`).
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Security headers on every response (ASVS 5.0 3.4.x, 14.3.2): a CSP with no
/// inline scripts, no framing, no sniffing, no referrer, no caching of pages
/// that hold personal data.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.behind_tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string())
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `Set-Cookie` value for the session.
pub fn session_cookie(state: &AppState, secret: &str) -> String {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict{secure}",
        state.cookie_name()
    )
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        state.cookie_name()
    )
}

/// Refusal of a request that failed authentication or the anti-forgery check.
fn refuse(path: &str, status: StatusCode, title: &str, detail: &str) -> Response {
    if is_api(path) {
        return problem(status, title, detail, &[]);
    }
    if status == StatusCode::UNAUTHORIZED {
        let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        return Redirect::to(&format!("/login?expired=1&next={next}")).into_response();
    }
    (status, crate::error::error_page(title, detail)).into_response()
}

/// Resolves who is asking (bearer token or session cookie), enforces the
/// anti-forgery rule for cookie-authenticated writes, and tags the request
/// with an id. Login is the only write accepted without a session.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);

    // A cross-site write is refused outright (ASVS 5.0 3.5.3, Sec-Fetch-Site).
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site");

    let mut staff: Option<Staff> = None;
    if let Some(token) = bearer(req.headers()) {
        match auth::actor_for_token(&state.store, &token).await {
            Ok(actor) => {
                staff = Some(Staff {
                    ctx: Ctx {
                        actor,
                        request_id: request_id.clone(),
                    },
                    session: None,
                    secret: None,
                    site_id: None,
                    emergencies: Vec::new(),
                    alerts: Vec::new(),
                })
            }
            Err(AppError::Unauthenticated) => {
                let _ = state
                    .store
                    .audit(&anon_ctx(&request_id, "bearer"), AuditAction::Denied, "api_token", None)
                    .await;
                return refuse(
                    &path,
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "the bearer token is not valid",
                );
            }
            Err(e) => return crate::error::ApiError(e).into_response(),
        }
    } else if let Some(secret) = cookie_value(req.headers(), state.cookie_name()) {
        match auth::resume_session(&state.store, &secret, state.config.sessions, haven_domain::clock::now()).await {
            Ok((session, actor)) => {
                let site_id = session
                    .site_id
                    .clone()
                    .filter(|s| actor.role_at(s).is_some())
                    .or_else(|| actor.grants.first().map(|g| g.site_id.clone()));
                let ctx = Ctx {
                    actor,
                    request_id: request_id.clone(),
                };
                // Only full pages show the banner; the live board and static files do not need it.
                let page = method == Method::GET && !path.starts_with("/static/") && !path.starts_with("/board/");
                let (emergencies, alerts) = match (&site_id, page) {
                    (Some(site), true) => (
                        haven_app::floor::open_emergencies(&state.store, &ctx, site)
                            .await
                            .unwrap_or_default(),
                        haven_app::alerts::active(&state.store, &ctx, site)
                            .await
                            .unwrap_or_default(),
                    ),
                    _ => (Vec::new(), Vec::new()),
                };
                staff = Some(Staff {
                    ctx,
                    session: Some(session),
                    secret: Some(secret),
                    site_id,
                    emergencies,
                    alerts,
                });
            }
            Err(AppError::Unauthenticated) => {}
            Err(e) => return crate::error::ApiError(e).into_response(),
        }
    }

    if writes && path != "/login" {
        let Some(s) = &staff else {
            let _ = state
                .store
                .audit(
                    &anon_ctx(&request_id, "anonymous"),
                    AuditAction::Denied,
                    "session",
                    None,
                )
                .await;
            if !is_api(&path) && !cross_site {
                // A form sent after the session ended is kept through the
                // login (WCAG 2.2.5, security-reliability T9): nothing typed
                // mid-shift is lost to a timeout.
                let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
                    .await
                    .unwrap_or_default();
                return crate::views::login_keeping_form(&path, &bytes);
            }
            return refuse(
                &path,
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "sign in first; your session may have ended",
            );
        };
        if let Some(session) = &s.session {
            // Cookie-authenticated write: the token must come back in a header
            // (htmx, API) or the form's `csrf` field (ASVS 5.0 3.5.1).
            let header_token = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return refuse(
                        &path,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Too large",
                        "the request body is too large",
                    );
                }
            };
            let form_token = form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned());
            let ok = !cross_site
                && header_token
                    .or(form_token)
                    .is_some_and(|t| same(&t, &session.csrf_token));
            if !ok {
                let ctx = s.ctx.audit_ctx(s.site_id.as_deref(), None);
                let _ = state.store.audit(&ctx, AuditAction::Denied, "csrf", None).await;
                return refuse(
                    &path,
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "the form was stale or came from another site; go back, reload and try again",
                );
            }
            req = Request::from_parts(parts, Body::from(bytes));
        }
    } else if writes && cross_site {
        // Login from another site: refused (login CSRF).
        return refuse(&path, StatusCode::FORBIDDEN, "Forbidden", "cross-site login refused");
    }

    if let Some(s) = staff {
        req.extensions_mut().insert(s);
    }
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

fn anon_ctx(request_id: &str, who: &str) -> AuditCtx {
    AuditCtx {
        actor_id: None,
        actor_name: who.to_string(),
        role: None,
        site_id: None,
        request_id: Some(request_id.to_string()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Nested routers see a shortened path; the original tells API from page.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_string(), |u| u.0.path().to_string());
        parts
            .extensions
            .get::<Staff>()
            .cloned()
            .ok_or_else(|| refuse(&path, StatusCode::UNAUTHORIZED, "Unauthorized", "sign in first"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string())))
    }
}

/// The client's IP address, for rate limiting.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".into(), |c| c.0.ip().to_string()),
        ))
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Staff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Staff>().cloned())
    }
}
